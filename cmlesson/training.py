"""Training loops for the teacher, consistency distillation and consistency training (notebooks 02-04, 06).

Each loop is seeded, shows a tqdm progress bar, trains on ``cpus.TRAIN_THREADS`` torch thread(s) (the count is
restored afterwards), and returns a :class:`Trained` with the evaluation-EMA model and the loss history.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TypeVar

import torch
from torch import nn
from tqdm.auto import tqdm

from . import losses, schedules, validate
from .config import ConsistencyTrainingConfig, DistillConfig, NetworkConfig, NoiseConfig, TeacherConfig
from .cpus import TRAIN_THREADS, available_cpus, torch_threads
from .data import Pool, estimate_sigma_data
from .ema import EvalEMA, TargetEMA, ct_target_decay, frozen_copy
from .networks import NoiseConditionedMLP
from .parameterization import ConsistencyFunction, EDMDenoiser
from .samplers import heun_step

T = TypeVar("T")

CTLoss = Callable[[nn.Module, nn.Module, torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]


def use_available_cpus() -> int:
    """torch.set_num_threads(available_cpus()) for what follows (sampling, the benchmark); returns the count."""
    n = available_cpus()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def side_by_side(*runs: Callable[[], T]) -> list[T]:
    """Independent training runs at once, one thread each; their results in order (introduced in notebook 02).

    The course's MLP is too small to keep two cores busy, and torch's kernels release Python's lock, so runs side by
    side, on ``TRAIN_THREADS`` torch thread(s) each, finish sooner than one after the other (notebook 02 prints the
    time). The results are bit-identical to sequential runs for runs that draw every random number from their own
    seeded generators, as distillation from a teacher does; runs that initialise a network from torch's global
    generator (training from scratch) would race for it, so they are not for this.
    """
    if not runs:
        raise ValueError("side_by_side needs at least one run")
    with ThreadPoolExecutor(min(len(runs), max(1, available_cpus()))) as pool:
        return list(pool.map(_on_train_threads, runs))


def _on_train_threads(run: Callable[[], T]) -> T:
    with torch_threads(TRAIN_THREADS):
        return run()


def lr_at(step: int, steps: int, lr: float, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to zero."""
    if step < warmup:
        return lr * (step + 1) / warmup
    return lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


@dataclass
class Trained:
    """A trained model (evaluation EMA), the online weights, and what happened."""

    model: nn.Module
    online: nn.Module
    history: list[float] = field(default_factory=list)
    seconds: float = 0.0


def noise_config_for(data: torch.Tensor, noise: NoiseConfig = NoiseConfig()) -> NoiseConfig:
    """``noise`` with sigma_data replaced by the data's own estimate."""
    return replace(noise, sigma_data=estimate_sigma_data(data))


def _fit(model, loss_fn, steps, batch, lr, warmup, pool, after_step, desc, progress) -> list[float]:
    steps = validate.int_at_least("steps", steps, 1)
    batch = validate.int_at_least("batch", batch, 1)
    validate.positive_float("lr", lr)
    with torch_threads(TRAIN_THREADS):
        opt = torch.optim.Adam(model.parameters(), lr=lr, foreach=True)  # the per-tensor update's numbers in fewer calls
        history = []
        bar = tqdm(range(steps), desc=desc, disable=not progress, mininterval=0.5)
        for step in bar:
            for group in opt.param_groups:
                group["lr"] = lr_at(step, steps, lr, warmup)
            loss = loss_fn(step, pool.batch(batch))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{desc}: loss became {loss.item()} at step {step}; lower lr (now {lr})")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            after_step(step)
            history.append(loss.item())
            if step % 50 == 0:
                bar.set_postfix(loss=f"{history[-1]:.4g}", refresh=False)
    return history


def _pool(data: torch.Tensor, seed: int) -> Pool:
    return Pool(validate.points_2d("data", data, dim=None), seed=seed)


def train_teacher(
    data: torch.Tensor, cfg: TeacherConfig = TeacherConfig(), *, noise: NoiseConfig | None = None,
    net: NetworkConfig = NetworkConfig(), seed: int = 0, progress: bool = True,
) -> Trained:
    """Train the EDM diffusion teacher D(x, sigma) on ``data`` (Karras et al. 2022); introduced in notebook 02."""
    pool = _pool(data, seed)
    noise = noise or noise_config_for(pool.points)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    model = EDMDenoiser(NoiseConditionedMLP(pool.points.shape[1], net), noise.sigma_data, noise.sigma_min, noise.sigma_max)
    ema = EvalEMA(model, 0.999)
    start = time.perf_counter()
    history = _fit(
        model, lambda step, x0: losses.edm_loss(model, x0, cfg.P_mean, cfg.P_std, gen),
        cfg.steps, cfg.batch, cfg.lr, cfg.warmup, pool, lambda step: ema.update(model), "teacher", progress,
    )
    return Trained(ema.model, model, history, time.perf_counter() - start)


def consistency_model_from(teacher: EDMDenoiser) -> ConsistencyFunction:
    """A consistency function whose backbone starts as a copy of the teacher's (Song et al. 2023, Sec. 5: CD init)."""
    return ConsistencyFunction(frozen_copy(teacher.backbone).train().requires_grad_(True),
                               teacher.sigma_data, teacher.sigma_min, teacher.sigma_max)


def train_distillation(
    teacher: EDMDenoiser, data: torch.Tensor, cfg: DistillConfig = DistillConfig(), *, rho: float = NoiseConfig.rho,
    ode_step=heun_step, seed: int = 0, progress: bool = True,
) -> Trained:
    """Consistency distillation from ``teacher`` (Song et al. 2023, Alg. 2); introduced in notebook 02."""
    pool = _pool(data, seed)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    teacher = frozen_copy(teacher)
    model = consistency_model_from(teacher)
    target, ema = TargetEMA(model), EvalEMA(model, cfg.eval_decay)
    sigmas = schedules.karras_sigmas(cfg.N, model.sigma_min, model.sigma_max, rho)

    def loss_fn(step, x0):
        return losses.consistency_distillation_loss(model, target.model, teacher, x0, sigmas, ode_step=ode_step, generator=gen)

    def after_step(step):
        target.update(model, cfg.target_decay)
        ema.update(model)

    start = time.perf_counter()
    history = _fit(model, loss_fn, cfg.steps, cfg.batch, cfg.lr, cfg.warmup, pool, after_step, "distill", progress)
    return Trained(ema.model, model, history, time.perf_counter() - start)


def train_consistency(
    data: torch.Tensor, cfg: ConsistencyTrainingConfig = ConsistencyTrainingConfig(), *,
    curriculum: Callable[..., int] = schedules.ct_curriculum, target_decay: Callable[..., float] = ct_target_decay,
    distance: losses.Distance = losses.pseudo_huber_distance, levels: losses.LevelSampler = losses.uniform_levels,
    weighting: losses.Weighting = losses.uniform_weighting, loss: CTLoss | None = None, init: nn.Module | None = None,
    noise: NoiseConfig | None = None, net: NetworkConfig = NetworkConfig(), seed: int = 0, progress: bool = True,
) -> Trained:
    """Consistency training without a teacher (Song et al. 2023, Alg. 3); introduced in notebook 03.

    At step k the grid has N = curriculum(k, K, s0, s1) Karras levels and the target decay is
    target_decay(N, s0, mu0). ``init`` (a teacher or consistency model) copies its backbone first.
    ``loss(model, target_model, x0, sigmas, generator)`` replaces losses.consistency_training_loss and
    its distance, levels and weighting (notebook 05, Exercise 1, trains with the student's own loss).
    The distance defaults to pseudo-Huber (Song & Dhariwal 2023): in a 3,000-step run on two moons it
    brought 2-step samples from ~2.9x to ~1.9x the noise floor compared with L2 (pass l2_distance for the
    original paper's choice).
    """
    pool = _pool(data, seed)
    noise = noise or noise_config_for(pool.points)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    if init is not None:
        backbone = frozen_copy(init.backbone).train().requires_grad_(True)
    else:
        backbone = NoiseConditionedMLP(pool.points.shape[1], net)
    model = ConsistencyFunction(backbone, noise.sigma_data, noise.sigma_min, noise.sigma_max)
    target, ema = TargetEMA(model), EvalEMA(model, cfg.eval_decay)
    grids: dict[int, torch.Tensor] = {}

    def grid(step: int) -> torch.Tensor:
        N = curriculum(step, cfg.steps, cfg.s0, cfg.s1)
        if N not in grids:
            grids[N] = schedules.karras_sigmas(N, noise.sigma_min, noise.sigma_max, noise.rho)
        return grids[N]

    def loss_fn(step, x0):
        if loss is not None:
            return loss(model, target.model, x0, grid(step), gen)
        return losses.consistency_training_loss(
            model, target.model, x0, grid(step), distance=distance, levels=levels, weighting=weighting, generator=gen)

    def after_step(step):
        target.update(model, target_decay(len(grid(step)), cfg.s0, cfg.mu0))
        ema.update(model)

    start = time.perf_counter()
    history = _fit(model, loss_fn, cfg.steps, cfg.batch, cfg.lr, cfg.warmup, pool, after_step, "consistency training", progress)
    return Trained(ema.model, model, history, time.perf_counter() - start)


def distillation_step(model: nn.Module, target: TargetEMA, ema: EvalEMA, optimizer: torch.optim.Optimizer,
                      loss_fn: Callable[[nn.Module, nn.Module, torch.Tensor], torch.Tensor], x0: torch.Tensor,
                      target_decay: float) -> float:
    """One step of Algorithm 2 as :func:`train_distillation` takes it (notebook 02's exercise); returns the loss.

    ``loss_fn(model, target_model, x0)`` draws the levels and the noise itself (the teacher, the grid and the
    generator are bound in it). The optimizer steps the online model; then the target EMA and the evaluation EMA
    follow the new weights.
    """
    loss = loss_fn(model, target.model, x0)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"distillation: loss became {loss.item()}; lower the learning rate")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    target.update(model, target_decay)
    ema.update(model)
    return loss.item()
