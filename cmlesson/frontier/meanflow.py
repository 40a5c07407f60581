"""MeanFlow (Geng, Deng, Bai, Kolter & He 2025): flow matching's velocity averaged over an interval (notebook 08).

The average velocity over [r, t] is u(z_t, r, t) = 1/(t - r) int_r^t v(z_s, s) ds, so z_r = z_t - (t - r) u. Multiply
by (t - r) and differentiate in t: the **MeanFlow identity** u = v - (t - r) du/dt, with du/dt = v . grad_z u + d_t u,
one JVP. Training regresses u_theta on the identity's right-hand side under stop-gradient, with the conditional
velocity v = e - x of flow matching in place of the marginal one. r = t is plain flow matching.

The network is :class:`cmlesson.frontier.flowmap.AverageVelocity`, called as model(z, t, h) with h = t - r.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .. import training, validate
from ..config import MeanFlowConfig, NetworkConfig
from ..data import Pool
from ..parameterization import append_dims
from . import flowmap

Target = Callable[[Callable, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
TimeSampler = Callable[[int, torch.Generator | None], torch.Tensor]


def logit_normal(P_mean: float, P_std: float) -> TimeSampler:
    """Geng et al. 2025, Sec. 4 (notebook 08): t = sigmoid(P_mean + P_std n), n ~ N(0, 1): a sampler (n, generator) -> (n,)."""
    validate.positive_float("P_std", P_std)

    def sample(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.sigmoid(P_mean + P_std * torch.randn(n, generator=generator))

    return sample


def uniform(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """t ~ U(0, 1): (n,); flow matching's times (Lipman et al. 2023), the ablation of logit_normal (notebook 08)."""
    return torch.rand(n, generator=generator)


def sample_r_t(n: int, times: TimeSampler, ratio: float, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
    """Geng et al. 2025, Sec. 4 (notebook 08): two draws, t = max, r = min; then r = t for a share 1 - ``ratio`` (plain FM)."""
    ratio = validate.fraction("ratio", ratio, closed_right=True)
    a, b = times(n, generator), times(n, generator)
    t, r = torch.maximum(a, b), torch.minimum(a, b)
    r = torch.where(torch.rand(n, generator=generator) < ratio, r, t)
    return r, t


def meanflow_target(u: Callable, z: torch.Tensor, r: torch.Tensor, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Geng et al. 2025, Eq. 8-10 (notebook 08): sg[v - (t - r) du/dt], du/dt = JVP of u(z, r, t) along the tangent (v, 0, 1).

    ``u(z, r, t)`` is the average velocity over [r, t]; v the velocity dz/dt at z. (batch, d), no gradient.
    """
    with torch.no_grad():
        _, dudt = torch.func.jvp(u, (z, r, t), (v, torch.zeros_like(r), torch.ones_like(t)))
        return v - append_dims(t - r, dudt.ndim) * dudt


def adaptive_weight(sq_err: torch.Tensor, p: float, c: float) -> torch.Tensor:
    """Geng et al. 2025, Sec. 4.3 (notebook 08): w = 1 / (||Delta||^2 + c)^p under stop-gradient (p = 0: the squared error)."""
    return 1 / (sq_err.detach() + c) ** p


def meanflow_loss(model: nn.Module, x0: torch.Tensor, cfg: MeanFlowConfig = MeanFlowConfig(), *,
                  times: TimeSampler | None = None, target: Target = meanflow_target,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Geng et al. 2025, Alg. 1 (notebook 08): E[w ||u_theta(z_t, r, t) - target||^2], z_t = (1 - t) x0 + t e, v = e - x0.

    Errors in units of the data's scale (the noise's); ``times`` defaults to logit_normal(cfg.P_mean, cfg.P_std).
    """
    times = times or logit_normal(cfg.P_mean, cfg.P_std)
    r, t = sample_r_t(x0.shape[0], times, cfg.ratio, generator)
    noise = model.center + model.scale * torch.randn(x0.shape, generator=generator)
    z, v = flowmap.interpolate(x0, noise, t), noise - x0

    def u(z_, r_, t_):
        return model(z_, t_, t_ - r_)

    goal = target(u, z, r, t, v)
    sq_err = ((u(z, r, t) - goal) / model.scale).pow(2).sum(1)
    return (adaptive_weight(sq_err, cfg.p, cfg.c) * sq_err).mean()


def train_meanflow(data: torch.Tensor, cfg: MeanFlowConfig = MeanFlowConfig(), *, times: TimeSampler | None = None,
                   target: Target = meanflow_target, net: NetworkConfig = NetworkConfig(), seed: int = 0,
                   progress: bool = True) -> training.Trained:
    """MeanFlow trained from scratch by meanflow_loss (Geng et al. 2025, Alg. 1) in training.fit; notebook 08.

    ``target`` may be the student's (notebook 08's exercise).
    """
    pool, gen = Pool(data, seed), training.seeded(seed)
    model = flowmap.for_data(pool.points, net)

    def loss(step, x0):
        return meanflow_loss(model, x0, cfg, times=times, target=target, generator=gen)

    return training.fit(model, loss, pool, cfg, "MeanFlow", progress=progress)
