"""Lagrangian self-distillation, LSD (Boffi, Albergo & Vanden-Eijnden 2025): a flow map taught by its own diagonal.

Time is flow-matching time as in :mod:`cmlesson.frontier.flowmap` (and notebook 08): t = 1 is noise, t = 0 data,
z_t = (1 - t) x + t (c + s e). The **flow map** X_{s,t}(z) carries a point of the probability-flow ODE's path at
time s to its point at time t. With the course's average velocity u(z, s, h) (:class:`flowmap.AverageVelocity`),

    X_{s,t}(z) = z + (t - s) u(z, s, s - t),

which is Boffi et al.'s parameterisation X_{s,t}(y) = y + (t - s) v(y, s, t) in the course's arguments: the
boundary X_{s,s} = identity holds for every network. Its tangent at t = s is u(z, s, 0), so the diagonal is a
flow-matching model (the tangent condition), trained with flow matching's loss. The off-diagonal learns the
**Lagrangian** equation d/dt X_{s,t}(z) = v(X_{s,t}(z), t), with the diagonal v(y, t) = u(y, t, 0) as the velocity
under stop-gradient: no teacher, one forward-mode JVP in t. Introduced in notebook 10.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .. import training, validate
from ..config import LSDConfig, NetworkConfig
from ..data import Pool
from ..parameterization import append_dims
from . import flowmap

Residual = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def flow_map(model: nn.Module, z: torch.Tensor, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """X_{s,t}(z) = z + (t - s) u(z, s, s - t) (Boffi et al. 2025, Sec. 2, in flowmap's time; notebook 10): (n, d)."""
    return z + append_dims(t - s, z.ndim) * model(z, s, s - t)


def velocity(model: nn.Module, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The diagonal v(z, t) = u(z, t, 0) = d/dt X_{s,t}(z) at t = s: the flow-matching velocity (notebook 10)."""
    return model(z, t, torch.zeros_like(t))


def lagrangian_residual(model: nn.Module, z: torch.Tensor, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Boffi et al. 2025, the Lagrangian loss (LSD): d/dt X_{s,t}(z) - sg[v(X_{s,t}(z), t)], (n, d); notebook 10.

    d/dt X_{s,t}(z) is one forward-mode JVP of t -> X_{s,t}(z) along the tangent 1; it keeps its graph to the
    weights (the loss trains it). The velocity target is the diagonal at the map's landing point, no gradient.
    """
    x, dxdt = torch.func.jvp(lambda t_: flow_map(model, z, s, t_), (t,), (torch.ones_like(t),))
    with torch.no_grad():
        target = velocity(model, x.detach(), t)
    return dxdt - target


def sample_s_t(n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Two uniform draws on [0, 1]: s = the larger (the start, nearer the noise), t = the smaller; notebook 10."""
    a, b = torch.rand(n, generator=generator), torch.rand(n, generator=generator)
    return torch.maximum(a, b), torch.minimum(a, b)


def lsd_loss(model: nn.Module, x0: torch.Tensor, cfg: LSDConfig = LSDConfig(), *, residual: Residual = lagrangian_residual,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Boffi et al. 2025 (LSD): flow matching on the diagonal plus ||residual||^2 on pairs s > t; notebook 10.

    The first ``cfg.diagonal_share`` of the batch trains the diagonal, E ||u(z_t, t, 0) - (c + s e - x0)||^2 with
    t ~ U(0, 1); the rest the Lagrangian residual at z_s, (s, t) from :func:`sample_s_t`. Errors are summed over
    coordinates in units of the data's scale (the noise's) and averaged over the whole batch.
    """
    n = x0.shape[0]
    nd = int(round(validate.fraction("diagonal_share", cfg.diagonal_share, closed_right=True) * n))
    noise = model.center + model.scale * torch.randn(x0.shape, generator=generator)
    t_fm = torch.rand(nd, generator=generator)
    s, t = sample_s_t(n - nd, generator)
    fm = velocity(model, flowmap.interpolate(x0[:nd], noise[:nd], t_fm), t_fm) - (noise - x0)[:nd]
    lag = residual(model, flowmap.interpolate(x0[nd:], noise[nd:], s), s, t)
    return (torch.cat([fm, lag]) / model.scale).pow(2).sum(1).mean()


def train_lsd(data: torch.Tensor, cfg: LSDConfig = LSDConfig(), *, residual: Residual = lagrangian_residual,
              net: NetworkConfig = NetworkConfig(), seed: int = 0, progress: bool = True) -> training.Trained:
    """A flow map trained from scratch by lsd_loss (Boffi et al. 2025, self-distillation) in training.fit; notebook 10.

    ``residual`` may be the student's (notebook 10's exercise). Sample with :func:`flowmap.sample_flowmap`.
    """
    pool, gen = Pool(data, seed), training.seeded(seed)
    model = flowmap.for_data(pool.points, net)

    def loss(step, x0):
        return lsd_loss(model, x0, cfg, residual=residual, generator=gen)

    return training.fit(model, loss, pool, cfg, "LSD", progress=progress)
