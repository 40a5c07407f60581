"""Notebook 07's claims (digits in one step), checked against what the executed solution notebook prints.

They were ``assert`` lines in the notebook (the largest class share of one Euler step, the share of near-copies) and
07's part of tests/test_claims_labs.py. Every figure is printed as "mean ± standard error" over the notebook's
sampling seeds; a claim that one figure is above another holds with the printed standard errors where the prose says
so, and the exercise's check passed, so the notebook ran on the solution's Fréchet distance.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "solutions" / "07_digits_one_step.ipynb"
PM = r"(\d+\.\d+) ± (\d+\.\d+)"  # a figure as printed: "0.849 ± 0.004"
HEUN, EULER = "teacher, Heun 18 levels (35 evaluations)", "teacher, 1 Euler step (1 evaluation)"
ONE, TWO, REAL = "consistency model, 1 step (1 evaluation)", "consistency model, 2 steps (2 evaluations)", \
    "real held-out digits"


@cache
def _nb():
    return nbformat.read(NOTEBOOK, as_version=4)


def printed(cell_id: str) -> str:
    for cell in _nb().cells:
        if cell.get("id") == cell_id:
            text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
            assert text, f"cell {cell_id} printed nothing: execute the solution notebook"
            return text
    raise AssertionError(f"notebook 07 has no cell {cell_id}")


class Fig:
    """A figure as printed: its mean over the seeds and its standard error."""

    def __init__(self, mean: str, se: str):
        self.mean, self.se = float(mean), float(se)

    def __repr__(self) -> str:
        return f"{self.mean} ± {self.se}"


@pytest.fixture(scope="module")
def table() -> dict[str, dict[str, Fig]]:
    """{row: {column: Fig}} of the results table (cell 07-17)."""
    rows = {}
    pattern = (rf"^(.+?)\s+{PM}\s+(\d+\.\d+)x ± (\d+\.\d+)\s+{PM}\s+{PM}\s+{PM}$")
    for line in printed("07-17").splitlines():
        if m := re.match(pattern, line):
            g = m.groups()
            rows[g[0]] = {"confident": Fig(*g[1:3]), "x real": Fig(*g[3:5]), "min class": Fig(*g[5:7]),
                          "FD": Fig(*g[7:9]), "nearest": Fig(*g[9:11])}
    assert set(rows) == {REAL, HEUN, EULER, ONE, TWO}, sorted(rows)
    return rows


def test_the_table_prints_a_standard_error_for_every_figure(table):
    text = printed("07-17")
    assert re.search(r"mean ± standard error over \d+ sampling seeds of one training run", text)
    for row in (HEUN, EULER, ONE, TWO):
        assert table[row]["confident"].se > 0 and table[row]["FD"].se > 0, (row, table[row])  # the seeds differ


def test_the_exercise_passed_so_the_notebook_used_the_students_function():
    text = printed("07-ex1-check")
    assert text.startswith("[PASS] Exercise 7.1: the Fréchet distance: 2/2")
    assert "-> from here on the notebook uses your frechet_distance_student" in text


def test_the_one_step_model_keeps_most_of_the_teacher(table):
    real, t, one, two = table[REAL], table[HEUN], table[ONE], table[TWO]
    assert one["x real"].mean >= 0.7, f"1-step confident share < 70% of real: {one['x real']}"
    assert one["min class"].mean >= 0.04, f"every digit should be >= 4% of the 1-step samples: {one['min class']}"
    assert two["x real"].mean >= 0.7 and two["min class"].mean >= 0.04, "two steps: as well as one"
    assert t["min class"].mean >= 0.04, "the teacher draws every class"
    assert real["FD"].mean < t["FD"].mean < one["FD"].mean < 3.5 * real["FD"].mean, "FD real < teacher < 1 step < 3.5x real"
    for lo, hi in ((real, t), (t, one)):  # each step of the FD order beyond two standard errors
        assert hi["FD"].mean - lo["FD"].mean > 2 * (hi["FD"].se ** 2 + lo["FD"].se ** 2) ** 0.5, (lo["FD"], hi["FD"])
    assert t["confident"].mean > one["confident"].mean - 0.02, "the teacher (35 evaluations): at least as confident"


def test_one_teacher_step_is_no_generator(table):
    assert table[ONE]["FD"].mean < 0.2 * table[EULER]["FD"].mean, "one consistency step far better than one Euler step"
    m = re.search(rf"one teacher Euler step: largest class share {PM}", printed("07-18"))
    top = Fig(*m.groups())
    assert top.mean - 2 * top.se > 0.5, f"one Euler step: the same blur for every z, read as one digit: {top}"


def test_no_copies(table):
    real, one = table[REAL], table[ONE]
    assert one["nearest"].mean > 0.8 * real["nearest"].mean, "1-step samples sit too close to training images"
    assert one["nearest"].mean >= real["nearest"].mean, "the text: the median distance is at least that of real digits"
    m = re.search(rf"one-step samples within 0\.5 of a training image: share {PM}", printed("07-18"))
    near = Fig(*m.groups())
    assert near.mean + 2 * near.se < 0.01, f"over 1% of 1-step samples are near-copies of a training image: {near}"


def test_the_same_noise_gives_the_teachers_digit():
    m = re.search(rf"same digit from the same noise: {PM} % of .*?these class shares: {PM} %\)", printed("07-agreement"))
    same, chance = Fig(*m.group(1, 2)), Fig(*m.group(3, 4))
    assert same.mean - 2 * same.se > 3 * (chance.mean + 2 * chance.se), \
        "the one-step model should draw the teacher's digit far more often than chance"


def test_the_copy_figure_is_large_enough_to_judge():
    """The samples above their nearest training images: at least 1,000 pixels wide, each tile about 100 pixels."""
    import base64
    import io

    from PIL import Image

    cell = next(c for c in _nb().cells if c.get("id") == "07-15")
    (png,) = [o["data"]["image/png"] for o in cell.outputs if "image/png" in o.get("data", {})]
    width, height = Image.open(io.BytesIO(base64.b64decode(png))).size
    assert width >= 1000 and height >= 450, (width, height)


def test_the_distilled_model_is_shipped_with_the_recipe_the_notebook_names():
    """07 measures the shipped "digits_cd": the shipped teacher distilled with checkpoints.DIGITS_CD, seed 0."""
    from cmlesson import checkpoints
    from cmlesson.config import DistillConfig

    assert checkpoints.DIGITS_CD == DistillConfig(steps=1500, batch=256, lr=1e-3, N=18)
    recipe = "DIGITS_CD = DistillConfig(steps=1500, batch=256, lr=1e-3, N=18)"  # as the notebook's comment names it
    assert recipe in next(c.source for c in _nb().cells if c.get("id") == "07-10")
    info = checkpoints.info("digits_cd")
    assert info["steps"] == checkpoints.DIGITS_CD.steps and info["seed"] == 0 and info["kind"] == "consistency"
    m = re.fullmatch(r"distilled in ([\d,]+) steps, (\d+) s when shipped; 2-step levels: .*\n", printed("07-10"))
    assert m and int(m.group(1).replace(",", "")) == info["steps"], printed("07-10")
    assert 'checkpoints.load("digits_cd")' in next(c.source for c in _nb().cells if c.get("id") == "07-10")
