"""Repository-wide pytest hook: execute each notebook once where its two versions hold the same code.

A student notebook is generated from its solution notebook (``python -m cmlesson student``; ``make test``
checks it is up to date). For a notebook without exercises (notebooks 06 and 07) the student version's code
is the solution's, cell for cell (cmlesson.student.same_code_as_solution; tests/test_student.py checks it),
so nbval runs only the solution.
"""

from __future__ import annotations

from pathlib import Path

from cmlesson.student import same_code_as_solution

ROOT = Path(__file__).resolve().parent


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    path = Path(collection_path).resolve()
    if path.suffix != ".ipynb" or path.parent != ROOT / "notebooks":
        return None
    solution = ROOT / "solutions" / path.name
    if solution.exists() and same_code_as_solution(solution.read_text(encoding="utf-8")):
        return True
    return None
