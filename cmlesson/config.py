"""Every default of the course in one place: small dataclasses, a reason on each field.

Introduced in notebook 01 (noise levels) and 02-04 (training). Functions take one of these objects
instead of repeating defaults; change a field with ``dataclasses.replace(cfg, field=value)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import validate


@dataclass(frozen=True)
class NoiseConfig:
    """The noise range shared by teacher, consistency model and samplers (Karras et al. 2022; notebook 01)."""

    sigma_min: float = 0.002  # epsilon of Song et al. 2023: the boundary where f(x, sigma_min) = x
    sigma_max: float = 80.0  # large enough that x + sigma_max z is indistinguishable from pure noise
    rho: float = 7.0  # Karras schedule curvature: spends more levels at low noise, where detail forms
    sigma_data: float | None = None  # std of the data; None: training.noise_config_for estimates it from the data

    def __post_init__(self) -> None:
        validate.sigma_range(self.sigma_min, self.sigma_max)
        validate.positive_float("rho", self.rho)
        if self.sigma_data is not None:
            validate.positive_float("sigma_data", self.sigma_data)


@dataclass(frozen=True)
class NetworkConfig:
    """Size of the MLP backbone (cmlesson.networks; notebook 01): small enough for a 2-core CPU, large enough for 2-D sets."""

    hidden: int = 192  # width: 128 left the teacher at ~1.25x the noise floor, 256 x 3 layers was no better
    depth: int = 4  # hidden layers (residual); fewer blur the moons' tips
    emb_dim: int = 32  # Fourier features of c_noise(sigma) fed to every layer
    max_freq: float = 2.0  # highest embedding frequency: a consistency model is trained on a grid of levels
    #                        and must interpolate between them; at 16, f(x, sigma) off the grid was garbage

    def __post_init__(self) -> None:
        validate.int_at_least("hidden", self.hidden, 1)
        validate.int_at_least("depth", self.depth, 1)
        validate.int_at_least("emb_dim", self.emb_dim, 2)
        validate.positive_float("max_freq", self.max_freq)


@dataclass(frozen=True)
class TeacherConfig:
    """EDM diffusion teacher (Karras et al. 2022, Table 1), shortened for a CPU (notebook 02)."""

    steps: int = 3000  # Adam steps; more steps beat bigger batches at a fixed CPU budget
    batch: int = 1000  # drawn from a pre-sampled pool (fast on a CPU)
    lr: float = 3e-3  # peak rate after warm-up
    warmup: int = 100  # linear warm-up steps, then cosine decay to 0
    P_mean: float = -1.2  # ln sigma ~ N(P_mean, P_std^2): EDM's training distribution of levels ...
    P_std: float = 1.6  # ... widened from EDM's 1.2 so the high levels the sampler starts from get trained
    eval_decay: float = 0.999  # ceiling of the ramped evaluation EMA (samples come from it)


@dataclass(frozen=True)
class DistillConfig:
    """Consistency distillation (Song et al. 2023, Algorithm 2), shortened for a CPU (notebook 02)."""

    steps: int = 2250  # Adam steps; each costs two teacher calls (Heun) besides the student's
    batch: int = 667  # pairs per step: the pairs of 1,500 steps of 1,000, in more and smaller steps (README's ablation)
    lr: float = 5e-3  # the teacher's start is a good one, yet 1e-3 to 3e-3 left quality behind (README's ablation)
    warmup: int = 100  # linear warm-up steps, then cosine decay to 0
    N: int = 36  # Karras levels the teacher steps between: a Heun step's error falls with the gap (18 was worse)
    target_decay: float = 0.95  # mu of the target EMA (the paper's ImageNet value); 0 was far worse here
    eval_decay: float = 0.999  # ceiling of the ramped evaluation EMA (samples come from it)


@dataclass(frozen=True)
class ConsistencyTrainingConfig:
    """Consistency training from scratch (Song et al. 2023, Alg. 3), shortened for a CPU (notebook 03)."""

    steps: int = 3000  # Adam steps, as for the teacher (the time is measured by `make bench`)
    batch: int = 1000  # pairs per step, as for the teacher
    lr: float = 3e-3  # 1e-3 left 2-step samples at ~3x the noise floor in 3,000 steps; 3e-3 reached ~1.9x
    warmup: int = 100  # linear warm-up steps, then cosine decay to 0
    s0: int = 2  # curriculum N(k) starts with this many levels ...
    s1: int = 40  # ... and ends with s1 + 1. The paper's 150 is for 10^5+ steps: consistency must climb the whole grid
    #               within the run, and at 151 levels the target EMA (mu -> 0.9986) follows slowly (notebook 03)
    mu0: float = 0.9  # target EMA at the start of the curriculum: mu(k) = exp(s0 ln(mu0) / N(k))
    eval_decay: float = 0.999  # ceiling of the ramped evaluation EMA, as in distillation


@dataclass(frozen=True)
class ScoreConfig:
    """The yardstick of every notebook, the benchmark and the widgets (cmlesson.yardstick, notebook 01)."""

    n: int = 2000  # points per sample set and per reference set, as in the lesson's figures
    seeds: int = 5  # sampling seeds, each against its own reference: every score prints its standard error (notebook 05
    #                 prints the seed-to-seed spread), paired differences cancel the shared noise, and each more seed
    #                 costs every score one more W1 at n = 2000


@dataclass(frozen=True)
class BenchConfig:
    """What `python -m cmlesson bench` measures."""

    score: ScoreConfig = ScoreConfig(seeds=20)  # the course's yardstick with 4x the notebooks' sampling seeds: a
    #                                            standard error half theirs (1/sqrt(seeds)), to tell 1.2x from 1.3x;
    #                                            `bench --seeds N` asks for fewer
    teacher_steps: int = 18  # Heun steps of the teacher (EDM's 18 levels, 35 evaluations)


@dataclass(frozen=True)
class ShortcutConfig:
    """Shortcut model from scratch (Frans et al. 2024), shortened for a CPU (notebook 08)."""

    steps: int = 2740  # Adam steps: notebook 06's 2,500-step budget at 0.9 of an iCT step's cost each (a prototype's ratio)
    batch: int = 1000  # as every course run
    lr: float = 3e-3  # the course's rate (2e-3: 1.63x against 1.54x the floor at one step); the paper's 1e-4 is for 10^5+ steps
    warmup: int = 100  # linear warm-up steps, then cosine decay to 0
    bootstrap_share: float = 0.5  # share of the batch with self-consistency targets (0.25: 1.65x against 1.54x at one step)
    levels: int = 7  # trained jumps 2h = 1, 1/2, ..., 1/64 (the paper's 128-step grid)
    target_decay: float = 0.0  # EMA of the bootstrap target; 0 = the online net under stop-gradient (the paper's 0.999 is
    #                            notebook 04's slow-target trap in a short run: 5.8x the floor in a prototype)
    eval_decay: float = 0.999  # ceiling of the ramped evaluation EMA, as for every course model


@dataclass(frozen=True)
class SCTConfig:
    """Continuous-time consistency training, sCT (Lu & Song 2024, Alg. 1), shortened for a CPU (notebook 08)."""

    steps: int = 1515  # Adam steps: notebook 06's 2,500-step budget at 1.65 iCT steps each (the JVP; a prototype's ratio)
    batch: int = 1000  # as every course run
    lr: float = 3e-3  # the course's rate; the paper's 1e-4 (RAdam) is for 10^5 steps from a pretrained net
    warmup: int = 100  # linear warm-up steps, then cosine decay to 0
    # ln sigma ~ N(P_mean, P_std^2) in data units, t = arctan(sigma / sigma_d) (Lu & Song 2024, Alg. 1). The paper's
    # (-1.0, 1.4) is for CIFAR-10 with sigma_d = 0.5: ln tan t ~ N(-1.0 - ln 0.5, 1.4). The course draws
    # ln tan t ~ N(-1.0, 1.4) instead, lower levels: P_mean = -1.0 + ln sigma_d (-1.35 for two moons, sigma_d = 0.707),
    # chosen on two moons outside the notebooks, where P_mean = -1.0 left one-step samples at 4.5x the floor.
    P_mean: float = -1.35
    P_std: float = 1.4
    c: float = 0.1  # tangent normalisation g / (||g|| + c), the paper's constant (||g|| the root mean square here)
    tangent_warmup: int = 500  # steps over which the unstable tangent term ramps in (the paper's 10k, scaled to the run)
    eval_decay: float = 0.999  # ceiling of the ramped evaluation EMA, as for every course model


@dataclass(frozen=True)
class MeanFlowConfig:
    """MeanFlow from scratch (Geng et al. 2025, Alg. 1), shortened for a CPU (notebook 08)."""

    steps: int = 1490  # Adam steps: notebook 06's 2,500-step budget at 1.68 iCT steps each (the JVP; a prototype's ratio)
    batch: int = 1000  # as every course run
    lr: float = 3e-3  # the course's rate
    warmup: int = 100  # linear warm-up steps, then cosine decay to 0
    P_mean: float = -2.0  # t, r ~ logit-normal(P_mean, P_std): the paper's CIFAR-10 setting; its ImageNet
    P_std: float = 2.0  # (-0.4, 1.0) almost never draws t near 1, where one-step sampling starts
    ratio: float = 0.75  # share of the batch with r != t (the rest is plain flow matching), the paper's CIFAR-10 value
    p: float = 0.75  # adaptive weight 1 / (||err||^2 + c)^p, the paper's CIFAR-10 power
    c: float = 1e-3  # ... and its constant
    eval_decay: float = 0.999  # ceiling of the ramped evaluation EMA, as for every course model


@dataclass(frozen=True)
class LSDConfig:
    """Lagrangian self-distillation from scratch (Boffi, Albergo & Vanden-Eijnden 2025), shortened for a CPU (notebook 10)."""

    steps: int = 1925  # Adam steps: notebook 06's 2,500-step budget at 1.3 iCT steps each (the JVP on a quarter of
    #                    the batch; measured at 0.78 of a MeanFlow step, 1.68, in one process on the 2-core machine)
    batch: int = 1000  # as every course run
    lr: float = 3e-3  # the course's rate
    warmup: int = 100  # linear warm-up steps, then cosine decay to 0
    diagonal_share: float = 0.75  # share of the batch trained by flow matching on the diagonal (a prototype's 3/4)
    eval_decay: float = 0.999  # ceiling of the ramped evaluation EMA, as for every course model


@dataclass(frozen=True)
class DriftingConfig:
    """Drifting model from scratch (Deng et al. 2026), shortened for a CPU (notebook 11)."""

    steps: int = 900  # Adam steps: priced at about 3 shortcut steps each under load; on a quiet machine a step at
    #                   batch 1,000 costs under 2 (notebook 11, section 4): less compute than the shortcut model's
    batch: int = 1000  # generated points, and as many data points, per step: the drift costs batch^2
    lr: float = 3e-3  # the course's rate
    warmup: int = 100  # linear warm-up steps, then cosine decay to 0
    temperature: float = 0.05  # T of the kernel exp(-||a - b|| / T), in the data's units
    eval_decay: float = 0.999  # ceiling of the ramped evaluation EMA, as for every course model


@dataclass(frozen=True)
class GuidedTeacherConfig:
    """Class-conditional EDM teacher with label dropout (Ho & Salimans 2022), in a PCA latent (notebook 09)."""

    steps: int = 1000  # Adam steps: a 500-step prototype already read 97.6% of its w = 1 samples as the requested digit
    batch: int = 256  # from 1,438 training digits, as notebook 07
    lr: float = 2e-3  # notebook 07's rate for the digits teacher
    warmup: int = 100  # linear warm-up steps, then cosine decay to 0
    P_mean: float = -1.2  # ln sigma ~ N(P_mean, P_std^2), as the course's teacher
    P_std: float = 1.6  # ... widened from EDM's 1.2, as the course's teacher
    uncond_share: float = 0.2  # p_uncond: share of each batch trained with the "no label" token (the paper's 0.1-0.2)
    eval_decay: float = 0.999  # ceiling of the ramped evaluation EMA, as for every course model


@dataclass(frozen=True)
class LCMConfig:
    """Guided consistency distillation with skipping steps (Luo et al. 2023, Alg. 1), shortened for a CPU (notebook 09)."""

    steps: int = 600  # Adam steps; each costs two guided teacher calls (Heun), i.e. four teacher evaluations. A 300-step
    #                  prototype read >= 97% of 2-step samples at w = 2 as requested; notebook 09 must run in 3 minutes
    batch: int = 256  # pairs per step, as for the teacher
    lr: float = 1e-3  # as the digits' distillation (checkpoints.DIGITS_CD): the student starts from the teacher's weights
    warmup: int = 100  # linear warm-up steps, then cosine decay to 0
    N: int = 40  # levels of the Karras grid; the teacher steps k of them at once
    skip: int = 4  # k, the skipping interval: one teacher step from sigmas[i] to sigmas[i + k]; 10 jumps span the
    #                40 levels. Notebook 09 measures it against k = 1 after 100, 300 and 600 steps
    w_min: float = 0.0  # guidance scales drawn uniformly from [w_min, w_max] per sample: one model for every w ...
    w_max: float = 4.0  # ... up to 4 (w = 1 is plain conditional sampling)
    target_decay: float = 0.95  # mu of the target EMA, as course distillation
    eval_decay: float = 0.999  # ceiling of the ramped evaluation EMA, as for every course model


@dataclass(frozen=True)
class AutoencoderConfig:
    """A tiny MLP autoencoder (Hinton & Salakhutdinov 2006) for the digits' latent space, PCA's rival (notebook 09)."""

    hidden: int = 128  # one hidden layer each side: kept 92% of held-out variance at 20 numbers in notebook 09 (PCA: 89%)
    steps: int = 1000  # Adam steps: about 6 s on 2 shared cores in notebook 09; 2,000 added about one point in a prototype
    batch: int = 256  # from 1,438 training digits, as the teacher
    lr: float = 3e-3  # peak rate after warm-up, as the course's teachers
    warmup: int = 50  # linear warm-up steps, then cosine decay to 0
    eval_decay: float | None = None  # no evaluation EMA: the codec is the last weights
