"""Notebook 02, Exercise 2.4: one training step of consistency distillation (Song et al. 2023, Alg. 2, the body of its loop).

``cd_step_student(model, target, ema, optimizer, loss_fn, x0, target_decay) -> float``: the loss (which draws the
levels and the noise itself), the optimizer's step on the online network, then the target EMA and the evaluation
EMA follow the new weights. The package's ``training.distillation_step`` has the same signature.

The check runs one step on spies that write one shared log: an SGD optimizer that logs ``zero_grad`` and ``step``
and keeps the gradient it stepped with, a loss that logs its call (and the backward pass through it), target and
evaluation averages that log their updates. The online model's ``.grad`` holds a previous step's gradient when the
step starts, as it does in a loop.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._judging import Result, arr, close, fmt, ok, preamble, reported, wrong
from ._kernel import Exercise, StudentError, call, floats, gen, safely

EXERCISE = Exercise("cd_step", 1, "02", "Exercise 2.4: one training step of distillation", ("cd_step_student",), rank=4,
                    answers=('training.distillation_step',))
LR, MU, EVAL_DECAY, STALE = 0.1, 0.9, 0.5, 3.0  # SGD rate, target decay, the spy eval EMA's decay, a leftover gradient


# --- kernel side -----------------------------------------------------------------------------------------------


class StepNet(nn.Module):
    """f(x, sigma) = W x + b with weights set from ``seed`` (sigma is ignored)."""

    def __init__(self, seed: int):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        g = gen(seed)
        with torch.no_grad():
            for p in self.lin.parameters():
                p.copy_(torch.randn(p.shape, generator=g))

    def forward(self, x: torch.Tensor, sigma=None) -> torch.Tensor:
        return self.lin(x)


class Roles:
    """The models of one step, so that a spy can say which one it was handed."""

    def __init__(self):
        self.models: dict[str, nn.Module] = {}

    def of(self, obj) -> str:
        return next((k for k, m in self.models.items() if obj is m), type(obj).__name__)


class LoggingSGD(torch.optim.SGD):
    """SGD that logs zero_grad and step, and keeps (a copy of) the gradients it stepped with."""

    def __init__(self, params, log: list[str]):
        super().__init__(params, lr=LR)
        self.log, self.stepped_with = log, None

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.log.append("zero_grad")
        super().zero_grad(set_to_none=set_to_none)

    def step(self, closure=None):
        self.log.append("step")
        self.stepped_with = [None if p.grad is None else p.grad.detach().clone() for g in self.param_groups for p in g["params"]]
        return super().step(closure)


class SpyAverage:
    """A target or evaluation EMA (``.model``, ``.update``) that logs each update and what it averaged in."""

    def __init__(self, kind: str, seed: int, log: list[str], roles: Roles, decay: float | None = None):
        self.kind, self.log, self.roles, self.decay = kind, log, roles, decay
        self.model = StepNet(seed).requires_grad_(False).eval()
        self.calls: list[dict] = []
        self.snapshot()

    def snapshot(self) -> None:
        """Remember the weights as only this average's updates leave them."""
        self.kept = [p.detach().clone() for p in self.model.parameters()]

    def touched(self) -> bool:
        """True if something other than ``update`` changed the weights."""
        return not all(torch.equal(p, k) for p, k in zip(self.model.parameters(), self.kept, strict=True))

    def _average(self, model, decay) -> None:
        if not isinstance(model, nn.Module):
            raise StudentError(f"{self.kind}.update got {type(model).__name__}, expected the online model")
        decay = float(decay)
        with torch.no_grad():
            for p_ema, p in zip(self.model.parameters(), model.parameters(), strict=True):
                p_ema.lerp_(p.detach(), 1 - decay)
        self.snapshot()


class SpyTargetEMA(SpyAverage):
    def update(self, model, decay) -> None:
        self.log.append("target.update")
        self.calls.append({"model": self.roles.of(model), "decay": float(decay) if isinstance(decay, (int, float)) else None})
        self._average(model, decay)


class SpyEvalEMA(SpyAverage):
    def update(self, model) -> None:
        self.log.append("ema.update")
        self.calls.append({"model": self.roles.of(model)})
        self._average(model, EVAL_DECAY)


class SpyLoss:
    """loss_fn(model, target_model, x0): a squared distance with the target under no_grad, like the CD loss."""

    def __init__(self, log: list[str], roles: Roles):
        self.log, self.roles = log, roles
        self.calls: list[dict] = []

    def __call__(self, model, target_model, x0):
        self.log.append("loss")
        self.calls.append({"model": self.roles.of(model), "target_model": self.roles.of(target_model)})
        with torch.no_grad():
            target = target_model(x0 + 0.25, 1.0)
        out = model(x0, 2.0)
        if out.requires_grad:
            out.register_hook(lambda grad: self.log.append("backward") or grad)
        return (out - target).pow(2).sum(1).mean()


def setup() -> dict:
    """The step's arguments, and the spies that watch it (fresh each time: the same numbers each time)."""
    log, roles = [], Roles()
    model = StepNet(61)
    for p in model.parameters():
        p.grad = torch.full_like(p, STALE)  # what the previous step left in .grad
    target = SpyTargetEMA("target", 62, log, roles)
    ema = SpyEvalEMA("ema", 63, log, roles)
    roles.models = {"the online model": model, "target.model": target.model, "ema.model": ema.model,
                    "target (the TargetEMA; its network is target.model)": target, "ema (the EvalEMA)": ema}
    x0 = torch.randn(32, 2, generator=gen(64))
    return {"model": model, "target": target, "ema": ema, "optimizer": LoggingSGD(model.parameters(), log),
            "loss_fn": SpyLoss(log, roles), "x0": x0, "log": log}


def _weights(module: nn.Module) -> list[dict]:
    return [floats(p, "weight") for p in module.parameters()]


def evaluate(fn) -> dict:
    """The log of one step, the gradient the optimizer stepped with, every model's weights after it, the return value."""

    def body() -> dict:
        s = setup()
        out: dict = {"error_in_step": None}
        try:
            ret = call(fn, s["model"], s["target"], s["ema"], s["optimizer"], s["loss_fn"], s["x0"], MU)
            out["returned"] = ("tensor with graph" if isinstance(ret, torch.Tensor) and ret.requires_grad else
                               "none" if ret is None else "number" if _is_number(ret) else type(ret).__name__)
        except StudentError as err:
            out["error_in_step"] = str(err)
        stepped = s["optimizer"].stepped_with
        out.update(log=list(s["log"]), loss_calls=s["loss_fn"].calls, target_calls=s["target"].calls,
                   ema_calls=s["ema"].calls, model=_weights(s["model"]), target=_weights(s["target"].model),
                   eval=_weights(s["ema"].model),
                   stepped_with=None if stepped is None else [None if g is None else floats(g, "grad") for g in stepped],
                   target_grad=any(p.grad is not None for p in s["target"].model.parameters()),
                   target_touched=s["target"].touched(), eval_touched=s["ema"].touched())
        return out

    return safely(EXERCISE, body, fn)


def _is_number(v) -> bool:
    if isinstance(v, torch.Tensor):
        return v.numel() == 1
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


# --- judge side ------------------------------------------------------------------------------------------------


def _expected() -> dict:
    """One correct step on the same spies: the fresh gradient and every model's weights after it."""
    s = setup()
    model, opt = s["model"], s["optimizer"]
    loss = s["loss_fn"](model, s["target"].model, s["x0"])
    opt.zero_grad()
    loss.backward()
    fresh = [p.grad.detach().clone() for p in model.parameters()]
    opt.step()
    s["target"].update(model, MU)
    s["ema"].update(model)
    return {"fresh": [g.double().numpy() for g in fresh], "model": [p.detach().double().numpy() for p in model.parameters()],
            "target": [p.double().numpy() for p in s["target"].model.parameters()],
            "eval": [p.double().numpy() for p in s["ema"].model.parameters()], "loss": loss.detach().item()}


def _same(got: list[dict], expected: list[np.ndarray]) -> bool:
    return len(got) == len(expected) and all(close(arr(a), b, rtol=1e-5, atol=1e-7) for a, b in zip(got, expected, strict=True))


def _order(log: list[str]) -> str:
    return f" (your step's calls, in order: {', '.join(log)})"


def _gradient_problems(outputs: dict, exp: dict, log: list[str]) -> list[str]:
    if "step" not in log:
        return ["optimizer.step() was never called: the online model's weights did not move"]
    if "backward" not in log[: log.index("step")]:
        return ["loss.backward() did not run before optimizer.step(): the step had no gradient of this loss" + _order(log)]
    stepped = outputs.get("stepped_with") or []
    if any(g is None for g in stepped) or not stepped:
        return ["optimizer.zero_grad() ran between loss.backward() and optimizer.step(): the step had no gradient left"
                + _order(log)]
    grads = [arr(g) for g in stepped]
    if all(close(g, f) for g, f in zip(grads, exp["fresh"], strict=True)):
        return []
    if all(close(g, f + STALE) for g, f in zip(grads, exp["fresh"], strict=True)):
        if "zero_grad" in log[log.index("step"):]:
            return [f"optimizer.zero_grad() ran after optimizer.step(), not before loss.backward(): the step began with the "
                    f"previous step's gradient ({STALE:g} in every entry here) still in .grad, and backward() added this "
                    "step's to it; clear the gradients before loss.backward()"]
        return [f"missing zero_grad: the previous step's gradient ({STALE:g} in every entry here) was still in .grad and "
                "backward() added this step's to it; clear the gradients before loss.backward()"]
    flat, fresh = np.concatenate([g.ravel() for g in grads]), np.concatenate([f.ravel() for f in exp["fresh"]])
    scale = float(flat @ fresh / (fresh @ fresh))
    if 0 < scale < 1 - 1e-6 and close(flat, scale * fresh):
        return [f"the gradient was rescaled before the step (to norm {fmt(float(np.linalg.norm(flat)))}, from "
                f"{fmt(float(np.linalg.norm(fresh)))}: clipped, as the lesson text's clip_grad_norm_ does); Algorithm 2 "
                "steps with the loss's gradient as it is"]
    if all(not g.any() for g in grads):
        return ["optimizer.zero_grad() ran between loss.backward() and optimizer.step(): the step had no gradient left"]
    return ["the optimizer stepped with a gradient other than this loss's: one loss.backward() per step, after zero_grad()"]


def _update_problems(calls: list[dict], log: list[str], step_at: int | None, average: str, update: str, never: str) -> list[str]:
    """What is wrong with one average's updates (``average`` names it, ``update`` is its call in the log): never made,
    made before the optimizer step, of another model than the online one, or more than once."""
    if not calls:
        return [f"the {average} was never updated: {never}"]
    problems = []
    if step_at is not None and log.index(update) < step_at:
        problems.append(f"the {average} was updated before the optimizer step: it averaged in the weights from before "
                        "this step; update it after optimizer.step()" + _order(log))
    if calls[0]["model"] != "the online model":
        problems.append(f"{update} got {calls[0]['model']}: the {average} averages in the online model")
    if len(calls) > 1:
        problems.append(f"the {average} was updated {len(calls)} times in one step: once")
    return problems


def _average_problems(outputs: dict, log: list[str]) -> list[str]:
    step_at = log.index("step") if "step" in log else None  # no step: that is the problem named, not the order
    problems = []
    if outputs.get("target_grad"):
        problems.append("gradient reached the target network: it must only ever change by the EMA update")
    t_calls = outputs["target_calls"]
    problems += _update_problems(t_calls, log, step_at, "target EMA", "target.update", "after the optimizer's step, "
                                 "target.update(model, target_decay) moves it a little toward the online model")
    decay = t_calls[0]["decay"] if t_calls else None
    if decay is not None and abs(decay - MU) > 1e-9:
        wrong_way = f" (the wrong way round: it keeps {MU:g} of the old target)" if abs(decay - (1 - MU)) < 1e-9 else ""
        problems.append(f"target.update got decay {fmt(decay)}, not target_decay = {MU:g}{wrong_way}")
    problems += _update_problems(outputs["ema_calls"], log, step_at, "evaluation EMA", "ema.update",
                                 "call ema.update(model) after every step (samples come from ema.model)")
    if outputs.get("target_touched"):
        problems.append("target.model's weights changed other than by target.update (an optimizer step or a copy): "
                        "only the EMA update may move the target")
    if outputs.get("eval_touched"):
        problems.append("ema.model's weights changed other than by ema.update: only the EMA update may move them")
    return problems


def judge(outputs: dict) -> Result:
    """Loss, zero_grad, backward, optimizer step; then target.update(model, target_decay) and ema.update(model)."""
    if (r := preamble(EXERCISE, outputs)) is not None:
        return r
    exp, log = _expected(), outputs["log"]
    problems = []
    calls = outputs["loss_calls"]
    if not calls:
        problems.append("loss_fn was never called: the step starts with loss_fn(model, target.model, x0)")
    else:
        roles = calls[0]
        if roles["model"] != "the online model":
            problems.append(f"loss_fn got {roles['model']} as the network being trained: the online model comes first "
                            "(its gradient is what the optimizer uses)")
        if roles["target_model"] != "target.model":
            problems.append(f"loss_fn got {roles['target_model']} as the target: the targets come from target.model, the "
                            "slow EMA copy")
        if len(calls) > 1:
            problems.append(f"loss_fn was called {len(calls)} times: once per step (each call draws new levels and noise)")
    if not problems:
        problems += _gradient_problems(outputs, exp, log)
    if not outputs.get("error_in_step"):
        problems += _average_problems(outputs, log)
    if outputs.get("error_in_step"):
        problems.append(f"your step raised an error: {outputs['error_in_step']}")
    elif not problems and not _same(outputs["model"], exp["model"]):
        problems.append("the online model's weights differ from one optimizer step with this loss's gradient")
    if not problems and outputs.get("returned") != "number":
        what = {"tensor with graph": "the loss tensor, graph and all (a history of them keeps every graph alive)",
                "none": "None"}.get(outputs.get("returned"), outputs.get("returned"))
        problems.append(f"returned {what}: return the loss as a float, loss.item()")
    if problems:
        return wrong(EXERCISE, "\n".join(problems))
    return ok(EXERCISE, f"correct\nloss {fmt(exp['loss'])}, one optimizer step on fresh gradients, then the target EMA "
              f"(decay {MU:g}) and the evaluation EMA, both after the step")


def check(fn) -> Result:
    """Notebook 02, Exercise 2.4: cd_step_student."""
    return reported(EXERCISE, judge(evaluate(fn)))
