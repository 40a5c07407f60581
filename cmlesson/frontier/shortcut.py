"""Shortcut models (Frans, Hafner, Levine & Abbeel 2024): one jump of 2h equals two jumps of h (notebook 08).

The network is the average velocity u(z, t, h) of :mod:`cmlesson.frontier.flowmap`. Part of each batch learns
flow matching (h = 0, target e - x); the rest learns self-consistency, u(z_t, t, 2h) = (u(z_t, t, h) +
u(z', t - h, h)) / 2 with z' = z_t - h u(z_t, t, h), the target computed without gradient. In time the
one-step generator u(., 1, 1) is built from ever shorter jumps, down to the flow-matching velocity.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import training, validate
from ..config import NetworkConfig, ShortcutConfig
from ..data import Pool
from ..ema import TargetEMA
from ..parameterization import append_dims
from . import flowmap


def step_levels(n: int, levels: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Frans et al. 2024, Sec. 3 (notebook 08): the trained jump 2h = 2^-k, k ~ Uniform{0, ..., levels - 1}: (n,) float."""
    levels = validate.int_at_least("levels", levels, 1)
    k = torch.randint(0, levels, (n,), generator=generator)
    return 2.0 ** (-k.float())


def grid_times(jump: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """t = j jump, j ~ Uniform{1, ..., 1 / jump}: start times on the jump's grid (Frans et al. 2024, Sec. 3; notebook 08)."""
    j = torch.floor(torch.rand(jump.shape, generator=generator) / jump) + 1  # 1 .. 1/jump
    return (j * jump).clamp(max=1.0)


def shortcut_target(model: nn.Module, z: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Frans et al. 2024, Eq. 5 (notebook 08): the target of u(z, t, 2h), sg[(u(z, t, h) + u(z', t - h, h)) / 2], z' = z - h u."""
    with torch.no_grad():
        u1 = model(z, t, h)
        u2 = model(z - append_dims(h, z.ndim) * u1, t - h, h)
    return (u1 + u2) / 2


def shortcut_loss(model: nn.Module, target_model: nn.Module, x0: torch.Tensor, bootstrap_share: float, levels: int,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Frans et al. 2024, Eq. 6: E ||u(z_t, t, 0) - (e - x0)||^2 + E ||u(z_t, t, 2h) - shortcut_target||^2, one batch split.

    The first ``bootstrap_share`` of the batch gets self-consistency targets (from ``target_model``: the
    online model for a plain stop-gradient), the rest flow-matching pairs with t ~ U(0, 1). The squared error
    is summed over coordinates in units of the data's scale (the noise's), and averaged over the batch. Notebook 08.
    """
    n = x0.shape[0]
    nb = int(round(validate.fraction("bootstrap_share", bootstrap_share, closed_right=True) * n))
    e = torch.randn(x0.shape, generator=generator)
    noise = model.center + model.scale * e
    jump = step_levels(nb, levels, generator)
    t = torch.cat([grid_times(jump, generator), torch.rand(n - nb, generator=generator)])
    h = torch.cat([jump, torch.zeros(n - nb)])  # the jump the online model is asked for: 2h (bootstrap) or 0 (FM)
    z = flowmap.interpolate(x0, noise, t)
    target = torch.cat([shortcut_target(target_model, z[:nb], t[:nb], jump / 2), (noise - x0)[nb:]])
    return ((model(z, t, h) - target) / model.scale).pow(2).sum(1).mean()


def train_shortcut(data: torch.Tensor, cfg: ShortcutConfig = ShortcutConfig(), *, net: NetworkConfig = NetworkConfig(),
                   seed: int = 0, progress: bool = True) -> training.Trained:
    """A shortcut model trained from scratch by shortcut_loss (Frans et al. 2024, Alg. 1) in training.fit; notebook 08."""
    pool, gen = Pool(data, seed), training.seeded(seed)
    model = flowmap.for_data(pool.points, net)
    target = TargetEMA(model) if cfg.target_decay > 0 else None

    def loss(step, x0):
        return shortcut_loss(model, target.model if target else model, x0, cfg.bootstrap_share, cfg.levels, gen)

    after_step = (lambda step, _: target.update(model, cfg.target_decay)) if target else None
    return training.fit(model, loss, pool, cfg, "shortcut", after_step=after_step, progress=progress)
