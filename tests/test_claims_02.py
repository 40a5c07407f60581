"""What notebook 02's prose claims, checked on the outputs of the executed solution notebook.

These were ``assert`` lines in the notebook's cells (a student had to read them); they now read the printed numbers,
so a re-executed notebook whose numbers no longer support the prose fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from cmlesson.config import DistillConfig

NOTEBOOK = Path(__file__).resolve().parent.parent / "solutions" / "02_consistency_distillation.ipynb"
SCORE = r"([0-9.]+)x ± ([0-9.]+)"  # how a yardstick Score prints: ratio and standard error


@pytest.fixture(scope="module")
def printed() -> dict[str, str]:
    """Every code cell's printed text (stream outputs), by cell id."""
    cells = nbformat.read(NOTEBOOK, as_version=4).cells
    return {c.id: "".join(o.get("text", "") for o in c.get("outputs", []) if o.output_type == "stream")
            for c in cells if c.cell_type == "code"}


def score(text: str, label: str) -> tuple[float, float]:
    """(ratio, standard error) printed after ``label``."""
    m = re.search(re.escape(label) + r".*?W1 / floor = " + SCORE, text)
    assert m, f"no score printed for {label!r} in:\n{text}"
    return float(m[1]), float(m[2])


def number(text: str, pattern: str) -> float:
    m = re.search(pattern, text)
    assert m, f"{pattern!r} not printed in:\n{text}"
    return float(m[1].replace(",", ""))


@pytest.mark.parametrize(("cell", "function"), [("nb02-ex1-check", "consistency_function_student"),
                                                ("02-08", "heun_step_student"),
                                                ("nb02-ex4-check", "cd_loss_student"),
                                                ("nb02-ex5-check", "cd_step_student")])
def test_every_check_passed_so_the_notebook_ran_on_the_solutions_code(printed, cell, function):
    """The solutions are not graded again as submissions: their own check cells must pass and hand on their code."""
    assert printed[cell].startswith("[PASS]"), printed[cell]
    assert f"-> from here on the notebook uses your {function}" in printed[cell], printed[cell]


def test_the_teacher_is_close_to_the_floor(printed):
    """'Close to the floor ...: good enough to distil from' (within 1.8x the noise floor)."""
    ratio, _ = score(printed["02-05"], "teacher, Heun 18 levels")
    assert ratio < 1.8


def test_heun_beats_euler_and_both_errors_peak_where_trajectories_bend(printed):
    """'Both errors peak ... around sigma = 1'; 'Heun divides the error by the factors printed' (factors above 1)."""
    text = printed["02-11"]
    euler_at = number(text, r"Euler [0-9.]+ at sigma = ([0-9.]+)")
    heun_at = number(text, r"Heun [0-9.]+ at sigma = ([0-9.]+)")
    assert 0.5 <= euler_at <= 2.5 and 0.5 <= heun_at <= 2.5, (euler_at, heun_at)
    assert number(text, r"Heun's error is ([0-9.]+)x smaller summed") > 1.5
    assert number(text, r", ([0-9.]+)x at the worst step") > 1.5


def test_the_copied_teacher_is_far_from_consistent(printed):
    """'The copied teacher is far from consistent ...; the distilled model's [outputs] barely move.'"""
    start = number(printed["02-13"], r"copy of the teacher \(start\)\s+L_CD = ([0-9.e+-]+)")
    shipped = number(printed["02-13"], r"shipped distilled model\s+L_CD = ([0-9.e+-]+)")
    assert start > 10 * shipped, (start, shipped)


def test_the_two_loops_agree_to_rounding(printed):
    """'The same algorithm, not the same bits: ... the weights differ in the last digits.'"""
    gap = number(printed["nb02-package-run"], r"after \d+ steps: ([0-9.e+-]+)")
    assert gap < 1e-5


def test_distilled_models_reach_the_target(printed):
    """The model your loop trains, and the package's run, sample within 2x the noise floor in one step; three steps
    within 1.8x."""
    text = printed["02-18"]
    assert score(text, "your model: 1 step (1 evaluation)")[0] < 2.0
    assert score(text, "your model: 3 steps (3 evaluations)")[0] < 1.8
    assert score(text, f"package's run, {DistillConfig().steps:,} steps: 1 step")[0] < 2.0


def test_the_speed_up_is_about_the_number_of_evaluations(printed):
    """'The speed-up is about the number of evaluations, 35': within a factor of 2 of it."""
    speed_up = number(printed["02-18-timing"], r"\(([0-9.]+)x faster\)")
    assert 35 / 2 <= speed_up <= 35 * 2, speed_up


def test_both_pitfalls_fail_far_outside_the_error_bars_and_in_opposite_ways(printed):
    """§7: both mistakes fail visibly (over 5x the floor), far outside the correct run's error bars (the correct run
    within half of either, with two standard errors apart on both sides), the lesson's coefficients shrink inside the
    data's radius, the reversed loss scatters beyond it."""
    text = printed["02-pitfall-measure"]
    ok = score(text, "as in Alg. 2 (your run, §6)")
    rev = score(text, "target on the noisier point")
    lesson = score(text, "the lesson's coefficients")
    assert rev[0] > 5 and lesson[0] > 5
    assert ok[0] < 0.5 * min(rev[0], lesson[0])
    for bad in (rev, lesson):
        assert bad[0] - 2 * bad[1] > ok[0] + 2 * ok[1], (ok, bad)
    radius = {name: number(text, re.escape(name) + r".*?max \|x\| = ([0-9.]+)")
              for name in ("target on the noisier point", "the lesson's coefficients", "the data:")}
    assert radius["the lesson's coefficients"] < radius["the data:"] < radius["target on the noisier point"]


def test_the_notebook_keeps_no_assert_lines():
    """What CI checks lives in this file, not in cells a student reads."""
    cells = nbformat.read(NOTEBOOK, as_version=4).cells
    shown = [c.id for c in cells if c.cell_type == "code"
             and any(line.lstrip().startswith("assert ") for line in c.source.splitlines())]
    assert not shown, shown
