"""The exercise checks the notebooks call: ``checks.check_<id>(...)`` for every exercise in :mod:`cmlesson.grading.exercises`
(one module per exercise: its inputs, the code that runs in the student's kernel, its judge and its check).

A check calls the student's code on fixed, seeded inputs, judges the outputs and prints what is wrong in words a
student can act on; the :class:`Result` it returns says whether it passed, and ``result.use(yours, package)`` picks
the function the rest of the notebook uses. ``not_done(x)`` wraps a stub's placeholder: a check that sees it run
reports "not attempted".

``score(ex_id, globals())`` is an exercise's points as a number, for a grade cell of nbgrader (see
:mod:`cmlesson.grading.nbgrader_course`): the same evaluation and judge as the grader's, run in the student's own kernel.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Mapping

from .grading.exercises import (
    EXERCISE_LIMIT_S,
    EXERCISES,
    Exercise,
    Result,
    evaluate_in_kernel,
    grader_assets,
    judge,
    kernel_arrays,
    module,
    not_done,
)

__all__ = ["EXERCISES", "Exercise", "Result", "not_done", "score", *(f"check_{e}" for e in EXERCISES)]


def score(ex_id: str, namespace: Mapping[str, object]) -> int:
    """Exercise ``ex_id``'s points for the names the student defined in ``namespace`` (a notebook's ``globals()``),
    after one line that says why. Nothing goes to stderr: nbgrader scores a grade cell 0 when anything does."""
    if ex_id not in EXERCISES:
        raise ValueError(f"ex_id={ex_id!r} is not an exercise; allowed: {', '.join(EXERCISES)}")
    with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assets = grader_assets([ex_id])
        outputs = evaluate_in_kernel(ex_id, dict(namespace), kernel_arrays(assets), EXERCISE_LIMIT_S)
        result = judge(ex_id, outputs, assets.get(ex_id))
    print(f"{EXERCISES[ex_id].description}: {result.score}/{result.max_score}. {result.reason}")
    return result.score


def __getattr__(attr: str):
    if attr.startswith("check_") and attr[len("check_"):] in EXERCISES:
        return module(attr[len("check_"):]).check
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
