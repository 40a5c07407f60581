"""Training losses: the EDM teacher, consistency distillation, consistency training (notebooks 02-03, 06).

Every consistency loss draws an adjacent pair of levels from a decreasing schedule,
``sigma_hi = sigmas[i] > sigma_lo = sigmas[i + 1]``, puts the *online* network on the noisier point
and the *target* network (no gradient) on the less noisy one: the target is closer to the boundary
f(x, sigma_min) = x, which is where correct outputs propagate from. The choices that vary between
papers are explicit arguments: the distance, how the pair is sampled, and its weight.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from . import validate
from .samplers import heun_step

Distance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LevelSampler = Callable[[torch.Tensor, int, torch.Generator | None], torch.Tensor]
Weighting = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# --- distances d(a, b), one value per sample: (batch, ...) x 2 -> (batch,) -------------------------


def l2_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distance ||a - b||^2 per sample (Song et al. 2023, Sec. 3)."""
    return (a - b).flatten(1).pow(2).sum(1)


def pseudo_huber_distance(a: torch.Tensor, b: torch.Tensor, c: float | None = None) -> torch.Tensor:
    """sqrt(||a - b||^2 + c^2) - c per sample, c = 0.00054 sqrt(d) by default (Song & Dhariwal 2023, Sec. 3.3)."""
    if c is None:
        c = 0.00054 * math.sqrt(a[0].numel())
    return ((a - b).flatten(1).pow(2).sum(1) + c**2).sqrt() - c


# --- level samplers: index i of the higher level of the pair (sigmas[i], sigmas[i + 1]) ------------


def uniform_levels(sigmas: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """i ~ Uniform{0, ..., N-2} (Song et al. 2023, Alg. 2 and 3): (n,) int64."""
    return torch.randint(0, len(sigmas) - 1, (n,), generator=generator)


def lognormal_level_probs(sigmas: torch.Tensor, P_mean: float = -1.1, P_std: float = 2.0) -> torch.Tensor:
    """Song & Dhariwal 2023, Eq. 10: p(i) ~ erf((ln s_i - P_mean)/(sqrt2 P_std)) - erf((ln s_{i+1} - P_mean)/(sqrt2 P_std)).

    The mass of N(P_mean, P_std^2) in ln sigma between the pair's two levels (s_i = sigmas[i] > s_{i+1}).
    """
    cdf = torch.erf((sigmas.double().log() - P_mean) / (math.sqrt(2) * P_std))
    p = cdf[:-1] - cdf[1:]  # (N-1,): mass of ln sigma between the pair's two levels
    return (p / p.sum()).float()


def lognormal_levels(sigmas: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """i drawn with lognormal_level_probs (iCT, P_mean = -1.1, P_std = 2.0): (n,) int64."""
    return torch.multinomial(lognormal_level_probs(sigmas), n, replacement=True, generator=generator)


def mixed_level_probs(sigmas: torch.Tensor, uniform_share: float = 0.5, P_mean: float = -1.1, P_std: float = 2.0) -> torch.Tensor:
    """p(i) = u / (N-1) + (1 - u) p_lognormal(i): iCT's lognormal pairs with a floor of u/(N-1) under every pair.

    A remedy for short runs (this course, notebook 06): iCT's lognormal (Song & Dhariwal 2023, Eq. 10)
    gives the top pairs, where one-step sampling starts, almost no samples; the uniform share
    ``u`` (Song et al. 2023, Alg. 3) guarantees each pair at least u/(N-1) of every batch.
    """
    u = validate.fraction("uniform_share", uniform_share, closed_right=True)
    return u / (len(sigmas) - 1) + (1 - u) * lognormal_level_probs(sigmas, P_mean, P_std)


def mixed_levels(
    sigmas: torch.Tensor, n: int, generator: torch.Generator | None = None, uniform_share: float = 0.5
) -> torch.Tensor:
    """i drawn with mixed_level_probs (half uniform, half iCT lognormal by default): (n,) int64.

    Pass another share with ``functools.partial(mixed_levels, uniform_share=0.3)``.
    """
    return torch.multinomial(mixed_level_probs(sigmas, uniform_share), n, replacement=True, generator=generator)


# --- weightings lambda(sigma_hi, sigma_lo): (batch,) ------------------------------------------------


def uniform_weighting(sigma_hi: torch.Tensor, sigma_lo: torch.Tensor) -> torch.Tensor:
    """lambda = 1 (Song et al. 2023)."""
    return torch.ones_like(sigma_hi)


def ict_weighting(sigma_hi: torch.Tensor, sigma_lo: torch.Tensor) -> torch.Tensor:
    """lambda = 1 / (sigma_hi - sigma_lo) (Song & Dhariwal 2023, Sec. 3.4)."""
    return 1 / (sigma_hi - sigma_lo)


# --- losses ----------------------------------------------------------------------------------------


def edm_loss(
    denoiser, x0: torch.Tensor, P_mean: float = -1.2, P_std: float = 1.2, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Karras et al. 2022, Eq. 8: E lambda(s) ||D(x0 + s z, s) - x0||^2, ln s ~ N(P_mean, P_std^2).

    lambda(s) = (s^2 + sigma_data^2) / (s sigma_data)^2; the squared error is averaged over coordinates.
    """
    sigma = (P_mean + P_std * torch.randn(x0.shape[0], generator=generator)).exp()  # (batch,)
    col = sigma.reshape(-1, *([1] * (x0.ndim - 1)))
    z = torch.randn(x0.shape, generator=generator)
    weight = (sigma**2 + denoiser.sigma_data**2) / (sigma * denoiser.sigma_data) ** 2
    return (weight * (denoiser(x0 + col * z, sigma) - x0).flatten(1).pow(2).mean(1)).mean()


def _check_schedule(sigmas: torch.Tensor) -> torch.Tensor:
    sigmas = torch.as_tensor(sigmas, dtype=torch.float32)
    if sigmas.ndim != 1 or len(sigmas) < 2 or not (sigmas[1:] < sigmas[:-1]).all():
        raise ValueError(f"sigmas must be a decreasing schedule of >= 2 levels (see cmlesson.schedules), got {sigmas.tolist()}")
    return sigmas


def consistency_loss(
    model, target_model, x_hi: torch.Tensor, sigma_hi: torch.Tensor, x_lo: torch.Tensor, sigma_lo: torch.Tensor,
    distance: Distance = l2_distance, weighting: Weighting = uniform_weighting,
) -> torch.Tensor:
    """E lambda d(f_theta(x_hi, sigma_hi), stopgrad f_theta-(x_lo, sigma_lo)): the online model on the noisier point."""
    with torch.no_grad():
        target = target_model(x_lo, sigma_lo)
    return (weighting(sigma_hi, sigma_lo) * distance(model(x_hi, sigma_hi), target)).mean()


def consistency_distillation_loss(
    model, target_model, teacher, x0: torch.Tensor, sigmas: torch.Tensor, *,
    ode_step=heun_step, distance: Distance = l2_distance, levels: LevelSampler = uniform_levels,
    weighting: Weighting = uniform_weighting, generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Song et al. 2023, Alg. 2: x_hi = x0 + sigma_hi z; x_lo = one teacher ODE step to sigma_lo; consistency_loss."""
    sigmas = _check_schedule(sigmas)
    i = levels(sigmas, x0.shape[0], generator)
    sigma_hi, sigma_lo = sigmas[i], sigmas[i + 1]  # (batch,), sigma_hi > sigma_lo
    x_hi = x0 + sigma_hi.reshape(-1, *([1] * (x0.ndim - 1))) * torch.randn(x0.shape, generator=generator)
    with torch.no_grad():
        x_lo = ode_step(teacher, x_hi, sigma_hi, sigma_lo)
    return consistency_loss(model, target_model, x_hi, sigma_hi, x_lo, sigma_lo, distance, weighting)


def consistency_training_loss(
    model, target_model, x0: torch.Tensor, sigmas: torch.Tensor, *,
    distance: Distance = l2_distance, levels: LevelSampler = uniform_levels,
    weighting: Weighting = uniform_weighting, generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Song et al. 2023, Alg. 3: the same z at both levels, x_hi = x0 + sigma_hi z, x_lo = x0 + sigma_lo z."""
    sigmas = _check_schedule(sigmas)
    i = levels(sigmas, x0.shape[0], generator)
    sigma_hi, sigma_lo = sigmas[i], sigmas[i + 1]  # (batch,), sigma_hi > sigma_lo
    z = torch.randn(x0.shape, generator=generator)
    col = [-1] + [1] * (x0.ndim - 1)
    x_hi, x_lo = x0 + sigma_hi.reshape(col) * z, x0 + sigma_lo.reshape(col) * z
    return consistency_loss(model, target_model, x_hi, sigma_hi, x_lo, sigma_lo, distance, weighting)


def reversed_distillation_loss(model, target_model, teacher, x0, sigmas, *, ode_step=heun_step, generator=None):
    """The lesson text's bug, kept as a pitfall: the online model on the *less* noisy point, the target on the noisier."""
    sigmas = _check_schedule(sigmas)
    i = uniform_levels(sigmas, x0.shape[0], generator)
    sigma_hi, sigma_lo = sigmas[i], sigmas[i + 1]
    x_hi = x0 + sigma_hi[:, None] * torch.randn(x0.shape, generator=generator)
    with torch.no_grad():
        x_lo = ode_step(teacher, x_hi, sigma_hi, sigma_lo)
    return consistency_loss(model, target_model, x_lo, sigma_lo, x_hi, sigma_hi)
