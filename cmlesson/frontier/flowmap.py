"""Flow maps by average velocity: u(z, t, h) jumps from time t to t - h, z_{t-h} = z_t - h u (notebook 08).

Flow-matching time (Lipman et al. 2023; lesson 11.1): t in [0, 1], t = 1 is noise, z_t = (1 - t) x + t e.
The network u(z_t, t, h) is the *average* velocity over [t - h, t] (MeanFlow, Geng et al. 2025, Eq. 1;
the shortcut model's s(x, t, d) of Frans et al. 2024 is the same object with d = h). h = 0 is the
instantaneous velocity of flow matching; h = t = 1 is a one-step generator, z_0 = z_1 - u(z_1, 1, 1).
Notebook 08's formulas and :mod:`meanflow` write the same object with its start time, u(z_t, r, t), r = t - h.

The model works in data coordinates; the network sees the data centred and scaled to unit standard
deviation (the scale of e ~ N(0, I)). Samplers share the course's signature:
``sampler(model, x, ts, *, generator=None, callback=None) -> x`` with ``ts`` decreasing from 1: to 0 for the
flow map's own path (:func:`sample_flowmap`), to the last re-noising time for notebook 1's Alg. 1
(:func:`sample_flowmap_renoise`).
"""

from __future__ import annotations

import torch
from torch import nn

from .. import validate
from ..config import NetworkConfig
from ..data import estimate_sigma_data
from ..networks import ResidualMLP, fourier_embedding
from ..parameterization import append_dims, per_row
from ..samplers import Callback


class TwoTimeMLP(ResidualMLP):
    """u_net(x, t, h): the course's residual MLP with e = SiLU(A phi(t) + B phi(h)) (Geng et al. 2025; notebook 08)."""

    def __init__(self, data_dim: int = 2, cfg: NetworkConfig = NetworkConfig()):
        super().__init__(data_dim, cfg, embed_t=fourier_embedding(cfg), embed_h=fourier_embedding(cfg))

    def embedding(self, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return nn.functional.silu(self.embed_t(t) + self.embed_h(h))


class AverageVelocity(nn.Module):
    """u(z, t, h) = s net((z - c) / s, t, h): the average velocity over [t - h, t] in data units (Geng et al. 2025, Eq. 1).

    c and s are the data's mean and pooled standard deviation, so that the noise end z_1 = c + s e matches
    the data's scale and the network sees unit-variance inputs. Introduced in notebook 08.
    """

    def __init__(self, net: nn.Module, center: torch.Tensor, scale: float):
        super().__init__()
        self.net = net
        self.register_buffer("center", torch.as_tensor(center, dtype=torch.float32).reshape(-1).clone())
        self.scale = validate.positive_float("scale", scale)

    def forward(self, z: torch.Tensor, t: torch.Tensor | float, h: torch.Tensor | float) -> torch.Tensor:
        t, h = per_row(t, z, "t"), per_row(h, z, "h")
        return self.scale * self.net((z - self.center) / self.scale, t, h)


def for_data(data: torch.Tensor, net: NetworkConfig = NetworkConfig()) -> AverageVelocity:
    """A fresh AverageVelocity for ``data``: c = mean(data), s = std(data - c), a zero-output TwoTimeMLP (notebook 08)."""
    data = validate.points_2d("data", data, dim=None)
    return AverageVelocity(TwoTimeMLP(data.shape[1], net), data.mean(0), estimate_sigma_data(data - data.mean(0)))


def interpolate(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """z_t = (1 - t) x0 + t noise (rectified flow / flow matching, Lipman et al. 2023; Liu et al. 2023; notebook 08)."""
    t = append_dims(t, x0.ndim)
    return (1 - t) * x0 + t * noise


def noise(model: AverageVelocity, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """z_1 = c + s e, e ~ N(0, I): the sampler's start, the noise end of flow matching in data units, (n, d) (notebook 08)."""
    n = validate.int_at_least("n", n, 1)
    e = torch.randn(n, model.center.numel(), generator=generator)
    return model.center + model.scale * e


def uniform_times(steps: int) -> list[float]:
    """1, 1 - 1/steps, ..., 0: equal jumps, the shortcut model's grid for steps = 2^k (Frans et al. 2024; notebook 08)."""
    steps = validate.int_at_least("steps", steps, 1)
    return [1 - i / steps for i in range(steps)] + [0.0]


def renoise_times(steps: int, t_mid: float = 0.125) -> list[float]:
    """1, then steps - 1 re-noising times t_mid, t_mid / 2, ...: on the shortcut model's grid when t_mid is (notebook 08, §9).

    The times of :func:`sample_flowmap_renoise` (Song et al. 2023, Alg. 1); notebook 08 measures the choice of t_mid.
    """
    steps = validate.int_at_least("steps", steps, 1)
    if isinstance(t_mid, bool) or not isinstance(t_mid, (int, float)) or not 0 < t_mid < 1:
        raise ValueError(f"t_mid must lie in (0, 1) (1 = noise), got {t_mid!r}")
    return [1.0] + [t_mid / 2**i for i in range(steps - 1)]


def _check_times(ts) -> torch.Tensor:
    ts = torch.as_tensor(ts, dtype=torch.float32).flatten()
    if ts.numel() < 2 or not torch.isfinite(ts).all() or ts.max() > 1 or ts.min() < 0 or not (ts[1:] < ts[:-1]).all():
        raise ValueError(f"ts must hold >= 2 strictly decreasing times in [0, 1] (1 = noise), got {ts.tolist()}")
    return ts


@torch.no_grad()
def sample_flowmap(model, x: torch.Tensor, ts, *, generator: torch.Generator | None = None,
                   callback: Callback = None) -> torch.Tensor:
    """Geng et al. 2025, Eq. 5 / Frans et al. 2024, Alg. 2: z_r = z_t - (t - r) u(z_t, t, t - r) for consecutive (t, r) in ts.

    Deterministic: ``generator`` is accepted for the common signature. ``callback`` gets
    ``{"i", "x", "t", "t_next", "denoised"}`` after each jump, ``denoised`` being the jump from t straight to 0.
    Introduced in notebook 08.
    """
    ts = _check_times(ts)
    for i in range(len(ts) - 1):
        t, r = float(ts[i]), float(ts[i + 1])
        x_next = x - (t - r) * model(x, t, t - r)
        if callback is not None:
            callback({"i": i, "x": x_next, "t": t, "t_next": r, "denoised": x - t * model(x, t, t)})
        x = x_next
    return x


@torch.no_grad()
def sample_flowmap_renoise(model, x: torch.Tensor, ts, *, generator: torch.Generator | None = None,
                           callback: Callback = None) -> torch.Tensor:
    """Song et al. 2023, Alg. 1 with a flow map: x0 <- z_t - t u(z_t, t, t), then for each next t z <- (1 - t) x0 + t (c + s e).

    Every jump goes straight to 0; fresh noise e ~ N(0, I) (from ``generator``) carries the sample back up to the
    next time. ``ts`` decreases in (0, 1]. ``callback`` gets ``{"i", "x", "t", "t_next", "denoised"}`` after each jump:
    ``x`` the point the jump started from (at ``t``), ``denoised`` where it landed (at 0), ``t_next`` the time the
    next jump starts from (0 after the last), as in :func:`trigflow.sample_trigflow`. Introduced in notebook 08.
    """
    ts = torch.as_tensor(ts, dtype=torch.float32).flatten()
    if ts.numel() < 1 or not torch.isfinite(ts).all() or ts.max() > 1 or ts.min() <= 0 or (ts[1:] >= ts[:-1]).any():
        raise ValueError(f"ts must hold >= 1 strictly decreasing times in (0, 1] (1 = noise), got {ts.tolist()}")
    times = ts.tolist()
    denoised = x
    for i, t in enumerate(times):
        if i > 0:  # back on a noising path at t, with fresh noise
            e = torch.randn(x.shape, generator=generator, dtype=x.dtype)
            x = (1 - t) * denoised + t * (model.center + model.scale * e)
        denoised = x - t * model(x, t, t)
        if callback is not None:
            callback({"i": i, "x": x, "t": t, "t_next": times[i + 1] if i + 1 < len(times) else 0.0, "denoised": denoised})
    return denoised
