"""Notebook 08, Exercise 8.1: the MeanFlow target v - (t - r) du/dt, du/dt by one JVP (Geng et al. 2025, Eq. 8-10)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._judging import Result, arr, close, fmt, np_, ok, preamble, reported, wrong
from ._kernel import Exercise, StudentError, call, floats, gen, name, safely

EXERCISE = Exercise("meanflow_target", 2, "08", "Exercise 8.1: the MeanFlow target", ("meanflow_target_student",), rank=1,
                    answers=('frontier.meanflow.meanflow_target',))


# --- kernel side -----------------------------------------------------------------------------------------------

def _differentiated(x: torch.Tensor) -> bool:
    """True inside a JVP: a functorch wrapper, a forward-mode dual tensor, or autograd.functional's double-backward input."""
    if torch._C._functorch.is_functorch_wrapped_tensor(x):
        return True
    return torch.autograd.forward_ad.unpack_dual(x).tangent is not None or x.requires_grad


class SpyAverageVelocity(nn.Module):
    """u(z, r, t) = tanh(z W + t a + r b + c) V + (t - r) z / 2: smooth, different in r and in t; records its calls."""

    def __init__(self, seed: int):
        super().__init__()
        g = gen(seed)
        self.W = nn.Parameter(torch.randn(2, 8, generator=g))
        self.a = nn.Parameter(2 * torch.randn(8, generator=g))
        self.b = nn.Parameter(torch.randn(8, generator=g))
        self.c = nn.Parameter(0.5 * torch.randn(8, generator=g))
        self.V = nn.Parameter(torch.randn(8, 2, generator=g) / 2)
        self.calls: list[dict] = []

    def forward(self, z: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        plain = not any(_differentiated(v) for v in (z, r, t) if isinstance(v, torch.Tensor))
        self.calls.append({"plain": plain, "z": z.detach().double().clone() if plain else None,
                           "t": t.detach().double().clone() if plain and isinstance(t, torch.Tensor) else None})
        dtype = z.dtype
        h = torch.tanh(z @ self.W.to(dtype) + t[:, None] * self.a.to(dtype) + r[:, None] * self.b.to(dtype) + self.c.to(dtype))
        return h @ self.V.to(dtype) + (t - r)[:, None] * z / 2


def inputs() -> dict:
    """64 points z, times 0 < r <= t < 1 (the last 16 with r = t: plain flow matching), a velocity v; float32."""
    g = gen(81)
    t = 0.1 + 0.85 * torch.rand(64, generator=g)
    r = t * torch.rand(64, generator=g)
    r[48:] = t[48:]
    return {"seed": 82, "z": torch.randn(64, 2, generator=g), "r": r, "t": t, "v": torch.randn(64, 2, generator=g)}


def evaluate(fn) -> dict:
    """The target on the spy's u, whether it carries a graph, what reached the spy's weights, and how u was called."""

    def body() -> dict:
        inp = inputs()
        u = SpyAverageVelocity(inp["seed"])
        out = call(fn, u, inp["z"].clone(), inp["r"].clone(), inp["t"].clone(), inp["v"].clone())
        if not isinstance(out, torch.Tensor):
            raise StudentError(f"{name(fn)} returned {type(out).__name__}, expected a tensor of shape (64, 2)")
        result = {"target": floats(out, name(fn)), "requires_grad": bool(out.requires_grad), "weights_grad": False}
        if out.requires_grad:
            call(out.float().sum().backward)
            result["weights_grad"] = any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in u.parameters())
        calls = u.calls
        result["calls"] = {"count": len(calls), "plain": sum(c["plain"] for c in calls),
                           "shifted": _shifted(calls, inp["z"].double(), inp["t"].double())}
        return result

    return safely(EXERCISE, body, fn)


def _shifted(calls: list[dict], z: torch.Tensor, t: torch.Tensor) -> float:
    """The largest change of z or t between u's plain calls and the given inputs (0 when u only saw them as given)."""
    moved = 0.0
    for c in calls:
        if c["plain"] and c["z"] is not None and c["z"].shape == z.shape:
            moved = max(moved, float((c["z"] - z).abs().max()))
            if c["t"] is not None and c["t"].shape == t.shape:
                moved = max(moved, float((c["t"] - t).abs().max()))
    return moved


# --- judge side ------------------------------------------------------------------------------------------------

def _candidates(inp: dict) -> dict[str, np.ndarray]:
    """The right target and the typical mistakes, computed in float64 with torch.func.jvp on the spy's weights."""
    u = SpyAverageVelocity(inp["seed"]).double()
    z, r, t, v = (inp[k].double() for k in ("z", "r", "t", "v"))
    zero, one, gap = torch.zeros_like(t), torch.ones_like(t), (t - r)[:, None]

    def jvp(f, point, tangent):
        with torch.no_grad():
            return torch.func.jvp(f, point, tangent)[1]

    d_t = jvp(u, (z, r, t), (v, zero, one))
    return {
        "right": v - gap * d_t,
        "sign": v + gap * d_t,
        "along_r": v - gap * jvp(u, (z, r, t), (v, one, zero)),
        "args_swapped": v - gap * jvp(u, (z, t, r), (v, zero, one)),  # u called as u(z, t, r)
        "no_v": v - gap * jvp(u, (z, r, t), (torch.zeros_like(v), zero, one)),
        "z_ones": v - gap * jvp(u, (z, r, t), (torch.ones_like(v), zero, one)),
        "both_ends": v - gap * jvp(u, (z, r, t), (v, one, one)),
        "no_time": v - gap * jvp(u, (z, r, t), (v, zero, zero)),
        "no_gap": v - d_t,
        "u_itself": u(z, r, t).detach(),
    }


MISTAKES = {  # candidate: (message, score)
    "sign": ("sign of the tangent term: v + (t - r) du/dt; the MeanFlow identity is u = v - (t - r) du/dt "
             "(differentiate (t - r) u = the integral of v from r to t in t)", 0),
    "along_r": ("r and t swapped in the tangent: you differentiated along r (tangent (v, 1, 0) on (z, r, t)); "
                "du/dt moves t with z and keeps r fixed: tangent (v, 0, 1)", 0),
    "args_swapped": ("r and t swapped in the call: u takes (z, r, t) in that order, r the start of the interval", 0),
    "no_v": ("only the partial derivative in t: du/dt along the path also moves z with dz/dt = v, tangent (v, 0, 1) "
             "not (0, 0, 1)", 0),
    "z_ones": ("the tangent's z part is ones: along the path z moves with velocity dz/dt = v, so z's tangent is v, "
               "not a vector of ones; tangent (v, 0, 1)", 0),
    "both_ends": ("r moves with t: tangent (v, 1, 1) slides the whole interval [r, t] along; the MeanFlow identity "
                  "differentiates in t with the start r fixed, tangent (v, 0, 1)", 0),
    "no_time": ("the time direction is missing: tangent (v, 0, 0) differentiates only along z; du/dt needs (v, 0, 1)", 0),
    "no_gap": ("the factor (t - r) is missing: u = v - (t - r) du/dt", 0),
    "u_itself": ("returns u(z, r, t) itself: the target is v - (t - r) du/dt, computed from u's derivative", 0),
}


def judge(outputs: dict) -> Result:
    """Geng et al. 2025, Eq. 10: sg[v - (t - r) du/dt], du/dt = JVP of u along (v, 0, 1), no gradient to u's weights."""
    shape_hint = "t - r has shape (n,) and du/dt (n, 2): make it a column, (t - r)[:, None], before it multiplies du/dt"
    if (r := preamble(EXERCISE, outputs, shape_hint)) is not None:
        return r
    got = arr(outputs["target"])
    cands = {k: np_(v) for k, v in _candidates(inputs()).items()}
    right = cands["right"]
    if got.shape != right.shape:
        return wrong(EXERCISE, f"returns shape {tuple(got.shape)}; expected {tuple(right.shape)}, one target per point")
    calls, scale = outputs["calls"], float(np.abs(right).max())
    if calls["count"] == 0:
        return wrong(EXERCISE, "u was never called: the target needs u's derivative along the path")
    err = float(np.abs(got - right).max()) / scale
    if calls["plain"] == calls["count"] and calls["count"] >= 2:
        near = err < 1e-2
        return wrong(EXERCISE, f"a finite difference where the JVP is asked: u was called {calls['count']} times on "
                     f"plain tensors, at inputs moved by up to {fmt(calls['shifted'])}, never inside a JVP; the error "
                     f"is {fmt(err)} of the target's size (a JVP is exact to rounding): use torch.func.jvp(u, (z, r, t), "
                     "(v, 0, 1))", 1 if near else 0)
    if err < 1e-4:
        if outputs["requires_grad"] or outputs["weights_grad"]:
            return wrong(EXERCISE, "the derivative flows through the target: the right numbers, but the tensor carries "
                         "a graph back to u's weights, so training would differentiate the target too; compute it "
                         "under torch.no_grad() (or .detach() it): the target is a stop-gradient", 1)
        return ok(EXERCISE, f"correct\ntarget = v - (t - r) du/dt to {fmt(err)} of its size; r = t rows give v "
                  "(flow matching); no gradient to u's weights")
    for key, (message, score) in MISTAKES.items():
        if close(got, cands[key], rtol=1e-4, atol=1e-4 * scale):
            return wrong(EXERCISE, message, score)
    fm = slice(48, 64)
    hint = (" (the rows with r = t are right: v there)" if close(got[fm], right[fm], rtol=1e-4, atol=1e-4 * scale)
            else " (even the rows with r = t differ: there the target is v itself)")
    return wrong(EXERCISE, f"target differs from v - (t - r) du/dt by up to {fmt(err)} of its size{hint}")


def check(fn) -> Result:
    """Notebook 08, Exercise 8.1: meanflow_target_student."""
    return reported(EXERCISE, judge(evaluate(fn)))
