"""Notebook 11, Exercise 11.1: the drift field V of a drifting model (Deng, Li, Li, Du & He 2026, Alg. 2)."""

from __future__ import annotations

import numpy as np
import torch

from ._judging import Result, arr, close, fmt, np_, ok, preamble, reported, wrong
from ._kernel import Exercise, StudentError, call, floats, gen, name, safely

EXERCISE = Exercise("drift_field", 2, "11", "Exercise 11.1: the drift field", ("drift_student",), rank=1,
                    answers=("frontier.drifting.drift",))
TEMPERATURE = 0.3  # wider than the lab's 0.05, so that every pair of points weighs in and every mistake shows


# --- kernel side -----------------------------------------------------------------------------------------------

def inputs() -> dict:
    """48 generated points y (a leaf that requires grad, as a generator's output would) and 64 data points x."""
    g = gen(111)
    return {"y": 0.6 * torch.randn(48, 2, generator=g) + torch.tensor([0.5, 0.2]),
            "x": torch.randn(64, 2, generator=g) * torch.tensor([0.9, 0.4]) + torch.tensor([0.4, 0.3])}


def evaluate(fn) -> dict:
    """V on the fixed points, and whether it carries a graph back to the generated points."""

    def body() -> dict:
        inp = inputs()
        y = inp["y"].clone().requires_grad_(True)
        out = call(fn, y, inp["x"].clone(), TEMPERATURE)
        if not isinstance(out, torch.Tensor):
            raise StudentError(f"{name(fn)} returned {type(out).__name__}, expected a tensor of shape (48, 2)")
        return {"drift": floats(out, name(fn)), "requires_grad": bool(out.requires_grad)}

    return safely(EXERCISE, body, fn)


# --- judge side ------------------------------------------------------------------------------------------------

def field(y: torch.Tensor, x: torch.Tensor, temperature: float, *, mask_self: bool = True, repel: float = -1.0,
          normalise: str = "both", power: int = 1) -> torch.Tensor:
    """Deng et al. 2026, Alg. 2 (``frontier.drifting.drift``), and the typical mistakes by its keywords:
    ``mask_self`` False keeps the self-pair, ``repel`` +1 adds the repulsion, 0 drops it, ``normalise`` "rows",
    "columns" or "none" normalises the kernel over one axis or none, ``power`` 2 uses the squared distance."""
    y, x = y.detach().double(), x.detach().double()
    n = y.shape[0]
    logits = -torch.cdist(y, torch.cat([y, x])).pow(power) / temperature
    if mask_self:
        logits[:, :n].fill_diagonal_(float("-inf"))
    a = {"both": lambda: (logits.softmax(1) * logits.softmax(0)).sqrt(), "rows": lambda: logits.softmax(1),
         "columns": lambda: logits.softmax(0), "none": lambda: logits.exp()}[normalise]()
    a_gen, a_data = a[:, :n], a[:, n:]
    w_data, w_gen = a_data * a_gen.sum(1, keepdim=True), a_gen * a_data.sum(1, keepdim=True)
    if repel == 0:  # attraction alone, as a displacement from y
        return w_data @ x - w_data.sum(1, keepdim=True) * y
    return w_data @ x + repel * (w_gen @ y)


MISTAKES = {  # candidate: (keywords of field, message)
    "self_pair": ({"mask_self": False}, "the self-pair is not excluded: each generated point repels itself (distance 0, "
                  "the largest kernel value), which pulls every V back towards y_i; mask the diagonal of the "
                  "generated-to-generated kernel before normalising"),
    "repulsion_sign": ({"repel": 1.0}, "the repulsion has the wrong sign: V must be the attraction to the data MINUS the "
                       "pull towards the other generated points, so that V = 0 when the two sets are alike"),
    "no_repulsion": ({"repel": 0.0}, "the repulsion is missing: V is attraction to the data minus repulsion from the "
                     "other generated points; without it nothing stops every point from collapsing onto the nearest data"),
    "rows_only": ({"normalise": "rows"}, "the kernel is normalised over one axis only (over the points each y_i "
                  "compares with, the rows): the paper normalises over rows AND columns, sqrt(softmax over the "
                  "compared points x softmax over the generated points)"),
    "columns_only": ({"normalise": "columns"}, "the kernel is normalised over the wrong axis only (over the "
                     "generated points, the columns): the paper normalises over rows AND columns, sqrt(softmax over "
                     "the compared points x softmax over the generated points)"),
    "unnormalised": ({"normalise": "none"}, "the kernel is not normalised: raw exp(-||a - b|| / T) weights; normalise "
                     "over rows and columns, sqrt(softmax over the compared points x softmax over the generated points)"),
    "squared": ({"power": 2}, "the squared distance in the kernel: exp(-||a - b||^2 / T) is a Gaussian kernel; the "
                "drift's kernel is exp(-||a - b|| / T), the distance itself (torch.cdist)"),
    "self_pair_rows_only": ({"mask_self": False, "normalise": "rows"}, "two mistakes: the self-pair is not excluded, "
                            "and the kernel is normalised over the rows only (the paper: rows AND columns)"),
}


def judge(outputs: dict) -> Result:
    """V of Deng et al. 2026, Alg. 2 on the fixed points, without gradient; the typical mistakes by name."""
    shape_hint = "y is (48, 2), x (64, 2): the kernel compares every y_i with the 48 + 64 points [y; x]"
    if (r := preamble(EXERCISE, outputs, shape_hint)) is not None:
        return r
    got = arr(outputs["drift"])
    inp = inputs()
    right = np_(field(inp["y"], inp["x"], TEMPERATURE))
    if got.shape != right.shape:
        return wrong(EXERCISE, f"returns shape {tuple(got.shape)}; expected {tuple(right.shape)}, one drift per generated "
                     "point")
    scale = float(np.abs(right).max())
    if not np.isfinite(got).all():
        return wrong(EXERCISE, "V holds NaN or inf: a masked self-pair must get weight 0 (a logit of -inf, or a large "
                     "distance), and the softmax must run over logits, not over exp() of them")
    err = float(np.abs(got - right).max()) / scale
    if err < 1e-4:
        if outputs["requires_grad"]:
            return wrong(EXERCISE, "no stop-gradient: the right numbers, but V carries a graph back to the generated "
                         "points, so the target y + V would be differentiated too and the regression would chase "
                         "itself; compute V under torch.no_grad() (or .detach() it): the target is sg[y + V]", 1)
        return ok(EXERCISE, f"correct\nV = attraction to the data - repulsion from the other generated points, to "
                  f"{fmt(err)} of its size; no gradient to the generated points")
    for kw, message in MISTAKES.values():
        # float32 distances of a point to itself are not exactly 0: match to 2e-3 (the mistakes differ by > 1e-2)
        if close(got, np_(field(inp["y"], inp["x"], TEMPERATURE, **kw)), rtol=1e-3, atol=2e-3 * scale):
            return wrong(EXERCISE, message)
    mean_gap = float(np.abs(got.mean(0) - right.mean(0)).max()) / scale
    return wrong(EXERCISE, f"V differs from the paper's drift by up to {fmt(err)} of its size (its mean over the "
                 f"points by {fmt(mean_gap)}); compare your kernel, its normalisation and the two weighted means")


def check(fn) -> Result:
    """Notebook 11, Exercise 11.1: drift_student."""
    return reported(EXERCISE, judge(evaluate(fn)))
