"""Notebook 05, Exercise 5.1a: the consistency training loss (Song et al. 2023, Alg. 3).

``ct_loss_student(model, target_model, x0, sigmas, generator)``: one level index i per point, one z, the online
model on x0 + sigma_i z, the target (no gradient) on x0 + sigma_{i+1} z, the squared L2 distance averaged over the
batch (the package's ``losses.consistency_training_loss``). The check hands it two spies that record what they saw.
"""

from __future__ import annotations

import numpy as np
import torch

from ._fixtures import SIGMAS, ConstNet, SpyNet, grad_norm, recorded_calls
from ._judging import Result, arr, close, fmt, loss_verdict, losses, np_, preamble, reported
from ._kernel import Exercise, StudentError, call, floats, gen, name, safely

EXERCISE = Exercise("ct_loss", 2, "05", "Exercise 5.1a: the consistency training loss", ("ct_loss_student",), rank=1,
                    answers=('losses.consistency_training_loss', 'losses.consistency_loss'))


# --- kernel side -----------------------------------------------------------------------------------------------

def inputs() -> dict:
    """Online and target spies with different weights, a batch x0, a decreasing schedule, the generator's seed."""
    x0 = 0.5 * torch.randn(64, 2, generator=gen(23))
    return {"model": SpyNet(21), "target": SpyNet(22), "x0": x0, "sigmas": torch.tensor(SIGMAS), "seed": 24}


def evaluate(fn) -> dict:
    """The loss, the gradients after backward(), every call of both models, and the loss when they coincide."""

    def body() -> dict:
        inp = inputs()
        model, target = inp["model"], inp["target"]
        loss = call(fn, model, target, inp["x0"].clone(), inp["sigmas"].clone(), gen(inp["seed"]))
        if not isinstance(loss, torch.Tensor):
            raise StudentError(f"{name(fn)} returned {type(loss).__name__}, expected a scalar tensor (keep the graph)")
        out = {"loss": floats(loss, name(fn)), "requires_grad": bool(loss.requires_grad)}
        if loss.requires_grad and loss.numel() == 1:
            call(loss.backward)
        out.update(online_grad=grad_norm(model), target_grad=grad_norm(target),
                   online_calls=recorded_calls(model.calls), target_calls=recorded_calls(target.calls))
        zero = call(fn, ConstNet(), ConstNet(), inp["x0"].clone(), inp["sigmas"].clone(), gen(inp["seed"]))
        out["zero_case"] = floats(zero, name(fn))
        return out

    return safely(EXERCISE, body, fn)


# --- judge side ------------------------------------------------------------------------------------------------

def _pair_problems(outputs: dict, inp: dict, hi: np.ndarray, lo: np.ndarray, z: np.ndarray) -> list[str]:
    """Which levels and noise the online and target models saw, against Alg. 3's."""
    on, tg = outputs["online_calls"], outputs["target_calls"]
    if on["count"] == 0:
        return ["the online model was never called"]
    if tg["count"] == 0:
        return ["target_model was never called: the lower level of the pair goes through the target network"]
    x_on, s_on, x_tg, s_tg = arr(on["x"]), arr(on["sigma"]), arr(tg["x"]), arr(tg["sigma"])
    n = len(hi)
    if len(s_on) != n or len(s_tg) != n:
        return []  # several calls per model: nothing to line up
    problems = []
    if n > 1 and np.all(s_on == s_on[0]) and np.all(s_tg == s_tg[0]):
        problems.append(f"one pair of levels for the whole batch (every point at {fmt(s_on[0])} and {fmt(s_tg[0])}): "
                        "draw one level index per point, n of them")
    elif close(s_on, lo) and close(s_tg, hi):
        problems.append("pair reversed: the online model is on the lower level sigmas[i + 1] and the target on the higher; "
                        "cmlesson's sigmas decrease (high noise first), so the online model goes on sigmas[i]")
    elif not (close(s_on, hi) and close(s_tg, lo)):
        if np.all(s_on > s_tg):
            problems.append("levels not drawn as in the contract: first i = torch.randint(0, len(sigmas) - 1, (n,), "
                            "generator=generator), then z = torch.randn(x0.shape, generator=generator)")
        else:
            problems.append("the online and target levels are not an adjacent pair (sigmas[i], sigmas[i + 1])")
    x0 = np_(inp["x0"])
    z_on, z_tg = (x_on - x0) / s_on[:, None], (x_tg - x0) / s_tg[:, None]
    if not close(z_on, z_tg, rtol=1e-3, atol=1e-4):
        problems.append("different noise at the two levels: use one z for both x0 + sigma_hi z and x0 + sigma_lo z")
    elif not problems and not close(z_on, z, rtol=1e-3, atol=1e-4):
        problems.append("noise not drawn as in the contract: z = torch.randn(x0.shape, generator=generator), after i")
    return problems


def judge(outputs: dict) -> Result:
    """Song et al. 2023, Alg. 3: online on sigma_hi, target (no grad) on sigma_lo, the same z, squared L2, batch mean."""
    shape_hint = ("the levels sigmas[i] have shape (n,) and the points (n, 2): make the levels a column, shape (n, 1), "
                  "before they multiply z (the models themselves take the (n,) levels)")
    if (r := preamble(EXERCISE, outputs, shape_hint)) is not None:
        return r
    inp = inputs()
    expected = losses.consistency_training_loss(inp["model"], inp["target"], inp["x0"], inp["sigmas"],
                                                generator=gen(inp["seed"])).item()
    g, n = gen(inp["seed"]), len(inp["x0"])
    i = torch.randint(0, len(inp["sigmas"]) - 1, (n,), generator=g)
    z = np_(torch.randn(inp["x0"].shape, generator=g))
    hi, lo = np_(inp["sigmas"][i]), np_(inp["sigmas"][i + 1])
    return loss_verdict(EXERCISE, outputs, expected, n, _pair_problems(outputs, inp, hi, lo, z),
                        "target_model(x_lo, sigma_lo), not with x0",
                        "correct\nloss = {loss} as in Alg. 3 (online on sigma_hi, target without gradient on sigma_lo, "
                        "same z); 0 when model and target coincide")


def check(fn) -> Result:
    """Notebook 05, Exercise 5.1a: ct_loss_student."""
    return reported(EXERCISE, judge(evaluate(fn)))
