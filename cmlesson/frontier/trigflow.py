"""TrigFlow and continuous-time consistency models: sCT and sCD (Lu & Song 2024, "sCM"; notebook 08).

TrigFlow time t in [0, pi/2]: x_t = cos t x0 + sin t z, z ~ N(0, sigma_d^2 I), in coordinates centred on the
data's mean. It is EDM's noising in other coordinates: sigma = sigma_d tan t and x_t = cos t x_sigma. The
consistency model is one DDIM step of the probability-flow ODE, f(x_t, t) = cos t x_t - sin t sigma_d F(x_t / sigma_d, t)
(Eq. 5): f(x, 0) = x holds for every network, with no sigma_min shift. Training pulls F along the tangent
df/dt of the ODE's trajectory (Eq. 6), computed with one Jacobian-vector product of the network; the discrete
CT pair of notebook 03 becomes this derivative as the gap between its two levels shrinks.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .. import training, validate
from ..config import NetworkConfig, NoiseConfig, SCTConfig
from ..data import Pool, estimate_sigma_data
from ..networks import FourierEmbedding, NoiseConditionedMLP
from ..parameterization import append_dims, per_row
from ..samplers import Callback

Velocity = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
Weighting = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor]


# --- the time change between EDM and TrigFlow ------------------------------------------------------------------

def t_from_sigma(sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """Lu & Song 2024, Sec. 3 (notebook 08): t = arctan(sigma / sigma_d)."""
    return torch.atan(torch.as_tensor(sigma) / sigma_data)


def sigma_from_t(t: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """Lu & Song 2024, Sec. 3 (notebook 08): sigma = sigma_d tan t (the inverse of t_from_sigma)."""
    return sigma_data * torch.tan(torch.as_tensor(t))


# --- the model -------------------------------------------------------------------------------------------------

class LogVarHead(nn.Module):
    """w_phi(t) = W phi(t): a learned log-variance per time for the adaptive weighting (Lu & Song 2024, Sec. 4.2; notebook 08)."""

    def __init__(self, emb_dim: int = NetworkConfig.emb_dim, max_freq: float = NetworkConfig.max_freq):
        super().__init__()
        self.embed = FourierEmbedding(emb_dim, max_freq)
        self.linear = nn.Linear(emb_dim, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.linear(self.embed(t)).squeeze(1)  # (batch,)


class TrigFlowConsistency(nn.Module):
    """f(x, t) = c + cos t (x - c) - sin t sigma_d F((x - c) / sigma_d, t) (Lu & Song 2024, Eq. 5; notebook 08); c_noise = t.

    ``backbone`` is F(x_in, c_noise); ``logvar`` the adaptive weighting's head (unused when sampling).
    """

    def __init__(self, backbone: nn.Module, center: torch.Tensor, sigma_data: float, sigma_max: float = NoiseConfig.sigma_max,
                 logvar: nn.Module | None = None):
        super().__init__()
        self.backbone = backbone
        self.logvar = logvar if logvar is not None else LogVarHead()
        self.register_buffer("center", torch.as_tensor(center, dtype=torch.float32).reshape(-1).clone())
        self.sigma_data = validate.positive_float("sigma_data", sigma_data)
        self.t_max = float(math.atan(validate.positive_float("sigma_max", sigma_max) / self.sigma_data))

    def forward(self, x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        t = per_row(t, x, "t")
        xc, ct, st = x - self.center, append_dims(t.cos(), x.ndim), append_dims(t.sin(), x.ndim)
        # c + cos t (x - c) written so that t = 0 returns x bit for bit
        return ct * x + (1 - ct) * self.center - st * self.sigma_data * self.backbone(xc / self.sigma_data, t)


def for_data(data: torch.Tensor, net: NetworkConfig = NetworkConfig(),
             sigma_max: float = NoiseConfig.sigma_max) -> TrigFlowConsistency:
    """A fresh TrigFlowConsistency for ``data``: c = mean(data), sigma_d = std(data - c), the course's MLP as F (notebook 08)."""
    data = validate.points_2d("data", data, dim=None)
    center = data.mean(0)
    return TrigFlowConsistency(NoiseConditionedMLP(data.shape[1], net), center, estimate_sigma_data(data - center), sigma_max,
                               LogVarHead(net.emb_dim, net.max_freq))


# --- the objective ---------------------------------------------------------------------------------------------

def lognormal_times(n: int, P_mean: float, P_std: float, sigma_data: float,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Lu & Song 2024, Alg. 1 (notebook 08): t = arctan(e^tau / sigma_d), tau ~ N(P_mean, P_std^2): EDM's levels as times."""
    tau = P_mean + P_std * torch.randn(n, generator=generator)
    return torch.atan(tau.exp() / sigma_data)


def ct_velocity(model: TrigFlowConsistency, x_t: torch.Tensor, x0: torch.Tensor, z: torch.Tensor,
                t: torch.Tensor) -> torch.Tensor:
    """sCT's dx_t/dt = cos t z - sin t (x0 - c): the one-sample ODE velocity (Lu & Song 2024, Eq. 6; notebook 08)."""
    return append_dims(t.cos(), z.ndim) * z - append_dims(t.sin(), z.ndim) * (x0 - model.center)


def cd_velocity(teacher: nn.Module) -> Velocity:
    """sCD's dx_t/dt from an EDM teacher D(x, sigma): (cos t (x_t - c) - (D - c)) / sin t at sigma = sigma_d tan t (notebook 08).

    Lu & Song 2024, Eq. 6 with the teacher's sigma_d F_pretrain; here the teacher predicts x0 (Karras et al. 2022),
    evaluated at the EDM point x_sigma = c + (x_t - c) / cos t, so E[z | x_t] = ((x_t - c) - cos t D) / sin t.
    """
    def velocity(model, x_t, x0, z, t):
        c, sd = model.center, model.sigma_data
        sigma = (sd * t.tan()).clamp(teacher.sigma_min, teacher.sigma_max)
        xc = x_t - c
        with torch.no_grad():
            D = teacher(c + xc / append_dims(t.cos(), xc.ndim), sigma) - c
        return (append_dims(t.cos(), xc.ndim) * xc - D) / append_dims(t.sin(), xc.ndim)

    return velocity


def tangent_jvp(backbone: nn.Module, x_in: torch.Tensor, t: torch.Tensor, dxdt_in: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(F, cos t sin t dF/dt), dF/dt = grad_x F . dx_in/dt + d_t F: one forward-mode JVP (Lu & Song 2024, Sec. 5.1; notebook 08).

    The tangent (cos t sin t dx_in/dt, cos t sin t) carries the factor cos t sin t inside, so nothing overflows at
    t = 0 or pi/2. No gradient: F and its derivative belong to the stop-gradient copy theta^-.
    """
    cs = t.cos() * t.sin()
    with torch.no_grad():
        return torch.func.jvp(backbone, (x_in, t), (append_dims(cs, x_in.ndim) * dxdt_in, cs))


def scm_tangent(F: torch.Tensor, cs_dFdt: torch.Tensor, x_t: torch.Tensor, dxdt: torch.Tensor, t: torch.Tensor,
                sigma_data: float, warmup: float = 1.0) -> torch.Tensor:
    """Lu & Song 2024, Alg. 1: g = -cos^2 t (sigma_d F - dx/dt) - r (cos t sin t x_t + sigma_d cos t sin t dF/dt) = cos t df/dt.

    x_t and dx/dt are centred; r = ``warmup`` in [0, 1] scales the second, unstable term (the tangent warm-up).
    Introduced in notebook 08.
    """
    ct, st = append_dims(t.cos(), x_t.ndim), append_dims(t.sin(), x_t.ndim)
    return -ct**2 * (sigma_data * F - dxdt) - warmup * (ct * st * x_t + sigma_data * cs_dFdt)


def normalize_tangent(g: torch.Tensor, c: float = 0.1) -> torch.Tensor:
    """Lu & Song 2024, Sec. 4.2 (notebook 08): g / (||g|| + c), ||g|| the root-mean-square over coordinates (FastGen's form)."""
    return g / (append_dims(g.flatten(1).pow(2).mean(1).sqrt(), g.ndim) + c)


def unnormalized_tangent(g: torch.Tensor, c: float = 0.1) -> torch.Tensor:
    """g unchanged: the ablation of normalize_tangent (Lu & Song 2024, Sec. 4.2; notebook 08)."""
    return g


def adaptive_weighting(sq_err: torch.Tensor, t: torch.Tensor, logvar: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """Lu & Song 2024, Eq. 8 (notebook 08): w(t) e^{-w_phi(t)} ||.||^2 / D + w_phi(t), w(t) = 1 / (sigma_d tan t) = 1 / sigma."""
    return sq_err / (sigma_data * t.tan()) / logvar.exp() + logvar


def prior_weighting(sq_err: torch.Tensor, t: torch.Tensor, logvar: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """w(t) ||.||^2 / D, w = 1 / sigma, no learned log-variance: adaptive_weighting's ablation (Lu & Song 2024; notebook 08)."""
    return sq_err / (sigma_data * t.tan())


def scm_loss(model: TrigFlowConsistency, x0: torch.Tensor, warmup: float, cfg: SCTConfig = SCTConfig(), *,
             velocity: Velocity = ct_velocity, normalize: Callable[..., torch.Tensor] = normalize_tangent,
             weighting: Weighting = adaptive_weighting, generator: torch.Generator | None = None) -> torch.Tensor:
    """Lu & Song 2024, Alg. 1: E[weighting(||F_theta - F_theta^- - g||^2 / D)], g = normalize(scm_tangent), theta^- = sg(theta).

    ``velocity`` is ct_velocity (sCT) or cd_velocity(teacher) (sCD). The gradient is that of E[F_theta . g]:
    F_theta moves along the normalised tangent, whatever the loss's value. Introduced in notebook 08.
    """
    n, D, sd = x0.shape[0], x0[0].numel(), model.sigma_data
    t = lognormal_times(n, cfg.P_mean, cfg.P_std, sd, generator)
    z = sd * torch.randn(x0.shape, generator=generator)
    x_t = model.center + append_dims(t.cos(), x0.ndim) * (x0 - model.center) + append_dims(t.sin(), x0.ndim) * z
    dxdt = velocity(model, x_t, x0, z, t)
    xc = x_t - model.center
    F_minus, cs_dFdt = tangent_jvp(model.backbone, xc / sd, t, dxdt / sd)
    g = normalize(scm_tangent(F_minus, cs_dFdt, xc, dxdt, t, sd, warmup), cfg.c)
    sq_err = (model.backbone(xc / sd, t) - F_minus - g).flatten(1).pow(2).sum(1) / D
    return weighting(sq_err, t, model.logvar(t), sd).mean()


def train_scm(data: torch.Tensor, cfg: SCTConfig = SCTConfig(), *, velocity: Velocity = ct_velocity,
              normalize: Callable[..., torch.Tensor] = normalize_tangent, weighting: Weighting = adaptive_weighting,
              net: NetworkConfig = NetworkConfig(), seed: int = 0, progress: bool = True) -> training.Trained:
    """Continuous-time consistency training (sCT) or distillation (sCD: ``velocity=cd_velocity(teacher)``) from scratch.

    Lu & Song 2024, Alg. 1, in :func:`cmlesson.training.fit`; notebook 08. The tangent warm-up ramps
    r = min(1, k / cfg.tangent_warmup) over the first steps.
    """
    pool, gen = Pool(data, seed), training.seeded(seed)
    model = for_data(pool.points, net)

    def loss(step, x0):
        r = min(1.0, step / cfg.tangent_warmup) if cfg.tangent_warmup > 0 else 1.0
        return scm_loss(model, x0, r, cfg, velocity=velocity, normalize=normalize, weighting=weighting, generator=gen)

    return training.fit(model, loss, pool, cfg, "sCM", progress=progress)


# --- sampling --------------------------------------------------------------------------------------------------

def noise(model: TrigFlowConsistency, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """x_{t_max} = c + sigma_d e, e ~ N(0, I): the sampler's start, (n, d) (Lu & Song 2024, Sec. 5.2; notebook 08)."""
    n = validate.int_at_least("n", n, 1)
    return model.center + model.sigma_data * torch.randn(n, model.center.numel(), generator=generator)


def multistep_times(steps: int, model: TrigFlowConsistency, t_mid: float = 1.1) -> list[float]:
    """t_max, then steps - 1 times from t_mid (Lu & Song 2024, Sec. 5.2: 2 steps at t_max, 1.1) down to the course's
    lowest re-noising level 0.7 sigma_d (samplers.multistep_sigmas), geometric in sigma; notebook 08."""
    steps = validate.int_at_least("steps", steps, 1)
    if not 0 < t_mid < model.t_max:
        raise ValueError(f"t_mid must lie in (0, t_max = {model.t_max:.4f}), got {t_mid}")
    hi, lo = model.sigma_data * math.tan(t_mid), 0.7 * model.sigma_data
    sigmas = [hi * (lo / hi) ** (i / max(1, steps - 2)) for i in range(steps - 1)]
    return [model.t_max] + [math.atan(s / model.sigma_data) for s in sigmas]


@torch.no_grad()
def sample_trigflow(model: TrigFlowConsistency, x: torch.Tensor, ts, *, generator: torch.Generator | None = None,
                    callback: Callback = None) -> torch.Tensor:
    """Song et al. 2023, Alg. 1 in TrigFlow time (Lu & Song 2024, Sec. 5.2; notebook 08): x0 <- f(x, t_0), then for each next t
    x <- c + cos t (x0 - c) + sin t sigma_d z and x0 <- f(x, t).

    ``ts`` decreases in (0, pi/2); ``callback`` gets ``{"i", "x", "t", "t_next", "denoised"}`` after each step.
    """
    ts = torch.as_tensor(ts, dtype=torch.float64).flatten()
    if ts.numel() < 1 or not torch.isfinite(ts).all() or ts.min() <= 0 or ts.max() >= math.pi / 2 or (ts[1:] >= ts[:-1]).any():
        raise ValueError(f"ts must be strictly decreasing times in (0, pi/2), got {ts.tolist()}")
    denoised = model(x, float(ts[0]))
    for i, t in enumerate(ts.tolist()):
        if i > 0:
            z = torch.randn(x.shape, generator=generator, dtype=x.dtype)
            x = model.center + math.cos(t) * (denoised - model.center) + math.sin(t) * model.sigma_data * z
            denoised = model(x, t)
        if callback is not None:
            callback({"i": i, "x": x, "t": t, "t_next": float(ts[i + 1]) if i + 1 < len(ts) else 0.0, "denoised": denoised})
    return denoised
