"""Notebook 05, Exercise 5.1b: the student's teacher-free model (consistency training, Song et al. 2023, Alg. 3),
sampled by the grader and scored by the course's yardstick (:mod:`cmlesson.yardstick`).

What the student hands in is ``ex1_model``, the consistency model they trained (the object, e.g. ``ex1_run.model``
of ``training.train_consistency``): a callable ``ex1_model(x, sigma)`` that maps a batch ``x`` of shape ``(n, 2)``
at noise level ``sigma`` (a number or an ``(n,)`` tensor) to ``n`` points, with the attributes ``sigma_min``,
``sigma_max`` and ``sigma_data``, which must be the course's (``training.noise_config_for`` of the training pool).
The grader draws ``EX1_STEPS``-step samples of it with its own seeds and the course's sampler
(:func:`cmlesson.samplers.consistency_sampler`: noise of std ``sigma_max``, then Alg. 1 at
:func:`cmlesson.samplers.multistep_sigmas`), re-implemented here in plain torch because this part runs in the
student's kernel. Before that it probes the model: a model that is not a function of its input noise (the same
output for every noise, different outputs for the same input, outputs that depend on the other points of the
batch, or that jump under a tiny change of the input) cannot score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from ._judging import Result, arr, checkpoints, data, metrics, np_, ok, preamble, reported, samplers, training, wrong, yardstick
from ._kernel import Exercise, call, floats, gen, is_placeholder, safely

EXERCISE = Exercise("ct_training", 2, "05", "Exercise 5.1b: your teacher-free model", ("ex1_model",), rank=2)
EX1_STEPS = 3  # the consistency steps the grader samples with
CT_SAMPLES = 2000  # points per sample set (ScoreConfig.n)
CT_SEED = 20_231  # the grader's sampling seeds: CT_SEED, CT_SEED + 1, ... (one per yardstick seed)
ATTRS = ("sigma_min", "sigma_max", "sigma_data")  # what the grader reads from ex1_model
NUDGE = 1e-4  # the probe's small change of the input, in units of the level sigma
OLD_NAME = "ex1_samples"  # what the exercise graded before it graded the model


class UnscorableError(Exception):
    """ex1_model cannot be scored; the message says why, ``kind`` groups it in the class report."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


# --- kernel side -----------------------------------------------------------------------------------------------

def kernel_args(arrays: dict) -> tuple[list[float], list[float], list[int]]:
    """The levels, the course's (sigma_min, sigma_max, sigma_data) and the sampling seeds, from the grader's arrays."""
    return ([float(s) for s in arrays["levels"]], [float(v) for v in arrays["noise"]],
            [int(s) for s in arrays["seeds"]])


def missing_note(student: dict) -> dict:
    """Said when ex1_model is not defined: whether the notebook still sets the samples the exercise used to grade."""
    return {"old_name": OLD_NAME} if OLD_NAME in student else {}


def _outputs(model, x: torch.Tensor, sigma) -> torch.Tensor:
    """model(x, sigma) on a copy of x, checked: a float tensor of x's shape, finite."""
    out = call(model, x.clone(), sigma)
    level = f"{float(sigma):.3g}"
    if not isinstance(out, torch.Tensor):
        raise UnscorableError(f"ex1_model(x, sigma) returned {type(out).__name__}, expected a tensor of the shape of x",
                       "wrong interface")
    if tuple(out.shape) != tuple(x.shape):
        raise UnscorableError(f"ex1_model(x, sigma) returned shape {tuple(out.shape)} for x of shape {tuple(x.shape)} at "
                       f"sigma = {level}: a consistency model maps each point to one point", "wrong interface")
    out = out.detach().to(torch.float32)
    if not torch.isfinite(out).all():
        bad = int((~torch.isfinite(out)).any(dim=1).sum())
        raise UnscorableError(f"ex1_model returns NaN or inf for {bad} of {len(out)} points at sigma = {level}: training "
                       "diverged (lower the learning rate)", "not finite")
    return out


def _sample(model, levels: list[float], sigma_min: float, seed: int, calls: list | None = None) -> torch.Tensor:
    """``samplers.consistency_sampler(model, CT_SAMPLES, len(levels))(gen(seed))``, the same numbers: noise of std
    levels[0], then Alg. 1 (re-noised to tau with sqrt(tau^2 - sigma_min^2) z). Records (x, sigma, out) in calls."""
    s = torch.tensor(levels, dtype=torch.float32)
    g = gen(seed)
    x = levels[0] * torch.randn(CT_SAMPLES, 2, generator=g)
    out = _outputs(model, x, s[0])
    if calls is not None:
        calls.append((x, s[0], out))
    for tau in s[1:].tolist():
        z = torch.randn(x.shape, generator=g, dtype=x.dtype)
        x = out + (tau**2 - sigma_min**2) ** 0.5 * z
        out = _outputs(model, x, tau)
        if calls is not None:
            calls.append((x, tau, out))
    return out


def _probe(model, x: torch.Tensor, sigma, out: torch.Tensor) -> None:
    """Is ``out = model(x, sigma)`` a function of x, point by point? Raises a UnscorableError that says what is not."""
    level = f"{float(sigma):.3g}"
    spread = float(out.std(dim=0).mean())
    tol = 1e-5 * (1 + float(out.abs().max()))
    if not torch.allclose(_outputs(model, x, sigma), out, rtol=0, atol=tol):
        raise UnscorableError("ex1_model returns different outputs for the same input: it draws its own randomness (a model "
                       "in training mode with dropout does too); the grader draws the noise, the model maps it",
                       "draws its own randomness")
    perm = torch.randperm(len(x), generator=gen(1))
    shuffled = _outputs(model, x[perm], sigma)
    moved = float((shuffled - out).norm(dim=1).median())
    if moved <= 0.05 * spread or spread <= tol:
        raise UnscorableError("ex1_model gives the same output for every input noise: it ignores its noise (a sampler's "
                       f"points come from the noise it is given; at sigma = {level} other noise moved its outputs by "
                       f"{moved:.3g}, their spread is {spread:.3g})", "ignores its noise")
    half = len(x) // 2
    nudged = x.clone()
    nudged[:half] += NUDGE * float(sigma) * torch.randn(half, x.shape[1], generator=gen(2))
    out2 = _outputs(model, nudged, sigma)
    if not (torch.allclose(shuffled, out[perm], rtol=0, atol=tol)
            and torch.allclose(out2[half:], out[half:], rtol=0, atol=tol)):
        raise UnscorableError("ex1_model's output for a point changes when other points of the batch change: a consistency "
                       "model maps each point on its own", "mixes the batch")
    jump = float((out2[:half] - out[:half]).norm(dim=1).median())
    if jump > 0.1 * spread:
        raise UnscorableError(f"a change of {NUDGE:g} sigma in its input noise moves ex1_model's output by {jump:.3g} (at "
                       f"sigma = {level}; the spread of its outputs is {spread:.3g}): it is not a continuous function of "
                       "its noise", "not continuous in its noise")


def evaluate(model, levels: list[float], noise: list[float], seeds: list[int]) -> dict:
    """``ex1_model`` probed, then sampled with the course's ``levels`` for each of ``seeds``: the samples as floats
    (the grader measures W1 itself), or ``{"problem", "kind"}`` if it cannot be scored."""

    def body() -> dict:
        if is_placeholder(model):
            return {"stub": True}
        try:
            if isinstance(model, (torch.Tensor, np.ndarray)):
                raise UnscorableError(f"ex1_model is an array of shape {tuple(model.shape)}: Exercise 5.1b grades the model "
                               "you trained (the object, ex1_run.model), not samples", "samples handed in, not the model")
            if not callable(model):
                raise UnscorableError(f"ex1_model is a {type(model).__name__}, expected the consistency model you trained "
                               "(the object, ex1_run.model): called as ex1_model(x, sigma)", "wrong interface")
            values = {}
            for attr, course in zip(ATTRS, noise, strict=True):
                v = getattr(model, attr, None)
                if isinstance(v, torch.Tensor) and v.numel() == 1:
                    v = v.item()
                if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                    raise UnscorableError(f"ex1_model has no number {attr} (got {type(v).__name__}): the grader samples it "
                                   f"the course's way, from its {', '.join(ATTRS)}", "wrong interface")
                if not math.isclose(float(v), course, rel_tol=1e-3):
                    raise UnscorableError(f"ex1_model.{attr} = {float(v):.4g}, the course's is {course:.4g} "
                                   "(training.noise_config_for(pool)): the grader starts every model from noise of std "
                                   "sigma_max at the course's levels", "not the course's noise levels")
                values[attr] = float(v)
            with torch.no_grad():
                calls: list = []
                samples = [_sample(model, levels, values["sigma_min"], seeds[0], calls)]
                for x, sigma, out in calls:
                    _probe(model, x, sigma, out)
                samples += [_sample(model, levels, values["sigma_min"], s) for s in seeds[1:]]
        except UnscorableError as problem:
            return {"problem": str(problem), "kind": problem.kind}
        return {"samples": [floats(x, "ex1_model") for x in samples]}

    return safely(EXERCISE, body)


# --- judge side ------------------------------------------------------------------------------------------------

CT_PASS, CT_PARTIAL = 3.0, 6.0  # W1 / noise floor (mean over the yardstick's seeds): full marks, half marks


def ref(n: int, seed: int) -> torch.Tensor:
    """The data the yardstick measures against: fresh two-moons points."""
    return data.sample("moons", n, seed=seed)


@dataclass(frozen=True)
class CtAssets:
    """The course's noise levels, the levels of an EX1_STEPS-step sample and the grader's sampling seeds."""

    noise: tuple[float, float, float]  # sigma_min, sigma_max, sigma_data
    levels: tuple[float, ...]
    seeds: tuple[int, ...]

    def kernel_arrays(self) -> dict[str, np.ndarray]:
        return {"levels": np.asarray(self.levels, dtype=np.float64), "noise": np.asarray(self.noise, dtype=np.float64),
                "seeds": np.asarray(self.seeds, dtype=np.int64)}


@lru_cache(maxsize=1)
def grader_assets() -> CtAssets:
    """The levels of samplers.multistep_sigmas for the course's noise config, and ScoreConfig.seeds seeds."""
    noise = training.noise_config_for(checkpoints.training_data())
    config = (float(noise.sigma_min), float(noise.sigma_max), float(noise.sigma_data))
    levels = tuple(samplers.multistep_sigmas(EX1_STEPS, *config))
    return CtAssets(config, levels, tuple(CT_SEED + s for s in range(yardstick.ScoreConfig.seeds)))


def judge(outputs: dict, assets: CtAssets | None = None) -> Result:
    """W1 / floor of the grader's samples of ex1_model, seed s against the yardstick's reference of seed s."""
    if outputs.get("missing") and outputs.get("old_name"):
        return wrong(EXERCISE, f"ex1_model is not defined, {outputs['old_name']} is: Exercise 5.1b now grades the model "
                     "you trained (set ex1_model = ex1_run.model), and the grader draws its samples itself",
                     kind="samples handed in, not the model")
    if (r := preamble(EXERCISE, outputs)) is not None:
        return r
    if outputs.get("problem"):
        return wrong(EXERCISE, outputs["problem"], kind=outputs.get("kind", ""))
    assets = assets or grader_assets()
    xs = [arr(s) for s in outputs["samples"]]
    if len(xs) != len(assets.seeds) or any(x.shape != (CT_SAMPLES, 2) for x in xs):
        return wrong(EXERCISE, "could not be evaluated: the grader's samples are malformed",
                     kind="could not be evaluated")
    score = yardstick.ratios([metrics.wasserstein_2d(x, ref(CT_SAMPLES, yardstick.REF_SEED + s))
                              for s, x in enumerate(xs)], ref, CT_SAMPLES)
    head = (f"W1 / noise floor = {score} over {len(xs)} sampling seeds of the grader, {EX1_STEPS} steps at the "
            f"course's levels; full marks at <= {CT_PASS:g}x, half marks at <= {CT_PARTIAL:g}x")
    if score.ratio <= CT_PASS:
        return ok(EXERCISE, head)
    r = np_(ref(CT_SAMPLES, yardstick.REF_SEED))
    spread = float(xs[0].std(axis=0).mean() / r.std(axis=0).mean())
    shift = float(np.linalg.norm(xs[0].mean(axis=0) - r.mean(axis=0)))
    hint = (f"its samples spread {spread:.2f}x as wide as the data, mean off by {shift:.3f}: train longer, check the "
            "loss (online on the higher level) and hand in the EMA model")
    return wrong(EXERCISE, f"{head}\n{hint}", 1 if score.ratio <= CT_PARTIAL else 0, kind="too far from the data")


def check(model) -> Result:
    """Notebook 05, Exercise 5.1b: ex1_model, sampled and scored the grader's way."""
    assets = grader_assets()
    return reported(EXERCISE, judge(evaluate(model, *kernel_args(assets.kernel_arrays())), assets))
