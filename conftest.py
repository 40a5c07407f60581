"""Repository-wide pytest hook: execute each notebook once in CI, where running it twice would test nothing new.

A student notebook is generated from its solution notebook (``python -m cmlesson student``; ``make test`` checks it is
up to date), and nbval does not run it when another test already executes it whole:

* a notebook without exercises (06, 07): its student version's code is the solution's, cell for cell
  (cmlesson.authoring.student.same_code_as_solution; tests/test_student.py checks it), so nbval runs only the solution;
* the lesson's student notebooks 01-05 (``GRADED_WHOLE``): tests/test_grade.py's
  ``test_untouched_student_notebooks_are_not_attempted`` runs each of them top to bottom in the grader and asserts
  that no cell raised (nbval would assert the same: they hold no outputs to compare).

The solution notebooks run with ``CMLESSON_SCORES=verify``: every shipped model's score that a notebook reads back
from ``cmlesson/checkpoints/scores.json`` (``yardstick.shipped_score``) is measured again there and must agree; the
student notebooks read them back, as a student's run does.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cmlesson.authoring.student import same_code_as_solution

ROOT = Path(__file__).resolve().parent
GRADED_WHOLE = "0[1-5]_*.ipynb"  # the notebooks tests/test_grade.py grades whole (its _grade_lesson_notebooks)


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    path = Path(collection_path).resolve()
    if path.suffix != ".ipynb" or path.parent != ROOT / "notebooks":
        return None
    if path.match(GRADED_WHOLE):
        return True
    solution = ROOT / "solutions" / path.name
    if solution.exists() and same_code_as_solution(solution.read_text(encoding="utf-8")):
        return True
    return None


_CALLER = os.environ.get("CMLESSON_SCORES")  # what the caller set, restored after every test


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item) -> None:
    """Before a solution notebook's kernel starts (its first cell's setup): verify the store there."""
    path = Path(item.path).resolve()
    if path.suffix == ".ipynb" and path.parent == ROOT / "solutions":
        os.environ["CMLESSON_SCORES"] = "verify"


def pytest_runtest_teardown(item) -> None:
    """Nothing of the solutions' mode outlives its test: the caller's CMLESSON_SCORES again (or none)."""
    if _CALLER is None:
        os.environ.pop("CMLESSON_SCORES", None)
    else:
        os.environ["CMLESSON_SCORES"] = _CALLER
