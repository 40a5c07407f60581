"""Samplers: the teacher's probability-flow ODE and consistency sampling (introduced in notebooks 01-02).

Every sampler has one signature, modelled on k-diffusion's ``sample_*``:
``sampler(model, x, sigmas, *, generator=None, callback=None) -> x``, where ``x`` is noise already
scaled to ``sigmas[0]`` and ``sigmas`` decreases (see :mod:`cmlesson.schedules`). ``callback`` is
called after each step with a dict ``{"i", "x", "sigma", "sigma_next", "denoised"}``: a hook for
plots and widgets.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from . import validate
from .parameterization import append_dims

Callback = Callable[[dict], None] | None


def pf_ode_slope(denoiser, x: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """dx/dsigma = (x - D(x, sigma)) / sigma: the probability-flow ODE (Karras et al. 2022, Eq. 3 with s(t)=1, sigma(t)=t)."""
    sigma = _t(sigma)
    return (x - denoiser(x, sigma)) / append_dims(sigma, x.ndim)


def euler_step(denoiser, x: torch.Tensor, sigma, sigma_next) -> torch.Tensor:
    """One Euler step of the PF-ODE from sigma to sigma_next: x + (sigma_next - sigma) d(x, sigma)."""
    return x + append_dims(sigma_next - _t(sigma), x.ndim) * pf_ode_slope(denoiser, x, sigma)


def heun_step(denoiser, x: torch.Tensor, sigma, sigma_next) -> torch.Tensor:
    """One Heun step (Karras et al. 2022, Alg. 1): Euler, then average the slopes at both ends (Euler alone if sigma_next = 0)."""
    sigma, sigma_next = _t(sigma), _t(sigma_next)
    d = pf_ode_slope(denoiser, x, sigma)
    x_euler = x + append_dims(sigma_next - sigma, x.ndim) * d
    if bool((sigma_next == 0).all()):
        return x_euler
    d_next = pf_ode_slope(denoiser, x_euler, sigma_next)
    return x + append_dims(sigma_next - sigma, x.ndim) * (d + d_next) / 2


def _t(v) -> torch.Tensor:
    return torch.as_tensor(v, dtype=torch.float32)


def _check_ode_sigmas(sigmas) -> torch.Tensor:
    s = torch.as_tensor(sigmas, dtype=torch.float32).flatten()
    if s.numel() < 2:
        raise ValueError(f"sigmas must hold at least 2 levels (steps >= 1), got {s.tolist()}")
    if not torch.isfinite(s).all() or (s < 0).any() or not (s[1:] < s[:-1]).all():
        raise ValueError(f"sigmas must be finite, >= 0 and strictly decreasing, got {s.tolist()}")
    return s


@torch.no_grad()
def _sample_ode(step, denoiser, x, sigmas, callback):
    sigmas = _check_ode_sigmas(sigmas)
    for i in range(len(sigmas) - 1):
        x_next = step(denoiser, x, sigmas[i], sigmas[i + 1])
        if callback is not None:
            callback({"i": i, "x": x_next, "sigma": float(sigmas[i]), "sigma_next": float(sigmas[i + 1]), "denoised": None})
        x = x_next
    return x


def sample_euler(denoiser, x: torch.Tensor, sigmas, *, generator=None, callback: Callback = None) -> torch.Tensor:
    """Teacher sampling: Euler steps of the PF-ODE through ``sigmas`` (Karras et al. 2022, Alg. 1 without the correction)."""
    return _sample_ode(euler_step, denoiser, x, sigmas, callback)


def sample_heun(denoiser, x: torch.Tensor, sigmas, *, generator=None, callback: Callback = None) -> torch.Tensor:
    """Teacher sampling: Heun steps of the PF-ODE through ``sigmas`` (Karras et al. 2022, Alg. 1); end sigmas with 0."""
    return _sample_ode(heun_step, denoiser, x, sigmas, callback)


@torch.no_grad()
def sample_consistency(
    model, x: torch.Tensor, sigmas, *, generator: torch.Generator | None = None, callback: Callback = None
) -> torch.Tensor:
    """Song et al. 2023, Alg. 1: x <- f(x, sigmas[0]); then for each tau: x <- f(x + sqrt(tau^2 - sigma_min^2) z, tau)."""
    s = validate.sigma_sequence("sigmas", sigmas, model.sigma_min, model.sigma_max)
    denoised = model(x, s[0])
    if callback is not None:
        callback({"i": 0, "x": x, "sigma": float(s[0]), "sigma_next": None, "denoised": denoised})
    for i, tau in enumerate(s[1:].tolist(), start=1):
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        x = denoised + (tau**2 - model.sigma_min**2) ** 0.5 * z
        denoised = model(x, tau)
        if callback is not None:
            callback({"i": i, "x": x, "sigma": tau, "sigma_next": None, "denoised": denoised})
    return denoised


def noise(n: int, dim: int, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """The sampler's starting point: sigma z with z ~ N(0, I), shape (n, dim)."""
    n = validate.int_at_least("n", n, 1)
    return validate.positive_float("sigma", sigma) * torch.randn(n, dim, generator=generator)


def multistep_sigmas(steps: int, sigma_min: float, sigma_max: float, sigma_data: float) -> list[float]:
    """sigma_max, then steps - 1 levels geometric from 3 sigma_data down to 0.7 sigma_data.

    A rule of thumb found by measurement on two moons (notebook 05): re-noise to levels comparable with
    the data's own spread; much lower and the noise cannot undo the previous step's errors.
    """
    steps = validate.int_at_least("steps", steps, 1)
    sigma_min, sigma_max = validate.sigma_range(sigma_min, sigma_max)
    if steps == 1:
        return [sigma_max]
    hi, lo = min(3 * sigma_data, sigma_max / 2), max(0.7 * sigma_data, 2 * sigma_min)
    ratio = (lo / hi) ** (1 / max(1, steps - 2))
    return [sigma_max] + [hi * ratio**i for i in range(steps - 1)]


def consistency_sampler(model, n: int, steps: int, *, dim: int = 2) -> Callable[[torch.Generator | None], torch.Tensor]:
    """generator -> n samples of ``model``: noise at sigma_max, then Alg. 1 at :func:`multistep_sigmas` (notebook 01).

    The course's one way to draw k-step samples of a consistency model; what :func:`cmlesson.yardstick.score` scores.
    """
    n = validate.int_at_least("n", n, 1)
    sigmas = multistep_sigmas(steps, model.sigma_min, model.sigma_max, model.sigma_data)

    def sample(generator: torch.Generator | None = None) -> torch.Tensor:
        return sample_consistency(model, noise(n, dim, model.sigma_max, generator), sigmas, generator=generator)

    return sample


def lesson_multistep_sigmas(steps: int) -> list[float]:
    """The lesson's hand-picked levels for 1, 2, 3, 5 and 10 steps (Exercise 2)."""
    table = {1: [80.0], 2: [80.0, 5.0], 3: [80.0, 10.0, 1.0], 5: [80.0, 40.0, 10.0, 2.0, 0.5]}
    if steps == 10:
        return [80.0 * (0.002 / 80.0) ** (i / 9) for i in range(10)]
    if steps not in table:
        raise ValueError(f"steps must be one of 1, 2, 3, 5, 10 for the lesson's table, got {steps!r}")
    return table[steps]
