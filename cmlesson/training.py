"""The course's training loop and its trainers: the teacher, consistency distillation and training (notebooks 02-04, 06).

Every trainer, here and in :mod:`cmlesson.frontier`, is a seeded prologue (:class:`cmlesson.data.Pool`, :func:`seeded`),
a model and a loss, handed to :func:`fit`: one loop with a tqdm progress bar, ``cpus.TRAIN_THREADS`` torch thread(s)
(the count is restored afterwards), the evaluation EMA and the timing, returning a :class:`Trained`.
"""

from __future__ import annotations

import math
import time
from collections import Counter
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
    """torch.set_num_threads(available_cpus()) for what follows (sampling, the benchmark); returns the count (notebook 02)."""
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
    """lr (k + 1) / warmup for k < warmup, then lr (1 + cos(pi (k - warmup) / (steps - warmup))) / 2: warm-up, cosine decay.

    Goyal et al. 2017 (warm-up), Loshchilov & Hutter 2017 (cosine); notebook 02.
    """
    if step < warmup:
        return lr * (step + 1) / warmup
    return lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


@dataclass
class Trained:
    """What :func:`fit` returns: the model to sample from (evaluation EMA), the online weights, losses, seconds (notebook 02)."""

    model: nn.Module
    online: nn.Module
    history: list[float] = field(default_factory=list)
    seconds: float = 0.0


def noise_config_for(data: torch.Tensor, noise: NoiseConfig = NoiseConfig()) -> NoiseConfig:
    """``noise`` with sigma_data = std(data) if it is None (Karras et al. 2022, Sec. 5); a number is kept. Notebook 02."""
    return noise if noise.sigma_data is not None else replace(noise, sigma_data=estimate_sigma_data(data))


def seeded(seed: int) -> torch.Generator:
    """torch.manual_seed(seed) for the network's initial weights; returns the run's own generator, seeded seed + 1.

    Every trainer calls it before it builds its network (notebook 02): its noise and levels come from the generator.
    """
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed + 1)


def optimizer_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, what: str = "training") -> float:
    """zero_grad, backward, step on a finite ``loss``: one step of Adam (Kingma & Ba 2015) in :func:`fit` (notebook 02).

    Returns the loss's value; a loss that is not finite raises FloatingPointError instead.
    """
    if not torch.isfinite(loss):
        lr = optimizer.param_groups[0]["lr"]
        raise FloatingPointError(f"{what}: loss became {loss.item()}; lower the learning rate (now {lr:.3g})")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


def fit(model: nn.Module, loss: Callable[[int, torch.Tensor], torch.Tensor], pool: Pool, cfg, desc: str, *,
        after_step: Callable[[int, nn.Module], None] | None = None, progress: bool = True) -> Trained:
    """The course's one training loop (notebook 02): Adam on ``loss(step, batch)``, lr_at's warm-up and cosine decay.

    ``cfg`` gives steps, batch (rows drawn from ``pool``), lr, warmup and eval_decay: the ceiling of the evaluation
    EMA (:class:`cmlesson.ema.EvalEMA`) that ``Trained.model`` holds, or None for the last weights, frozen. The loop
    runs on ``cpus.TRAIN_THREADS`` torch thread(s) behind a tqdm bar named ``desc``; ``after_step(step, eval_model)``
    runs after each step and the EMA's update (target networks, measurements). ``seconds`` times it all.
    """
    steps = validate.int_at_least("steps", cfg.steps, 1)
    batch = validate.int_at_least("batch", cfg.batch, 1)
    lr = validate.positive_float("lr", cfg.lr)
    start = time.perf_counter()
    ema = EvalEMA(model, cfg.eval_decay) if cfg.eval_decay is not None else None
    eval_model = model if ema is None else ema.model  # updated in place
    with torch_threads(TRAIN_THREADS):
        opt = torch.optim.Adam(model.parameters(), lr=lr, foreach=True)  # the per-tensor update's numbers in fewer calls
        history = []
        bar = tqdm(range(steps), desc=desc, disable=not progress, mininterval=0.5)
        for step in bar:
            for group in opt.param_groups:
                group["lr"] = lr_at(step, steps, lr, cfg.warmup)
            history.append(optimizer_step(opt, loss(step, pool.batch(batch)), f"{desc} at step {step}"))
            if ema is not None:
                ema.update(model)
            if after_step is not None:
                after_step(step, eval_model)
            if step % 50 == 0:
                bar.set_postfix(loss=f"{history[-1]:.4g}", refresh=False)
    if ema is None:
        model.eval().requires_grad_(False)
    return Trained(eval_model, model, history, time.perf_counter() - start)


def train_teacher(
    data: torch.Tensor, cfg: TeacherConfig = TeacherConfig(), *, noise: NoiseConfig = NoiseConfig(),
    net: NetworkConfig = NetworkConfig(), seed: int = 0, progress: bool = True,
) -> Trained:
    """The EDM diffusion teacher D(x, sigma), trained by the EDM loss (Karras et al. 2022, Eq. 8); notebook 02."""
    pool, gen = Pool(data, seed), seeded(seed)
    noise = noise_config_for(pool.points, noise)
    model = EDMDenoiser(NoiseConditionedMLP(pool.points.shape[1], net), noise.sigma_data, noise.sigma_min, noise.sigma_max)
    return fit(model, lambda step, x0: losses.edm_loss(model, x0, cfg.P_mean, cfg.P_std, gen), pool, cfg, "teacher",
               progress=progress)


def consistency_model_from(teacher: EDMDenoiser) -> ConsistencyFunction:
    """A consistency function whose backbone starts as a copy of the teacher's (Song et al. 2023, Sec. 5; notebook 02)."""
    return ConsistencyFunction(frozen_copy(teacher.backbone).train().requires_grad_(True),
                               teacher.sigma_data, teacher.sigma_min, teacher.sigma_max)


def train_distillation(
    teacher: EDMDenoiser, data: torch.Tensor, cfg: DistillConfig = DistillConfig(), *, rho: float = NoiseConfig.rho,
    ode_step=heun_step, distance: losses.Distance = losses.l2_distance, seed: int = 0, progress: bool = True,
) -> Trained:
    """Consistency distillation from ``teacher`` on a Karras grid of cfg.N levels (Song et al. 2023, Alg. 2); notebook 02.

    ``distance``: the paper's squared L2 by default; losses.pseudo_huber_distance is Song & Dhariwal 2023's."""
    pool, gen = Pool(data, seed), seeded(seed)
    teacher = frozen_copy(teacher)
    model = consistency_model_from(teacher)
    target = TargetEMA(model)
    sigmas = schedules.karras_sigmas(cfg.N, model.sigma_min, model.sigma_max, rho)

    def loss(step, x0):
        return losses.consistency_distillation_loss(model, target.model, teacher, x0, sigmas, ode_step=ode_step,
                                                    distance=distance, generator=gen)

    return fit(model, loss, pool, cfg, "distill", after_step=lambda step, _: target.update(model, cfg.target_decay),
               progress=progress)


def train_consistency(
    data: torch.Tensor, cfg: ConsistencyTrainingConfig = ConsistencyTrainingConfig(), *,
    curriculum: Callable[..., int] = schedules.ct_curriculum, target_decay: Callable[..., float] = ct_target_decay,
    distance: losses.Distance = losses.pseudo_huber_distance, levels: losses.LevelSampler = losses.uniform_levels,
    weighting: losses.Weighting = losses.uniform_weighting, loss: CTLoss | None = None, init: nn.Module | None = None,
    noise: NoiseConfig = NoiseConfig(), net: NetworkConfig = NetworkConfig(), seed: int = 0, progress: bool = True,
) -> Trained:
    """Consistency training without a teacher (Song et al. 2023, Alg. 3); introduced in notebook 03.

    At step k the grid has N = curriculum(k, K, s0, s1) Karras levels and the target decay is
    target_decay(N, s0, mu0). ``init`` (a teacher or consistency model) copies its backbone first.
    ``loss(model, target_model, x0, sigmas, generator)`` replaces losses.consistency_training_loss and
    its distance, levels and weighting (notebook 05, Exercise 1, trains with the student's own loss).
    The distance defaults to pseudo-Huber (Song & Dhariwal 2023); pass l2_distance for the original paper's
    choice (notebook 06 compares them).
    """
    pool, gen = Pool(data, seed), seeded(seed)
    noise = noise_config_for(pool.points, noise)
    if init is not None:
        backbone = frozen_copy(init.backbone).train().requires_grad_(True)
    else:
        backbone = NoiseConditionedMLP(pool.points.shape[1], net)
    model = ConsistencyFunction(backbone, noise.sigma_data, noise.sigma_min, noise.sigma_max)
    target = TargetEMA(model)
    grids: dict[int, torch.Tensor] = {}

    def grid(step: int) -> torch.Tensor:
        N = curriculum(step, cfg.steps, cfg.s0, cfg.s1)
        if N not in grids:
            grids[N] = schedules.karras_sigmas(N, noise.sigma_min, noise.sigma_max, noise.rho)
        return grids[N]

    def step_loss(step, x0):
        if loss is not None:
            return loss(model, target.model, x0, grid(step), gen)
        return losses.consistency_training_loss(
            model, target.model, x0, grid(step), distance=distance, levels=levels, weighting=weighting, generator=gen)

    def after_step(step, _):
        target.update(model, target_decay(len(grid(step)), cfg.s0, cfg.mu0))

    return fit(model, step_loss, pool, cfg, "consistency training", after_step=after_step, progress=progress)


def levels_drawn(cfg: ConsistencyTrainingConfig, noise: NoiseConfig, *, levels: losses.LevelSampler = losses.uniform_levels,
                 curriculum: Callable[..., int] = schedules.ct_curriculum, seed: int = 0, dim: int = 2) -> Counter:
    """{sigma_i: how often} for the higher level of every pair :func:`train_consistency` draws with these arguments.

    Replays the run's generator without training (notebook 06 counts the levels of runs it loads): per step, the
    levels of the batch, then its noise z of shape (batch, dim), as losses.consistency_training_loss draws them.
    """
    gen, grids, drawn = torch.Generator().manual_seed(seed + 1), {}, {}  # seeded()'s generator
    for step in range(cfg.steps):
        N = curriculum(step, cfg.steps, cfg.s0, cfg.s1)
        if N not in grids:
            grids[N] = schedules.karras_sigmas(N, noise.sigma_min, noise.sigma_max, noise.rho)
            drawn[N] = torch.zeros(N - 1, dtype=torch.int64)  # draws per pair index on grid N
        drawn[N] += torch.bincount(levels(grids[N], cfg.batch, gen), minlength=N - 1)
        torch.randn((cfg.batch, dim), generator=gen)  # z: drawn, not used
    counts = Counter()
    for N, k in drawn.items():
        index = k.nonzero()[:, 0]
        counts.update(dict(zip(grids[N][index].tolist(), k[index].tolist(), strict=True)))
    return counts


def distillation_step(model: nn.Module, target: TargetEMA, ema: EvalEMA, optimizer: torch.optim.Optimizer,
                      loss_fn: Callable[[nn.Module, nn.Module, torch.Tensor], torch.Tensor], x0: torch.Tensor,
                      target_decay: float) -> float:
    """One step of Song et al. 2023's Alg. 2 as :func:`train_distillation` takes it (notebook 02's exercise); returns the loss.

    ``loss_fn(model, target_model, x0)`` draws the levels and the noise itself (the teacher, the grid and the
    generator are bound in it). The optimizer steps the online model; then the target EMA and the evaluation EMA
    follow the new weights.
    """
    value = optimizer_step(optimizer, loss_fn(model, target.model, x0), "distillation")
    target.update(model, target_decay)
    ema.update(model)
    return value
