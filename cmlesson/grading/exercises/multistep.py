"""Notebook 01, Exercise 1.2: multistep consistency sampling (Song et al. 2023, Alg. 1): denoise at sigmas[0], then for
each next level tau re-noise to x = denoised + sqrt(tau^2 - sigma_min^2) z and denoise at tau."""

from __future__ import annotations

import math

import numpy as np
import torch

from ._fixtures import GaussianConsistency
from ._judging import Result, arr, close, fmt, np_, ok, preamble, reported, samplers, wrong
from ._kernel import Exercise, call, floats, gen, name, safely

EXERCISE = Exercise("multistep", 1, "01", "Exercise 1.2: multistep consistency sampling (Alg. 1)", ("multistep_student",), rank=2,
                    answers=('samplers.sample_consistency',))


# --- kernel side -----------------------------------------------------------------------------------------------

def inputs() -> dict:
    """A fake consistency model, start noise already scaled by sigmas[0], four levels, the generator's seed."""
    x = 80.0 * torch.randn(256, 2, generator=gen(11))
    return {"model": GaussianConsistency(), "x": x, "sigmas": [80.0, 2.0, 0.8, 0.3], "seed": 5}


def evaluate(fn) -> dict:
    """The student's sample, the level of every model call, and whether a second call with an identically seeded
    generator gives the same sample (it does not if the noise comes from torch's global generator)."""

    def body() -> dict:
        inp = inputs()
        result = floats(call(fn, inp["model"], inp["x"].clone(), list(inp["sigmas"]), gen(inp["seed"])), name(fn))
        again = floats(call(fn, GaussianConsistency(), inp["x"].clone(), list(inp["sigmas"]), gen(inp["seed"])), name(fn))
        same = again["shape"] == result["shape"] and bool(np.array_equal(again["values"], result["values"], equal_nan=True))
        return {"result": result, "calls": inp["model"].calls, "repeatable": same}

    return safely(EXERCISE, body, fn)


# --- judge side ------------------------------------------------------------------------------------------------

def _multistep_variant(inp: dict, noise_scale=None, noise_first: bool = False, return_noisy: bool = False) -> np.ndarray:
    """Alg. 1 with one known mistake, for diagnosis."""
    model, x, g = GaussianConsistency(), inp["x"].clone(), gen(inp["seed"])
    scale = noise_scale or (lambda tau: math.sqrt(tau**2 - model.sigma_min**2))
    if noise_first:
        x = x + inp["sigmas"][0] * torch.randn(x.shape, generator=g)
    denoised = model(x, inp["sigmas"][0])
    for tau in inp["sigmas"][1:]:
        x = denoised + scale(tau) * torch.randn(x.shape, generator=g)
        denoised = model(x, tau)
    return np_(x if return_noisy else denoised)


def judge(outputs: dict) -> Result:
    """Song et al. 2023, Alg. 1, draw for draw."""
    if (r := preamble(EXERCISE, outputs)) is not None:
        return r
    inp = inputs()
    sigmas = inp["sigmas"]
    expected = np_(samplers.sample_consistency(inp["model"], inp["x"].clone(), sigmas, generator=gen(inp["seed"])))
    got, calls = arr(outputs["result"]), [float(c) for c in outputs["calls"]]
    if got.shape != expected.shape:
        return wrong(EXERCISE, f"returned shape {tuple(got.shape)}, expected {tuple(expected.shape)} (like x)")
    if close(got, expected):
        return ok(EXERCISE, f"correct\nmatches Alg. 1 draw for draw ({len(sigmas)} model calls, "
                   "re-noised with sqrt(sigma^2 - sigma_min^2))")
    problems = []
    if not outputs.get("repeatable", True):
        problems.append("two calls with identically seeded generators gave different samples: the noise does not come "
                        "from `generator` (torch.randn_like and torch.randn without generator= draw from torch's global "
                        "generator); draw every z with torch.randn(x.shape, generator=generator)")
    if not calls:
        problems.append("never called the model")
    elif abs(calls[0] - sigmas[0]) > 1e-6 * sigmas[0]:
        problems.append(f"first call was model(x, {fmt(calls[0])}), not at sigmas[0] = {fmt(sigmas[0])}: "
                        "x is already noise at that level")
    if calls and len(calls) != len(sigmas):
        problems.append(f"called the model {len(calls)} times; expected once per level ({len(sigmas)})")
    variants = {
        "re-noised with sigma instead of sqrt(sigma^2 - sigma_min^2) (with the model's own sigma_min, here 0.2)":
            _multistep_variant(inp, noise_scale=lambda tau: tau),
        "added noise before the first call: x already is noise at sigmas[0], denoise it directly":
            _multistep_variant(inp, noise_first=True),
        "returned the last re-noised x instead of the model's output": _multistep_variant(inp, return_noisy=True),
    }
    problems += [desc for desc, v in variants.items() if close(got, v)]
    if not problems:
        diff = float(np.abs(got - expected).max())
        problems.append(f"differs from Alg. 1 by up to {fmt(diff)}: after the first call, for each next level tau draw "
                        "z = torch.randn(x.shape, generator=generator), set x = denoised + sqrt(tau^2 - sigma_min^2) z, "
                        "and denoise at tau")
    return wrong(EXERCISE, "\n".join(problems))


def check(fn) -> Result:
    """Notebook 01, Exercise 1.2: multistep_student."""
    return reported(EXERCISE, judge(evaluate(fn)))
