"""Guided consistency distillation with skipping steps: Latent Consistency Models (Luo et al. 2023), notebook 09.

LCM (arXiv:2310.04378, Alg. 1) is consistency distillation (Song et al. 2023, arXiv:2303.01469, Alg. 2) with
three changes, each a function here:

* the teacher's ODE step uses the guided denoiser D_w of :mod:`cmlesson.frontier.guidance` (a "guided" ODE);
* the consistency model f(x, sigma, label, w) is conditioned on the class and on w, so one model serves every
  guidance scale (w drawn per sample from [w_min, w_max]);
* skipping steps: the teacher jumps k levels of the grid at once, sigmas[i] -> sigmas[i + k], so consistency
  has k times fewer links to carry from sigma_min up to sigma_max (k = 1 is plain CD).

The diffusion runs in a latent space (:mod:`cmlesson.frontier.latent`); nothing here depends on it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .. import schedules, training, validate
from ..config import LCMConfig, NoiseConfig
from ..ema import TargetEMA, frozen_copy
from ..losses import Distance, l2_distance
from ..parameterization import ConsistencyFunction, EDMDenoiser, append_dims
from ..samplers import heun_step, sample_consistency
from .guidance import ConditionedMLP, Guided, labelled_pool, split_batch


class Bound(nn.Module):
    """f(x, sigma, label, w) at a fixed label and w, as a plain ``model(x, sigma)`` (Luo et al. 2023; notebook 09)."""

    def __init__(self, model: ConsistencyFunction, label: torch.Tensor | int, w):
        super().__init__()
        self.model, self.label, self.w = model, label, w
        self.sigma_data, self.sigma_min, self.sigma_max = model.sigma_data, model.sigma_min, model.sigma_max

    def forward(self, x: torch.Tensor, sigma) -> torch.Tensor:
        return self.model(x, sigma, self.label, self.w)


def skipping_pairs(sigmas: torch.Tensor, n: int, skip: int,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(sigmas[i], sigmas[i + k]), i ~ U{0, ..., N-1-k}: skipping-step pairs (Luo et al. 2023, Sec. 4.3; notebook 09)."""
    skip = validate.int_at_least("skip", skip, 1)
    if skip >= len(sigmas):
        raise ValueError(f"skip must be below the grid's {len(sigmas)} levels, got {skip}")
    i = torch.randint(0, len(sigmas) - skip, (n,), generator=generator)
    return sigmas[i], sigmas[i + skip]


def guided_teacher_step(teacher: nn.Module, x: torch.Tensor, sigma_hi, sigma_lo, label, w, ode_step=heun_step) -> torch.Tensor:
    """One ODE step sigma_hi -> sigma_lo with the guided denoiser D_w (Luo et al. 2023, Eq. 12; Heun here; notebook 09)."""
    return ode_step(Guided(teacher, label, w), x, sigma_hi, sigma_lo)


@torch.no_grad()
def lcm_target(target_model: nn.Module, teacher: nn.Module, x_hi: torch.Tensor, sigma_hi, sigma_lo, label, w,
               ode_step=heun_step) -> torch.Tensor:
    """f_theta-(x_lo, sigma_lo, label, w), x_lo = guided teacher step from x_hi (Luo et al. 2023, Alg. 1; notebook 09)."""
    x_lo = guided_teacher_step(teacher, x_hi, sigma_hi, sigma_lo, label, w, ode_step)
    return target_model(x_lo, sigma_lo, label, w)


def lcm_loss(model: nn.Module, target_model: nn.Module, teacher: nn.Module, x0: torch.Tensor, labels: torch.Tensor,
             sigmas: torch.Tensor, *, skip: int, w_min: float, w_max: float, distance: Distance = l2_distance,
             ode_step=heun_step, generator: torch.Generator | None = None) -> torch.Tensor:
    """E d(f_theta(x_hi, sigma_hi, c, w), lcm_target), x_hi = x0 + sigma_hi z, w ~ U[w_min, w_max] (Luo et al. 2023, Alg. 1).

    Introduced in notebook 09.
    """
    if not 0 <= w_min <= w_max:
        raise ValueError(f"need 0 <= w_min <= w_max, got {w_min}, {w_max}")
    sigma_hi, sigma_lo = skipping_pairs(sigmas, x0.shape[0], skip, generator)
    x_hi = x0 + append_dims(sigma_hi, x0.ndim) * torch.randn(x0.shape, generator=generator)
    w = w_min + (w_max - w_min) * torch.rand(x0.shape[0], generator=generator)
    target = lcm_target(target_model, teacher, x_hi, sigma_hi, sigma_lo, labels, w, ode_step)
    return distance(model(x_hi, sigma_hi, labels, w), target).mean()


def consistency_model_from(teacher: EDMDenoiser, max_guidance: float) -> ConsistencyFunction:
    """f initialised with the teacher's weights plus a zero-initialised w embedding (Luo et al. 2023, Sec. 4.2; notebook 09)."""
    old = teacher.backbone
    backbone = ConditionedMLP(old.inp.in_features, old.cfg, old.n_classes, guidance_embedding=True, max_guidance=max_guidance)
    missing, unexpected = backbone.load_state_dict(old.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("guidance.") for k in missing), (missing, unexpected)
    return ConsistencyFunction(backbone, teacher.sigma_data, teacher.sigma_min, teacher.sigma_max)


def train_lcm(teacher: EDMDenoiser, x: torch.Tensor, labels: torch.Tensor, cfg: LCMConfig = LCMConfig(), *,
              rho: float = NoiseConfig.rho, seed: int = 0, progress: bool = True,
              callback: Callable[[int, nn.Module], None] | None = None) -> training.Trained:
    """Guided consistency distillation with skipping steps (Luo et al. 2023, arXiv:2310.04378, Alg. 1); notebook 09.

    ``callback(step, eval_model)``, if given, is called after every step with the step count so far (1, 2, ...) and
    the evaluation-EMA model: a hook to measure quality during training (its time counts in ``seconds``).
    """
    pool, gen = labelled_pool(x, labels, seed), training.seeded(seed)
    teacher = frozen_copy(teacher)
    model = consistency_model_from(teacher, max(cfg.w_max, 1.0))
    target = TargetEMA(model)
    sigmas = schedules.karras_sigmas(cfg.N, model.sigma_min, model.sigma_max, rho)

    def loss(step: int, batch: torch.Tensor) -> torch.Tensor:
        x0, y = split_batch(batch)
        return lcm_loss(model, target.model, teacher, x0, y, sigmas, skip=cfg.skip, w_min=cfg.w_min, w_max=cfg.w_max,
                        generator=gen)

    def after_step(step: int, eval_model: nn.Module) -> None:
        target.update(model, cfg.target_decay)
        if callback is not None:
            callback(step + 1, eval_model)

    return training.fit(model, loss, pool, cfg, f"LCM (k = {cfg.skip})", after_step=after_step, progress=progress)


def sample_guided_consistency(model: ConsistencyFunction, x: torch.Tensor, sigmas, label, w, *,
                              generator: torch.Generator | None = None) -> torch.Tensor:
    """Multistep consistency sampling (Song et al. 2023, Alg. 1) of f(., ., label, w) (notebook 09)."""
    return sample_consistency(Bound(model, label, w), x, sigmas, generator=generator)
