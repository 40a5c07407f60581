"""The course's graded exercises, one module per exercise (adding an exercise is adding a file here).

Each exercise module ``<id>.py`` holds, in this order:

* ``EXERCISE``: its points, notebook, title, the names the student defines and the package functions that implement
  its answer, which the student's code must not run (:class:`._kernel.Exercise`, :class:`._kernel.Watch`);
* its fixed, seeded inputs and ``evaluate(<the student's objects>) -> dict``, which calls the student's code on
  them and returns what it produced as plain JSON-able data. This part runs in the student's kernel: it uses
  only the standard library, numpy, torch, ``._kernel`` and ``._fixtures`` (the models and spies several share);
* ``judge(outputs) -> Result``: recompute the canonical answer with cmlesson on the same inputs, compare, and
  say what is wrong in words a student can act on, with the numbers. This part runs in the grader's process;
  what it needs from cmlesson comes through ``._judging``;
* ``check(...)``: ``judge(evaluate(...))`` plus a printed report: what ``cmlesson.checks.check_<id>`` is.

An exercise that needs more than its student's objects in the kernel (the ladder's model) defines
``grader_assets()`` (the judge's side, with ``kernel_arrays()``) and ``kernel_args(arrays)``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from . import _kernel
from ._judging import Result
from ._kernel import EXERCISE_LIMIT_S, Exercise, evaluate_in_kernel, not_done

__all__ = ["EXERCISES", "EXERCISE_LIMIT_S", "Exercise", "Result", "answer_codes", "answer_function", "evaluate_in_kernel",
           "grader_assets", "judge", "kernel_arrays", "kernel_sources", "module", "not_done"]

KERNEL_MODULES = ("_kernel", "_fixtures")  # shared kernel-side code, injected before the exercise modules

# What ``._judging`` is in the student's kernel: every name imported from it is a placeholder, and the judges
# that would use them never run there.
JUDGING_STANDIN = '''"""Stand-in for cmlesson.grading.exercises._judging in the student's kernel (judges run in the grader)."""


class _JudgeOnly:
    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        raise RuntimeError(f"{self._name} is judge-side code: it does not run in the student's kernel")

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"{self._name} is judge-side code: it does not run in the student's kernel")


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _JudgeOnly(name)
'''


def _ids() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def module(ex_id: str) -> ModuleType:
    """The module of exercise ``ex_id``."""
    return importlib.import_module(f"{__name__}.{ex_id}")


def _exercises() -> dict[str, Exercise]:
    found = []
    for ex_id in _ids():
        ex = module(ex_id).EXERCISE
        if ex.id != ex_id:
            raise ValueError(f"exercise module {ex_id}.py: EXERCISE.id is {ex.id!r}, must be the module's name")
        found.append(ex)
    return {ex.id: ex for ex in sorted(found, key=lambda e: (e.notebook, e.rank, e.id))}


EXERCISES: dict[str, Exercise] = _exercises()


def judge(ex_id: str, outputs: dict, assets=None) -> Result:
    """Exercise ``ex_id``'s verdict on the kernel's outputs; ``assets`` is its ``grader_assets()`` where it has them."""
    return module(ex_id).judge(outputs, assets) if assets is not None else module(ex_id).judge(outputs)


def grader_assets(ex_ids: list[str]) -> dict[str, object]:
    """{ex_id: its grader_assets()} for the exercises in ``ex_ids`` that need more than the student's objects."""
    return {e: module(e).grader_assets() for e in ex_ids if hasattr(module(e), "grader_assets")}


def kernel_arrays(assets: dict[str, object]) -> dict:
    """The plain arrays the kernel needs for ``assets``, keyed ``"<ex_id>/<name>"`` (one .npz file, no pickle)."""
    return {f"{e}/{k}": v for e, a in assets.items() for k, v in a.kernel_arrays().items()}


@lru_cache(maxsize=1)
def kernel_sources() -> dict[str, str]:
    """{module name: source} of what the grader injects into the student's kernel, in import order: the shared
    kernel code, the stand-in for ``_judging``, then every exercise module (read from its file, whole)."""
    here = Path(__file__).parent
    sources = {name: (here / f"{name}.py").read_text(encoding="utf-8") for name in KERNEL_MODULES}
    sources["_judging"] = JUDGING_STANDIN
    sources.update({ex_id: (here / f"{ex_id}.py").read_text(encoding="utf-8") for ex_id in EXERCISES})
    return sources


def answer_function(label: str):
    """The function of the cmlesson package that ``label`` (``"<module>.<qualified name>"``, as in
    ``Exercise.answers``) names; ValueError if there is none."""
    parts = label.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module("cmlesson." + ".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            break
        obj = inspect.unwrap(obj)
        if hasattr(obj, "__code__"):
            return obj
        break
    raise ValueError(f"{label!r} names no function of the cmlesson package")


@lru_cache(maxsize=1)
def _answer_codes() -> tuple:
    return tuple((label, _kernel.code_signature(answer_function(label).__code__))
                 for label in sorted({a for ex in EXERCISES.values() for a in ex.answers}))


def answer_codes() -> list:
    """[(label, code signature)] of every exercise's answers: what lets the watch in the student's kernel recognise a
    copy of their code under another file or name (plain Python literals: the grader's cell carries them)."""
    return list(_answer_codes())


_kernel.answer_codes_from = answer_codes  # the notebook's own checks compute them here, on first use
