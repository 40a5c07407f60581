"""Noise-level schedules and discretization curricula (introduced in notebook 01 and 03).

Direction convention, used everywhere in cmlesson: a schedule is a tensor of noise levels in
**decreasing** order, ``sigmas[0] = sigma_max`` (pure noise) down to ``sigmas[-1] = sigma_min``
(the data boundary), like the order a sampler visits them. An adjacent training pair is
``(sigmas[i], sigmas[i + 1])``: index ``i`` is the *higher* noise level, ``i + 1`` the lower one.
"""

from __future__ import annotations

import math

import torch

from . import validate
from .config import NoiseConfig


def geometric_sigmas(N: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """The lesson's schedule: N levels evenly spaced in log sigma, from sigma_max down to sigma_min."""
    N = validate.int_at_least("N", N, 2)
    sigma_min, sigma_max = validate.sigma_range(sigma_min, sigma_max)
    return torch.linspace(math.log(sigma_max), math.log(sigma_min), N, dtype=torch.float64).exp().float()


def karras_sigmas(N: int, sigma_min: float, sigma_max: float, rho: float = NoiseConfig.rho) -> torch.Tensor:
    """Karras et al. 2022, Eq. 5: s_i = (s_max^(1/rho) + i/(N-1) (s_min^(1/rho) - s_max^(1/rho)))^rho, i = 0..N-1."""
    N = validate.int_at_least("N", N, 2)
    sigma_min, sigma_max = validate.sigma_range(sigma_min, sigma_max)
    rho = validate.positive_float("rho", rho)
    ramp = torch.linspace(0, 1, N, dtype=torch.float64)
    min_inv, max_inv = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (max_inv + ramp * (min_inv - max_inv)) ** rho
    sigmas[0], sigmas[-1] = sigma_max, sigma_min  # exact endpoints, no rounding from the power
    return sigmas.float()


def append_zero(sigmas: torch.Tensor) -> torch.Tensor:
    """Add a final level 0 so an ODE sampler's last step lands on the clean data (Karras et al. 2022, Alg. 1)."""
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def ct_curriculum(k: int, K: int, s0: int = 2, s1: int = 150) -> int:
    """Song et al. 2023, Appendix C: N(k) = ceil(sqrt(k/K ((s1+1)^2 - s0^2) + s0^2) - 1) + 1 levels at step k of K."""
    k, K = _check_step(k, K)
    s0 = validate.int_at_least("s0", s0, 1)
    s1 = validate.int_at_least("s1", s1, s0)
    return math.ceil(math.sqrt(k / K * ((s1 + 1) ** 2 - s0**2) + s0**2) - 1) + 1


def ict_curriculum(k: int, K: int, s0: int = 10, s1: int = 1280) -> int:
    """Song & Dhariwal 2023, Eq. 6: N(k) = min(s0 2^floor(k/K'), s1) + 1 with K' = floor(K / (log2 floor(s1/s0) + 1))."""
    k, K = _check_step(k, K)
    s0 = validate.int_at_least("s0", s0, 1)
    s1 = validate.int_at_least("s1", s1, s0)
    K_prime = max(1, math.floor(K / (math.log2(s1 // s0) + 1)))
    return min(s0 * 2 ** (k // K_prime), s1) + 1


def lesson_curriculum(k: int, K: int) -> int:
    """The lesson text's N = int(2 + 148 k/K): linear, unlike the paper's square-root ct_curriculum (a pitfall)."""
    k, K = _check_step(k, K)
    return int(2 + (150 - 2) * (k / K))


def _check_step(k: int, K: int) -> tuple[int, int]:
    K = validate.int_at_least("K", K, 1)
    k = validate.int_at_least("k", k, 0)
    if k > K:
        raise ValueError(f"k must be in [0, K] = [0, {K}], got {k}")
    return k, K
