"""Noise-level schedules (geometric, Karras Eq. 5) and the CT / iCT / lesson curricula."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cmlesson.schedules import (
    append_zero,
    ct_curriculum,
    geometric_sigmas,
    ict_curriculum,
    karras_sigmas,
    lesson_curriculum,
)

Ns = st.integers(2, 200)
sigma_mins = st.floats(1e-4, 1.0)
ratios = st.floats(2.0, 1e5)  # sigma_max / sigma_min


def f32(v: float) -> float:
    """The float32 value nearest to v (schedules are float32 tensors)."""
    return torch.tensor(v, dtype=torch.float32).item()


@pytest.mark.parametrize("schedule", [geometric_sigmas, karras_sigmas])
@settings(max_examples=25, deadline=None)
@given(N=Ns, sigma_min=sigma_mins, ratio=ratios)
def test_schedule_shape_endpoints_and_order(schedule, N, sigma_min, ratio):
    """N levels, sigmas[0] == sigma_max and sigmas[-1] == sigma_min exactly, strictly decreasing."""
    sigma_max = sigma_min * ratio
    sigmas = schedule(N, sigma_min, sigma_max)
    assert sigmas.shape == (N,)
    assert sigmas.dtype == torch.float32
    assert sigmas[0].item() == f32(sigma_max)
    assert sigmas[-1].item() == f32(sigma_min)
    assert (sigmas[1:] < sigmas[:-1]).all()


@settings(max_examples=25, deadline=None)
@given(N=Ns, sigma_min=sigma_mins, ratio=ratios, rho=st.floats(1.0, 10.0))
def test_karras_matches_numpy_eq5(N, sigma_min, ratio, rho):
    """karras_sigmas agrees with an independent numpy float64 evaluation of Karras et al. 2022, Eq. 5."""
    sigma_max = sigma_min * ratio
    i = np.arange(N, dtype=np.float64)
    expected = (sigma_max ** (1 / rho) + i / (N - 1) * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    np.testing.assert_allclose(karras_sigmas(N, sigma_min, sigma_max, rho).numpy(), expected, rtol=2e-6)


def test_karras_with_rho_one_is_linear():
    """rho = 1 turns Eq. 5 into evenly spaced levels: a second, formula-free check of the ramp."""
    sigmas = karras_sigmas(9, 1.0, 5.0, rho=1.0)
    np.testing.assert_allclose(sigmas.numpy(), np.linspace(5.0, 1.0, 9), rtol=1e-6)


def test_karras_tends_to_geometric_as_rho_grows():
    """As rho -> inf, (a^(1/rho) + t (b^(1/rho) - a^(1/rho)))^rho -> a^(1-t) b^t: Eq. 5 becomes the geometric schedule."""
    np.testing.assert_allclose(karras_sigmas(18, 0.002, 80.0, rho=1e5).numpy(), geometric_sigmas(18, 0.002, 80.0).numpy(),
                               rtol=1e-3)


@settings(max_examples=25, deadline=None)
@given(N=Ns, sigma_min=sigma_mins, ratio=ratios)
def test_geometric_has_constant_log_spacing(N, sigma_min, ratio):
    """log sigmas[i+1] - log sigmas[i] == log(sigma_min / sigma_max) / (N - 1) for every i."""
    sigma_max = sigma_min * ratio
    steps = np.diff(np.log(geometric_sigmas(N, sigma_min, sigma_max).double().numpy()))
    np.testing.assert_allclose(steps, math.log(sigma_min / sigma_max) / (N - 1), rtol=0, atol=3e-7)


def test_append_zero():
    """append_zero adds exactly one final level 0 and keeps the rest."""
    sigmas = karras_sigmas(5, 0.002, 80.0)
    out = append_zero(sigmas)
    assert out.shape == (6,) and out[-1].item() == 0.0
    assert torch.equal(out[:-1], sigmas)


# --- curricula ---------------------------------------------------------------------------------------


def ct_curriculum_exact(k: int, K: int, s0: int, s1: int) -> int:
    """ceil(sqrt(k/K ((s1+1)^2 - s0^2) + s0^2) - 1) + 1 in exact integer arithmetic: the smallest m >= 0 with
    m^2 >= v, where v = (k ((s1+1)^2 - s0^2) + K s0^2) / K."""
    num = k * ((s1 + 1) ** 2 - s0**2) + K * s0**2
    m = math.isqrt(num // K)
    while m * m * K < num:
        m += 1
    return m


# K = 4000 is ConsistencyTrainingConfig.steps. (At K = 22797 = (s1+1)^2 - s0^2 the radicand is an exact square
# for some k, and float rounding can push the ceil one up; the paper's reference code shares that.)
@pytest.mark.parametrize("K", [1, 7, 100, 1000, 4000, 4321])
@pytest.mark.parametrize(("s0", "s1"), [(2, 150), (10, 1280), (3, 17), (5, 5)])
def test_ct_curriculum(K, s0, s1):
    """N(0) = s0, N(K) = s1 + 1, non-decreasing, and equal to an exact-integer re-implementation for every k."""
    values = [ct_curriculum(k, K, s0, s1) for k in range(K + 1)]
    assert values[0] == s0
    assert values[-1] == s1 + 1
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    assert values == [ct_curriculum_exact(k, K, s0, s1) for k in range(K + 1)]


def test_ct_curriculum_defaults_are_the_papers():
    """Defaults s0 = 2, s1 = 150 (Song et al. 2023, CIFAR-10): 2 levels at the start, 151 at the end."""
    assert ct_curriculum(0, 4000) == 2
    assert ct_curriculum(4000, 4000) == 151


def test_ict_curriculum_doubles_then_caps():
    """iCT defaults (s0 = 10, s1 = 1280, K = 8000 so K' = 1000): N = 10 * 2^(k // 1000) + 1, capped at 1281."""
    K = 8000
    for k in range(K + 1):
        assert ict_curriculum(k, K) == min(10 * 2 ** (k // 1000), 1280) + 1
    assert ict_curriculum(0, K) == 11
    assert [ict_curriculum(1000 * j, K) for j in range(9)] == [11, 21, 41, 81, 161, 321, 641, 1281, 1281]


@pytest.mark.parametrize(("K", "s0", "s1"), [(1000, 10, 150), (37, 2, 150), (5000, 10, 1280), (3, 10, 1280), (100, 4, 4)])
def test_ict_curriculum_properties(K, s0, s1):
    """N(0) = s0 + 1; N - 1 is always s0 times a power of two or the cap s1; N doubles between stages; N(K) = s1 + 1."""
    values = [ict_curriculum(k, K, s0, s1) for k in range(K + 1)]
    assert values[0] == s0 + 1
    assert max(values) <= s1 + 1
    for n in values:
        ratio = (n - 1) / s0
        assert n - 1 == s1 or (ratio == int(ratio) and int(ratio) & (int(ratio) - 1) == 0)
    distinct = sorted(set(values))
    for a, b in zip(distinct, distinct[1:], strict=False):
        assert b - 1 == 2 * (a - 1) or b - 1 == s1
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    if K >= 2 * (math.log2(s1 // s0) + 1):  # enough steps for every stage
        assert values[-1] == s1 + 1


def test_lesson_curriculum_is_linear():
    """The lesson's N = int(2 + 148 k/K): 2 at the start, 150 at the end, linear in between."""
    K = 1000
    for k in range(K + 1):
        assert lesson_curriculum(k, K) == int(2 + 148 * k / K)
    assert lesson_curriculum(0, K) == 2
    assert lesson_curriculum(K, K) == 150


def test_lesson_curriculum_lags_the_papers_square_root():
    """The pitfall: at half-way the lesson has 76 levels where the paper's square-root curriculum already has 107."""
    assert lesson_curriculum(500, 1000) == 76
    assert ct_curriculum(500, 1000) == 107
