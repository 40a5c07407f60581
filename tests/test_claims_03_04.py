"""What notebooks 03 and 04 say about their results, checked on the executed solution notebooks' printed outputs.

These were `assert` lines in the notebooks' cells; a student reads the printed numbers and the prose instead, and
CI reads them here. Each test names the cell (by id) whose output it reads and the claim of the prose it backs.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NB03 = ROOT / "solutions" / "03_consistency_training.ipynb"
NB04 = ROOT / "solutions" / "04_ema_and_training_details.ipynb"
NUMBER = r"([-+]?\d+(?:\.\d+)?)"


def printed(path: Path, cell_id: str) -> str:
    """The stream output of the cell ``cell_id`` of the executed notebook at ``path``."""
    (cell,) = [c for c in nbformat.read(path, as_version=4).cells if c.get("id") == cell_id]
    text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    assert text, f"{path.name}: cell {cell_id} printed nothing (is the notebook executed?)"
    return text


def score(text: str, label: str) -> tuple[float, float]:
    """(ratio, standard error) of the line ``label ... = 1.23x ± 0.04`` in ``text``."""
    m = re.search(re.escape(label) + r"[^\n]*?" + NUMBER + r"x ± " + NUMBER, text)
    assert m, f"no score for {label!r} in:\n{text}"
    return float(m[1]), float(m[2])


def difference(text: str, label: str) -> tuple[float, str]:
    """(paired difference, verdict) of the line ``label ... +1.23x ± 0.04  beyond the noise ...``."""
    m = re.search(re.escape(label) + r"[^\n]*?" + NUMBER + r"x ± " + NUMBER + r"\s+(beyond|within) the noise", text)
    assert m, f"no paired difference for {label!r} in:\n{text}"
    return float(m[1]), m[3]


# --- notebook 03 ------------------------------------------------------------------------------------------------

def test_03_the_euler_step_with_x0_is_the_shared_noise_point():
    assert printed(NB03, "03-03").strip().endswith("True")


def test_03_fresh_noise_misses_by_sqrt_pi_sigma_on_average_and_2_sigma_in_root_mean_square():
    """§1: with fresh noise the lower point is off by sigma |z' - z|: mean sqrt(pi) sigma, RMS 2 sigma in 2-D."""
    text = printed(NB03, "03-05")
    mean, rms = (float(x) for x in re.search(r"mean " + NUMBER + r" .*root mean square " + NUMBER, text).groups())
    assert abs(mean - math.sqrt(math.pi)) < 0.1 and abs(rms - 2.0) < 0.1, text


def test_03_the_checks_passed_so_the_notebook_ran_on_the_students_functions():
    for path, cell in ((NB03, "03-08"), (NB04, "04-04")):
        text = printed(path, cell)
        assert "[PASS]" in text and "from here on the notebook uses your" in text, text


def test_03_the_papers_curriculum_is_front_loaded():
    """'after a quarter of training the paper's grid has about half its levels, the linear ramp a quarter'."""
    shares = [int(x) for x in re.findall(r"levels \((\d+)%\)", printed(NB03, "03-10"))]
    song, lesson = shares
    assert 45 <= song <= 55 and 20 <= lesson <= 30, shares


def test_03_the_loss_scales_with_the_grid_not_with_progress():
    """The same network's loss falls with every refinement, roughly in proportion to the gap; on the coarsest
    grid it is above the first training steps' loss."""
    text = printed(NB03, "nb03-loss-grid")
    rows = [(int(n), float(loss), float(scaled)) for n, loss, scaled in
            re.findall(r"grid of\s+(\d+) levels: loss " + NUMBER + r"\s+loss x \(levels - 1\) = " + NUMBER, text)]
    assert len(rows) >= 4, text
    loss = [r[1] for r in rows]
    assert all(a > b for a, b in zip(loss, loss[1:], strict=False)), "a finer grid gives a lower loss"
    scaled = [r[2] for r in rows]
    assert max(scaled) / min(scaled) < 1.5 < loss[0] / loss[-1], "the loss scales with the gap, the product hardly"
    first = float(re.search(r"first and last 100 steps: " + NUMBER, text)[1])
    assert loss[0] > first, "the trained network on the coarsest grid: above the first steps' loss"


def test_03_without_a_teacher_one_step_is_a_cloud_and_two_steps_the_moons():
    text = printed(NB03, "03-16")
    assert score(text, "training from scratch  1 step")[0] > 2.5, "one step far from the data"
    assert score(text, "training from scratch  2 steps")[0] < 3.0, "two steps within 3x the noise floor"


@pytest.mark.parametrize("label", ["the second step, from scratch", "scratch - distillation, 1 step",
                                   "scratch - distillation, 2 steps"])
def test_03_the_second_step_helps_and_distillation_leads_beyond_the_noise(label):
    text = printed(NB03, "03-17")
    assert "sampling seeds (one training run each)" in text
    d, verdict = difference(text, label)
    assert d > 0 and verdict == "beyond", (label, d, verdict)


# --- notebook 04 ------------------------------------------------------------------------------------------------

def test_04_the_measured_share_of_the_start_is_decay_to_the_k():
    text = printed(NB04, "nb04-memory-assert")
    assert float(re.search(r"decay\^k: (\S+)", text)[1]) < 1e-9, text


def test_04_the_lessons_ema_holds_nearly_half_its_start_and_ours_almost_all():
    shares = {float(mu): (float(a), float(b)) for mu, a, b in re.findall(
        r"decay " + NUMBER + r"\s*: after \d+ steps\s+" + NUMBER + r"% of the start remains; after 8,000 steps\s+"
        + NUMBER + "%", printed(NB04, "04-07"))}
    assert set(shares) == {0.95, 0.999, 0.9999}, shares
    assert 40 <= shares[0.9999][1] < 50, "0.9999 over 8,000 steps: nearly half of the start"
    assert shares[0.9999][0] > 90 and shares[0.999][0] > 50, "our 500 steps: almost all, more than half"


def test_04_the_ablation_ranks_the_decays_by_their_memory():
    text = printed(NB04, "04-11")
    start = score(text, "start (copy of the teacher)")[0]
    assert score(text, "target decay 0.95 ")[0] < 0.6 * start, "mu = 0.95 moves far from the start"
    assert score(text, "target decay 0.9999")[0] > 0.8 * start, "mu = 0.9999 barely leaves the start"
    assert "sampling seeds (one training run each)" in text
    d, verdict = difference(text, "target decay 0 - target decay 0.95")
    assert d > 0 and verdict == "beyond", "mu = 0.95 beats mu = 0 beyond the noise"
    d, verdict = difference(text, "target decay 0.9999 - target decay 0.95")
    assert d > 0 and verdict == "beyond"


def test_04_the_evaluation_ema_and_the_online_weights_are_within_a_few_percent():
    text = printed(NB04, "04-13")
    share = float(re.search(NUMBER + r"% of the online score", text)[1])
    assert abs(share) < 5, text
