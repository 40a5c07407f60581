"""Losses: which network sees which noise level, stop-gradient, distances, level sampling and weights."""

from __future__ import annotations

import copy
import decimal
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cmlesson import losses
from cmlesson.parameterization import ConsistencyFunction, EDMDenoiser
from cmlesson.samplers import heun_step
from cmlesson.schedules import karras_sigmas

SIGMAS = karras_sigmas(10, 0.002, 80.0)
BATCH = 32


def x0_batch(seed: int = 0, n: int = BATCH) -> torch.Tensor:
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))


def level_index(sigma: torch.Tensor) -> torch.Tensor:
    """Index of each level in SIGMAS (the levels passed to a model must be grid points)."""
    d = (sigma.double().reshape(-1, 1) - SIGMAS.double().reshape(1, -1)).abs()
    assert (d.min(1).values == 0).all(), "a level that is not on the grid"
    return d.argmin(1)


@pytest.fixture
def nets(make_backbone):
    """An online consistency model, a *trainable* copy as target (so only the loss can stop its gradient), a teacher."""
    online = ConsistencyFunction(make_backbone(1), 0.5, 0.002, 80.0)
    target = copy.deepcopy(online)
    teacher = EDMDenoiser(make_backbone(2), 0.5, 0.002, 80.0)
    return online, target, teacher


def cd_loss(online, target, teacher, **kw):
    return losses.consistency_distillation_loss(online, target, teacher, x0_batch(), SIGMAS,
                                                generator=torch.Generator().manual_seed(0), **kw)


def ct_loss(online, target, **kw):
    return losses.consistency_training_loss(online, target, x0_batch(), SIGMAS, generator=torch.Generator().manual_seed(0), **kw)


# --- which level goes where ------------------------------------------------------------------------


def test_distillation_online_on_higher_level_target_on_lower(nets, spy):
    """CD: online model at sigma_hi = sigmas[i], target at sigma_lo = sigmas[i+1], on the teacher's Heun step."""
    online, target, teacher = spy(nets[0]), spy(nets[1]), spy(nets[2])
    cd_loss(online, target, teacher)
    (x_hi, s_hi), = online.calls
    (x_lo, s_lo), = target.calls
    assert (s_hi > s_lo).all()
    assert torch.equal(level_index(s_hi) + 1, level_index(s_lo))
    teacher.calls.clear()
    with torch.no_grad():
        torch.testing.assert_close(x_lo, heun_step(teacher, x_hi, s_hi.float(), s_lo.float()))
    assert teacher.calls, "the teacher made the ODE step"


def test_training_online_on_higher_level_target_on_lower_with_the_same_noise(nets, spy):
    """CT: online at sigma_hi, target at sigma_lo, and (x_hi - x0)/sigma_hi == (x_lo - x0)/sigma_lo: the same z."""
    online, target = spy(nets[0]), spy(nets[1])
    ct_loss(online, target)
    (x_hi, s_hi), = online.calls
    (x_lo, s_lo), = target.calls
    assert (s_hi > s_lo).all()
    assert torch.equal(level_index(s_hi) + 1, level_index(s_lo))
    x0 = x0_batch()
    z_hi = (x_hi - x0) / s_hi.float()[:, None]
    z_lo = (x_lo - x0) / s_lo.float()[:, None]
    torch.testing.assert_close(z_hi, z_lo, rtol=1e-4, atol=2e-4)  # float32 rounding of x0 + 0.002 z, divided by 0.002
    assert abs(z_hi.std().item() - 1) < 0.3  # a standard normal z, not a copy of x0


def test_reversed_distillation_puts_online_on_the_lower_level(nets, spy):
    """The lesson's pitfall, kept on purpose: the online model sits on the LESS noisy point."""
    online, target = spy(nets[0]), spy(nets[1])
    losses.reversed_distillation_loss(online, target, nets[2], x0_batch(), SIGMAS, generator=torch.Generator().manual_seed(0))
    (_, s_online), = online.calls
    (_, s_target), = target.calls
    assert (s_online < s_target).all()
    assert torch.equal(level_index(s_online), level_index(s_target) + 1)


# --- stop-gradient ---------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["distillation", "training"])
def test_no_gradient_reaches_the_target(nets, which):
    """After backward every target parameter's grad is None (though it requires grad); the online ones are set."""
    online, target, teacher = nets
    loss = cd_loss(online, target, teacher) if which == "distillation" else ct_loss(online, target)
    loss.backward()
    assert all(p.requires_grad and p.grad is None for p in target.parameters())
    assert all(p.grad is None for p in teacher.parameters())
    grads = [p.grad for p in online.parameters()]
    assert all(g is not None for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_training_loss_equals_a_manual_recomputation(nets):
    """consistency_training_loss == mean lambda d(f(x0 + s_hi z, s_hi), stopgrad f-(x0 + s_lo z, s_lo)), rebuilt
    from the same generator stream (i, then z), in value and in gradient, with iCT's distance and weighting."""
    online, target, _ = nets
    x0 = x0_batch()
    kw = {"distance": losses.pseudo_huber_distance, "weighting": losses.ict_weighting}
    loss = losses.consistency_training_loss(online, target, x0, SIGMAS, generator=torch.Generator().manual_seed(5), **kw)
    g = torch.Generator().manual_seed(5)
    i = torch.randint(0, len(SIGMAS) - 1, (BATCH,), generator=g)
    z = torch.randn(x0.shape, generator=g)
    hi, lo = SIGMAS[i], SIGMAS[i + 1]
    pred = online(x0 + hi[:, None] * z, hi)
    targ = target(x0 + lo[:, None] * z, lo).detach()
    c = 0.00054 * math.sqrt(2)
    manual = (1 / (hi - lo) * (((pred - targ) ** 2).sum(1) + c**2).sqrt() - c / (hi - lo)).mean()
    torch.testing.assert_close(loss, manual)
    g_loss = torch.autograd.grad(loss, list(online.parameters()))
    g_manual = torch.autograd.grad(manual, list(online.parameters()))
    for a, b in zip(g_loss, g_manual, strict=True):
        torch.testing.assert_close(a, b)


# --- when the loss is zero -------------------------------------------------------------------------


def test_losses_vanish_for_a_constant_model(zeros_model, nets):
    """A model whose output ignores x and sigma agrees with itself at every pair: CD and CT losses are exactly 0;
    a random network gives a positive loss."""
    model = zeros_model()
    assert cd_loss(model, model, nets[2]).item() == 0.0
    assert ct_loss(model, model).item() == 0.0
    assert cd_loss(*nets).item() > 0
    assert ct_loss(nets[0], nets[1]).item() > 0


def test_distillation_loss_vanishes_for_the_exact_consistency_function(gaussian, make_gaussian):
    """Gaussian data with an exact ODE step: the ideal consistency function f(x, s) = flow(x, s -> sigma_min) has
    CD loss ~0 (float64 rounding); the consistency function of a slightly wider Gaussian (s = 0.55) is not
    consistent along this teacher's trajectories, and its loss is clearly positive."""
    x0 = gaussian.sample(256, torch.Generator().manual_seed(0))
    sigmas = karras_sigmas(18, 0.002, 80.0)

    def loss(f):
        return losses.consistency_distillation_loss(f, f, gaussian.denoiser, x0, sigmas, ode_step=gaussian.exact_step,
                                                    generator=torch.Generator().manual_seed(1)).item()

    assert loss(gaussian.consistency_function) < 1e-20
    assert loss(make_gaussian(s=0.55).consistency_function) > 1e-5


# --- distances -------------------------------------------------------------------------------------


def test_l2_distance_is_the_per_sample_squared_norm():
    """l2_distance sums squares over every non-batch dimension."""
    a, b = torch.randn(4, 3, 5), torch.randn(4, 3, 5)
    np.testing.assert_allclose(losses.l2_distance(a, b).numpy(), ((a - b).numpy() ** 2).reshape(4, -1).sum(1), rtol=1e-6)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(1e-4, 1e3), c=st.floats(1e-4, 10.0))
def test_pseudo_huber_matches_exact_arithmetic(seed, scale, c):
    """sqrt(||a - b||^2 + c^2) - c, against 50-digit decimal arithmetic on the same float64 numbers.

    The bound is float64's for this expression: a few units of eps * (sqrt(r^2 + c^2) + c). Far from c it is
    relative (~1e-15); for ||a - b|| << c the subtraction cancels and only the absolute bound holds (hypothesis
    found r = 0.0008, c = 9: relative error 3e-9, absolute 2e-15).
    """
    g = torch.Generator().manual_seed(seed)
    a, b = (scale * torch.randn(6, 2, generator=g, dtype=torch.float64) for _ in range(2))
    with decimal.localcontext() as ctx:
        ctx.prec = 50
        D = decimal.Decimal
        exact = []
        for row_a, row_b in zip(a.tolist(), b.tolist(), strict=True):
            r2 = sum((D(x) - D(y)) ** 2 for x, y in zip(row_a, row_b, strict=True))
            exact.append((r2 + D(c) ** 2).sqrt() - D(c))
    got = losses.pseudo_huber_distance(a, b, c).tolist()
    eps = np.finfo(np.float64).eps
    for d, e in zip(got, exact, strict=True):
        scale_of_terms = float(e) + 2 * c  # sqrt(r^2 + c^2) + c
        assert abs(D(d) - e) <= D(8 * eps * scale_of_terms), (d, e)


def test_pseudo_huber_default_c_scales_with_dimension():
    """Default c = 0.00054 sqrt(d): with a = b + c e1 the distance is (sqrt2 - 1) c for d = 2 and d = 12."""
    for shape in [(3, 2), (3, 3, 4)]:
        d = math.prod(shape[1:])
        c = 0.00054 * math.sqrt(d)
        b = torch.zeros(shape, dtype=torch.float64)
        a = b.clone()
        a.view(3, -1)[:, 0] = c
        expected = torch.full((3,), (math.sqrt(2) - 1) * c, dtype=torch.float64)
        torch.testing.assert_close(losses.pseudo_huber_distance(a, b), expected)


def test_pseudo_huber_limits():
    """Small differences: ~ ||a-b||^2 / (2c) (quadratic); large: ~ ||a-b|| (linear, like L1 on the norm)."""
    c = 0.01
    b = torch.zeros(5, 2, dtype=torch.float64)
    direction = torch.nn.functional.normalize(torch.randn(5, 2, dtype=torch.float64), dim=1)
    small, large = 1e-3 * c * direction, 1e3 * c * direction
    quadratic, linear = losses.l2_distance(small, b) / (2 * c), (large - b).norm(dim=1)
    torch.testing.assert_close(losses.pseudo_huber_distance(small, b, c), quadratic, rtol=1e-5, atol=0)
    torch.testing.assert_close(losses.pseudo_huber_distance(large, b, c), linear, rtol=2e-3, atol=0)


def test_pseudo_huber_with_zero_c_is_the_euclidean_norm():
    """c = 0 gives ||a - b|| exactly."""
    a, b = torch.randn(7, 2, dtype=torch.float64), torch.randn(7, 2, dtype=torch.float64)
    torch.testing.assert_close(losses.pseudo_huber_distance(a, b, 0.0), (a - b).norm(dim=1))


# --- level sampling and weights ----------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(N=st.integers(2, 60), P_mean=st.floats(-3, 3), P_std=st.floats(0.3, 3))
def test_lognormal_level_probs_match_math_erf(N, P_mean, P_std):
    """p(i) ~ erf((ln s_i - P_mean)/(sqrt2 P_std)) - erf((ln s_{i+1} - P_mean)/(sqrt2 P_std)), normalised: sums to 1."""
    sigmas = karras_sigmas(N, 0.002, 80.0)
    cdf = [math.erf((math.log(s) - P_mean) / (math.sqrt(2) * P_std)) for s in sigmas.double().tolist()]
    raw = np.array([cdf[i] - cdf[i + 1] for i in range(N - 1)])
    p = losses.lognormal_level_probs(sigmas, P_mean, P_std)
    assert p.shape == (N - 1,)
    assert abs(p.sum().item() - 1) < 1e-6
    assert (p >= 0).all()
    np.testing.assert_allclose(p.numpy(), raw / raw.sum(), rtol=1e-5, atol=1e-7)


def test_lognormal_levels_follow_their_probabilities():
    """Drawn indices have the frequencies of lognormal_level_probs (within 5 standard errors per level)."""
    sigmas, n = karras_sigmas(12, 0.002, 80.0), 40_000
    p = losses.lognormal_level_probs(sigmas).double()
    idx = losses.lognormal_levels(sigmas, n, torch.Generator().manual_seed(0))
    freq = torch.bincount(idx, minlength=len(sigmas) - 1).double() / n
    assert ((freq - p).abs() <= 5 * (p * (1 - p) / n).sqrt() + 1e-12).all()


def test_uniform_levels_cover_every_pair():
    """uniform_levels returns valid pair indices 0..N-2, each about equally often."""
    idx = losses.uniform_levels(SIGMAS, 9000, torch.Generator().manual_seed(0))
    counts = torch.bincount(idx, minlength=len(SIGMAS) - 1)
    assert idx.min() >= 0 and idx.max() <= len(SIGMAS) - 2
    assert len(counts) == len(SIGMAS) - 1 and (counts > 800).all()


def test_weightings():
    """ict_weighting = 1 / (sigma_hi - sigma_lo); uniform_weighting = 1."""
    hi, lo = SIGMAS[:-1], SIGMAS[1:]
    torch.testing.assert_close(losses.ict_weighting(hi, lo), 1 / (hi - lo))
    np.testing.assert_allclose(losses.ict_weighting(hi, lo).numpy(), 1 / (hi.double() - lo.double()).numpy(), rtol=1e-4)
    assert torch.equal(losses.uniform_weighting(hi, lo), torch.ones_like(hi))


# --- EDM teacher loss -------------------------------------------------------------------------------


def test_edm_loss_matches_an_independent_computation(make_backbone, spy):
    """edm_loss == mean_b lambda(s_b) mean_d (D(x0 + s z, s) - x0)^2 with lambda = (s^2 + sd^2)/(s sd)^2, where
    ln s = P_mean + P_std n and z are the generator's next draws; recomputed in numpy float64."""
    sd, P_mean, P_std = 0.7, -1.2, 1.2
    denoiser = spy(EDMDenoiser(make_backbone(4), sd, 0.002, 80.0))
    x0 = x0_batch(3)
    loss = losses.edm_loss(denoiser, x0, P_mean, P_std, torch.Generator().manual_seed(9))

    g = torch.Generator().manual_seed(9)
    sigma = (P_mean + P_std * torch.randn(BATCH, generator=g)).exp()
    z = torch.randn(x0.shape, generator=g)
    (x_in, s_in), = denoiser.calls
    torch.testing.assert_close(s_in.float(), sigma)
    torch.testing.assert_close(x_in, x0 + sigma[:, None] * z)
    with torch.no_grad():
        out = denoiser.inner(x_in, s_in.float()).double().numpy()
    s = sigma.double().numpy()
    weight = (s**2 + sd**2) / (s * sd) ** 2
    expected = np.mean(weight * np.mean((out - x0.double().numpy()) ** 2, axis=1))
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_edm_loss_levels_are_lognormal(zeros_model, spy):
    """ln sigma of the training levels has mean P_mean and std P_std (within 5 standard errors)."""
    model = spy(zeros_model(), sigma_data=0.5)
    n, P_mean, P_std = 20_000, -1.2, 1.2
    losses.edm_loss(model, torch.zeros(n, 2), P_mean, P_std, torch.Generator().manual_seed(0))
    log_s = model.calls[0][1].log()
    assert abs(log_s.mean().item() - P_mean) < 5 * P_std / math.sqrt(n)
    assert abs(log_s.std().item() - P_std) < 5 * P_std / math.sqrt(2 * n)
