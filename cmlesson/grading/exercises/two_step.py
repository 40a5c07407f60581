"""Notebook 01, Exercise 1.3 (design): the intermediate level tau of 2-step consistency sampling (Song et al. 2023, Alg. 1).

The student chooses ``two_step_tau``, the level the first jump's answer is re-noised to before the second jump of
the shipped distilled model. The judge draws 2-step samples at the student's level and at the course's default
(``samplers.multistep_sigmas(2, ...)``) from the same start noise, re-noising noise and reference for each seed
(common random numbers), and scores the choice by exact W1 against a fresh two-moons reference: not worse than the
default beyond the noise is full marks. A level whose second jump hardly moves the points is told so without any
statistics: W1 cannot change by more than the mean distance the points moved.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from ._judging import Result, checkpoints, data, metrics, ok, preamble, reported, samplers, wrong
from ._kernel import Exercise, is_placeholder, safely

EXERCISE = Exercise("two_step", 2, "01", "Exercise 1.3: the intermediate level of 2-step sampling", ("two_step_tau",), rank=3)


# --- kernel side -----------------------------------------------------------------------------------------------

def _describe(value) -> dict:
    """What the student's value is, as JSON: ``{"tau": float}`` for a real number, else its type and a glimpse."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        return {"tau": float(value)}
    found: dict = {"type": type(value).__name__}
    if isinstance(value, (torch.Tensor, np.ndarray)):
        found["shape"] = [int(n) for n in value.shape]
        try:
            flat = value.detach().cpu().double().flatten() if isinstance(value, torch.Tensor) else np.asarray(value).ravel()
            found["values"] = [float(v) for v in flat[:4]]
        except (TypeError, ValueError, RuntimeError):
            pass
    elif isinstance(value, (list, tuple)):
        found["length"] = len(value)
        numbers = [v for v in value[:6] if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(numbers) == min(len(value), 6):
            found["values"] = [float(v) for v in numbers]
    else:
        found["text"] = repr(value)[:60]
    return {"not_a_number": found}


def evaluate(tau) -> dict:
    """two_step_tau as a number (the grader samples and measures W1 itself), or what it is instead."""

    def body() -> dict:
        if type(tau) is float and is_placeholder(tau):  # the stub's placeholder is a float; a small int is a
            return {"stub": True}                       # shared object that another stub may have returned
        return _describe(tau)

    return safely(EXERCISE, body)


# --- judge side ------------------------------------------------------------------------------------------------

N_POINTS, SEEDS = 2000, 6  # the course's sample size (W1 resolves the moons' sharpness there), sampling seeds
SAMPLE_SEED, REF_SEED, OTHER_SEED = 4_000, 40_000, 41_000  # fresh: not the training pool, not notebook 01's seeds
NOISE = 2.0  # a difference is beyond the noise when it exceeds NOISE standard errors (paired over the seeds)
MATTERS = 0.05  # ... and it matters only if it is also larger than this share of the noise floor
STILL = 0.1  # a second jump that moves the points by less than STILL x floor on average changes nothing measurable


@lru_cache(maxsize=1)
def model():
    """The shipped distilled consistency model (what notebook 01 samples from)."""
    return checkpoints.load("cd", progress=False)


def default_tau() -> float:
    """The course's intermediate level for 2 steps: samplers.multistep_sigmas(2, ...)[1]."""
    m = model()
    return float(samplers.multistep_sigmas(2, m.sigma_min, m.sigma_max, m.sigma_data)[1])


@lru_cache(maxsize=1)
def references() -> tuple[torch.Tensor, ...]:
    """One fresh two-moons reference of N_POINTS per seed."""
    return tuple(data.sample("moons", N_POINTS, seed=REF_SEED + s) for s in range(SEEDS))


@lru_cache(maxsize=1)
def floor() -> float:
    """The noise floor at N_POINTS, the scale the W1s are reported in: metrics.noise_floor, as notebook 01 computes it."""
    return metrics.noise_floor(lambda n, seed: data.sample("moons", n, seed=seed), n=N_POINTS)


@lru_cache(maxsize=16)
def measure(tau: float) -> tuple[tuple[float, ...], float]:
    """(W1 of the 2-step samples per seed, mean distance the second jump moved the points), levels [sigma_max, tau].

    Seed s draws the start noise and the re-noising noise from one generator seeded SAMPLE_SEED + s and is measured
    against references()[s], for every tau alike: the differences between two levels are paired."""
    m, w1, moved = model(), [], []
    for s, ref in enumerate(references()):
        g = torch.Generator().manual_seed(SAMPLE_SEED + s)
        first: list[torch.Tensor] = []
        keep = (lambda step, first=first: first.append(step["denoised"]) if step["i"] == 0 else None)
        x = samplers.sample_consistency(m, samplers.noise(N_POINTS, 2, m.sigma_max, g), [m.sigma_max, tau],
                                        generator=g, callback=keep)
        w1.append(metrics.wasserstein_2d(x, ref))
        moved.append(float((x - first[0]).norm(dim=1).mean()))
    return tuple(w1), float(np.mean(moved))


def _se(values: np.ndarray) -> float:
    return float(values.std(ddof=1) / math.sqrt(len(values)))


def _invalid(found: dict, smin: float, smax: float) -> str:
    allowed = f"a float strictly between sigma_min = {smin:g} and sigma_max = {smax:g}, e.g. two_step_tau = 1.0"
    kind, values = found.get("type", "?"), found.get("values")
    if kind in ("Tensor", "ndarray"):
        shape = tuple(found.get("shape", ()))
        if values and int(np.prod(shape)) == 1:
            return (f"two_step_tau is a {kind} ({values[0]:.4g}), not a float: write a plain Python number, e.g. "
                    f"two_step_tau = float(...) or .item(); expected {allowed}")
        return f"two_step_tau is a {kind} of shape {shape}: the exercise asks for one level, {allowed}"
    if kind in ("list", "tuple"):
        return (f"two_step_tau is a {kind} of {found.get('length')} items: give only the intermediate level (the "
                f"sampler's levels are then [sigma_max, two_step_tau]), {allowed}")
    return f"two_step_tau is {found.get('text', kind)} ({kind}): expected {allowed}"


def judge(outputs: dict) -> Result:
    """Valid level, then W1 of its 2-step samples against the default's, paired over SEEDS seeds."""
    if (r := preamble(EXERCISE, outputs)) is not None:
        return r
    m = model()
    smin, smax = float(m.sigma_min), float(m.sigma_max)
    if "not_a_number" in outputs:
        return wrong(EXERCISE, _invalid(outputs["not_a_number"], smin, smax))
    tau = float(outputs["tau"])
    if not math.isfinite(tau) or not smin < tau < smax:
        where = ("at or below sigma_min: Alg. 1 re-noises by sqrt(tau^2 - sigma_min^2), which needs tau > sigma_min"
                 if math.isfinite(tau) and tau <= smin else
                 "at or above sigma_max: the model knows no level above it, and the second jump must start lower than "
                 "the first" if math.isfinite(tau) else "not a finite number")
        return wrong(EXERCISE, f"two_step_tau = {tau:g} is {where}; choose a float strictly between sigma_min = {smin:g} "
                     f"and sigma_max = {smax:g}")
    base = default_tau()
    yours, moved = measure(tau)
    theirs, _ = measure(base)
    a, b, fl = np.asarray(yours), np.asarray(theirs), floor()
    diff = a - b
    d, se = float(diff.mean()), _se(diff)
    beyond = abs(d) > NOISE * se
    numbers = (f"W1 of 2-step samples, {SEEDS} seeds x {N_POINTS} points against fresh two-moons data (noise floor "
               f"{fl:.4f}):\n  your tau = {tau:.4g}: {a.mean() / fl:.3f}x +- {_se(a) / fl:.3f}x the floor\n"
               f"  the course's default tau = {base:.4g}: {b.mean() / fl:.3f}x +- {_se(b) / fl:.3f}x\n"
               f"  yours - default = {d / fl:+.3f}x +- {se / fl:.3f}x the floor (paired: same start noise, re-noising "
               f"noise and reference per seed): {'beyond' if beyond else 'within'} the noise ({NOISE:g} standard errors)")
    if abs(tau - base) <= 1e-9 * base:
        return ok(EXERCISE, f"tau = {tau:.4g} is the course's default level: full marks\n{numbers}")
    if moved < STILL * fl:
        return wrong(EXERCISE, f"tau = {tau:.4g} is so close to sigma_min = {smin:g} that the second jump changes nothing: it "
                     f"moved the points by {moved:.2g} on average ({moved / fl:.2g}x the floor), and W1 cannot change by "
                     f"more than the points move; re-noising adds only sqrt(tau^2 - sigma_min^2) = "
                     f"{math.sqrt(tau**2 - smin**2):.2g}, and near the boundary f(x, tau) ~ x: two evaluations for the "
                     f"one-step samples. Re-noise to a level comparable with the first jump's errors\n{numbers}", 1)
    if beyond and d > MATTERS * fl:
        if tau > base:
            why = (f"too high: the second jump starts from x + sqrt(tau^2 - sigma_min^2) z, where the first jump's answer "
                   f"x (spread sigma_data = {m.sigma_data:.2f}) is buried under noise {tau:.3g} (signal-to-noise "
                   f"{m.sigma_data / tau:.2g}): the second jump starts almost from scratch and forgets what the first "
                   "one got right")
        else:
            why = (f"too low: the noise added, {math.sqrt(tau**2 - smin**2):.2g}, is small against the first jump's "
                   "errors, so the second jump cannot move stray points back onto the moons; it returns most of its input")
        return wrong(EXERCISE, f"tau = {tau:.4g} is worse than the default beyond the noise, {why}\n{numbers}", 1)
    if d > MATTERS * fl:
        verdict = (f"worse than the default by {d / fl:.2f}x the floor, but within the noise of {SEEDS} seeds: full marks "
                   "(more seeds could still tell them apart)")
    elif d > 0 and beyond:
        verdict = (f"worse than the default by {d / fl:.3f}x the floor: beyond the noise, but less than {MATTERS:g}x the "
                   "floor, a difference that does not matter: full marks")
    elif d > 0:
        verdict = f"as good as the default within the noise (worse by {d / fl:.3f}x the floor): full marks"
    else:
        verdict = (f"better than the default by {-d / fl:.2f}x the floor, "
                   f"{'beyond' if beyond else 'within'} the noise: full marks")
    return ok(EXERCISE, f"tau = {tau:.4g}: {verdict}\n{numbers}")


def check(tau) -> Result:
    """Notebook 01, Exercise 1.3: two_step_tau (a float), measured on the shipped distilled model."""
    return reported(EXERCISE, judge(evaluate(tau)))
