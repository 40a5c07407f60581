"""PF-ODE samplers against the closed-form Gaussian solution, and multistep consistency sampling."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cmlesson import samplers
from cmlesson.schedules import append_zero, geometric_sigmas, karras_sigmas

CALLBACK_KEYS = {"i", "x", "sigma", "sigma_next", "denoised"}


def start_points(n: int = 256, seed: int = 0) -> torch.Tensor:
    return 3.0 * torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def ode_error(gaussian, sampler, steps: int, sigma_a: float = 5.0, sigma_b: float = 0.05) -> float:
    """Max error of ``sampler`` with ``steps`` log-spaced steps from sigma_a to sigma_b against the exact flow."""
    sigmas = geometric_sigmas(steps + 1, sigma_b, sigma_a)
    x = start_points()
    out = sampler(gaussian.denoiser, x, sigmas)
    exact = gaussian.flow(x, float(sigmas[0]), float(sigmas[-1]))  # the float32 end levels the sampler used
    return (out - exact).abs().max().item()


# --- PF-ODE ------------------------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(sigma=st.floats(1e-3, 100.0), seed=st.integers(0, 1000))
def test_pf_ode_slope_matches_the_analytic_slope(gaussian, sigma, seed):
    """(x - D(x, sigma)) / sigma == (x - m) sigma / (s^2 + sigma^2), the derivative of the exact flow."""
    x = start_points(8, seed)
    sigma = torch.tensor(sigma, dtype=torch.float32).item()  # the sampler works on float32 levels
    expected = (x - gaussian.m) * sigma / (gaussian.s**2 + sigma**2)
    torch.testing.assert_close(samplers.pf_ode_slope(gaussian.denoiser, x, sigma), expected, rtol=1e-10, atol=1e-12)


def test_euler_converges_at_order_one(gaussian):
    """Doubling Euler's steps halves its error (ratio ~2), and the error shrinks towards 0."""
    e16, e32, e64 = (ode_error(gaussian, samplers.sample_euler, n) for n in (16, 32, 64))
    assert 1.8 < e16 / e32 < 2.2
    assert 1.8 < e32 / e64 < 2.2
    assert e64 < 0.02


def test_heun_converges_at_order_two(gaussian):
    """Doubling Heun's steps quarters its error (ratio ~4), and the error shrinks towards 0."""
    e16, e32, e64 = (ode_error(gaussian, samplers.sample_heun, n) for n in (16, 32, 64))
    assert 3.6 < e16 / e32 < 4.4
    assert 3.6 < e32 / e64 < 4.4
    assert e64 < 1e-3


def test_heun_beats_euler_at_equal_steps(gaussian):
    """At 32 steps Heun is far more accurate than Euler on the same grid."""
    assert ode_error(gaussian, samplers.sample_heun, 32) < ode_error(gaussian, samplers.sample_euler, 32) / 10


def test_heun_step_to_zero_is_an_euler_step(gaussian):
    """Heun skips its correction when sigma_next = 0 (it would divide by 0): the step equals Euler's."""
    x = start_points(16)
    assert torch.equal(samplers.heun_step(gaussian.denoiser, x, 0.5, 0.0), samplers.euler_step(gaussian.denoiser, x, 0.5, 0.0))


def test_heun_samples_are_distributed_like_the_data(gaussian):
    """Heun from sigma_max = 80 to 0 (80 Karras levels + 0) turns N(m, s^2 + 80^2) noise into N(m, s^2):
    the sample mean and std are within 5 standard errors of m and s."""
    n, T = 20_000, 80.0
    g = torch.Generator().manual_seed(1)
    x_T = gaussian.m + math.sqrt(gaussian.s**2 + T**2) * torch.randn(n, 2, generator=g, dtype=torch.float64)
    out = samplers.sample_heun(gaussian.denoiser, x_T, append_zero(karras_sigmas(80, 0.002, T)))
    se_mean, se_std = gaussian.s / math.sqrt(n), gaussian.s / math.sqrt(2 * n)
    assert (out.mean(0) - gaussian.m).abs().max().item() < 5 * se_mean
    assert (out.std(0) - gaussian.s).abs().max().item() < 5 * se_std


@pytest.mark.parametrize("sampler", [samplers.sample_euler, samplers.sample_heun])
def test_ode_callback_once_per_step(gaussian, sampler):
    """The callback runs once per step, with the documented keys, the step's levels and the new x."""
    sigmas = karras_sigmas(6, 0.002, 80.0)
    seen = []
    out = sampler(gaussian.denoiser, 80 * start_points(4), sigmas, callback=seen.append)
    assert len(seen) == len(sigmas) - 1
    for i, info in enumerate(seen):
        assert set(info) == CALLBACK_KEYS
        assert info["i"] == i
        assert info["sigma"] == float(sigmas[i]) and info["sigma_next"] == float(sigmas[i + 1])
    assert torch.equal(seen[-1]["x"], out)


@pytest.mark.parametrize("sampler", [samplers.sample_euler, samplers.sample_heun])
@pytest.mark.parametrize("bad", [[80.0], [1.0, 2.0], [1.0, 1.0], [1.0, -0.5], [float("nan"), 0.0]])
def test_ode_samplers_reject_bad_sigmas(gaussian, sampler, bad):
    """ODE samplers need >= 2 finite, non-negative, strictly decreasing levels; else ValueError naming sigmas."""
    with pytest.raises(ValueError, match="sigmas must"):
        sampler(gaussian.denoiser, start_points(2), bad)


# --- multistep consistency sampling ----------------------------------------------------------------


class FakeConsistencyModel:
    """A 'consistency model' with a known affine output that records every (x, sigma) it is called with."""

    sigma_min, sigma_max = 0.002, 80.0

    def __init__(self):
        self.calls: list[tuple[torch.Tensor, float]] = []
        self.outputs: list[torch.Tensor] = []

    def __call__(self, x: torch.Tensor, sigma) -> torch.Tensor:
        out = 0.5 * x + 1.0
        self.calls.append((x.clone(), float(sigma)))
        self.outputs.append(out)
        return out


def test_consistency_sampling_calls_and_renoising():
    """First call: f(x, sigmas[0]) on the given x; then f(denoised + sqrt(tau^2 - sigma_min^2) z, tau) per level;
    the result is the last output. With tau = 0.003 the noise std is sqrt(0.003^2 - 0.002^2) = 0.00224, not tau."""
    model, n = FakeConsistencyModel(), 20_000
    sigmas = [80.0, 1.0, 0.003]
    x = 80.0 * torch.randn(n, 2, generator=torch.Generator().manual_seed(0))
    out = samplers.sample_consistency(model, x, sigmas, generator=torch.Generator().manual_seed(1))

    assert [s for _, s in model.calls] == [pytest.approx(s, rel=1e-7) for s in sigmas]
    assert torch.equal(model.calls[0][0], x)
    assert torch.equal(out, model.outputs[-1])
    for i, tau in enumerate(sigmas[1:], start=1):
        added = model.calls[i][0] - model.outputs[i - 1]  # the fresh noise of step i
        expected_std = math.sqrt(tau**2 - model.sigma_min**2)
        se = expected_std / math.sqrt(2 * added.numel())
        assert abs(added.std().item() - expected_std) < 5 * se
        assert abs(added.mean().item()) < 5 * expected_std / math.sqrt(added.numel())
    assert math.sqrt(0.003**2 - 0.002**2) < 0.8 * 0.003  # so the check above can tell the two apart


def test_consistency_sampling_one_step_is_one_call():
    """One level: a single call f(x, sigma_max), no noise added."""
    model = FakeConsistencyModel()
    x = torch.randn(3, 2)
    out = samplers.sample_consistency(model, x, [80.0])
    assert len(model.calls) == 1 and model.calls[0][1] == 80.0
    assert torch.equal(out, 0.5 * x + 1.0)


def test_consistency_sampling_is_seeded():
    """The same generator seed gives the same samples; another seed gives others."""
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))

    def run(seed):
        g = torch.Generator().manual_seed(seed)
        return samplers.sample_consistency(FakeConsistencyModel(), x, [80.0, 2.0, 0.5], generator=g)

    assert torch.equal(run(3), run(3))
    assert not torch.allclose(run(3), run(4))


def test_consistency_sampler_draws_noise_at_sigma_max_then_follows_alg_1_by_hand():
    """consistency_sampler(model, n, k)(g): x = sigma_max z from g, then f at multistep_sigmas, re-noised from g;
    the same computation written out step by step with the same generator's draws."""
    model = FakeConsistencyModel()
    model.sigma_data = 0.5
    levels = samplers.multistep_sigmas(3, model.sigma_min, model.sigma_max, model.sigma_data)
    out = samplers.consistency_sampler(model, 50, 3)(torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    x = model.sigma_max * torch.randn(50, 2, generator=g)
    for tau in levels[1:]:
        x = 0.5 * x + 1.0
        x = x + math.sqrt(tau**2 - model.sigma_min**2) * torch.randn(50, 2, generator=g)
    assert torch.equal(out, 0.5 * x + 1.0)
    assert [s for _, s in model.calls] == [pytest.approx(s, rel=1e-6) for s in levels]
    assert samplers.consistency_sampler(model, 4, 1, dim=3)(None).shape == (4, 3)
    with pytest.raises(ValueError, match="n"):
        samplers.consistency_sampler(model, 0, 1)


def test_consistency_callback_once_per_level():
    """The callback runs once per level with the documented keys, the level, the input x and the output."""
    model, seen = FakeConsistencyModel(), []
    sigmas = [80.0, 5.0, 0.5]
    samplers.sample_consistency(model, torch.randn(4, 2), sigmas, callback=seen.append)
    assert len(seen) == len(sigmas)
    for i, info in enumerate(seen):
        assert set(info) == CALLBACK_KEYS
        assert info["i"] == i
        assert info["sigma"] == pytest.approx(sigmas[i], rel=1e-7)
        assert torch.equal(info["x"], model.calls[i][0])
        assert torch.equal(info["denoised"], model.outputs[i])


@pytest.mark.parametrize(
    "bad", [[80.0, 100.0], [5.0, 5.0], [1.0, 80.0], [100.0, 1.0], [80.0, 0.001], [80.0, 0.0]],
)
def test_consistency_sampling_rejects_bad_sigma_lists(bad):
    """A list that is not strictly decreasing or leaves [sigma_min, sigma_max] raises ValueError naming sigmas."""
    with pytest.raises(ValueError, match="sigmas must"):
        samplers.sample_consistency(FakeConsistencyModel(), torch.zeros(2, 2), bad)


def test_consistency_sampling_accepts_the_range_endpoints():
    """[sigma_max, sigma_min] itself is a valid two-step list."""
    model = FakeConsistencyModel()
    samplers.sample_consistency(model, torch.zeros(2, 2), [80.0, 0.002])
    assert len(model.calls) == 2


@pytest.mark.parametrize("steps", [1, 2, 3, 5, 10])
def test_lesson_multistep_sigmas_are_valid(steps):
    """The lesson's tables have ``steps`` levels, start at 80 and decrease inside [0.002, 80]."""
    sigmas = samplers.lesson_multistep_sigmas(steps)
    assert len(sigmas) == steps and sigmas[0] == 80.0
    assert all(b < a for a, b in zip(sigmas, sigmas[1:], strict=False))
    assert min(sigmas) >= 0.002 - 1e-12


def test_noise_has_the_requested_scale():
    """noise(n, dim, sigma) is sigma z: shape (n, dim), std ~ sigma."""
    z = samplers.noise(10_000, 2, 80.0, torch.Generator().manual_seed(0))
    assert z.shape == (10_000, 2)
    assert abs(z.std().item() / 80.0 - 1) < 5 / math.sqrt(2 * z.numel())
