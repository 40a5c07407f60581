"""Notebook 01, Exercise 1.3 (design): the intermediate level tau of 2-step consistency sampling (Song et al. 2023, Alg. 1).

The student measures the course's default level (``samplers.multistep_sigmas(2, ...)[1]``) and a scan of levels up
to near sigma_max, compares each with the default *paired* (the same seeds, start noise, re-noising noise and
references), and decides by a rule: switch from the default only to a level whose gain over it in the scan exceeds
``SCAN_BAR`` = 3 standard errors of the paired difference, else keep the default. They return the level they ship,
``two_step_tau``, and the reason, ``two_step_reason``, one of :data:`REASONS`.

The judge checks that the decision and its reason agree with each other and with the evidence it recomputes on
seeds and references of its own (common random numbers again): a switch must show a gain beyond the noise on those
fresh seeds too, a level worse than the default or one whose second jump changes nothing is named, and keeping
the default needs the reason that no gain was beyond the noise.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from ._judging import Result, checkpoints, data, metrics, ok, preamble, reported, samplers, wrong, yardstick
from ._kernel import Exercise, is_placeholder, safely

EXERCISE = Exercise("two_step", 2, "01", "Exercise 1.3: the intermediate level of 2-step sampling",
                    ("two_step_tau", "two_step_reason"), rank=3)
SWITCH, KEEP = "beyond the noise", "within the noise"
REASONS = {SWITCH: "two_step_tau's paired gain over the default is beyond the noise, so you switch to it",
           KEEP: "no level's paired gain over the default is beyond the noise, so you keep the default"}


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


def evaluate(tau, reason) -> dict:
    """two_step_tau as a number (the grader samples and measures W1 itself), or what it is instead, and the reason."""

    def body() -> dict:
        if type(tau) is float and is_placeholder(tau):  # the stub's placeholder is a float; a small int is a
            return {"stub": True}                       # shared object that another stub may have returned
        said = reason if isinstance(reason, str) else {"type": type(reason).__name__, "text": repr(reason)[:60]}
        return {**_describe(tau), "reason": said}

    return safely(EXERCISE, body)


# --- judge side ------------------------------------------------------------------------------------------------

N_POINTS, SEEDS = 2000, 6  # the course's sample size (W1 resolves the moons' sharpness there), sampling seeds
SAMPLE_SEED, REF_SEED, OTHER_SEED = 4_000, 40_000, 41_000  # fresh: not the training pool, not notebook 01's seeds
SCAN_BAR = 3.0  # the rule's bar for the student's scan, in standard errors: the course's usual 2 is too low for the
#                best of several levels on 5 seeds (a standard error from 4 degrees of freedom; a winner picked for its luck)
NOISE = 2.0  # the grader's bar on its fresh seeds: one level, chosen before these seeds were drawn
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


def _moons(n: int, seed: int) -> torch.Tensor:
    """The notebook's reference sampler (two moons, i.i.d.)."""
    return data.sample("moons", n, seed=seed)


@lru_cache(maxsize=16)
def notebook_score(tau: float):
    """The yardstick's score of the 2-step samples at [sigma_max, tau] on the notebook's own seeds and references
    (what the student's scan measured, draw for draw): a yardstick.Score, paired with every other level's."""
    m = model()

    def sample(g: torch.Generator) -> torch.Tensor:
        return samplers.sample_consistency(m, samplers.noise(N_POINTS, 2, m.sigma_max, g), [m.sigma_max, tau], generator=g)

    return yardstick.score(sample, _moons, N_POINTS)


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


def _bad_reason(said) -> str | None:
    """Why ``two_step_reason`` is not one of REASONS, or None if it is."""
    if isinstance(said, str) and said in REASONS:
        return None
    shown = repr(said) if isinstance(said, str) else f"{said.get('text', '?')} ({said.get('type', '?')})"
    close = isinstance(said, str) and said.strip().lower().rstrip(".") in REASONS
    options = "; ".join(f"{k!r}: {v}" for k, v in REASONS.items())
    return (f"two_step_reason is {shown}{' (mind the spaces, case and final dot)' if close else ''}: write one of "
            f"the two reasons exactly, {options}")


def _numbers(tau: float, base: float, a: np.ndarray | None, b: np.ndarray, fl: float) -> str:
    """The grader's own measurement, as the report's last lines."""
    head = f"the grader's measurement, {SEEDS} fresh seeds x {N_POINTS} points (noise floor {fl:.4f}):"
    default = f"the course's default tau = {base:.4g}: {b.mean() / fl:.3f}x +- {_se(b) / fl:.3f}x the floor"
    if a is None:
        return f"{head}\n  {default}"
    gain = b - a
    beyond = abs(gain.mean()) > NOISE * _se(gain)
    return (f"{head}\n  your tau = {tau:.4g}: {a.mean() / fl:.3f}x +- {_se(a) / fl:.3f}x the floor\n  {default}\n"
            f"  gain of yours over the default = {gain.mean() / fl:+.3f}x +- {_se(gain) / fl:.3f}x the floor (paired: "
            f"same start noise, re-noising noise and reference per seed): {'beyond' if beyond else 'within'} the "
            f"noise ({NOISE:g} standard errors)")


def judge(outputs: dict) -> Result:
    """A valid level and reason, then the decision against the evidence the grader measures on its own seeds:
    keep the default for "within the noise"; switch for "beyond the noise" only to a level whose paired gain over
    the default is beyond the noise on fresh seeds too."""
    if (r := preamble(EXERCISE, outputs)) is not None:
        return r
    m = model()
    smin, smax = float(m.sigma_min), float(m.sigma_max)
    if "not_a_number" in outputs:
        return wrong(EXERCISE, _invalid(outputs["not_a_number"], smin, smax), kind="two_step_tau is not a float")
    tau = float(outputs["tau"])
    if not math.isfinite(tau) or not smin < tau < smax:
        where = ("at or below sigma_min: Alg. 1 re-noises by sqrt(tau^2 - sigma_min^2), which needs tau > sigma_min"
                 if math.isfinite(tau) and tau <= smin else
                 "at or above sigma_max: the model knows no level above it, and the second jump must start lower than "
                 "the first" if math.isfinite(tau) else "not a finite number")
        return wrong(EXERCISE, f"two_step_tau = {tau:g} is {where}; choose a float strictly between sigma_min = {smin:g} "
                     f"and sigma_max = {smax:g}", kind="two_step_tau out of range")
    if (why := _bad_reason(outputs.get("reason"))) is not None:
        return wrong(EXERCISE, why, kind="two_step_reason not one of the two")
    reason, base, fl = outputs["reason"], default_tau(), floor()
    b = np.asarray(measure(base)[0])
    if abs(tau - base) <= 1e-9 * base:
        if reason == KEEP:
            return ok(EXERCISE, f"tau = {tau:.4g}, the course's default, kept because no level's gain over it was "
                      f"beyond the noise: the rule's decision, full marks\n{_numbers(tau, base, None, b, fl)}")
        return wrong(EXERCISE, f"two_step_tau = {tau:.4g} is the course's default, but two_step_reason says you switched "
                     f"for a gain beyond the noise: keeping the default goes with {KEEP!r}, switching with a level "
                     f"other than the default\n{_numbers(tau, base, None, b, fl)}", 1,
                     kind="the default kept with the reason for a switch")
    yours, moved = measure(tau)
    a = np.asarray(yours)
    gain = b - a
    g, se = float(gain.mean()), _se(gain)
    numbers = _numbers(tau, base, a, b, fl)
    if moved < STILL * fl:
        return wrong(EXERCISE, f"tau = {tau:.4g} is so close to sigma_min = {smin:g} that the second jump changes nothing: "
                     f"it moved the points by {moved:.2g} on average ({moved / fl:.2g}x the floor), and W1 cannot change "
                     f"by more than the points move; re-noising adds only sqrt(tau^2 - sigma_min^2) = "
                     f"{math.sqrt(tau**2 - smin**2):.2g}, and near the boundary f(x, tau) ~ x: two evaluations for the "
                     f"one-step samples\n{numbers}", kind="a level next to sigma_min")
    if g < 0 and abs(g) > NOISE * se:
        if tau > base:
            why = (f"too high: the second jump starts from x + sqrt(tau^2 - sigma_min^2) z, where the first jump's answer "
                   f"x (spread sigma_data = {m.sigma_data:.2f}) is buried under noise {tau:.3g} (signal-to-noise "
                   f"{m.sigma_data / tau:.2g}): the second jump starts almost from scratch and forgets what the first "
                   "one got right")
        else:
            why = (f"too low: the noise added, {math.sqrt(tau**2 - smin**2):.2g}, is small against the first jump's "
                   "errors, so the second jump cannot move stray points back onto the moons; it returns most of its input")
        return wrong(EXERCISE, f"tau = {tau:.4g} is worse than the default beyond the noise, {why}; keep the default "
                     f"unless a level's gain over it is beyond the noise\n{numbers}",
                     kind="a level worse than the default")
    if reason == KEEP:
        return wrong(EXERCISE, f"two_step_reason says no gain was beyond the noise, yet two_step_tau = {tau:.4g} is not "
                     f"the default {base:.4g}: a gain within the noise is no reason to switch (the seeds' luck can "
                     f"make it); the rule keeps the default: two_step_tau = default_tau\n{numbers}", 1,
                     kind="switched for a gain within the noise")
    mine = notebook_score(base) - notebook_score(tau)  # the gain the student's own scan measured
    if not (mine.ratio > 0 and mine.beyond_noise(SCAN_BAR)):
        return wrong(EXERCISE, f"tau = {tau:.4g}: on the notebook's own seeds, where your scan measured it, its gain over "
                     f"the default is {mine:+.3f}: {mine.verdict(SCAN_BAR)}, so your own evidence does not support a "
                     "switch. Read the verdict of each level's paired gain, not its mean W1 or the size of its error "
                     f"bar; with no gain beyond the noise, keep the default with {KEEP!r}\n{numbers}", 1,
                     kind="switched without a gain beyond the noise")
    if abs(g) > NOISE * se:
        return ok(EXERCISE, f"tau = {tau:.4g}: its gain over the default is beyond the noise on the grader's fresh seeds "
                  f"too ({g / fl:+.3f}x +- {se / fl:.3f}x the floor): the switch is supported, full marks\n{numbers}")
    return wrong(EXERCISE, f"tau = {tau:.4g}: on the grader's fresh seeds its gain over the default, {g / fl:+.3f}x +- "
                 f"{se / fl:.3f}x the floor, is within the noise: the gain your scan saw does not hold on fresh "
                 "seeds. The best of several noisy gains is partly chosen for its luck on those seeds "
                 "(the winner's curse), so a switch "
                 f"needs a gain that holds up when measured again. Keep the default with {KEEP!r}\n{numbers}", 1,
                 kind="a gain that does not hold on fresh seeds")


def check(tau, reason) -> Result:
    """Notebook 01, Exercise 1.3: two_step_tau (a float) and two_step_reason (one of REASONS), the level measured
    on the shipped distilled model."""
    return reported(EXERCISE, judge(evaluate(tau, reason)))
