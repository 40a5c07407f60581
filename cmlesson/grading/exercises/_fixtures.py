"""Kernel-side models with known answers, the spies and the schedule that several exercises hand to the student's code
(torch only; injected into the student's kernel like :mod:`._kernel`)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._kernel import col, floats, gen

SIGMAS = (80.0, 20.0, 5.0, 1.5, 0.5, 0.15, 0.03, 0.002)  # a short decreasing schedule: the pairs the loss exercises draw


class GaussianConsistency:
    """The exact consistency function of data N(m, s^2 I); sigma_min = 0.2 so that sqrt(tau^2 - sigma_min^2) != tau.

    Records the level of every call in ``calls``.
    """

    def __init__(self):
        self.m, self.s = torch.tensor([0.3, -0.2]), 0.5
        self.sigma_data, self.sigma_min, self.sigma_max = 0.5, 0.2, 80.0
        self.calls: list[float] = []

    def __call__(self, x: torch.Tensor, sigma) -> torch.Tensor:
        s = col(sigma, x)
        self.calls.append(float(torch.as_tensor(sigma, dtype=torch.float64).reshape(-1)[0]))
        m = self.m.to(x.dtype)
        return m + (x - m) * math.sqrt(self.s**2 + self.sigma_min**2) / (self.s**2 + s**2).sqrt()


class GaussianDenoiser:
    """The exact denoiser of data N(m, s^2 I): D(x, sigma) = m + s^2 / (s^2 + sigma^2) (x - m). Counts its calls."""

    def __init__(self):
        self.m, self.s, self.sigma_data = torch.tensor([0.3, -0.2]), 0.5, 0.5
        self.sigma_min, self.sigma_max = 0.002, 80.0
        self.calls = 0

    def __call__(self, x: torch.Tensor, sigma) -> torch.Tensor:
        self.calls += 1
        m = self.m.to(x.dtype)
        return m + self.s**2 / (self.s**2 + col(sigma, x) ** 2) * (x - m)


class SpyNet(nn.Module):
    """A small differentiable f(x, sigma) with two parameters; records the x, sigma and grad mode of each call."""

    def __init__(self, seed: int):
        super().__init__()
        g = gen(seed)
        self.w = nn.Parameter(0.5 * torch.randn(2, 2, generator=g))
        self.b = nn.Parameter(0.1 * torch.randn(2, generator=g))
        self.sigma_data, self.sigma_min, self.sigma_max = 0.5, 0.002, 80.0
        self.calls: list[tuple[torch.Tensor, torch.Tensor, bool]] = []

    def forward(self, x: torch.Tensor, sigma) -> torch.Tensor:
        s = col(sigma, x)
        rows = torch.as_tensor(sigma, dtype=torch.float64).detach().reshape(-1)
        rows = rows.expand(x.shape[0]) if rows.numel() == 1 else rows
        self.calls.append((x.detach().to(torch.float64).clone(), rows.clone(), torch.is_grad_enabled()))
        return x / (1 + s) + torch.tanh(x @ self.w + self.b) * s / (1 + s)


class ConstNet(nn.Module):
    """Outputs the same point c for every x and sigma: online and target coincide, so a consistency loss must be 0."""

    def __init__(self):
        super().__init__()
        self.c = nn.Parameter(torch.tensor([0.3, -0.7]))
        self.sigma_data, self.sigma_min, self.sigma_max = 0.5, 0.002, 80.0

    def forward(self, x: torch.Tensor, sigma) -> torch.Tensor:
        return self.c * torch.ones_like(x)


def recorded_calls(calls: list) -> dict:
    """A SpyNet's calls as JSON: how many, the x and sigma of every row, and whether gradients were on."""
    if not calls:
        return {"count": 0}
    return {"count": len(calls), "x": floats(torch.cat([c[0] for c in calls]), "x"),
            "sigma": floats(torch.cat([c[1] for c in calls]), "sigma"), "grad": [bool(c[2]) for c in calls]}


def grad_norm(module: nn.Module) -> float | None:
    """The norm of all of a module's gradients, or None if none was computed."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    return float(sum(float(g.double().pow(2).sum()) for g in grads) ** 0.5) if grads else None
