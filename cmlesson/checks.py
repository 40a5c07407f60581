"""The exercise checks the notebooks call: ``checks.check_<id>(...)`` for every exercise in :mod:`cmlesson.exercises`
(one module per exercise: its inputs, the code that runs in the student's kernel, its judge and its check).

A check calls the student's code on fixed, seeded inputs, judges the outputs and prints what is wrong in words a
student can act on; the :class:`Result` it returns says whether it passed, and ``result.use(yours, package)`` picks
the function the rest of the notebook uses. ``not_done(x)`` wraps a stub's placeholder: a check that sees it run
reports "not attempted".
"""

from __future__ import annotations

from .exercises import EXERCISES, Exercise, Result, module, not_done

__all__ = ["EXERCISES", "Exercise", "Result", "not_done", *(f"check_{e}" for e in EXERCISES)]


def __getattr__(attr: str):
    if attr.startswith("check_") and attr[len("check_"):] in EXERCISES:
        return module(attr[len("check_"):]).check
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
