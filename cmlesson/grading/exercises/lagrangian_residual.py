"""Notebook 10, Exercise 10.1: the Lagrangian residual d/dt X_{s,t}(z) - sg[v(X_{s,t}(z), t)], d/dt by one JVP
(Boffi, Albergo & Vanden-Eijnden 2025, Lagrangian self-distillation)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._judging import Result, arr, close, fmt, np_, ok, preamble, reported, wrong
from ._kernel import Exercise, StudentError, call, floats, gen, name, safely

EXERCISE = Exercise("lagrangian_residual", 2, "10", "Exercise 10.1: the Lagrangian residual", ("lagrangian_residual_student",),
                    rank=1, answers=("frontier.lsd.lagrangian_residual",))


# --- kernel side -----------------------------------------------------------------------------------------------

def _differentiated(x) -> bool:
    """True inside a JVP: a functorch wrapper or a forward-mode dual tensor."""
    if not isinstance(x, torch.Tensor):
        return False
    if torch._C._functorch.is_functorch_wrapped_tensor(x):
        return True
    return torch.autograd.forward_ad.unpack_dual(x).tangent is not None


class SpyFlowMapNet(nn.Module):
    """u(z, t, h) = tanh(z W + t a + h b + c) V + h z / 2, called as the course's flow-map network: start time t, jump h.

    Smooth and different in each argument; counts its calls and whether any input was inside a JVP.
    """

    def __init__(self, seed: int):
        super().__init__()
        g = gen(seed)
        self.W = nn.Parameter(torch.randn(2, 8, generator=g))
        self.a = nn.Parameter(2 * torch.randn(8, generator=g))
        self.b = nn.Parameter(torch.randn(8, generator=g))
        self.c = nn.Parameter(0.5 * torch.randn(8, generator=g))
        self.V = nn.Parameter(torch.randn(8, 2, generator=g) / 2)
        self.calls = {"count": 0, "in_jvp": 0}

    def forward(self, z: torch.Tensor, t, h) -> torch.Tensor:
        self.calls["count"] += 1
        self.calls["in_jvp"] += any(_differentiated(v) for v in (z, t, h))
        t = torch.as_tensor(t, dtype=z.dtype).expand(z.shape[0]) if not isinstance(t, torch.Tensor) or t.ndim == 0 else t
        h = torch.as_tensor(h, dtype=z.dtype).expand(z.shape[0]) if not isinstance(h, torch.Tensor) or h.ndim == 0 else h
        dtype = z.dtype
        hid = torch.tanh(z @ self.W.to(dtype) + t[:, None] * self.a.to(dtype) + h[:, None] * self.b.to(dtype)
                         + self.c.to(dtype))
        return hid @ self.V.to(dtype) + h[:, None] * z / 2


def inputs() -> dict:
    """64 points z at start times s in (0.2, 1), end times 0 <= t < s (flow-map time: 1 = noise); float32."""
    g = gen(101)
    s = 0.2 + 0.8 * torch.rand(64, generator=g)
    t = s * torch.rand(64, generator=g)
    return {"seed": 102, "z": torch.randn(64, 2, generator=g), "s": s, "t": t}


def _flat_grads(model: nn.Module) -> list[float]:
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).double()
                      for p in model.parameters()]).tolist()


def evaluate(fn) -> dict:
    """The residual on the spy, whether it carries a graph, the gradient of its squared norm, and the spy's calls."""

    def body() -> dict:
        inp = inputs()
        model = SpyFlowMapNet(inp["seed"])
        out = call(fn, model, inp["z"].clone(), inp["s"].clone(), inp["t"].clone())
        if not isinstance(out, torch.Tensor):
            raise StudentError(f"{name(fn)} returned {type(out).__name__}, expected a tensor of shape (64, 2)")
        result = {"residual": floats(out, name(fn)), "requires_grad": bool(out.requires_grad), "grads": None,
                  "calls": dict(model.calls)}
        if out.requires_grad and out.shape == (64, 2):
            call(out.double().pow(2).sum().backward)
            result["grads"] = _flat_grads(model)
        return result

    return safely(EXERCISE, body, fn)


# --- judge side ------------------------------------------------------------------------------------------------

def _candidates(inp: dict) -> dict[str, np.ndarray]:
    """The right residual and the typical mistakes, in float64 (values only: no gradient)."""
    net = SpyFlowMapNet(inp["seed"]).double()
    z, s, t = (inp[k].double() for k in ("z", "s", "t"))
    one, col = torch.ones_like(t), (lambda a: a[:, None])

    def X(s_, t_):
        return z + col(t_ - s_) * net(z, s_, s_ - t_)

    def v(y, time):
        return net(y, time, torch.zeros_like(time))

    with torch.no_grad():
        x, dxdt = torch.func.jvp(lambda t_: X(s, t_), (t,), (one,))
        _, dxds = torch.func.jvp(lambda s_: X(s_, t), (s,), (one,))
        u, dudt = torch.func.jvp(lambda t_: net(z, s, s - t_), (t,), (one,))
        x_flipped, dxdt_flipped = torch.func.jvp(lambda t_: z + col(t_ - s) * net(z, s, t_ - s), (t,), (one,))
        right = dxdt - v(x, t)
        return {k: np_(c) for k, c in {
            "right": right,
            "negated": -right,
            "tangent_on_s": dxds - v(x, t),
            "target_at_start": dxdt - v(z, t),
            "target_at_start_time_s": dxdt - v(z, s),
            "target_time_s": dxdt - v(x, s),
            "no_gap": u + dudt - v(x, t),
            "no_product": col(t - s) * dudt - v(x, t),
            "network_only": dudt - v(x, t),
            "h_flipped": dxdt_flipped - v(x_flipped, t),
            "no_target": dxdt,
        }.items()}


def _gradients(inp: dict) -> dict[str, np.ndarray]:
    """d/dtheta of ||residual||^2 summed: with the velocity target under stop-gradient (right) and without."""
    z, s, t = (inp[k].double() for k in ("z", "s", "t"))

    def grads(stop_gradient: bool) -> np.ndarray:
        net = SpyFlowMapNet(inp["seed"]).double()
        x, dxdt = torch.func.jvp(lambda t_: z + (t_ - s)[:, None] * net(z, s, s - t_), (t,), (torch.ones_like(t),))
        with torch.set_grad_enabled(not stop_gradient):
            target = net(x.detach() if stop_gradient else x, t, torch.zeros_like(t))
        (dxdt - target).pow(2).sum().backward()
        return np.asarray(_flat_grads(net))

    return {"right": grads(True), "no_stop_gradient": grads(False)}


MISTAKES = {  # candidate: (message, score)
    "tangent_on_s": ("the tangent is on the wrong argument: you differentiated the map in its start time s; the "
                     "Lagrangian residual moves the end time t (tangent 1 on t, s and z held)", 0),
    "target_at_start": ("the velocity target is evaluated at the start point z = I_s: it belongs where the map lands, "
                        "at X_{s,t}(z), at time t", 0),
    "target_at_start_time_s": ("the velocity target is evaluated at the start, v(z, s): it belongs where the map lands, "
                               "v(X_{s,t}(z), t)", 0),
    "target_time_s": ("the velocity target is evaluated at time s: at the landing point X_{s,t}(z) the time is t, "
                      "v(X_{s,t}(z), t)", 0),
    "no_gap": ("the factor (t - s) is missing from the derivative: X = z + (t - s) u(z, s, s - t) gives "
               "dX/dt = u + (t - s) du/dt; differentiate the whole map, not the network", 0),
    "no_product": ("only (t - s) du/dt: the product rule's other term is missing, d/dt of (t - s) is 1, so dX/dt = "
                   "u + (t - s) du/dt; differentiate the whole map, not the network", 0),
    "network_only": ("the JVP differentiates the network u alone: the residual needs the derivative of the map "
                     "X_{s,t}(z) = z + (t - s) u(z, s, s - t), whose (t - s) factor is in it", 0),
    "h_flipped": ("the jump's length has the wrong sign: the network takes the start time and the length h = s - t "
                  "(>= 0 from noise towards data), model(z, s, s - t)", 0),
    "no_target": ("returns d/dt X_{s,t}(z) alone: the residual subtracts the diagonal's velocity at the landing "
                  "point, v(X_{s,t}(z), t) = model(X, t, 0)", 0),
}


def judge(outputs: dict) -> Result:
    """Boffi et al. 2025 (LSD): d/dt X_{s,t}(z) - sg[v(X_{s,t}(z), t)]; the gradient only through d/dt X."""
    shape_hint = "t - s has shape (n,) and the network's output (n, 2): make it a column, (t - s)[:, None]"
    if (r := preamble(EXERCISE, outputs, shape_hint)) is not None:
        return r
    got = arr(outputs["residual"])
    inp = inputs()
    cands = _candidates(inp)
    right = cands["right"]
    if got.shape != right.shape:
        return wrong(EXERCISE, f"returns shape {tuple(got.shape)}; expected {tuple(right.shape)}, one residual per point")
    calls, scale = outputs["calls"], float(np.abs(right).max())
    if calls["count"] == 0:
        return wrong(EXERCISE, "the network was never called: the residual needs the map's derivative and the velocity")
    err = min(float(np.abs(got - right).max()), float(np.abs(got + right).max())) / scale
    if err < 1e-4:
        sign = (" (the sign is reversed, target minus derivative: the loss squares it, so it trains the same)"
                if not close(got, right, rtol=1e-4, atol=1e-4 * scale) else "")
        if not outputs["requires_grad"] or outputs["grads"] is None:
            return wrong(EXERCISE, "no gradient reaches the weights: the right numbers, but the residual carries no "
                         "graph, so the loss could not train the map; only the velocity target is a stop-gradient, "
                         "d/dt X must keep its graph (no torch.no_grad() around the JVP)", 1)
        grads = _gradients(inp)
        g = np.asarray(outputs["grads"])
        g_scale = float(np.abs(grads["right"]).max())
        if np.abs(g - grads["no_stop_gradient"]).max() < 1e-3 * g_scale:
            return wrong(EXERCISE, "no stop-gradient on the velocity target: the right numbers, but the gradient also "
                         "flows into v(X, t), so training would pull the diagonal (the teacher) towards the map; "
                         "compute the target under torch.no_grad() (or .detach() it)", 1)
        if np.abs(g - grads["right"]).max() > 1e-3 * g_scale:
            return wrong(EXERCISE, "the right numbers, but the gradient of the squared residual is not that of "
                         "d/dt X with a fixed target: check which parts carry a graph", 1)
        if calls["in_jvp"] == 0:
            return wrong(EXERCISE, "the derivative was not taken by a JVP (the network never saw a JVP's input): "
                         "use torch.func.jvp along t", 1)
        return ok(EXERCISE, f"correct\nresidual = d/dt X_{{s,t}}(z) - v(X_{{s,t}}(z), t) to {fmt(err)} of its size; "
                  f"the gradient flows only through d/dt X{sign}")
    if calls["in_jvp"] == 0 and err < 1e-2:
        return wrong(EXERCISE, f"a finite difference where the JVP is asked: the network never saw a JVP's input, and "
                     f"the error is {fmt(err)} of the residual's size (a JVP is exact to rounding): use "
                     "torch.func.jvp along t", 1)
    for key, (message, score) in MISTAKES.items():
        c = cands[key]
        if close(got, c, rtol=1e-4, atol=1e-4 * scale) or close(got, -c, rtol=1e-4, atol=1e-4 * scale):
            return wrong(EXERCISE, message, score)
    return wrong(EXERCISE, f"residual differs from d/dt X_{{s,t}}(z) - v(X_{{s,t}}(z), t) by up to {fmt(err)} of its size")


def check(fn) -> Result:
    """Notebook 10, Exercise 10.1: lagrangian_residual_student."""
    return reported(EXERCISE, judge(evaluate(fn)))
