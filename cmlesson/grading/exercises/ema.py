"""Notebook 04, Exercise 4.1: the EMA update of a model's weights, in place: theta_ema <- decay theta_ema + (1 - decay)
theta, buffers copied (the target update of Song et al. 2023, Alg. 2 and 3; the package's ``ema.ema_update_``)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._judging import Result, arr, close, ema_update_, fmt, np_, ok, preamble, reported, wrong
from ._kernel import Exercise, call, floats, gen, safely

EXERCISE = Exercise("ema", 1, "04", "Exercise 4.1: the EMA update", ("ema_update_student",), rank=1,
                    answers=('ema.ema_update_',))


# --- kernel side -----------------------------------------------------------------------------------------------

class EmaNet(nn.Module):
    """Two linear layers and two buffers (a float running mean, an int counter), every value set from ``seed``."""

    def __init__(self, seed: int):
        super().__init__()
        g = gen(seed)
        self.hidden, self.out = nn.Linear(3, 4), nn.Linear(4, 2)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g))
        self.register_buffer("running_mean", torch.randn(4, generator=g))
        self.register_buffer("steps", torch.tensor(seed, dtype=torch.int64))


def inputs() -> tuple[nn.Module, nn.Module, float]:
    """(ema_model, model, decay): the EMA copy is frozen like ``cmlesson.ema.frozen_copy`` makes it."""
    with torch.random.fork_rng(devices=[]):
        return EmaNet(31).requires_grad_(False).eval(), EmaNet(32), 0.9


def _state(module: nn.Module) -> dict:
    return {k: floats(v, k) for k, v in module.state_dict().items()}


def evaluate(fn) -> dict:
    """Both models' parameters and buffers after one update, and whether the function returned None."""

    def body() -> dict:
        ema_model, model, decay = inputs()
        returned = call(fn, ema_model, model, decay)
        return {"returned_none": returned is None, "ema": _state(ema_model), "model": _state(model)}

    return safely(EXERCISE, body, fn)


# --- judge side ------------------------------------------------------------------------------------------------

def _ema_expected(decay_for_params: float | None, copy_buffers: bool) -> dict[str, np.ndarray]:
    ema_model, model, decay = inputs()
    with torch.no_grad():
        if decay_for_params is not None:
            for p_ema, p in zip(ema_model.parameters(), model.parameters(), strict=True):
                p_ema.mul_(decay_for_params).add_(p, alpha=1 - decay_for_params)
        if copy_buffers:
            for b_ema, b in zip(ema_model.buffers(), model.buffers(), strict=True):
                b_ema.copy_(b)
    return {k: np_(v) for k, v in ema_model.state_dict().items()}


def judge(outputs: dict) -> Result:
    """In place: parameters theta_ema <- decay theta_ema + (1 - decay) theta; buffers copied; the online model untouched."""
    if (r := preamble(EXERCISE, outputs)) is not None:
        return r
    ema_model, model, decay = inputs()
    start = {k: np_(v) for k, v in ema_model.state_dict().items()}
    online = {k: np_(v) for k, v in model.state_dict().items()}
    ema_update_(ema_model, model, decay)
    expected = {k: np_(v) for k, v in ema_model.state_dict().items()}
    got = {k: arr(v) for k, v in outputs["ema"].items()}
    got_online = {k: arr(v) for k, v in outputs["model"].items()}
    if set(got) != set(expected):
        return wrong(EXERCISE, f"ema_model's entries changed: {sorted(got)} instead of {sorted(expected)}")
    params = [k for k, _ in ema_model.named_parameters()]
    buffers = [k for k, _ in ema_model.named_buffers()]

    def same(a: dict, b: dict, keys: list[str]) -> bool:
        return all(close(a[k], b[k], rtol=1e-5, atol=1e-7) for k in keys)

    problems = []
    into_online = {k: decay * online[k] + (1 - decay) * start[k] for k in params}  # the average written into model
    into_online_swapped = {k: expected[k] for k in params}
    averaged_online = not same(got_online, online, params) and same(got, start, params) and (
        same(got_online, into_online, params) or same(got_online, into_online_swapped, params))
    if averaged_online:
        problems.append("the update went into model, the online network, and ema_model's parameters did not move: "
                        "write the average into ema_model's tensors (the target) and only read model's")
    elif not same(got_online, online, list(online)):
        problems.append("you changed model (the online network): only ema_model may change")
    if not same(got, expected, params) and not averaged_online:
        if same(got, start, params):
            returned = "" if outputs.get("returned_none", True) else (
                " (your function returns a value, but the training loop ignores it: the average lives in ema_model)")
            problems.append("ema_model's parameters did not change: update them in place, changing the tensors of "
                            "ema_model themselves (in-place operations under torch.no_grad()); assigning a new tensor "
                            f"or a new model to a name changes nothing outside your function{returned}")
        elif same(got, _ema_expected(1 - decay, True), params):
            problems.append(f"decay applied the wrong way round: with decay = {decay} the average keeps {decay} of "
                            f"theta_ema and takes {1 - decay:.1f} of theta, yours keeps {1 - decay:.1f}")
        else:
            k = next(k for k in params if not close(got[k], expected[k], rtol=1e-5, atol=1e-7))
            problems.append(f"parameter {k}: yours {fmt(got[k].ravel()[0])}, expected {fmt(expected[k].ravel()[0])} "
                            f"= {decay} x {fmt(start[k].ravel()[0])} + {1 - decay:.1f} x {fmt(online[k].ravel()[0])}")
    if not same(got, expected, buffers):
        if same(got, start, buffers):
            problems.append("buffers not copied: ema_model's buffers (running statistics, counters) must be copied from model")
        else:
            problems.append("buffers averaged or altered: copy them from model as they are")
    if problems:
        return wrong(EXERCISE, "\n".join(problems))
    note = "" if outputs.get("returned_none", True) else " (it returns a value; an in-place update returns None)"
    return ok(EXERCISE, f"correct\nparameters averaged in place with decay {decay}, buffers copied, model untouched{note}")


def check(fn) -> Result:
    """Notebook 04, Exercise 4.1: ema_update_student."""
    return reported(EXERCISE, judge(evaluate(fn)))
