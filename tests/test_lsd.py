"""cmlesson.frontier.lsd: the flow map's boundary, the Lagrangian residual (zero on an exact flow map, its gradient
only through d/dt X), the loss's split of the batch, and a short training run through training.fit."""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import nn

from cmlesson.config import LSDConfig, NetworkConfig
from cmlesson.frontier import flowmap, lsd

TINY = NetworkConfig(hidden=16, depth=1, emb_dim=8)


class LinearFlow(nn.Module):
    """The exact average velocity of dz/dt = a z: X_{s,t}(z) = z exp(a (t - s)), u(z, s, h) = z (1 - exp(-a h)) / h."""

    def __init__(self, a: float):
        super().__init__()
        self.a = a

    def forward(self, z, s, h):
        h = h[:, None]
        safe = torch.where(h.abs() > 1e-9, h, torch.ones_like(h))
        return torch.where(h.abs() > 1e-9, z * (1 - torch.exp(-self.a * safe)) / safe, self.a * z)


def _points(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = 0.2 + 0.8 * torch.rand(n, generator=g)
    return torch.randn(n, 2, generator=g), s, s * torch.rand(n, generator=g)


def test_the_boundary_holds_for_any_network():
    torch.manual_seed(0)
    model = flowmap.for_data(torch.randn(200, 2), TINY)
    nn.init.normal_(model.net.out.weight, std=0.5)
    z, s, _ = _points()
    torch.testing.assert_close(lsd.flow_map(model, z, s, s), z)


def test_the_residual_vanishes_on_an_exact_flow_map_and_not_on_a_wrong_one():
    z, s, t = _points()
    exact = LinearFlow(0.7)
    torch.testing.assert_close(lsd.flow_map(exact, z, s, t), z * torch.exp(0.7 * (t - s))[:, None])
    assert lsd.lagrangian_residual(exact, z, s, t).abs().max() < 1e-5
    wrong = LinearFlow(0.7)
    wrong.forward = lambda z_, s_, h_: LinearFlow.forward(exact, z_, s_, h_) * (1 + 0.1 * h_[:, None])
    assert lsd.lagrangian_residual(wrong, z, s, t).abs().max() > 1e-2


def test_the_residual_trains_the_map_and_not_the_target():
    torch.manual_seed(1)
    model = flowmap.for_data(torch.randn(200, 2), TINY)
    nn.init.normal_(model.net.out.weight, std=0.5)
    z, s, t = _points()
    lsd.lagrangian_residual(model, z, s, t).pow(2).sum().backward()
    got = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    x, dxdt = torch.func.jvp(lambda t_: lsd.flow_map(model, z, s, t_), (t,), (torch.ones_like(t),))
    (dxdt - lsd.velocity(model, x, t).detach()).pow(2).sum().backward()
    for a, b in zip(got, [p.grad for p in model.parameters()], strict=True):
        torch.testing.assert_close(a, b)


def test_the_loss_uses_the_students_residual_on_the_off_diagonal_share():
    torch.manual_seed(2)
    model = flowmap.for_data(torch.randn(200, 2), TINY)
    seen = []

    def residual(m, z, s, t):
        seen.append((z.shape[0], bool((s > t).all())))
        return torch.zeros_like(z)

    loss = lsd.lsd_loss(model, torch.randn(100, 2), replace(LSDConfig(), diagonal_share=0.75), residual=residual,
                        generator=torch.Generator().manual_seed(0))
    assert seen == [(25, True)] and math.isfinite(loss.item())


def test_a_short_run_trains_through_fit():
    run = lsd.train_lsd(torch.randn(500, 2), replace(LSDConfig(), steps=5, batch=64, warmup=1), net=TINY,
                        progress=False)
    assert len(run.history) == 5 and all(math.isfinite(v) for v in run.history)
    assert isinstance(run.model, flowmap.AverageVelocity)
