"""Every ratio a solution notebook's prose quotes ("1.36x", "2×") is printed by a cell of the same notebook.

A figure typed into markdown goes stale the day the code changes; this makes a stale one fail CI. Allowed
without a printed match: the answer choices of a "**Predict.**" prompt (guesses, not claims) and a bound
that a code cell of the notebook states itself (an assert's threshold, e.g. "within 3.5x").
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
RATIO = re.compile(r"(?<![\w.\\{])(\d+(?:\.\d+)?)(?:x|×)(?![\w])")


def quoted_ratios(markdown: str) -> list[str]:
    """The numbers of every "<number>x" / "<number>×" in a markdown text."""
    return [m.group(1) for m in RATIO.finditer(markdown)]


def printed_text(nb) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
            out.append(o.get("text", ""))
            out.append(str(o.get("data", {}).get("text/plain", "")))
    return "\n".join(out)


def appears(number: str, text: str) -> bool:
    return re.search(r"(?<![\d.])" + re.escape(number) + r"(?![\d])", text) is not None


def unprinted_ratios(nb) -> list[str]:
    printed = printed_text(nb)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    missing = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown" or cell.source.lstrip().startswith("**Predict"):
            continue
        for number in quoted_ratios(cell.source):
            if not appears(number, printed) and not appears(number, code):
                missing.append(f"cell {i}: {number}x")
    return missing


def test_the_pattern_finds_ratios_and_skips_math():
    assert quoted_ratios("CD at 1.36x the floor, iCT 2× and 1.4× beyond") == ["1.36", "2", "1.4"]
    assert quoted_ratios(r"$\tfrac12 x$, a 12 x 12 grid, 0x1F, box3x") == []


def test_a_typed_ratio_is_caught_and_a_printed_one_passes():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(w)"), nbformat.v4.new_markdown_cell("The model is at 1.36x the floor.")]
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="W1 = 1.35 x floor")]
    assert unprinted_ratios(nb) == ["cell 1: 1.36x"]
    nb.cells[0].outputs[0].text = "W1 = 1.36 x floor"
    assert unprinted_ratios(nb) == []
    nb.cells[1].source = "**Predict.** Will it be 1.5×, 3× or 5×?"
    assert unprinted_ratios(nb) == []


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*.ipynb")), ids=lambda p: p.name)
def test_every_quoted_ratio_is_printed_by_a_cell(path):
    missing = unprinted_ratios(nbformat.read(path, as_version=4))
    assert not missing, f"{path.name}: ratios in the prose that no cell prints: {missing}"
