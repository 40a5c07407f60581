"""Notebook 06's shipped runs and the replay of their levels: what the notebook loads instead of training."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import nbformat
import torch

from cmlesson import checkpoints, data, losses, schedules, training
from cmlesson.config import ConsistencyTrainingConfig, NetworkConfig


def _recording(levels, counts: Counter):
    def wrapped(sigmas, n, generator=None):
        i = levels(sigmas, n, generator)
        index, k = torch.unique(i, return_counts=True)
        counts.update(dict(zip(sigmas[index].tolist(), k.tolist(), strict=True)))
        return i

    return wrapped


def test_levels_drawn_replays_what_training_draws():
    """The replay counts the same levels, pair for pair, as a recording of the same (short) run."""
    pool = data.sample("moons", 2000, seed=0)
    noise = training.noise_config_for(pool)
    cfg = replace(ConsistencyTrainingConfig(), steps=40, batch=64, s0=10, s1=160)
    for levels in (losses.lognormal_levels, losses.mixed_levels):
        recorded: Counter = Counter()
        training.train_consistency(pool, cfg, noise=noise, seed=3, levels=_recording(levels, recorded),
                                   curriculum=schedules.ict_curriculum, progress=False,
                                   net=replace(NetworkConfig(), hidden=16, depth=1))
        replayed = training.levels_drawn(cfg, noise, levels=levels, curriculum=schedules.ict_curriculum, seed=3)
        assert replayed == recorded and sum(replayed.values()) == 40 * 64


def test_notebook_06s_shipped_runs_are_its_recipes():
    """Each shipped ablation run is CT's recipe with the named change(s), at the notebook's budget."""
    assert set(checkpoints.ICT_ABLATION) <= set(checkpoints.NAMES)
    assert checkpoints.CT06_BUDGET == replace(ConsistencyTrainingConfig(), steps=2500, batch=1000, lr=3e-3)
    assert checkpoints.ICT_BUDGET == replace(checkpoints.CT06_BUDGET, s0=10, s1=1280)
    for name in checkpoints.ICT_ABLATION:
        info = checkpoints.info(name)
        assert info["steps"] == 2500 and info["seed"] == 0 and info["bytes"] < 300_000, name


def _printed(cell_id: str) -> str:
    path = Path(__file__).resolve().parent.parent / "solutions" / "06_improved_consistency_training.ipynb"
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.get("id") == cell_id:
            return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    raise AssertionError(f"notebook 06 has no cell {cell_id}")


def test_06_trains_a_fifth_of_the_pseudo_huber_run_on_screen_with_the_students_distance():
    """Section 3 trains a fifth of the budget with the student's distance (the exercise passed, so its function is
    the one used) and compares it, paired, with the full-budget run, shipped like the six others."""
    check = _printed("06-ex61-check")
    assert check.startswith("[PASS] Exercise 6.1: the pseudo-Huber distance: 2/2"), check
    assert "from here on the notebook uses your pseudo_huber_student" in check
    quick = re.fullmatch(r"your distance, ([\d,]+) steps \((\d+) s\): 1 step \d+\.\d\dx ± \d+\.\d\d \(W1 / floor\)\n",
                         _printed("06-09"))
    assert quick and int(quick.group(1).replace(",", "")) == checkpoints.CT06_BUDGET.steps // 5, _printed("06-09")
    full = _printed("06-09-full")
    assert re.match(r"\+ pseudo-Huber distance:  1 step \d\.\d\dx ± \d\.\d\d,  2 steps", full), full
    assert re.search(r"your short run minus the full budget, 1 step: [+-]\d+\.\d\dx ± \d+\.\d\d, (beyond|within) "
                     r"the noise", full), full
    assert checkpoints.ICT_ABLATION["ct06_pseudo_huber"] == {"distance": losses.pseudo_huber_distance}
    rows = [line.split() for line in _printed("06-31").splitlines()[1:8]]
    assert len(rows) == 7 and all(r[-2] == "±" and r[-5] == "±" for r in rows), rows
    assert re.search(r"remedy: \d\.\d\dx ± \d\.\d\d the floor in one step", _printed("06-32"))
    assert re.search(r"it trained in \d+ s when shipped \(one thread\); section 3's 500 steps in \d+ s here",
                     _printed("06-32"))
