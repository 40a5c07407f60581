"""Notebook 11 (drifting models): what its prose says, checked against its executed outputs, and its shipped runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from cmlesson import checkpoints
from cmlesson.config import DriftingConfig, ShortcutConfig
from cmlesson.frontier import drifting, flowmap

NOTEBOOK = Path(__file__).resolve().parent.parent / "solutions" / "11_drifting_models.ipynb"


def printed(cell_id: str) -> str:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    (cell,) = [c for c in cells if c.get("id") == cell_id]
    return "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_shipped_seed_runs_are_the_documented_trainers(seed):
    short, drift = checkpoints.load(f"shortcut_seed{seed}"), checkpoints.load(f"drifting_seed{seed}")
    assert isinstance(short, flowmap.AverageVelocity) and isinstance(drift, drifting.Generator)
    assert checkpoints.info(f"shortcut_seed{seed}")["steps"] == ShortcutConfig.steps
    assert checkpoints.info(f"drifting_seed{seed}")["steps"] == DriftingConfig.steps
    assert checkpoints.info(f"drifting_seed{seed}")["seed"] == seed
    assert not any(p.requires_grad for p in drift.parameters())
    assert drift(torch.zeros(3, 2)).shape == (3, 2)


def test_the_exercise_passes_in_the_solution_and_its_drift_trains_the_screen_run():
    assert "[PASS] Exercise 11.1" in printed("d11-ex-check")
    assert "from here on the notebook uses your drift_student" in printed("d11-ex-check")
    assert re.search(r"300 steps of batch 500 in \d+ s; 1 step: \d+\.\d+x ± \d+\.\d+ the floor", printed("d11-screen-run"))


def test_the_ranking_line_follows_the_three_paired_differences():
    text = printed("d11-compare")
    diffs = re.findall(r"training seed (\d): drifting - shortcut = ([+-]\d+\.\d+)x ± (\d+\.\d+), (beyond|within)", text)
    assert [d[0] for d in diffs] == ["0", "1", "2"]
    better = sum(v.startswith("-") and w == "beyond" for _, v, _, w in diffs)
    worse = sum(v.startswith("+") and w == "beyond" for _, v, _, w in diffs)
    if better == 3:
        assert "drifting beats the shortcut model at one step at all 3 training seeds" in text
    elif worse == 3:
        assert "the shortcut model beats drifting at one step at all 3 training seeds" in text
    else:
        assert f"better beyond the noise at {better}, worse at {worse}" in text


def test_the_drift_costs_more_than_linearly_in_the_batch():
    growth = float(re.search(r"the drift costs (\d+\.\d+)x as much", printed("d11-cost"))[1])
    assert growth > 4  # 4x the batch: linear would be 4x, the kernel's entries grow 16x
