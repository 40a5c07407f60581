"""Notebook 06, Exercise 6.1: iCT's pseudo-Huber distance sqrt(||a - b||^2 + c^2) - c per sample, c = 0.00054 sqrt(d)
(Song & Dhariwal 2023, Sec. 3.3)."""

from __future__ import annotations

import math

import numpy as np
import torch

from ._judging import Result, arr, fmt, losses, np_, ok, preamble, reported, wrong
from ._kernel import Exercise, StudentError, call, floats, gen, name, safely

EXERCISE = Exercise("pseudo_huber", 2, "06", "Exercise 6.1: the pseudo-Huber distance", ("pseudo_huber_student",),
                    rank=1, answers=("losses.pseudo_huber_distance",))

C_PER_ROOT_DIM = 0.00054  # iCT's c = 0.00054 sqrt(d), tuned on CIFAR-10 (d = 3 x 32 x 32 = 3072)


# --- kernel side -----------------------------------------------------------------------------------------------

def _batch(g: torch.Generator, shape: tuple[int, ...], gaps: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """b ~ N(0, 1) of ``shape`` (n, ...); a = b + a random direction of length gaps[k] in row k (float32)."""
    b = torch.randn(shape, generator=g)
    direction = torch.randn(shape, generator=g).flatten(1)
    direction = direction / direction.norm(dim=1, keepdim=True)
    a = b + (torch.tensor(gaps)[:, None] * direction).reshape(shape)
    return a, b


def inputs() -> dict:
    """Two batches: 12 two-moons-sized points (d = 2) and 8 CIFAR-sized images (3, 32, 32), d = 3072; row by row the
    gap ||a - b|| runs from 0 (a = b) through iCT's c to far beyond it."""
    g = gen(61)
    points = _batch(g, (12, 2), [0.0, 1e-5, 1e-4, 3e-4, 7.6e-4, 2e-3, 1e-2, 0.05, 0.3, 1.0, 2.0, 5.0])
    images = _batch(g, (8, 3, 32, 32), [0.0, 1e-3, 2e-3, 0.03, 0.1, 0.5, 4.0, 10.0])
    return {"points": points, "images": images}


def evaluate(fn) -> dict:
    """The student's distance on both batches, and whether a gradient reaches ``a`` through it."""

    def body() -> dict:
        result = {}
        for key, (a, b) in inputs().items():
            a = a.clone().requires_grad_(True)
            out = call(fn, a, b.clone())
            if key == "points":
                result["grad"] = bool(isinstance(out, torch.Tensor) and out.requires_grad)
            if not isinstance(out, (torch.Tensor, np.ndarray, float, int)):
                raise StudentError(f"{name(fn)} returned {type(out).__name__}, expected a tensor of shape (n,)")
            result[key] = floats(out, name(fn))
        return result

    return safely(EXERCISE, body, fn)


# --- judge side ------------------------------------------------------------------------------------------------

def _ph(sq: torch.Tensor, c: float) -> torch.Tensor:
    return (sq + c**2).sqrt() - c


def _candidates(a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
    """The right distance and the typical mistakes, in float64 on the same float32 inputs."""
    a, b = a.double(), b.double()
    diff = (a - b).flatten(1)
    d = diff.shape[1]
    sq, c = diff.pow(2).sum(1), C_PER_ROOT_DIM * math.sqrt(d)
    return {
        "right": losses.pseudo_huber_distance(a, b),
        "no_minus_c": (sq + c**2).sqrt(),
        "c_unscaled": _ph(sq, C_PER_ROOT_DIM),
        "c_cifar": _ph(sq, C_PER_ROOT_DIM * math.sqrt(3072)),
        "c_last_axis": _ph(sq, C_PER_ROOT_DIM * math.sqrt(a.shape[-1])),
        "c_whole_batch": _ph(sq, C_PER_ROOT_DIM * math.sqrt(a.numel())),
        "per_coordinate": ((diff.pow(2) + c**2).sqrt() - c).sum(1),
        "mean_over_dims": _ph(sq / d, c),
        "squared_inside": _ph(sq.pow(2), c),
        "squared_distance": sq,
        "length": sq.sqrt(),
    }


MISTAKES = {  # candidate: message
    "no_minus_c": "c is not subtracted: sqrt(||a - b||^2 + c^2) alone puts identical points at distance c, not 0; "
                  "the distance is sqrt(||a - b||^2 + c^2) - c",
    "c_unscaled": "c is not scaled with the data dimension: c = 0.00054 for every input, but iCT's c is 0.00054 sqrt(d), "
                  "d the number of coordinates of one sample (2 for a two-moons point, 3072 for a CIFAR image)",
    "c_cifar": "c is CIFAR-10's 0.0299 for every input: iCT's c = 0.00054 sqrt(d) follows the dimension d of the "
               "samples it is given (2 for a two-moons point)",
    "c_last_axis": "d is taken from the last axis (32 for a (3, 32, 32) image): d is the number of coordinates of one "
                   "whole sample, 3 x 32 x 32 = 3072 (a[0].numel())",
    "c_whole_batch": "d counts the whole batch: d is the number of coordinates of one sample (a[0].numel()), not of "
                     "the batch",
    "per_coordinate": "pseudo-Huber of each coordinate, summed: the distance is one pseudo-Huber of each sample's "
                      "Euclidean norm ||a - b|| (sum the squared coordinates first, then the square root)",
    "mean_over_dims": "the mean of the squared coordinates over a sample, not their sum: ||a - b||^2 is the sum over "
                      "the sample's coordinates (the mean divides it by d)",
    "squared_inside": "the squared distance squared again: under the root goes ||a - b||^2, the squared norm, not "
                      "(||a - b||^2)^2",
    "squared_distance": "this is the squared distance ||a - b||^2, original CT's: the pseudo-Huber distance grows like "
                        "the length ||a - b|| for errors far beyond c",
    "length": "the plain length ||a - b||: c is missing (c = 0), which changes the distance of errors near c and "
              "below it, where pseudo-Huber is quadratic, ||a - b||^2 / 2c",
}


def _inferred_c(got: np.ndarray, sq: np.ndarray) -> float | None:
    """The c that ``got`` = sqrt(sq + c^2) - c would need, if the rows with a gap in (0, 0.1] agree on one (to 1%)."""
    rows = (got > 0) & (sq > 0) & (sq <= 0.01)
    if rows.sum() < 3:
        return None
    cs = (sq[rows] - got[rows] ** 2) / (2 * got[rows])
    mid = float(np.median(cs))
    return mid if mid > 0 and np.all(np.abs(cs - mid) <= 1e-2 * mid) else None


def judge(outputs: dict) -> Result:
    """Song & Dhariwal 2023, Sec. 3.3: d(a, b) = sqrt(||a - b||^2 + c^2) - c per sample, c = 0.00054 sqrt(d)."""
    if (r := preamble(EXERCISE, outputs)) is not None:
        return r
    batches = inputs()
    for key in ("points", "images"):
        got = arr(outputs[key])
        a, b = batches[key]
        cands = {k: np_(v) for k, v in _candidates(a, b).items()}
        right = cands["right"]
        what = "2-D points" if key == "points" else "(3, 32, 32) images"
        if got.shape != right.shape:
            if got.size == 1:
                return wrong(EXERCISE, f"returns one number for a batch of {right.shape[0]} {what}: one distance per "
                             f"sample, shape ({right.shape[0]},); the loss weights each before it averages them")
            return wrong(EXERCISE, f"returns shape {tuple(got.shape)} for {what} of shape {tuple(a.shape)}: one "
                         f"distance per sample, shape ({right.shape[0]},); flatten each sample (flatten(1)) and sum "
                         "over all its coordinates")
        d = a[0].numel()
        atol = 1e-6 * C_PER_ROOT_DIM * math.sqrt(d)
        if np.allclose(got, right, rtol=1e-3, atol=atol):
            continue
        for key_m, message in MISTAKES.items():
            if np.allclose(got, cands[key_m], rtol=1e-3, atol=atol):
                return wrong(EXERCISE, f"on {what}: {message}")
        sq = (a.double() - b.double()).flatten(1).pow(2).sum(1).numpy()
        c = _inferred_c(got, sq)
        worst = int(np.argmax(np.abs(got - right) / (np.abs(right) + atol)))
        gap = math.sqrt(sq[worst])
        return wrong(EXERCISE, f"on {what}: at a gap ||a - b|| = {fmt(gap)} yours {fmt(got[worst])}, expected {fmt(right[worst])}"
                 + (f"; your numbers fit sqrt(||a - b||^2 + c^2) - c with c = {fmt(c)}, but iCT's c for d = {d} is "
                    f"0.00054 sqrt({d}) = {fmt(C_PER_ROOT_DIM * math.sqrt(d))}" if c is not None else ""))
    if not outputs.get("grad"):
        return wrong(EXERCISE, "the right numbers, but no gradient flows through them: training differentiates the "
                     "distance, so compute it with torch operations on a and b (no numpy, no .item(), no .detach())", 1)
    return ok(EXERCISE, "correct\nzero for a = b, ||a - b||^2 / 2c below c, ||a - b|| - c far beyond it; c = 0.00054 "
              "sqrt(d) for 2-D points (d = 2) and CIFAR-sized images (d = 3072)")


def check(fn) -> Result:
    """Notebook 06, Exercise 6.1: pseudo_huber_student."""
    return reported(EXERCISE, judge(evaluate(fn)))
