"""Notebook 08's methods: TrigFlow and sCT/sCD, MeanFlow, shortcut models, and the flow-map sampler.

Each formula is checked against an independent computation: finite differences of the same function, or the
exact flow of Gaussian data, where every map is known in closed form (a consistency function, an average
velocity, a flow map are then linear in z). The typical mistakes (the sign of the tangent, the tangent taken
along the wrong time, a missing factor) each change one of these numbers.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from cmlesson.authoring import bench_frontier
from cmlesson.config import DriftingConfig, LSDConfig, MeanFlowConfig, NetworkConfig, SCTConfig, ShortcutConfig
from cmlesson.frontier import flowmap, meanflow, shortcut, trigflow
from cmlesson.grading.exercises._fixtures import GaussianDenoiser
from cmlesson.networks import ResidualMLP
from cmlesson.parameterization import per_row

torch.set_default_dtype(torch.float32)
S = 0.6  # std of the Gaussian data N(0, S^2 I) below
SMALL = NetworkConfig(hidden=16, depth=2, emb_dim=8)


def std_fm(t):
    """std of z_t = (1 - t) x + t e for x ~ N(0, S^2), e ~ N(0, 1)."""
    return ((1 - t) ** 2 * S**2 + t**2) ** 0.5


def exact_u(z, r, t):
    """The exact average velocity of Gaussian data over [r, t]: (z_t - z_r) / (t - r), z_r = z_t std(r) / std(t)."""
    t, r = t[:, None], r[:, None]
    gap = t - r
    safe = torch.where(gap > 0, gap, torch.ones_like(gap))
    mean_v = z * (1 - std_fm(r) / std_fm(t)) / safe
    inst = z * ((t * (1 + S**2) - S**2) / std_fm(t) ** 2)  # d std / dt / std: the instantaneous velocity
    return torch.where(gap > 0, mean_v, inst)


def exact_v(z, t):
    return exact_u(z, t, t)


class ExactAverageVelocity(nn.Module):
    """exact_u as a flow-map model: model(z, t, h) = u(z, t - h, t), centre 0, scale 1."""

    def __init__(self):
        super().__init__()
        self.register_buffer("center", torch.zeros(2, dtype=torch.float64))
        self.scale = 1.0

    def forward(self, z, t, h):
        t, h = per_row(t, z), per_row(h, z)
        return exact_u(z, t - h, t)


def times(n, seed, lo=0.05):
    g = torch.Generator().manual_seed(seed)
    t = lo + (1 - lo) * torch.rand(n, generator=g, dtype=torch.float64)
    return t, t * torch.rand(n, generator=g, dtype=torch.float64)


# --- flow maps -------------------------------------------------------------------------------------------------

def test_two_time_mlp_is_the_course_residual_mlp_with_two_time_embeddings():
    """TwoTimeMLP is networks.ResidualMLP with embeddings e(t) and e(h) (its state-dict keys unchanged), and
    u = 0 at start: the output layer is zero."""
    net = flowmap.TwoTimeMLP(2, SMALL)
    assert isinstance(net, ResidualMLP)
    assert list(net.state_dict()) == ["embed_t.0.freqs", "embed_t.1.weight", "embed_t.1.bias", "embed_h.0.freqs",
                                      "embed_h.1.weight", "embed_h.1.bias", "inp.weight", "inp.bias", "layers.0.weight",
                                      "layers.0.bias", "out.weight", "out.bias"]
    z = torch.randn(5, 2)
    assert torch.equal(net(z, torch.rand(5), torch.rand(5)), torch.zeros(5, 2))


def test_exact_average_velocity_is_the_mean_of_the_velocity_along_the_path():
    """The fixture itself: (t - r) u = the integral of v along the ODE path from t down to r (fine Euler)."""
    t, r = times(64, 0)
    z = torch.randn(64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * std_fm(t)[:, None]
    x, s, n = z.clone(), t.clone(), 500
    dt = (t - r) / n
    for _ in range(n):
        mid = x - dt[:, None] / 2 * exact_v(x, s)
        x = x - dt[:, None] * exact_v(mid, s - dt / 2)  # midpoint steps
        s = s - dt
    torch.testing.assert_close((z - x) / (t - r)[:, None], exact_u(z, r, t), rtol=1e-5, atol=1e-7)


def test_one_jump_of_the_exact_flow_map_transports_noise_to_data():
    model = ExactAverageVelocity()
    e = torch.randn(10_000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    one = flowmap.sample_flowmap(model, e, [1.0, 0.0])
    four = flowmap.sample_flowmap(model, e, flowmap.uniform_times(4))
    torch.testing.assert_close(one, S * e)  # the Gaussian flow map is z_0 = S z_1
    torch.testing.assert_close(four, S * e)
    seen = []
    flowmap.sample_flowmap(model, e[:5], flowmap.uniform_times(2), callback=seen.append)
    assert [(c["i"], c["t"], c["t_next"]) for c in seen] == [(0, 1.0, 0.5), (1, 0.5, 0.0)]
    torch.testing.assert_close(seen[0]["denoised"], S * e[:5])


def test_average_velocity_works_in_data_units():
    data = torch.tensor([[1.0, 2.0], [3.0, 2.0], [1.0, 4.0], [3.0, 4.0]])
    model = flowmap.for_data(data, SMALL)
    torch.testing.assert_close(model.center, torch.tensor([2.0, 3.0]))
    assert model.scale == pytest.approx(1.0)
    nn.init.normal_(model.net.out.weight)
    z, t = torch.randn(3, 2), torch.rand(3)
    torch.testing.assert_close(model(z, t, t / 2), model.net(z - model.center, t, t / 2))
    assert flowmap.interpolate(data, torch.zeros_like(data), torch.zeros(4)).equal(data)


@pytest.mark.parametrize("ts", [[1.0], [0.0, 1.0], [1.0, 0.5, 0.5], [1.5, 0.0], [1.0, float("nan")]])
def test_flowmap_sampler_rejects_bad_times(ts):
    with pytest.raises(ValueError, match="ts must hold >= 2 strictly decreasing times in \\[0, 1\\]"):
        flowmap.sample_flowmap(ExactAverageVelocity(), torch.zeros(2, 2), ts)


def test_renoise_sampler_with_one_time_is_the_one_jump_of_the_path_sampler():
    """Two ways to compute one step agree: Alg. 1 with ts = [1] and the path sampler with ts = [1, 0]."""
    torch.manual_seed(0)
    model = flowmap.for_data(torch.randn(100, 2) * 0.7 + 1.0, SMALL)
    nn.init.normal_(model.net.out.weight, std=0.5)
    x = flowmap.noise(model, 64, torch.Generator().manual_seed(1))
    torch.testing.assert_close(flowmap.sample_flowmap_renoise(model, x, [1.0]), flowmap.sample_flowmap(model, x, [1.0, 0.0]))


def test_renoise_sampler_re_noises_to_the_marginal_of_the_exact_flow_map():
    """Exact flow map of N(0, S^2): the first jump gives S e; re-noised to t it is z_t ~ N(0, std_fm(t)^2), mapped to
    S z_t / std_fm(t), computed here by hand with the same draws; and the samples are N(0, S^2) again."""
    model, t = ExactAverageVelocity(), 0.125
    e = torch.randn(100_000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    seen = []
    out = flowmap.sample_flowmap_renoise(model, e, [1.0, t], generator=torch.Generator().manual_seed(4), callback=seen.append)
    e2 = torch.randn(e.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    z_t = (1 - t) * S * e + t * e2
    torch.testing.assert_close(out, S * z_t / std_fm(t))
    assert out.std(0).sub(S).abs().max() < 0.01 and out.mean(0).abs().max() < 0.01
    assert [(c["i"], c["t"], c["t_next"]) for c in seen] == [(0, 1.0, t), (1, t, 0.0)]
    torch.testing.assert_close(seen[0]["denoised"], S * e)
    torch.testing.assert_close(seen[1]["x"], z_t)
    assert not out.equal(flowmap.sample_flowmap_renoise(model, e, [1.0, t], generator=torch.Generator().manual_seed(5)))


def test_renoise_sampler_re_noises_the_latest_jump_each_time():
    """Three calls by hand, exact flow map of N(0, S^2): each re-noising starts from the jump just made."""
    model, ts = ExactAverageVelocity(), [1.0, 0.25, 0.125]
    e = torch.randn(1000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    out = flowmap.sample_flowmap_renoise(model, e, ts, generator=torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    x = S * e
    for t in ts[1:]:
        z_t = (1 - t) * x + t * torch.randn(e.shape, dtype=torch.float64, generator=g)
        x = S * z_t / std_fm(t)
    torch.testing.assert_close(out, x)


def test_renoise_sampler_re_noises_around_the_models_centre_and_scale():
    """Data units: with centre c and scale s the fresh noise is c + s e (a model whose jump returns c exactly)."""

    class ToCentre(nn.Module):
        center, scale = torch.tensor([2.0, -1.0]), 3.0

        def forward(self, z, t, h):
            return (z - self.center) / per_row(t, z)[:, None]  # z - t u = c: every jump lands on the centre

    seen = []
    x = torch.zeros(4, 2)
    flowmap.sample_flowmap_renoise(ToCentre(), x, [1.0, 0.5], generator=torch.Generator().manual_seed(0), callback=seen.append)
    e = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(seen[1]["x"], 0.5 * ToCentre.center + 0.5 * (ToCentre.center + 3.0 * e))


def test_renoise_times_halve_from_t_mid_on_the_dyadic_grid():
    assert flowmap.renoise_times(1) == [1.0]
    two, four = flowmap.renoise_times(2), flowmap.renoise_times(4, t_mid=0.25)
    assert len(two) == 2 and two[0] == 1.0 and 0 < two[1] < 1 and math.log2(two[1]).is_integer()
    assert four == [1.0, 0.25, 0.125, 0.0625]
    for bad in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError, match="t_mid must lie in \\(0, 1\\)"):
            flowmap.renoise_times(2, t_mid=bad)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        flowmap.renoise_times(0)


@pytest.mark.parametrize("ts", [[], [0.0], [1.0, 0.0], [0.5, 1.0], [1.0, 0.5, 0.5], [1.5], [1.0, float("nan")]])
def test_renoise_sampler_rejects_bad_times(ts):
    with pytest.raises(ValueError, match="ts must hold >= 1 strictly decreasing times in \\(0, 1\\]"):
        flowmap.sample_flowmap_renoise(ExactAverageVelocity(), torch.zeros(2, 2), ts)


# --- MeanFlow --------------------------------------------------------------------------------------------------

def test_meanflow_identity_holds_for_the_exact_average_velocity():
    """With the marginal velocity as tangent, the target of the exact u is u itself: u = v - (t - r) du/dt."""
    t, r = times(256, 3)
    z = torch.randn(256, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    got = meanflow.meanflow_target(exact_u, z, r, t, exact_v(z, t))
    torch.testing.assert_close(got, exact_u(z, r, t), rtol=1e-10, atol=1e-12)
    assert not got.requires_grad
    torch.testing.assert_close(meanflow.meanflow_target(exact_u, z, t, t, exact_v(z, t)), exact_v(z, t))  # r = t: FM


def test_meanflow_target_mistakes_break_the_identity():
    """Each typical mistake moves the target off the exact u by far more than float64 rounding."""
    t, r = times(256, 5)
    z = torch.randn(256, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    v, u = exact_v(z, t), exact_u(z, r, t)

    def with_tangent(tz, tr, tt, sign=-1.0):
        _, d = torch.func.jvp(exact_u, (z, r, t), (tz, tr, tt))
        return v + sign * (t - r)[:, None] * d

    ones, zeros = torch.ones_like(t), torch.zeros_like(t)
    mistakes = {"sign": with_tangent(v, zeros, ones, +1.0), "along r": with_tangent(v, ones, zeros),
                "no v": with_tangent(torch.zeros_like(v), zeros, ones), "only z": with_tangent(v, zeros, zeros)}
    for name, wrong in mistakes.items():
        assert (wrong - u).abs().max() > 1e-2, name


def test_sample_r_t_orders_the_pair_and_keeps_the_flow_matching_share():
    g = torch.Generator().manual_seed(7)
    r, t = meanflow.sample_r_t(100_000, meanflow.logit_normal(-2.0, 2.0), 0.75, g)
    assert (r <= t).all() and (t < 1).all() and (r > 0).all()
    assert (r == t).float().mean().item() == pytest.approx(0.25, abs=0.01)
    r, t = meanflow.sample_r_t(1000, meanflow.uniform, 0.0, g)
    assert r.equal(t)
    with pytest.raises(ValueError, match="ratio must be in \\[0, 1\\]"):
        meanflow.sample_r_t(10, meanflow.uniform, 1.5)


def test_meanflow_loss_gradient_is_that_of_the_weighted_error_with_a_fixed_target():
    model = flowmap.for_data(torch.randn(100, 2), SMALL)
    nn.init.normal_(model.net.out.weight, std=0.3)
    x0 = torch.randn(64, 2)
    cfg = replace(MeanFlowConfig(), p=0.0)
    loss = meanflow.meanflow_loss(model, x0, cfg, generator=torch.Generator().manual_seed(8))
    grads = torch.autograd.grad(loss, list(model.parameters()))

    g = torch.Generator().manual_seed(8)  # the same draws, the target computed apart and frozen
    r, t = meanflow.sample_r_t(64, meanflow.logit_normal(cfg.P_mean, cfg.P_std), cfg.ratio, g)
    noise = model.center + model.scale * torch.randn(x0.shape, generator=g)
    z = flowmap.interpolate(x0, noise, t)
    goal = meanflow.meanflow_target(lambda z_, r_, t_: model(z_, t_, t_ - r_), z, r, t, noise - x0).clone()
    ref = ((model(z, t, t - r) - goal) / model.scale).pow(2).sum(1).mean()
    for a, b in zip(grads, torch.autograd.grad(ref, list(model.parameters())), strict=True):
        torch.testing.assert_close(a, b)
    w = meanflow.adaptive_weight(torch.tensor([0.0, 1.0]), 0.75, 1e-3)
    torch.testing.assert_close(w, torch.tensor([1e-3**-0.75, 1.001**-0.75]))


# --- shortcut models -------------------------------------------------------------------------------------------

def test_shortcut_target_of_the_exact_flow_map_is_its_double_jump():
    model = ExactAverageVelocity()
    g = torch.Generator().manual_seed(9)
    jump = shortcut.step_levels(512, 7, g).double()
    t = shortcut.grid_times(jump.float(), g).double()
    z = torch.randn(512, 2, dtype=torch.float64, generator=g)
    torch.testing.assert_close(shortcut.shortcut_target(model, z, t, jump / 2), model(z, t, jump))
    wrong = (model(z, t, jump / 2) + model(z, t - jump / 2, jump / 2)) / 2  # second half-step from z, not from z'
    assert (wrong - model(z, t, jump)).abs().max() > 1e-2


def test_shortcut_levels_and_times_lie_on_the_grid():
    g = torch.Generator().manual_seed(10)
    jump = shortcut.step_levels(20_000, 7, g)
    assert set(jump.unique().tolist()) == {2.0**-k for k in range(7)}
    t = shortcut.grid_times(jump, g)
    assert (t >= jump).all() and (t <= 1).all()
    torch.testing.assert_close(t / jump, (t / jump).round())
    assert set(shortcut.grid_times(torch.full((2000,), 0.25), g).unique().tolist()) == {0.25, 0.5, 0.75, 1.0}


# --- TrigFlow and sCM ------------------------------------------------------------------------------------------

def test_time_change_between_edm_and_trigflow():
    sigma = torch.tensor([0.002, 0.5, 1.0, 80.0], dtype=torch.float64)
    t = trigflow.t_from_sigma(sigma, 0.5)
    torch.testing.assert_close(trigflow.sigma_from_t(t, 0.5), sigma)
    assert t[1].item() == pytest.approx(math.pi / 4)
    x0, eps = torch.randn(5, 2, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    s, tt = sigma[2], t[2]
    torch.testing.assert_close(torch.cos(tt) * (x0 + s * eps), torch.cos(tt) * x0 + torch.sin(tt) * (0.5 * eps))


def _trig_model(seed=0):
    torch.manual_seed(seed)
    data = torch.randn(500, 2) * torch.tensor([1.0, 0.5]) + torch.tensor([0.5, 0.25])
    model = trigflow.for_data(data, SMALL).double()
    nn.init.normal_(model.backbone.out.weight, std=0.5)
    return model


def test_trigflow_boundary_condition_is_free():
    model = _trig_model()
    x = torch.randn(20, 2, dtype=torch.float64)
    assert model(x, 0.0).equal(x)
    t = torch.full((20,), 0.7, dtype=torch.float64)
    xc = x - model.center
    expected = model.center + math.cos(0.7) * xc - math.sin(0.7) * model.sigma_data * model.backbone(xc / model.sigma_data, t)
    torch.testing.assert_close(model(x, t), expected)


def test_tangent_jvp_is_the_derivative_along_the_path():
    """cos t sin t dF/dt from the JVP equals a central finite difference of F along (x + s dx, t + s) in float64."""
    model = _trig_model(1)
    x, dx = torch.randn(32, 2, dtype=torch.float64), torch.randn(32, 2, dtype=torch.float64)
    t = torch.rand(32, dtype=torch.float64) * 1.4 + 0.05
    F, cs_dF = trigflow.tangent_jvp(model.backbone, x, t, dx)
    eps = 1e-6
    fd = (model.backbone(x + eps * dx, t + eps) - model.backbone(x - eps * dx, t - eps)) / (2 * eps)
    torch.testing.assert_close(F, model.backbone(x, t))
    torch.testing.assert_close(cs_dF, (t.cos() * t.sin())[:, None] * fd, rtol=1e-7, atol=1e-9)


def test_sct_tangent_is_cos_t_times_the_derivative_of_f_along_the_noising_path():
    """g = cos t d/dt f(x_t, t) on x_t = c + cos t (x0 - c) + sin t z (warm-up r = 1): an independent finite difference."""
    model = _trig_model(2)
    g = torch.Generator().manual_seed(11)
    x0, z = torch.randn(32, 2, dtype=torch.float64, generator=g), 0.7 * torch.randn(32, 2, dtype=torch.float64, generator=g)
    t = torch.rand(32, dtype=torch.float64, generator=g) * 1.4 + 0.05
    c, sd = model.center, model.sigma_data

    def f_on_path(s):
        return model(c + s.cos()[:, None] * (x0 - c) + s.sin()[:, None] * z, s)

    x_t = c + t.cos()[:, None] * (x0 - c) + t.sin()[:, None] * z
    dxdt = trigflow.ct_velocity(model, x_t, x0, z, t)
    F, cs_dF = trigflow.tangent_jvp(model.backbone, (x_t - c) / sd, t, dxdt / sd)
    got = trigflow.scm_tangent(F, cs_dF, x_t - c, dxdt, t, sd)
    eps = 1e-6
    df_dt = (f_on_path(t + eps) - f_on_path(t - eps)) / (2 * eps)
    torch.testing.assert_close(got, t.cos()[:, None] * df_dt, rtol=1e-6, atol=1e-8)
    assert (trigflow.scm_tangent(F, cs_dF, x_t - c, dxdt, t, sd, warmup=0.0) - got).abs().max() > 1e-2


def test_sct_tangent_of_the_exact_consistency_function_averages_to_zero():
    """Gaussian data: at the exact F, E[g | x_t] = 0 (the one-sample velocity is unbiased); a flipped term is not."""
    s, sd = 0.4, 0.7

    class ExactF(nn.Module):  # F from f = cos t x - sin t sd F with the exact f(x_t, t) = x_t s / std(t)
        def forward(self, x_in, t):
            x, std = x_in * sd, (t.cos() ** 2 * s**2 + t.sin() ** 2 * sd**2).sqrt()[:, None]
            return (t.cos()[:, None] * x - x * s / std) / (t.sin()[:, None] * sd)

    model = trigflow.TrigFlowConsistency(ExactF(), torch.zeros(2, dtype=torch.float64), sd)
    g = torch.Generator().manual_seed(13)
    n, t = 50_000, torch.full((50_000,), 0.8, dtype=torch.float64)
    x0, z = s * torch.randn(n, 2, dtype=torch.float64, generator=g), sd * torch.randn(n, 2, dtype=torch.float64, generator=g)
    x_t = t.cos()[:, None] * x0 + t.sin()[:, None] * z
    dxdt = trigflow.ct_velocity(model, x_t, x0, z, t)
    F, cs_dF = trigflow.tangent_jvp(model.backbone, x_t / sd, t, dxdt / sd)
    regress = torch.linalg.lstsq(x_t, trigflow.scm_tangent(F, cs_dF, x_t, dxdt, t, sd)).solution  # E[g | x_t] = x_t A
    assert regress.abs().max() < 0.01
    flipped = trigflow.scm_tangent(F, -cs_dF, x_t, dxdt, t, sd)  # the JVP term's sign flipped
    assert torch.linalg.lstsq(x_t, flipped).solution.abs().max() > 0.1


def test_cd_velocity_of_the_exact_denoiser_is_the_exact_ode_velocity():
    """Gaussian data N(m, s^2): the TrigFlow ODE scales x_t - m by its std, so dx/dt = (x_t - m) d/dt log std(t)."""
    teacher = GaussianDenoiser()  # m = (0.3, -0.2), s = 0.5
    sd, m, s = 0.7, teacher.m.double(), teacher.s
    model = trigflow.TrigFlowConsistency(nn.Identity(), m, sd)
    t = torch.linspace(0.1, 1.5, 40, dtype=torch.float64)
    x_t = m + torch.randn(40, 2, dtype=torch.float64)
    var = t.cos() ** 2 * s**2 + t.sin() ** 2 * sd**2
    exact = (x_t - m) * (t.sin() * t.cos() * (sd**2 - s**2) / var)[:, None]
    got = trigflow.cd_velocity(teacher)(model, x_t, None, None, t)
    torch.testing.assert_close(got, exact, rtol=1e-6, atol=1e-8)


def test_scm_loss_gradient_moves_F_along_the_normalised_tangent():
    """At theta = theta^-: grad of the loss = -2 E[w e^{-w_phi} / D g . grad F] (Lu & Song 2024, Sec. 4.2)."""
    torch.manual_seed(3)
    model = trigflow.for_data(torch.randn(200, 2), SMALL)
    nn.init.normal_(model.backbone.out.weight, std=0.3)
    x0 = torch.randn(64, 2)
    params = list(model.backbone.parameters())
    loss = trigflow.scm_loss(model, x0, 1.0, SCTConfig(), generator=torch.Generator().manual_seed(12))
    grads = torch.autograd.grad(loss, params)

    cfg, sd, g = SCTConfig(), model.sigma_data, torch.Generator().manual_seed(12)
    t = trigflow.lognormal_times(64, cfg.P_mean, cfg.P_std, sd, g)
    z = sd * torch.randn(x0.shape, generator=g)
    xc = t.cos()[:, None] * (x0 - model.center) + t.sin()[:, None] * z
    dxdt = t.cos()[:, None] * z - t.sin()[:, None] * (x0 - model.center)
    F, cs_dF = trigflow.tangent_jvp(model.backbone, xc / sd, t, dxdt / sd)
    tangent = trigflow.normalize_tangent(trigflow.scm_tangent(F, cs_dF, xc, dxdt, t, sd), cfg.c)
    w = 1 / (sd * t.tan()) / model.logvar(t).exp().detach() / 2
    surrogate = -(2 * w[:, None] * tangent * model.backbone(xc / sd, t)).sum(1).mean()
    for a, b in zip(grads, torch.autograd.grad(surrogate, params), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_normalize_tangent_bounds_the_root_mean_square():
    g = torch.tensor([[3.0, 4.0], [0.0, 0.0], [1e-3, 0.0]])
    out = trigflow.normalize_tangent(g, 0.1)
    rms = g.pow(2).mean(1).sqrt()
    torch.testing.assert_close(out, g / (rms[:, None] + 0.1))
    assert out.pow(2).mean(1).sqrt().max() < 1


def test_trigflow_sampler_one_step_is_f_at_t_max_and_checks_its_times():
    model = _trig_model(4).float()
    x = trigflow.noise(model, 50, torch.Generator().manual_seed(0))
    torch.testing.assert_close(trigflow.sample_trigflow(model, x, [model.t_max]), model(x, model.t_max))
    ts = trigflow.multistep_times(2, model)
    assert ts == [model.t_max, pytest.approx(1.1)]
    four = trigflow.multistep_times(4, model)
    assert four[1] == pytest.approx(1.1) and four[-1] == pytest.approx(math.atan(0.7)) and four == sorted(four, reverse=True)
    seen = []
    trigflow.sample_trigflow(model, x, ts, generator=torch.Generator().manual_seed(1), callback=seen.append)
    assert [c["i"] for c in seen] == [0, 1] and seen[-1]["t_next"] == 0.0
    for bad in ([], [1.0, 1.2], [2.0], [0.0]):
        with pytest.raises(ValueError, match="ts must be strictly decreasing times in \\(0, pi/2\\)"):
            trigflow.sample_trigflow(model, x, bad)


# --- training loops --------------------------------------------------------------------------------------------

TRAINERS = {
    "sct": lambda data, seed: trigflow.train_scm(data, replace(SCTConfig(), steps=12, batch=64, warmup=2), net=SMALL,
                                                 seed=seed, progress=False),
    "scd": lambda data, seed: trigflow.train_scm(data, replace(SCTConfig(), steps=12, batch=64, warmup=2), net=SMALL,
                                                 velocity=trigflow.cd_velocity(GaussianDenoiser()), seed=seed, progress=False),
    "meanflow": lambda data, seed: meanflow.train_meanflow(data, replace(MeanFlowConfig(), steps=12, batch=64, warmup=2),
                                                           net=SMALL, seed=seed, progress=False),
    "shortcut": lambda data, seed: shortcut.train_shortcut(data, replace(ShortcutConfig(), steps=12, batch=64, warmup=2),
                                                           net=SMALL, seed=seed, progress=False),
    "shortcut_ema": lambda data, seed: shortcut.train_shortcut(
        data, replace(ShortcutConfig(), steps=12, batch=64, warmup=2, target_decay=0.9), net=SMALL, seed=seed, progress=False),
}


@pytest.mark.parametrize("name", list(TRAINERS))
def test_training_is_seeded_and_returns_its_history(name):
    data = torch.randn(500, 2) * 0.5 + 0.3
    a, b, c = TRAINERS[name](data, 0), TRAINERS[name](data, 0), TRAINERS[name](data, 1)
    assert len(a.history) == 12 and all(math.isfinite(v) for v in a.history)
    assert a.history == b.history and a.history != c.history
    for p, q in zip(a.model.parameters(), a.online.parameters(), strict=True):
        assert not p.requires_grad and q.requires_grad
    assert any(not p.equal(q) for p, q in zip(a.model.parameters(), a.online.parameters(), strict=True))  # EMA != online


def test_bad_settings_name_the_parameter():
    data = torch.randn(50, 2)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        shortcut.train_shortcut(data, replace(ShortcutConfig(), steps=0), progress=False)
    with pytest.raises(ValueError, match="bootstrap_share must be in \\[0, 1\\]"):
        shortcut.train_shortcut(data, replace(ShortcutConfig(), steps=1, batch=8, bootstrap_share=2.0), progress=False)
    with pytest.raises(ValueError, match="P_std must be a finite number > 0"):
        meanflow.logit_normal(0.0, -1.0)
    with pytest.raises(ValueError, match="data must have shape"):
        trigflow.train_scm(torch.randn(10), progress=False)


def test_benchmark_keys_are_measured_for_every_method(monkeypatch):
    """bench_frontier.per_seed with tiny budgets: every key, one W1 per seed, from a sampler of the right method and steps."""

    tiny = {"steps": 3, "batch": 32, "warmup": 1}
    monkeypatch.setattr(bench_frontier, "SCTConfig", lambda: replace(SCTConfig(), **tiny))
    monkeypatch.setattr(bench_frontier, "ShortcutConfig", lambda: replace(ShortcutConfig(), **tiny))
    monkeypatch.setattr(bench_frontier, "MeanFlowConfig", lambda: replace(MeanFlowConfig(), **tiny))
    monkeypatch.setattr(bench_frontier, "LSDConfig", lambda: replace(LSDConfig(), **tiny))
    monkeypatch.setattr(bench_frontier, "DriftingConfig", lambda: replace(DriftingConfig(), **tiny))
    seen = []

    def w1_per_seed(sample, n, seeds):
        x = sample(torch.Generator().manual_seed(0))
        seen.append(x.shape)
        return [float(x.norm())] * seeds

    w1, seconds = bench_frontier.per_seed(torch.randn(300, 2), w1_per_seed, 50, 3, progress=False)
    assert set(w1) == set(bench_frontier.KEYS) == set(bench_frontier.NAMES) and all(len(v) == 3 for v in w1.values())
    assert set(seconds) == {"sct_train_s", "shortcut_train_s", "meanflow_train_s", "lsd_train_s", "drift_train_s"}
    assert all(s > 0 for s in seconds.values())
    assert seen == [torch.Size([50, 2])] * len(bench_frontier.KEYS)
    assert w1["shortcut_1step_w1"] != w1["shortcut_2step_w1"]  # the number of steps reaches the sampler
    assert w1["shortcut_2step_w1"] != w1["shortcut_renoise_2step_w1"]  # and so does the sampler's kind


def test_benchmark_renoise_sampler_is_seeded_by_its_generator_and_is_the_packages():
    model = flowmap.for_data(torch.randn(100, 2) * 0.7 + 1.0, SMALL)
    nn.init.normal_(model.net.out.weight, std=0.5)

    models = {"sct": None, "shortcut": model, "meanflow": None, "lsd": None}
    sample = bench_frontier.samplers_for(models, 40)["shortcut_renoise"](2)
    torch.manual_seed(0)
    a = sample(torch.Generator().manual_seed(3))
    torch.manual_seed(1)  # the global generator must not matter
    b = sample(torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    direct = flowmap.sample_flowmap_renoise(model, flowmap.noise(model, 40, g), flowmap.renoise_times(2), generator=g)
    assert a.equal(b) and a.equal(direct)
