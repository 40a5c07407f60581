"""Notebook 09's claims (guidance and latent consistency models), checked against what the executed solution
notebook prints: each test reads a cell's output by the cell's id and checks the sentence of the prose it backs."""

from __future__ import annotations

import inspect
import re
from functools import cache
from pathlib import Path

import nbformat
import pytest

from cmlesson import plotting

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "solutions" / "09_guided_latent_consistency.ipynb"
MEAN_SE = r"(\d+\.\d+) ± (\d+\.\d+)"  # a figure over the sampling seeds, as printed: "0.978 ± 0.002"
DIFF = r"([+-]\d+\.\d+) ± (\d+\.\d+), (beyond|within) the noise"  # a paired difference and its verdict


@cache
def _notebook():
    return nbformat.read(NOTEBOOK, as_version=4)


def printed(cell_id: str) -> str:
    for cell in _notebook().cells:
        if cell.get("id") == cell_id:
            text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
            assert text, f"notebook 09, cell {cell_id} printed nothing: execute the solution notebook"
            return text
    raise AssertionError(f"notebook 09 has no cell {cell_id}")


def prose(cell_id: str) -> str:
    (cell,) = [c for c in _notebook().cells if c.get("id") == cell_id]
    return cell.source


class Diff:
    def __init__(self, value: str, se: str, verdict: str):
        self.value, self.se, self.beyond = float(value), float(se), verdict == "beyond"


@pytest.fixture(scope="module")
def nb09():
    teacher = {}
    row = rf"^\s*(\d+)\s+{MEAN_SE}\s+{MEAN_SE}\s+{MEAN_SE}\s+{MEAN_SE}$"
    for m in re.finditer(row, printed("b3ed65c0"), re.M):
        g = list(map(float, m.groups()))
        teacher[g[0]] = dict(zip(("read", "confident", "FD", "spread"), g[1::2], strict=True))
    assert sorted(teacher) == [0, 1, 2, 4], teacher
    steps = {}
    for m in re.finditer(rf"^w = (\d) - w = (\d): spread {DIFF}[^;]*; FD {DIFF}", printed("b3ed65c0"), re.M):
        steps[int(m[1]), int(m[2])] = {"spread": Diff(*m.groups()[2:5]), "FD": Diff(*m.groups()[5:8])}
    real = float(re.search(r"'spread': np\.float64\((\d\.\d+)\)", printed("5cdefec1")).group(1))
    rows = {}
    for line in printed("19cafd23").splitlines():
        m = re.match(rf"^(.+?)\s+{MEAN_SE}\s+(\d\.\d+)\s+{MEAN_SE}\s+{MEAN_SE}\s+{MEAN_SE}$", line)
        if m:
            g = list(map(float, m.groups()[1:]))
            rows[m.group(1)] = {"read": g[0], "worst": g[2], "confident": g[3], "FD": g[5], "spread": g[7]}
    assert "consistency model, 2 steps" in rows, sorted(rows)
    return teacher, steps, real, rows


def test_09_the_exercise_passes_in_the_solution_and_is_used():
    out = printed("nb09-ex91-check")
    assert "[PASS] Exercise 9.1: the guided denoiser: 2/2" in out
    assert "from here on the notebook uses your guided_denoiser_student" in out


def test_09_every_score_prints_its_standard_error():
    """Every table of generated digits is mean ± standard error over the sampling seeds (ScoreConfig.seeds)."""
    from cmlesson.config import ScoreConfig

    for cell_id in ("b3ed65c0", "fd68361d", "da4593fa", "c9f9e0f7", "19cafd23"):
        out = printed(cell_id)
        assert f"over {ScoreConfig().seeds} sampling seeds" in out, cell_id
        assert re.search(MEAN_SE, out), cell_id


def test_09_guidance_makes_the_request_count(nb09):
    teacher = nb09[0]
    assert teacher[0]["read"] < 0.3, "at w = 0 the request is ignored: about one sample in ten matches"
    assert teacher[2]["read"] > teacher[0]["read"] + 0.5, "guidance makes the request count"


def test_09_the_spread_drops_with_the_label_and_the_fd_grows_past_w_1(nb09):
    teacher, steps, real, _ = nb09
    assert teacher[1]["spread"] < real and teacher[2]["spread"] < real, "guided samples spread less than real digits"
    assert steps[4, 2]["spread"].value > 0 and steps[4, 2]["spread"].beyond, "past w = 2 the spread rises again"
    for a, b in ((2, 1), (4, 2)):
        assert steps[a, b]["FD"].value > 0 and steps[a, b]["FD"].beyond, f"the FD grows from w = {b} to {a}"
    text = prose("de92be46")
    for number in (f"{teacher[1]['read']:.3f}", f"{abs(steps[2, 1]['spread'].value):.3f}",
                   f"{steps[4, 2]['spread'].value:.3f}", *(f"{teacher[w]['FD']:.1f}" for w in (1, 2, 4))):
        assert number in text, number
    assert ("dips" in text) == (steps[2, 1]["spread"].value < 0), "the text says which way the spread moves"


def test_09_the_latent_keeps_quality_at_the_same_budget():
    out = printed("fd68361d")
    m = re.search(rf"pixels - latent: FD {DIFF}", out)
    d = Diff(*m.groups())
    assert d.value > 0 and d.beyond, "the text: the latent's FD is lower, beyond the sampling noise"
    reads = [float(r) for r in re.findall(r"^in .+?\s+\d+\s+\d+\.\d\s+(\d\.\d+) ± ", out, re.M)]
    assert len(reads) == 2 and abs(reads[0] - reads[1]) <= 0.01, "the text: the same share read as requested"


def test_09_the_k_comparison_has_error_bars_and_paired_differences():
    out = printed("da4593fa")
    diffs = re.findall(rf"^k = (\d+) - k = 1, (\d+) steps, sampled in (\d): read {DIFF}[^;]*; FD {DIFF}", out, re.M)
    assert len(diffs) == 6, out
    early_fd = [Diff(*d[6:9]) for d in diffs if d[1] == "100"]
    assert all(f.value < 0 and f.beyond for f in early_fd), "the text: the skipping step can be ahead early"
    late_2 = [Diff(*d[6:9]) for d in diffs if d[1] == "600" and d[2] == "2"]
    assert late_2[0].value > 0 and late_2[0].beyond, "the text: the one-level step can be ahead late"
    rows = re.findall(r"^k = \d+\s+\d+\s+(\d\.\d+) ± \d\.\d+\s+\d+\.\d ± \d\.\d\s+(\d\.\d+) ± ", out, re.M)
    reads = [float(r) for row in rows for r in row]
    assert len(reads) == 12 and min(reads) > 0.9, "the text: on a full axis both runs read nearly every sample as requested"


def test_09_the_consistency_model_answers_in_two_steps(nb09):
    rows = nb09[3]
    two, one = rows["consistency model, 2 steps"], rows["consistency model, 1 step"]
    assert two["read"] >= 0.90, "at 2 steps, at least 90% of samples should read as the requested class"
    assert two["spread"] > 0.5, "no class collapses to a single style"
    m = re.search(rf"2 - 1 steps: {DIFF}", printed("a5464197"))
    d = Diff(*m.groups())
    assert one["read"] > two["read"] and d.value < 0 and d.beyond, "the text: one step reads slightly more"


def test_09_the_figures_write_the_readings_beside_the_ink():
    """The sample grids put the classifier's reading in a strip under each tile, never over the digit."""
    for cell_id in ("c4866231", "d23ab435", "c9f9e0f7"):
        (cell,) = [c for c in _notebook().cells if c.get("id") == cell_id]
        assert "under each digit, the classifier's" in cell.source
        assert "plotting.image_grids(" in cell.source and "labels=" in cell.source  # the package's grids, no copy
    # which write each reading in the strip under its tile unless told otherwise
    assert inspect.signature(plotting.image_grid).parameters["labels_below"].default is True
    assert "labels_below" not in "".join(c.source for c in _notebook().cells)


def test_09_calls_the_packages_frechet_distance_and_loads_the_pixel_teacher():
    """09 scores with classifier.frechet_distance (notebook 07's FD) instead of a copy of it, and measures the shipped
    pixel-space teacher (GuidedTeacherConfig on the 64 pixels, seed 0) instead of training it; the cost per step of
    both spaces is timed on screen, side by side."""
    from cmlesson import checkpoints
    from cmlesson.config import GuidedTeacherConfig

    code = "\n".join(c.source for c in _notebook().cells if c.cell_type == "code")
    assert "def frechet_distance" not in code and "classifier.frechet_distance(" in code
    assert 'checkpoints.load("digits_pixel_teacher")' in code
    info = checkpoints.info("digits_pixel_teacher")
    assert info["steps"] == GuidedTeacherConfig().steps and info["seed"] == 0 and info["data_dim"] == 64
    rows = re.findall(r"^in (pixels|the PCA latent)\s+(\d+)\s+(\d+\.\d)\s", printed("fd68361d"), re.M)
    assert [(r[0], r[1]) for r in rows] == [("pixels", "64"), ("the PCA latent", "20")], rows
    assert "ms/step" in printed("fd68361d")
