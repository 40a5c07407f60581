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

NOTEBOOK_SIGMA_MIN = 0.002  # the notebook's global sigma_min; the fixture model's own is 0.2


def _multistep_variant(inp: dict, noise_scale=None, noise_first: bool = False, return_noisy: bool = False,
                       start: str = "", one_z: bool = False) -> np.ndarray:
    """Alg. 1 with one known mistake, for diagnosis: ``start`` "std1" or "redrawn" ignores x and draws the start
    noise (of std 1 or sigmas[0]); ``one_z`` draws z once and reuses it at every level."""
    model, x, g = GaussianConsistency(), inp["x"].clone(), gen(inp["seed"])
    scale = noise_scale or (lambda tau: math.sqrt(tau**2 - model.sigma_min**2))
    if start:
        x = (1.0 if start == "std1" else inp["sigmas"][0]) * torch.randn(x.shape, generator=g)
    if noise_first:
        x = x + inp["sigmas"][0] * torch.randn(x.shape, generator=g)
    denoised = model(x, inp["sigmas"][0])
    z = torch.randn(x.shape, generator=g) if one_z else None
    for tau in inp["sigmas"][1:]:
        x = denoised + scale(tau) * (z if one_z else torch.randn(x.shape, generator=g))
        denoised = model(x, tau)
    return np_(x if return_noisy else denoised)


def _variants(inp: dict) -> dict[str, np.ndarray]:
    """Known mistakes and the samples each gives on the check's inputs."""
    smin = GaussianConsistency().sigma_min
    return {
        f"re-noised with sigma instead of sqrt(sigma^2 - sigma_min^2) (with the model's own sigma_min, here {smin:g})":
            _multistep_variant(inp, noise_scale=lambda tau: tau),
        f"re-noised with the notebook's sigma_min ({NOTEBOOK_SIGMA_MIN:g}) instead of the model's own: use "
        f"model.sigma_min (here {smin:g}), the boundary of the model you are given":
            _multistep_variant(inp, noise_scale=lambda tau: math.sqrt(tau**2 - NOTEBOOK_SIGMA_MIN**2)),
        "re-noised with sqrt(sigma^2 + sigma_min^2): the point the model returned already holds noise of variance "
        "sigma_min^2, so the noise added tops it up to sigma^2: sqrt(sigma^2 - sigma_min^2)":
            _multistep_variant(inp, noise_scale=lambda tau: math.sqrt(tau**2 + smin**2)),
        "no re-noising: each later call gets the model's last answer without fresh noise, so it hands back (almost) "
        "its input; add sqrt(sigma^2 - sigma_min^2) z before each call after the first":
            _multistep_variant(inp, noise_scale=lambda tau: 0.0),
        "one noise draw reused at every level: draw a fresh z for each re-noising":
            _multistep_variant(inp, one_z=True),
        "ignored x and drew start noise of std 1: x is the start, already noise of std sigmas[0] (sigma_max when "
        "sampling), so jump from it directly":
            _multistep_variant(inp, start="std1"),
        "ignored x and drew the start noise again: x is the start, already noise at sigmas[0]; jump from it directly":
            _multistep_variant(inp, start="redrawn"),
        "added noise before the first call: x already is noise at sigmas[0], denoise it directly":
            _multistep_variant(inp, noise_first=True),
        "returned the last re-noised x instead of the model's output": _multistep_variant(inp, return_noisy=True),
    }


def _nearest_mistake(got: np.ndarray, inp: dict) -> str | None:
    """The known mistake whose samples ``got`` matches, the nearest one when several are close (the notebook's
    sigma_min and none at all differ by a relative 2e-5 in the noise at these levels)."""
    near = {d: float(np.abs(got - v).max()) for d, v in _variants(inp).items() if close(got, v)}
    return min(near, key=near.get) if near else None


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
        order = sorted(calls) == sorted(sigmas) and len(calls) == len(sigmas)
        problems.append(f"first call was model(x, {fmt(calls[0])}), not at sigmas[0] = {fmt(sigmas[0])}: "
                        + ("the levels in the wrong order; go through sigmas as given, from high to low"
                           if order else "x is already noise at that level"))
    elif len(calls) == len(sigmas) and not np.allclose(calls, sigmas, rtol=1e-6):
        problems.append(f"called the model at levels {', '.join(fmt(c) for c in calls)}: the levels in the wrong "
                        f"order; go through sigmas as given ({', '.join(fmt(s) for s in sigmas)}), from high to low")
    if calls and len(calls) != len(sigmas):
        problems.append(f"called the model {len(calls)} times; expected once per level ({len(sigmas)})")
    if (mistake := _nearest_mistake(got, inp)) is not None:
        problems.append(mistake)
    if not problems:
        diff = float(np.abs(got - expected).max())
        problems.append(f"differs from Alg. 1 by up to {fmt(diff)}: after the first call, for each next level tau draw "
                        "z = torch.randn(x.shape, generator=generator), set x = denoised + sqrt(tau^2 - sigma_min^2) z, "
                        "and denoise at tau")
    return wrong(EXERCISE, "\n".join(problems))


def check(fn) -> Result:
    """Notebook 01, Exercise 1.2: multistep_student."""
    return reported(EXERCISE, judge(evaluate(fn)))
