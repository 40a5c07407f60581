"""Notebook 02: one Heun step of the teacher's probability-flow ODE (Karras et al. 2022, Alg. 1)."""

from __future__ import annotations

import math

import numpy as np
import torch

from ._fixtures import GaussianDenoiser
from ._judging import (
    Result,
    arr,
    close,
    fmt,
    np_,
    ok,
    preamble,
    reported,
    samplers,
    wrong,
)
from ._kernel import Exercise, call, floats, gen, name, safely

EXERCISE = Exercise("heun_step", 1, "02", "one Heun step of the teacher's ODE", ("heun_step_student",), rank=1)


# --- kernel side -----------------------------------------------------------------------------------------------

def inputs() -> list[dict]:
    """Two steps: a large one (2.0 -> 1.2) and a small one (0.6 -> 0.25), on points at the matching noise scale."""
    g = gen(17)
    return [{"x": 2.0 * torch.randn(128, 2, generator=g), "sigma": 2.0, "sigma_next": 1.2},
            {"x": 0.7 * torch.randn(128, 2, generator=g), "sigma": 0.6, "sigma_next": 0.25}]


def evaluate(fn) -> dict:
    """The student's step from each case, and how many times it called the denoiser."""

    def body() -> dict:
        cases = []
        for case in inputs():
            den = GaussianDenoiser()
            result = call(fn, den, case["x"].clone(), case["sigma"], case["sigma_next"])
            cases.append({"result": floats(result, name(fn)), "calls": den.calls})
        return {"cases": cases}

    return safely(body, fn)


# --- judge side ------------------------------------------------------------------------------------------------

def _slope(den, x: torch.Tensor, sigma: float) -> torch.Tensor:
    return (x - den(x, sigma)) / sigma


def _heun_variants(case: dict) -> dict[str, np.ndarray]:
    den, x, s, sn = GaussianDenoiser(), case["x"], case["sigma"], case["sigma_next"]
    d = _slope(den, x, s)
    euler = x + (sn - s) * d
    back = x + (s - sn) * d
    return {
        "an Euler step: no correction with the slope at the end point": np_(euler),
        "the second slope taken at x instead of at the Euler point x + (sigma_next - sigma) d":
            np_(x + (sn - s) * (d + _slope(den, x, sn)) / 2),
        "the sum of the two slopes not halved": np_(x + (sn - s) * (d + _slope(den, euler, sn))),
        "a step toward higher noise: the step is (sigma_next - sigma) times the slope, and sigma_next < sigma":
            np_(back + (s - sn) * (d + _slope(den, back, sn)) / 2),
    }


def _heun_error_note(case: dict, got: np.ndarray, expected: np.ndarray) -> str:
    """How far the student's step and a Heun step land from the exact ODE solution (closed form for Gaussian data)."""
    gauss = GaussianDenoiser()
    m, s = np_(gauss.m), gauss.s
    exact = m + (np_(case["x"]) - m) * math.sqrt(s**2 + case["sigma_next"] ** 2) / math.sqrt(s**2 + case["sigma"] ** 2)
    return (f"(its error vs the exact ODE solution is {fmt(np.abs(got - exact).max())}, "
            f"a Heun step's is {fmt(np.abs(expected - exact).max())})")


def judge(outputs: dict) -> Result:
    """Karras et al. 2022, Alg. 1: Euler, then the average of the slopes at both ends."""
    if (r := preamble(EXERCISE, outputs)) is not None:
        return r
    cases = inputs()
    for case, out in zip(cases, outputs["cases"], strict=True):
        got = arr(out["result"])
        expected = np_(samplers.heun_step(GaussianDenoiser(), case["x"], case["sigma"], case["sigma_next"]))
        if got.shape != expected.shape:
            return wrong(EXERCISE, f"returned shape {tuple(got.shape)}, expected {tuple(expected.shape)} (like x)")
        if close(got, expected):
            continue
        err = _heun_error_note(case, got, expected)
        step = f"step {fmt(case['sigma'])} -> {fmt(case['sigma_next'])}"
        for desc, v in _heun_variants(case).items():
            if close(got, v):
                return wrong(EXERCISE, f"{desc} {err}")
        note = f"; it called the denoiser {out['calls']} times, Heun needs 2" if out["calls"] != 2 else ""
        diff = fmt(np.abs(got - expected).max())
        return wrong(EXERCISE, f"differs from a Heun step by up to {diff} on the {step}{note} {err}")
    return ok(EXERCISE, "correct\nmatches a Heun step (Euler, then the average of the slopes at both ends)")


def check(fn) -> Result:
    """Notebook 02: heun_step_student."""
    return reported(EXERCISE, judge(evaluate(fn)))
