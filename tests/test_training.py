"""Training loops: smoke runs, determinism, the learning-rate schedule, and (slow) that distillation helps."""

from __future__ import annotations

import math
import os

import pytest
import torch

from cmlesson import cpus, data, losses, metrics, samplers, schedules, training
from cmlesson.config import (
    AutoencoderConfig,
    ConsistencyTrainingConfig,
    DistillConfig,
    GuidedTeacherConfig,
    LCMConfig,
    LSDConfig,
    MeanFlowConfig,
    NetworkConfig,
    NoiseConfig,
    SCTConfig,
    ShortcutConfig,
    TeacherConfig,
)
from cmlesson.ema import no_target_decay
from cmlesson.frontier import guidance, latent, lcm, lsd, meanflow, shortcut, trigflow
from cmlesson.parameterization import ConsistencyFunction, EDMDenoiser

TINY = NetworkConfig(hidden=16, depth=2)
SMOKE = TeacherConfig(steps=20, batch=64, warmup=5)
AVAILABLE_CPUS = training.available_cpus


@pytest.fixture(scope="module", autouse=True)
def one_cpu():
    """side_by_side runs one run at a time here (its pool has available_cpus() threads): this machine's two cores are
    shared with the other test worker. use_available_cpus() itself is tested below, unpatched."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(training, "available_cpus", lambda: 1)
        yield


@pytest.fixture(scope="module")
def moons() -> torch.Tensor:
    return data.sample("moons", 500, seed=0)


@pytest.fixture(scope="module")
def smoke_teacher(moons) -> training.Trained:
    return training.train_teacher(moons, SMOKE, net=TINY, seed=0, progress=False)


def params(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_available_cpus_is_within_the_machine(monkeypatch):
    """1 <= available_cpus() <= os.cpu_count(), and use_available_cpus() sets torch to that many threads."""
    monkeypatch.setattr(training, "available_cpus", AVAILABLE_CPUS)  # undo one_cpu for this test
    n = training.available_cpus()
    assert 1 <= n <= (os.cpu_count() or 1)
    assert training.use_available_cpus() == n
    assert torch.get_num_threads() == n


def test_training_runs_on_train_threads_and_restores_the_count(moons):
    """Every loop trains on cpus.TRAIN_THREADS torch threads (the loss sees that count) and leaves the caller's count
    as it found it, also when the run fails; runs side by side train on TRAIN_THREADS each."""
    seen = []

    def loss_fn(step, x0):
        seen.append(torch.get_num_threads())
        return x0.sum() * 0 + torch.nn.Parameter(torch.ones(())).sum()

    model, cfg = torch.nn.Linear(1, 1), TeacherConfig(steps=3, batch=4, lr=1e-3, warmup=1)
    before = torch.get_num_threads()
    with cpus.torch_threads(2):
        training.fit(model, loss_fn, data.Pool(moons), cfg, "t", progress=False)
        assert seen == [cpus.TRAIN_THREADS] * 3
        assert torch.get_num_threads() == 2
        with pytest.raises(FloatingPointError):
            training.fit(model, lambda step, x0: torch.tensor(float("nan")), data.Pool(moons), cfg, "t", progress=False)
        assert torch.get_num_threads() == 2
        assert training.side_by_side(torch.get_num_threads, torch.get_num_threads) == [cpus.TRAIN_THREADS] * 2
    assert torch.get_num_threads() == before


class ReachedFitError(Exception):
    """Raised by the stand-in for training.fit: the trainer got as far as the loop."""


def test_every_trainer_trains_through_fit(moons, smoke_teacher, monkeypatch):
    """All nine trainers hand their model, pool and config to training.fit, so the loop, the progress bar, the thread
    count, the evaluation EMA and the timing are one piece of code (a trainer with its own loop fails here)."""
    reached = []

    def stand_in(model, loss, pool, cfg, desc, **kwargs):
        reached.append(cfg)
        raise ReachedFitError

    monkeypatch.setattr(training, "fit", stand_in)
    x, y = torch.randn(40, 3), torch.arange(40) % 10
    cond_teacher = EDMDenoiser(guidance.ConditionedMLP(3, TINY), 0.5, 0.002, 80.0)
    runs = [
        (TeacherConfig(), lambda cfg: training.train_teacher(moons, cfg, net=TINY, progress=False)),
        (DistillConfig(), lambda cfg: training.train_distillation(smoke_teacher.model, moons, cfg, progress=False)),
        (ConsistencyTrainingConfig(), lambda cfg: training.train_consistency(moons, cfg, net=TINY, progress=False)),
        (SCTConfig(), lambda cfg: trigflow.train_scm(moons, cfg, net=TINY, progress=False)),
        (ShortcutConfig(), lambda cfg: shortcut.train_shortcut(moons, cfg, net=TINY, progress=False)),
        (MeanFlowConfig(), lambda cfg: meanflow.train_meanflow(moons, cfg, net=TINY, progress=False)),
        (LSDConfig(), lambda cfg: lsd.train_lsd(moons, cfg, net=TINY, progress=False)),
        (GuidedTeacherConfig(), lambda cfg: guidance.train_conditional_teacher(x, y, cfg, net=TINY, progress=False)),
        (LCMConfig(), lambda cfg: lcm.train_lcm(cond_teacher, x, y, cfg, progress=False)),
        (AutoencoderConfig(), lambda cfg: latent.train_autoencoder(x, 2, cfg, progress=False)),
    ]
    for cfg, train in runs:
        with pytest.raises(ReachedFitError):
            train(cfg)
    assert reached == [cfg for cfg, _ in runs]


def test_teacher_smoke(smoke_teacher):
    """20 steps: 20 finite losses, a positive duration, an EDM denoiser whose EMA differs from the online weights
    and is frozen, and the data's own sigma_data."""
    t = smoke_teacher
    assert len(t.history) == 20 and all(math.isfinite(v) for v in t.history)
    assert t.seconds > 0
    assert isinstance(t.model, EDMDenoiser) and isinstance(t.online, EDMDenoiser)
    assert not torch.equal(params(t.model), params(t.online))
    assert all(not p.requires_grad for p in t.model.parameters())
    assert t.model.sigma_data == pytest.approx(data.estimate_sigma_data(data.sample("moons", 500, seed=0)))


def test_a_noise_config_without_sigma_data_is_filled_from_the_data(moons):
    """noise=NoiseConfig() means sigma_data = std(data) for every trainer that takes noise= (not a silent 0.5);
    an explicit sigma_data is kept, by the trainers and by noise_config_for."""
    estimate = data.estimate_sigma_data(moons)
    x, y = torch.randn(40, 3), torch.arange(40) % 10
    for noise, expected in ((NoiseConfig(), estimate), (NoiseConfig(sigma_data=0.3), 0.3)):
        assert training.noise_config_for(moons, noise).sigma_data == pytest.approx(expected)
        runs = (training.train_teacher(moons, TeacherConfig(steps=1, batch=8), noise=noise, net=TINY, progress=False),
                training.train_consistency(moons, ConsistencyTrainingConfig(steps=1, batch=8), noise=noise, net=TINY,
                                           progress=False))
        assert [t.model.sigma_data for t in runs] == pytest.approx([expected, expected])
    cond = guidance.train_conditional_teacher(x, y, GuidedTeacherConfig(steps=1, batch=8), noise=NoiseConfig(), net=TINY,
                                              progress=False)
    assert cond.model.sigma_data == pytest.approx(data.estimate_sigma_data(x))


def test_teacher_is_deterministic(moons, smoke_teacher):
    """The same seed gives the identical loss history and weights; another seed gives another history."""
    again = training.train_teacher(moons, SMOKE, net=TINY, seed=0, progress=False)
    assert again.history == smoke_teacher.history
    assert torch.equal(params(again.model), params(smoke_teacher.model))
    other = training.train_teacher(moons, SMOKE, net=TINY, seed=1, progress=False)
    assert other.history != smoke_teacher.history


def test_distillation_smoke(moons, smoke_teacher):
    """A few distillation steps return a frozen ConsistencyFunction with the teacher's noise range."""
    t = training.train_distillation(smoke_teacher.model, moons, DistillConfig(steps=5, batch=32, warmup=2, N=6), progress=False)
    assert len(t.history) == 5 and all(math.isfinite(v) for v in t.history)
    assert isinstance(t.model, ConsistencyFunction)
    assert (t.model.sigma_data, t.model.sigma_min, t.model.sigma_max) == (
        smoke_teacher.model.sigma_data, smoke_teacher.model.sigma_min, smoke_teacher.model.sigma_max)
    assert all(not p.requires_grad for p in t.model.parameters())
    assert all(not p.requires_grad for p in smoke_teacher.model.parameters())  # the teacher is not trained


def test_runs_side_by_side_are_the_runs_one_after_the_other(moons, smoke_teacher, monkeypatch):
    """Two distillations in two threads: the same weights, bit for bit, each in its own place in the result."""
    monkeypatch.setattr(training, "available_cpus", lambda: 2)  # two threads, whatever this fixture's one CPU
    cfgs = [DistillConfig(steps=8, batch=32, warmup=2, N=6, target_decay=mu) for mu in (0.0, 0.95)]

    def run(cfg):
        return lambda: training.train_distillation(smoke_teacher.model, moons, cfg, seed=0, progress=False)

    together = training.side_by_side(*(run(c) for c in cfgs))
    alone = [run(c)() for c in cfgs]
    for a, b in zip(together, alone, strict=True):
        assert torch.equal(params(a.model), params(b.model)) and a.history == b.history
    assert not torch.equal(params(together[0].model), params(together[1].model))  # the decays differ: not one run twice


def test_side_by_side_raises_what_a_run_raises():
    def broken():
        raise RuntimeError("loss is nan")

    with pytest.raises(RuntimeError, match="loss is nan"):
        training.side_by_side(lambda: 1, broken)
    with pytest.raises(ValueError, match="at least one run"):
        training.side_by_side()
    assert training.side_by_side(lambda: "a", lambda: "b", lambda: "c") == ["a", "b", "c"]


def test_consistency_training_smoke(moons):
    """A few consistency-training steps with the iCT choices run and give finite losses."""
    cfg = ConsistencyTrainingConfig(steps=6, batch=32, warmup=2, s0=2, s1=8)
    t = training.train_consistency(moons, cfg, curriculum=schedules.ict_curriculum, target_decay=no_target_decay,
                                   distance=losses.pseudo_huber_distance, levels=losses.lognormal_levels,
                                   weighting=losses.ict_weighting, net=TINY, progress=False)
    assert len(t.history) == 6 and all(math.isfinite(v) for v in t.history)
    assert isinstance(t.model, ConsistencyFunction)


def test_lr_schedule_endpoints():
    """Linear warm-up from lr/warmup to lr, then cosine: lr at the end of warm-up, lr/2 half-way, 0 at the end."""
    lr, steps, warmup = 1e-3, 1000, 100
    assert training.lr_at(0, steps, lr, warmup) == pytest.approx(lr / warmup)
    assert training.lr_at(49, steps, lr, warmup) == pytest.approx(lr / 2)
    assert training.lr_at(warmup - 1, steps, lr, warmup) == pytest.approx(lr)
    assert training.lr_at(warmup, steps, lr, warmup) == pytest.approx(lr)
    assert training.lr_at(warmup + (steps - warmup) // 2, steps, lr, warmup) == pytest.approx(lr / 2)
    assert training.lr_at(steps, steps, lr, warmup) == pytest.approx(0.0, abs=1e-15)
    rates = [training.lr_at(k, steps, lr, warmup) for k in range(steps + 1)]
    assert all(b > a for a, b in zip(rates[:warmup], rates[1:warmup], strict=False))
    assert all(b < a for a, b in zip(rates[warmup:], rates[warmup + 1:], strict=False))
    assert max(rates) == pytest.approx(lr)


def test_lr_schedule_without_warmup_starts_at_lr():
    """warmup = 0: the cosine starts at the full rate."""
    assert training.lr_at(0, 10, 0.5, 0) == pytest.approx(0.5)


@pytest.mark.slow
def test_distillation_improves_one_step_samples():
    """A short distillation from a short teacher brings one-step samples closer to the data (exact W1) than the
    consistency model it starts from (the teacher's backbone in the consistency parameterization)."""
    x = data.sample("moons", 2000, seed=0)
    net = NetworkConfig(hidden=32, depth=2)
    teacher = training.train_teacher(x, TeacherConfig(steps=1000, batch=256, warmup=20), net=net, progress=False).model
    start = training.consistency_model_from(teacher).eval()
    distilled = training.train_distillation(teacher, x, DistillConfig(steps=600, batch=256, warmup=20), progress=False).model
    ref = data.sample("moons", 1000, seed=99)
    z = samplers.noise(1000, 2, 80.0, torch.Generator().manual_seed(5))
    w_start = metrics.wasserstein_2d(samplers.sample_consistency(start, z, [80.0]), ref)
    w_distilled = metrics.wasserstein_2d(samplers.sample_consistency(distilled, z, [80.0]), ref)
    assert w_distilled < 0.5 * w_start  # measured: 0.20 vs 0.80


def test_consistency_training_with_a_loss_function_is_the_same_run(moons):
    """loss=... (how notebook 05 trains with the student's loss) and the built-in loss give the same run."""
    cfg = ConsistencyTrainingConfig(steps=5, batch=32, warmup=2, s0=2, s1=6)

    def my_loss(model, target_model, x0, sigmas, generator):
        return losses.consistency_training_loss(model, target_model, x0, sigmas, generator=generator)

    built_in = training.train_consistency(moons, cfg, distance=losses.l2_distance, net=TINY, seed=3, progress=False)
    passed = training.train_consistency(moons, cfg, loss=my_loss, net=TINY, seed=3, progress=False)
    assert built_in.history == passed.history
    for a, b in zip(built_in.model.parameters(), passed.model.parameters(), strict=True):
        assert torch.equal(a, b)
    other = training.train_consistency(moons, cfg, net=TINY, seed=3, progress=False)  # pseudo-Huber: a different run
    assert other.history != built_in.history
