"""Drifting models (Deng, Li, Li, Du & He 2026): a one-step generator trained with no ODE (notebook 11).

Each training step draws generated points y_i = g(e_i), e ~ N(0, I), and data points, computes the **drift**
V(y_i): a mean-shift field with the kernel k(a, b) = exp(-||a - b|| / T), attraction to the data minus repulsion
from the other generated points (the self-pair excluded), and regresses g(e_i) onto sg[y_i + V(y_i)]. The drift
vanishes when the generated points are distributed as the data. There is no time, no noise level and no teacher:
the generator has one step and only one.

The generator g(e) = c + s (e + net(e)) starts as the flow-matching noise of :mod:`flowmap` (c the data's mean,
s its scale), net the course's residual MLP with no condition; it is trained by :func:`cmlesson.training.fit`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import torch
from torch import nn

from .. import training, validate
from ..config import DriftingConfig, NetworkConfig
from ..data import Pool, estimate_sigma_data
from ..networks import ResidualMLP

Drift = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]  # (generated, data, T) -> V, no gradient


class PlainMLP(ResidualMLP):
    """net(x): the course's residual MLP conditioned on nothing, e = 0 (notebook 11)."""

    def __init__(self, data_dim: int = 2, cfg: NetworkConfig = NetworkConfig()):
        super().__init__(data_dim, cfg)

    def embedding(self) -> torch.Tensor:
        return self.inp.bias.new_zeros(())


class Generator(nn.Module):
    """g(e) = c + s (e + net(e)): noise e ~ N(0, I) to a data point in one call (Deng et al. 2026, Sec. 3; notebook 11).

    c and s are the data's mean and pooled standard deviation, as for :class:`flowmap.AverageVelocity`; net's output
    layer starts at zero, so an untrained generator returns the flow-matching noise c + s e.
    """

    def __init__(self, net: nn.Module, center: torch.Tensor, scale: float):
        super().__init__()
        self.net = net
        self.register_buffer("center", torch.as_tensor(center, dtype=torch.float32).reshape(-1).clone())
        self.scale = validate.positive_float("scale", scale)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return self.center + self.scale * (e + self.net(e))


def for_data(data: torch.Tensor, net: NetworkConfig = NetworkConfig()) -> Generator:
    """A fresh Generator for ``data``: c = mean(data), s = std(data - c), a zero-output PlainMLP (notebook 11)."""
    data = validate.points_2d("data", data, dim=None)
    return Generator(PlainMLP(data.shape[1], net), data.mean(0), estimate_sigma_data(data - data.mean(0)))


def noise(model: Generator, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """e ~ N(0, I), (n, d): the generator's input (notebook 11)."""
    n = validate.int_at_least("n", n, 1)
    return torch.randn(n, model.center.numel(), generator=generator)


@torch.no_grad()
def sample_drifting(model: Generator, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n samples g(e), one network call each: the only sampler a drifting model has (notebook 11)."""
    return model(noise(model, n, generator))


def drift(y: torch.Tensor, x: torch.Tensor, temperature: float) -> torch.Tensor:
    """Deng et al. 2026, Alg. 2: V(y_i) = sum_j W+_ij x_j - sum_k W-_ik y_k, (n, d), without gradient (notebook 11).

    Logits -||y_i - b|| / T for b in [y; x] (the generated points, then the data), the self-pair b = y_i masked;
    A = sqrt(softmax over b * softmax over i), the kernel normalised over rows and over columns. The attraction
    weights W+ = A[:, data] * (row sum of A[:, generated]), the repulsion weights W- = A[:, generated] * (row sum of
    A[:, data]): both rows sum to the same number, so V is a difference of two weighted means, zero when y and x are
    distributed alike.
    """
    temperature = validate.positive_float("temperature", temperature)
    with torch.no_grad():
        y, x = y.detach(), x.detach()
        n = y.shape[0]
        logits = -torch.cdist(y, torch.cat([y, x])) / temperature  # (n, n + m)
        logits[:, :n].fill_diagonal_(float("-inf"))  # no point repels itself
        a = (logits.softmax(dim=1) * logits.softmax(dim=0)).sqrt()
        a_gen, a_data = a[:, :n], a[:, n:]
        w_data = a_data * a_gen.sum(1, keepdim=True)
        w_gen = a_gen * a_data.sum(1, keepdim=True)
        return w_data @ x - w_gen @ y


def drifting_loss(model: Generator, x0: torch.Tensor, temperature: float, generator: torch.Generator | None = None,
                  drift_fn: Drift = drift) -> torch.Tensor:
    """Deng et al. 2026, its loss: E ||g(e) - sg[g(e) + V(g(e))]||^2 on one batch, V from ``drift_fn`` (notebook 11).

    As many generated points as data points; the squared error is summed over coordinates in units of the data's
    scale and averaged over the batch, as the course's other losses. Its value is the drift's mean squared size.
    """
    y = model(noise(model, x0.shape[0], generator))
    target = (y + drift_fn(y, x0, temperature)).detach()
    return ((y - target) / model.scale).pow(2).sum(1).mean()


def train_drifting(data: torch.Tensor, cfg: DriftingConfig = DriftingConfig(), *, net: NetworkConfig = NetworkConfig(),
                   drift_fn: Drift = drift, seed: int = 0, after_step: Callable[[int, nn.Module], None] | None = None,
                   progress: bool = True) -> training.Trained:
    """A drifting generator trained from scratch by drifting_loss (Deng et al. 2026) in training.fit; notebook 11.

    ``drift_fn`` computes V (the student's, once its check passed); ``after_step`` is fit's (snapshots, measurements).
    """
    pool, gen = Pool(data, seed), training.seeded(seed)
    model = for_data(pool.points, net)
    return training.fit(model, lambda step, x0: drifting_loss(model, x0, cfg.temperature, gen, drift_fn), pool, cfg,
                        "drifting", after_step=after_step, progress=progress)


def step_seconds(data: torch.Tensor, batch: int, cfg: DriftingConfig = DriftingConfig(), steps: int = 20,
                 seed: int = 0) -> dict[str, float]:
    """Seconds per training step at ``batch``, all of it and the drift's part alone (median of ``steps``; notebook 11).

    The drift compares every generated point with every other point of the batch: its cost grows as batch^2.
    """
    run = train_drifting(data, replace(cfg, steps=steps, batch=batch, eval_decay=None), seed=seed, progress=False)
    g = torch.Generator().manual_seed(seed)
    y, x = data[:batch], data[batch:2 * batch] if len(data) >= 2 * batch else data[:batch]
    with training.torch_threads(training.TRAIN_THREADS):
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            drift(y + 0.01 * torch.randn(y.shape, generator=g), x, cfg.temperature)
            times.append(time.perf_counter() - start)
    return {"step": run.seconds / steps, "drift": sorted(times)[len(times) // 2]}
