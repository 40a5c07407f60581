"""Notebook 02, Exercise 2.2: one Heun step of the teacher's probability-flow ODE (Karras et al. 2022, Alg. 1).

``heun_step_student(denoiser, x, sigma, sigma_next)``: the Euler step x + (sigma_next - sigma) d with the slope
d = (x - D(x, sigma)) / sigma, then the same step with the mean of d and the slope at the Euler point. The levels
come as floats or one per row (the way consistency distillation calls it); the check's denoiser is exact for
Gaussian data, so the judge also says how far a wrong step lands from the exact ODE solution.
"""

from __future__ import annotations

import numpy as np
import torch

from ._fixtures import SIGMAS, GaussianDenoiser
from ._judging import Result, arr, close, fmt, np_, ok, preamble, reported, samplers, wrong
from ._kernel import Exercise, StudentError, call, floats, gen, name, safely

EXERCISE = Exercise("heun_step", 1, "02", "Exercise 2.2: one Heun step of the teacher's ODE", ("heun_step_student",), rank=2,
                    answers=('samplers.heun_step', 'samplers.euler_step', 'samplers.pf_ode_slope'))


# --- kernel side -----------------------------------------------------------------------------------------------

def inputs() -> list[dict]:
    """Two steps with float levels, a large one (2.0 -> 1.2) and a small one (0.6 -> 0.25), on points at the matching
    noise scale; then one step with a level per row (batch,), as distillation takes it: rows drawn from adjacent pairs
    of a decreasing grid."""
    g = gen(17)
    cases = [{"x": 2.0 * torch.randn(128, 2, generator=g), "sigma": 2.0, "sigma_next": 1.2},
             {"x": 0.7 * torch.randn(128, 2, generator=g), "sigma": 0.6, "sigma_next": 0.25}]
    grid = torch.tensor(SIGMAS)
    i = torch.randint(0, len(SIGMAS) - 1, (128,), generator=g)
    sigma, sigma_next = grid[i], grid[i + 1]
    cases.append({"x": 0.5 * torch.randn(128, 2, generator=g) + sigma[:, None] * torch.randn(128, 2, generator=g),
                  "sigma": sigma, "sigma_next": sigma_next})
    return cases


def _level(v):
    return v.clone() if isinstance(v, torch.Tensor) else v


def evaluate(fn) -> dict:
    """The student's step from each case (or the error it raised there), and how many times it called the denoiser."""

    def body() -> dict:
        cases = []
        for case in inputs():
            den = GaussianDenoiser()
            try:
                result = floats(call(fn, den, case["x"].clone(), _level(case["sigma"]), _level(case["sigma_next"])), name(fn))
            except StudentError as err:
                cases.append({"error": str(err), "calls": den.calls})
                continue
            cases.append({"result": result, "calls": den.calls})
        return {"cases": cases}

    return safely(EXERCISE, body, fn)


# --- judge side ------------------------------------------------------------------------------------------------

def _c(v, x: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(v, dtype=x.dtype).reshape(-1, 1)


def _slope(den, x: torch.Tensor, sigma, divide_by=None, power: int = 1) -> torch.Tensor:
    """(x - D(x, sigma)) / sigma; ``divide_by`` and ``power`` make the mistakes (another level, sigma squared)."""
    return (x - den(x, sigma)) / _c(sigma if divide_by is None else divide_by, x) ** power


def _heun(den, x, h, d, second) -> torch.Tensor:
    """x + h (d + d') / 2 with d' = ``second(x_E)``, the slope at the Euler point x_E = x + h d."""
    return x + h * (d + second(x + h * d)) / 2


def _heun_variants(case: dict) -> dict[str, np.ndarray]:
    """Typical mistakes in a Heun step, each a description and the point it lands on (all distinct on the check's
    cases: tests/test_ex_heun_step.py makes sure)."""
    den, x, s, sn = GaussianDenoiser(), case["x"], case["sigma"], case["sigma_next"]
    h = _c(sn, x) - _c(s, x)  # the step, sigma_next - sigma (negative)
    d = _slope(den, x, s)
    euler = x + h * d
    d_euler = _slope(den, euler, sn)
    back = x - h * d

    def slope_at(level_d, level_div=None, power=1):
        return lambda y: _slope(den, y, level_d, level_div, power)

    def raw(y, level):  # x - D without the division by sigma
        return y - den(y, level)

    d_raw = raw(x, s)
    return {
        "an Euler step: no correction with the slope at the end point": np_(euler),
        "the second slope taken at x instead of at the Euler point x + (sigma_next - sigma) d":
            np_(x + h * (d + _slope(den, x, sn)) / 2),
        "the sum of the two slopes not halved": np_(x + h * (d + d_euler)),
        "only the second slope: Heun steps with the average of the slopes at both ends, not the one at the Euler "
        "point alone": np_(x + h * d_euler),
        "a step toward higher noise: the sign of the slope or of the step is flipped; the slope is "
        "(x - D(x, sigma)) / sigma, and the step is (sigma_next - sigma) times it, negative since sigma_next < sigma":
            np_(x - h * (d + _slope(den, back, sn)) / 2),
        "the Euler point is a step toward higher noise: x + (sigma - sigma_next) d; the second slope is taken where "
        "an Euler step down to sigma_next lands": np_(x + h * (d + _slope(den, back, sn)) / 2),
        "the last step goes toward higher noise: the Euler point is right, but the step with the averaged slope is "
        "(sigma - sigma_next) times it; it is (sigma_next - sigma) times it": np_(x - h * (d + d_euler) / 2),
        "the last step starts from the Euler point: the averaged slope moves x itself, not x + (sigma_next - sigma) d":
            np_(euler + h * (d + d_euler) / 2),
        "the second slope divided by the wrong level: at the Euler point the slope is divided by sigma_next, the "
        "level it is taken at, not by sigma": np_(_heun(den, x, h, d, slope_at(sn, s))),
        "the denoiser called at the wrong level for the second slope: at the Euler point it is D(x_E, sigma_next), "
        "not D(x_E, sigma)": np_(_heun(den, x, h, d, slope_at(s, sn))),
        "the second slope taken at the start's level: at the Euler point both the denoiser and the division use "
        "sigma_next, not sigma": np_(_heun(den, x, h, d, slope_at(s))),
        "the first slope divided by the wrong level: at x it is divided by sigma, not by sigma_next":
            np_(_heun(den, x, h, _slope(den, x, s, sn), slope_at(sn))),
        "the denoiser called at the wrong level for the first slope: at x it is D(x, sigma), not D(x, sigma_next)":
            np_(_heun(den, x, h, _slope(den, x, sn, s), slope_at(sn))),
        "the slopes are not divided by the level: dx/dsigma = (x - D(x, sigma)) / sigma":
            np_(x + h * (d_raw + raw(x + h * d_raw, sn)) / 2),
        "the slopes are divided by the level squared: dx/dsigma = (x - D(x, sigma)) / sigma, not / sigma^2":
            np_(_heun(den, x, h, _slope(den, x, s, power=2), slope_at(sn, power=2))),
    }


def _heun_error_note(case: dict, got: np.ndarray, expected: np.ndarray) -> str:
    """How far the student's step and a Heun step land from the exact ODE solution (closed form for Gaussian data)."""
    gauss = GaussianDenoiser()
    m, s = np_(gauss.m), gauss.s
    sigma, sigma_next = (np_(torch.as_tensor(v)).reshape(-1, 1) for v in (case["sigma"], case["sigma_next"]))
    exact = m + (np_(case["x"]) - m) * np.sqrt(s**2 + sigma_next**2) / np.sqrt(s**2 + sigma**2)
    return (f"(its error vs the exact ODE solution is {fmt(np.abs(got - exact).max())}, "
            f"a Heun step's is {fmt(np.abs(expected - exact).max())})")


def judge(outputs: dict) -> Result:
    """Karras et al. 2022, Alg. 1: Euler, then the average of the slopes at both ends; levels as floats or one per row."""
    if (r := preamble(EXERCISE, outputs)) is not None:
        return r
    cases = inputs()
    for case, out in zip(cases, outputs["cases"], strict=True):
        per_row = isinstance(case["sigma"], torch.Tensor)
        if "error" in out:
            if per_row:
                return wrong(EXERCISE, "right with float levels, but with one level per row (sigma and sigma_next of "
                             f"shape ({len(case['x'])},), as distillation calls it) {out['error']}: make the levels a "
                             "column that broadcasts against x (batch, 2)")
            return wrong(EXERCISE, f"your code raised an error: {out['error']}")
        got = arr(out["result"])
        expected = np_(samplers.heun_step(GaussianDenoiser(), case["x"], case["sigma"], case["sigma_next"]))
        if got.shape != expected.shape:
            return wrong(EXERCISE, f"returned shape {tuple(got.shape)}, expected {tuple(expected.shape)} (like x)"
                         + (" with one level per row: make the levels a column (batch, 1)" if per_row else ""))
        if close(got, expected):
            continue
        err = _heun_error_note(case, got, expected)
        step = ("step with one level per row" if per_row else f"step {fmt(case['sigma'])} -> {fmt(case['sigma_next'])}")
        for desc, v in _heun_variants(case).items():
            if close(got, v):
                return wrong(EXERCISE, f"{desc} {err}")
        note = f"; it called the denoiser {out['calls']} times, Heun needs 2" if out["calls"] != 2 else ""
        diff = fmt(np.abs(got - expected).max())
        lead = "right with float levels, but " if per_row else ""
        return wrong(EXERCISE, f"{lead}differs from a Heun step by up to {diff} on the {step}{note} {err}")
    return ok(EXERCISE, "correct\nmatches a Heun step (Euler, then the average of the slopes at both ends), with float "
              "levels and with one level per row")


def check(fn) -> Result:
    """Notebook 02, Exercise 2.2: heun_step_student."""
    return reported(EXERCISE, judge(evaluate(fn)))
