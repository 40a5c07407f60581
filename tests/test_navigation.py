"""Every solution notebook says where it sits, ends with a recap a student can check themselves on, and points on.

"Notebook n of N" in its opening lines (N: the notebooks of the course), a "Check yourself" cell whose answers
fold open, and a "Further reading" cell with arXiv links and the way back to lesson 11.1.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))


def markdown(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]


def cell_with_heading(cells: list[str], heading: str) -> str:
    found = [c for c in cells if re.search(rf"^## {heading}\s*$", c, re.M)]
    assert found, f"no '## {heading}' cell"
    return found[-1]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_opening_says_which_notebook_of_how_many(path):
    number, last = int(path.name[:2]), max(int(p.name[:2]) for p in NOTEBOOKS)  # a lab still being built leaves a gap
    opening = "\n".join(markdown(path)[0].split("\n")[:8])  # the title, the badges, the running time, then this line
    assert re.search(rf"[Nn]otebook {number} of {last}\b", opening), opening


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_it_ends_with_check_yourself_questions_whose_answers_fold_open(path):
    check = cell_with_heading(markdown(path), "Check yourself")
    questions = re.findall(r"^\d+\. ", check, re.M)
    assert 3 <= len(questions) <= 6, f"{len(questions)} questions"
    assert check.count("<details>") == len(questions), "each question has its answer in a <details> block"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_further_reading_links_the_papers_and_lesson_11_1(path):
    cells = markdown(path)
    reading = cell_with_heading(cells, "Further reading")
    assert re.search(r"\(https://arxiv\.org/abs/\d{4}\.\d{4,5}\)", reading), "an arXiv link"
    assert "11.1" in reading, "the way back to lesson 11.1"
    assert cells.index(reading) >= len(cells) - 2, "further reading closes the notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_opening_says_where_the_solutions_are(path):
    assert f"`solutions/{path.name}`" in markdown(path)[0]


def test_every_exercise_is_numbered_by_its_notebook_alike_in_check_heading_and_readme():
    """'Exercise n.m' (n: the notebook): the check prints it, the notebook's heading and the README's table say it."""
    from cmlesson.grading.exercises import EXERCISES

    readme = (ROOT / "README.md").read_text()
    for ex in EXERCISES.values():
        m = re.match(r"Exercise (\d+)\.(\d+[a-z]?): ", ex.description)
        assert m, f"{ex.id}: the check's title should start 'Exercise n.m: ', got {ex.description!r}"
        assert int(m.group(1)) == int(ex.notebook), f"{ex.id}: numbered {m.group(1)}.x in notebook {ex.notebook}"
        number = f"{m.group(1)}.{m.group(2)}"
        (path,) = (ROOT / "solutions").glob(f"{ex.notebook}_*.ipynb")
        assert any(re.search(rf"^### Exercise {re.escape(number)}\b", c, re.M) for c in markdown(path)), f"{ex.id}: no heading"
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{ex.id}` |"))
        assert f"Exercise {number}" in row, f"{ex.id}: README row {row!r}"
