"""frontier.drifting: the generator starts as the flow-matching noise, trains in training.fit with any drift, and its
benchmark key samples it in one call."""

from __future__ import annotations

from dataclasses import replace

import torch

from cmlesson import data
from cmlesson.authoring import bench_frontier
from cmlesson.config import DriftingConfig, NetworkConfig
from cmlesson.frontier import drifting

SMALL = NetworkConfig(hidden=16, depth=2, emb_dim=8)
TINY = replace(DriftingConfig(), steps=30, batch=64, warmup=2)


def test_an_untrained_generator_returns_the_flow_matching_noise():
    pts = data.sample("moons", 500, seed=0)
    g = drifting.for_data(pts, SMALL)
    e = torch.randn(7, 2)
    torch.testing.assert_close(g(e), g.center + g.scale * e)


def test_training_runs_in_fit_with_the_given_drift_and_moves_the_samples_towards_the_data():
    pts = data.sample("moons", 2000, seed=0)
    calls = []

    def counted(y, x, t):
        calls.append(y.shape)
        return drifting.drift(y, x, t)

    run = drifting.train_drifting(pts, replace(TINY, lr=1e-2), net=SMALL, drift_fn=counted, progress=False)
    assert len(run.history) == TINY.steps == len(calls) and calls[0] == (TINY.batch, 2)
    assert not any(p.requires_grad for p in run.model.parameters())
    start = drifting.for_data(pts, SMALL)
    ref = data.sample("moons", 500, seed=5)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        before = torch.cdist(start(torch.randn(500, 2, generator=g)), ref).min(1).values.mean()
    after = torch.cdist(drifting.sample_drifting(run.model, 500, torch.Generator().manual_seed(0)), ref).min(1).values.mean()
    assert after < before  # closer to the data than the noise it started as


def test_the_loss_is_the_drifts_mean_squared_size_in_the_datas_units():
    pts = data.sample("moons", 256, seed=1)
    g = drifting.for_data(pts, SMALL)
    gen = torch.Generator().manual_seed(3)
    loss = drifting.drifting_loss(g, pts, 0.05, gen)
    y = g(drifting.noise(g, 256, torch.Generator().manual_seed(3)))
    v = drifting.drift(y, pts, 0.05)
    torch.testing.assert_close(loss, (v / g.scale).pow(2).sum(1).mean())
    loss.backward()  # the gradient reaches the generator through y, not through the target
    assert g.net.out.weight.grad is not None


def test_the_benchmark_samples_the_drifting_model_in_one_call():
    assert bench_frontier.KEYS["drift_1step_w1"] == ("drift", 1)
    g = drifting.for_data(data.sample("moons", 500, seed=0), SMALL)
    sample = bench_frontier.samplers_for({"drift": g}, 300)["drift"](1)
    assert sample(torch.Generator().manual_seed(0)).shape == (300, 2)


def test_step_seconds_times_a_step_and_the_drift():
    t = drifting.step_seconds(data.sample("moons", 400, seed=0), 100, replace(DriftingConfig(), warmup=1), steps=3)
    assert t["step"] > 0 and t["drift"] > 0
