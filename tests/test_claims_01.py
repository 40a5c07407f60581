"""What notebook 01's prose and its CI relied on, read from the executed solution notebook's outputs (the cells
hold no ``assert`` lines a student must read): the shipped models' quality, the exact boundary the check demands,
every exercise passing in the solutions, and Exercise 1.3's decision following from the scan printed above it."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from cmlesson.config import ScoreConfig
from cmlesson.grading.exercises import two_step

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "01_consistency_property.ipynb"


@pytest.fixture(scope="module")
def cells() -> dict[str, nbformat.NotebookNode]:
    return {c.get("id"): c for c in nbformat.read(SOLUTION, as_version=4).cells}


def printed(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in:\n{text}"
    return float(found.group(1))


def test_the_consistency_model_answers_the_path_end_and_the_denoiser_the_mean(cells):
    text = printed(cells["01-11"])
    sigma_data = number(r"\(sigma_data = ([\d.]+)\)", text)
    assert number(r"the worst level of f: ([\d.]+)", text) < 0.35 * sigma_data  # f maps every point near its end
    assert number(r"at sigma_max: D ([\d.]+)", text) > 0.8 * sigma_data  # D answers the data's mean, far off


def test_the_boundary_holds_exactly_as_the_check_demands(cells):
    """Exercise 1.1's check accepts only an exact boundary, and §3's last cell prints it exact: 0, not 2.4e-07."""
    text = printed(cells["01-21"])
    assert re.search(r"shipped model: +max \|f\(x, sigma_min\) - x\| += 0\n", text), text
    assert re.search(r"coefficients in use: +max \|f\(x, sigma_min\) - x\| += 0\n", text), text
    assert "exactly 1 and 0 at sigma_min in float32 and float64" in printed(cells["01-16"])


def test_the_seed_count_is_printed_from_score_config(cells):
    assert f"ScoreConfig: {ScoreConfig.seeds} sampling seeds of {ScoreConfig.n} points" in printed(cells["4d76927f"])
    prose = "\n".join(c.source for c in cells.values() if c.cell_type == "markdown")
    assert not re.search(r"\b(ten|\d+) (sampling )?seeds\b|s = 0, \\dots", prose), "a seed count typed in prose"


def test_the_shipped_models_sample_close_to_the_data(cells):
    one = number(r"consistency model, 1 step +W1 / floor = ([\d.]+)x", printed(cells["01-25"]))
    three = number(r"W1 / floor = ([\d.]+)x", printed(cells["nb01-three-w1"]))
    assert one < 1.8  # the distilled model in one step
    assert three < 1.5  # three consistency steps


def test_every_check_passed_in_the_solutions(cells):
    """The rest of the notebook ran on the solution's code: `.use` returns it only after a pass."""
    for cell_id, names in (("01-16", "c_skip_student and c_out_student"), ("01-28", "multistep_student"),
                           ("nb01-ex3-check", "level two_step_tau")):
        text = printed(cells[cell_id])
        assert text.startswith("[PASS]"), text
        assert f"-> from here on the notebook uses your {names}" in text


def test_the_model_answer_of_exercise_1_3_follows_the_rule_on_the_printed_scan(cells):
    bar = two_step.SCAN_BAR  # the rule's bar, as the check applies it
    assert f"BAR = {bar:g}  #" in cells["nb01-design-w1"].source and "beyond 3 standard errors" in cells["nb01-ex3"].source
    rows = re.findall(rf"^ *([\d.]+) +[\d.]+x ± [\d.]+ +([+-][\d.]+)x ± [\d.]+ +(beyond|within) the noise "
                      rf"\(\|d\| [<>]=? {bar:g} s\.e\.\)$", printed(cells["nb01-design-w1"]), re.M)
    assert len(rows) >= 4, printed(cells["nb01-design-w1"])
    taus = [float(t) for t, _, _ in rows]
    assert min(taus) < 0.1 and max(taus) >= 0.4 * 80  # the scan reaches from near sigma_min to near sigma_max
    better = [(float(g), t) for t, g, v in rows if v == "beyond" and float(g) > 0]
    decision = printed(cells["nb01-ex3-code"])
    default = number(r"default tau = ([\d.]+)", printed(cells["nb01-design-w1"]))
    if better:
        assert f"shipping tau = {max(better)[1]}" in decision, decision
    else:
        assert decision.startswith(f"levels with a gain beyond {bar:g} s.e.: none") and f"tau = {default:g}" in decision
    assert "kept because no level's gain over it was beyond the noise" in printed(cells["nb01-ex3-check"]) or better


def test_a_ratio_below_one_is_explained_by_a_printed_floor_spread(cells):
    text = printed(cells["nb01-floor"])
    spread = number(r"spread (\d+)% of their mean", text)
    low = number(r"lowest ratio of one seed: ([\d.]+)x", text)
    assert spread > 0 and low > 0
    assert "below" in cells["nb01-below-one"].source and "floor" in cells["nb01-below-one"].source


def test_the_t_quantile_printed_under_the_scan_is_above_the_usual_two(cells):
    """nb01-ex3's reason for 3 standard errors: with 5 seeds the 95% bar of pure noise is above 2."""
    t = number(r"95% of pure-noise differences lie within ([\d.]+) standard errors", printed(cells["nb01-design-w1"]))
    assert 2 < t < two_step.SCAN_BAR


def test_the_read_out_of_one_step_against_the_teacher_says_what_the_paired_difference_printed(cells):
    """01-25-read: 'Not worse: one evaluation scores a little better than the teacher's 35, beyond the noise'."""
    text = printed(cells["01-25"])
    d = number(r"1 step - teacher, paired: ([+-][\d.]+)x", text)
    assert d < 0 and "beyond the noise" in text.splitlines()[-1], text
    assert cells["01-25-read"].source.startswith("Not worse: one evaluation scores a little *better*")
