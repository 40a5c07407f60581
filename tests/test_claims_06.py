"""Notebook 06's shipped runs and the replay of their levels: what the notebook loads instead of training."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

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
