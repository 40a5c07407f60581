"""Notebook cells a student can take in: no markdown cell of a solution notebook holds more than 250 words.

Counted as a reader meets them: the folded answers of a ``<details>`` block, link targets and the badges are not
read, and an inline formula counts as one word.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
LIMIT = 250


def words(markdown: str) -> int:
    """The words of ``markdown`` as read: without folded answers, badges and link targets; $...$ is one word."""
    text = re.sub(r"<details>.*?</details>", "", markdown, flags=re.S)
    text = re.sub(r"\[!\[[^\]]*\]\([^)]*\)\]\([^)]*\)", "", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"\$[^$]*\$", "X", text)
    return len(re.findall(r"[A-Za-z0-9][\w'’-]*", text))


def test_words_counts_what_a_reader_reads():
    assert words("One two, three.") == 3
    assert words("See [the paper](https://arxiv.org/abs/2303.01469) now") == 4
    assert words("where $f(x, \\sigma) = c_\\text{skip} x$ holds") == 3
    assert words("Q?\n<details><summary>Answer</summary>\nmany words here\n</details>") == 1
    assert words("[![Open In Colab](https://x/badge.svg)](https://colab/x.ipynb) Title") == 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_markdown_cell_is_longer_than_250_words(path):
    long = [(c.get("id"), words(c.source)) for c in nbformat.read(path, as_version=4).cells
            if c.cell_type == "markdown" and words(c.source) > LIMIT]
    assert not long, f"split these cells (id, words): {long}"


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_student_notebooks_show_no_test_markers(path):
    """nbval's markers are cell tags (nbval-check-output ...), never comment lines a student reads in the code."""
    cells = nbformat.read(path, as_version=4).cells
    shown = [c.get("id") for c in cells if c.cell_type == "code" and "NBVAL" in c.source.upper()]
    assert not shown, f"test markers in the code of cells {shown}: put them in the cell's tags"


def test_the_checked_outputs_keep_their_tags():
    """What nbval compares (tag nbval-check-output) is still marked in the solutions: the markers moved, not vanished."""
    tagged = [p.name for p in sorted((ROOT / "solutions").glob("*.ipynb"))
              for c in nbformat.read(p, as_version=4).cells if "nbval-check-output" in c.metadata.get("tags", [])]
    assert len(tagged) >= 12 and len(set(tagged)) >= 6, tagged  # as many as the comment markers were


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*.ipynb")), ids=lambda p: p.name)
def test_every_predict_prompt_gets_a_cell_for_the_prediction(path):
    """A **Predict.** prompt is followed by a "Your prediction" markdown cell, before the code that answers it."""
    cells = nbformat.read(path, as_version=4).cells
    missing = [c.get("id") for c, nxt in zip(cells, [*cells[1:], None], strict=True)
               if c.cell_type == "markdown" and "**Predict" in c.source
               and not (nxt is not None and nxt.cell_type == "markdown" and "Your prediction" in nxt.source)]
    assert not missing, f"Predict prompts without a prediction cell after them: {missing}"
