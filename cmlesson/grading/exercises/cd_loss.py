"""Notebook 02, Exercise 2.3: the consistency distillation loss (Song et al. 2023, Alg. 2), with the student's own ODE step.

The signature is the package's, ``(model, target_model, teacher, x0, sigmas, *, ode_step, generator)``, so that
``losses.consistency_distillation_loss`` can stand in for it. The check hands it spies: online and target networks
that record the points and levels they see and whether gradients were on, a teacher with a closed-form ODE (data
N(m, s^2 I)), and an ODE step that records how it was called. The judge reads the pair the two networks saw and says
which of the typical mistakes it is, from the recorded points themselves (so it does not depend on the draw order).
"""

from __future__ import annotations

import numpy as np
import torch

from ._fixtures import SIGMAS, ConstNet, GaussianDenoiser, SpyNet, grad_norm, recorded_calls
from ._judging import Result, arr, close, fmt, loss_verdict, losses, np_, preamble, reported, samplers
from ._kernel import Exercise, StudentError, call, col, floats, gen, name, safely

EXERCISE = Exercise("cd_loss", 2, "02", "Exercise 2.3: the consistency distillation loss (Alg. 2)", ("cd_loss_student",), rank=3,
                    answers=('losses.consistency_distillation_loss', 'losses.consistency_loss', 'samplers.heun_step'))
BATCH = 64


# --- kernel side -----------------------------------------------------------------------------------------------


class SpyODEStep:
    """A Heun step of the teacher's ODE, ``(denoiser, x, sigma, sigma_next) -> x'``, that records its levels."""

    def __init__(self):
        self.calls: list[dict] = []

    def __call__(self, denoiser, x: torch.Tensor, sigma, sigma_next) -> torch.Tensor:
        s, sn = col(sigma, x), col(sigma_next, x)
        self.calls.append({"sigma": floats(s.detach().reshape(-1), "sigma"),
                           "sigma_next": floats(sn.detach().reshape(-1), "sigma_next")})
        d = (x - denoiser(x, sigma)) / s
        x_euler = x + (sn - s) * d
        d_next = (x_euler - denoiser(x_euler, sigma_next)) / sn
        return x + (sn - s) * (d + d_next) / 2


def inputs() -> dict:
    """Online and target spies with different weights, the Gaussian teacher, a batch x0 from its data, a decreasing
    schedule, and the generator's seed."""
    x0 = GaussianDenoiser().m + 0.5 * torch.randn(BATCH, 2, generator=gen(43))
    return {"model": SpyNet(41), "target": SpyNet(42), "teacher": GaussianDenoiser(), "x0": x0,
            "sigmas": torch.tensor(SIGMAS), "seed": 44}


def _call(fn, *args, **kwargs):
    """``call`` with keyword arguments (the student's function keeps its name in the error)."""
    def bound():
        return fn(*args, **kwargs)

    bound.__name__ = name(fn)
    return call(bound)


def evaluate(fn) -> dict:
    """The loss, the gradients after backward(), every call of both networks and of the ODE step, and the loss when
    online and target coincide."""

    def body() -> dict:
        inp = inputs()
        model, target, teacher, step = inp["model"], inp["target"], inp["teacher"], SpyODEStep()
        loss = _call(fn, model, target, teacher, inp["x0"].clone(), inp["sigmas"].clone(), ode_step=step,
                     generator=gen(inp["seed"]))
        if not isinstance(loss, torch.Tensor):
            raise StudentError(f"{name(fn)} returned {type(loss).__name__}, expected a scalar tensor (keep the graph)")
        out = {"loss": floats(loss, name(fn)), "requires_grad": bool(loss.requires_grad)}
        if loss.requires_grad and loss.numel() == 1:
            call(loss.backward)
        out.update(online_grad=grad_norm(model), target_grad=grad_norm(target), online_calls=recorded_calls(model.calls),
                   target_calls=recorded_calls(target.calls), teacher_calls=teacher.calls, ode_calls=step.calls[:2])
        zero = _call(fn, ConstNet(), ConstNet(), GaussianDenoiser(), inp["x0"].clone(), inp["sigmas"].clone(),
                     ode_step=SpyODEStep(), generator=gen(inp["seed"]))
        out["zero_case"] = floats(zero, name(fn))
        return out

    return safely(EXERCISE, body, fn)


# --- judge side ------------------------------------------------------------------------------------------------


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(a, dtype=torch.float64)


def _teacher_points(x_hi: np.ndarray, s_hi: np.ndarray, s_lo: np.ndarray) -> dict[str, np.ndarray]:
    """Where the teacher lands from x_hi: a Heun step down, an Euler step down, and steps the wrong way."""
    den, x, hi, lo = GaussianDenoiser(), _t(x_hi), _t(s_hi), _t(s_lo)
    den.m = den.m.double()
    return {"heun": np_(samplers.heun_step(den, x, hi, lo)), "euler": np_(samplers.euler_step(den, x, hi, lo)),
            "up": np_(samplers.heun_step(den, x, lo, hi)), "up_euler": np_(samplers.euler_step(den, x, lo, hi))}


def _lower_point_problem(x0: np.ndarray, x_hi: np.ndarray, s_hi: np.ndarray, x_lo: np.ndarray, s_lo: np.ndarray,
                         outputs: dict) -> str | None:
    """What the point on the cleaner side is, if it is not the teacher's Heun step from the noisier point."""
    pts = _teacher_points(x_hi, s_hi, s_lo)
    if close(x_lo, pts["heun"], rtol=1e-4, atol=1e-5):
        return None
    gap = fmt(float(np.abs(x_lo - pts["heun"]).max()))
    if close(x_lo, pts["euler"], rtol=1e-4, atol=1e-5):
        return (f"an Euler step where Heun is asked: the target's point is one Euler step of the teacher from x_hi "
                f"({gap} from the Heun step); take the step with ode_step, your Heun step, which the loss is given")
    if close(x_lo, pts["up"], rtol=1e-4, atol=1e-5) or close(x_lo, pts["up_euler"], rtol=1e-4, atol=1e-5):
        return (f"the teacher stepped the wrong way: from sigma_lo up to sigma_hi (first row: {fmt(s_lo[0])} -> "
                f"{fmt(s_hi[0])}) instead of from sigma_hi down to sigma_lo; ode_step(teacher, x, sigma, sigma_next) walks "
                f"from sigma to sigma_next (the target's point is {gap} from the right one)")
    if close(x_lo, x_hi, rtol=1e-5, atol=1e-7):
        return ("the target network got x_hi itself, the online network's point: it gets the teacher's ODE step from "
                "x_hi down to sigma_lo")
    from_x0 = _teacher_points(x0, s_hi, s_lo)
    if close(x_lo, from_x0["heun"], rtol=1e-4, atol=1e-5) or close(x_lo, from_x0["euler"], rtol=1e-4, atol=1e-5):
        return ("the teacher stepped from the clean x0, not from the noisy x_hi: the target's point is its ODE step "
                "from x_hi = x0 + sigma_hi z down to sigma_lo")
    w_lo, w_hi = (x_lo - x0) / s_lo[:, None], (x_hi - x0) / s_hi[:, None]
    if close(w_lo, w_hi, rtol=1e-3, atol=1e-4):
        return ("the target's point is x0 + sigma_lo z with the same z as x_hi: that is consistency training's pair "
                "(notebook 3); in distillation the cleaner point is the teacher's ODE step from x_hi down to sigma_lo")
    corr = float(np.corrcoef(w_lo.ravel(), w_hi.ravel())[0, 1])
    if abs(float(w_lo.std()) - 1) < 0.3 and abs(corr) < 0.5:
        return (f"fresh noise where the teacher's point is needed: the target saw x0 + sigma_lo z' with new noise z' "
                f"(correlation {corr:.2f} with the z of x_hi), which lies on another trajectory; the target's point is "
                "the teacher's ODE step from x_hi down to sigma_lo")
    calls = outputs.get("ode_calls") or []
    note = "; ode_step was never called" if not calls else ""
    return f"the target's point is not the teacher's Heun step from x_hi down to sigma_lo: off by up to {gap}{note}"


def _pair_problems(outputs: dict, inp: dict) -> list[str]:
    """Which points and levels the online and target networks saw, against Alg. 2's."""
    on, tg = outputs["online_calls"], outputs["target_calls"]
    if on["count"] == 0:
        return ["the online model was never called"]
    if tg["count"] == 0:
        if len(on["grad"]) >= 2:
            levels = arr(on["sigma"]).reshape(len(on["grad"]), -1).mean(axis=1)
            grad = ("; its call at the lower level ran with gradients on, where the target side takes none "
                    "(torch.no_grad())" if on["grad"][int(levels.argmin())] else "")
            return [f"the target comes from the online model (called {len(on['grad'])} times), not from target_model, "
                    f"the slow average theta^-{grad}"]
        return ["target_model was never called: the cleaner point of the pair goes through the target network"]
    n, grid = BATCH, np.asarray(SIGMAS)
    x_on, s_on, x_tg, s_tg = arr(on["x"])[:n], arr(on["sigma"])[:n], arr(tg["x"])[:n], arr(tg["sigma"])[:n]
    if len(s_on) != n or len(s_tg) != n:
        return [f"each network should see the whole batch of {n} points once"]
    problems = []
    if np.all(s_on < s_tg):
        problems.append(f"pair reversed: the target network is on the noisier point and the online network on the cleaner "
                        f"one (first row: online at sigma = {fmt(s_on[0])}, target at {fmt(s_tg[0])}); the online network "
                        "goes on x_hi, the target on the teacher's point at sigma_lo, so that correct answers spread upward "
                        "from the boundary at sigma_min")
        x_hi, s_hi, x_lo, s_lo = x_tg, s_tg, x_on, s_on
        up = _teacher_points(x_on, s_on, s_tg)  # the teacher stepping up from the online point
        if close(x_tg, up["heun"], rtol=1e-4, atol=1e-5) or close(x_tg, up["euler"], rtol=1e-4, atol=1e-5):
            problems.append("this is the lesson text's reversed loss: noise added at the lower level and the teacher "
                            "stepped up from it to the higher one for the target; draw x_hi = x0 + sigma_hi z and let "
                            "the teacher step down from it")
            return problems
    elif np.all(s_on > s_tg):
        x_hi, s_hi, x_lo, s_lo = x_on, s_on, x_tg, s_tg
    elif close(s_on, s_tg):
        return ["the online and target networks were called at the same level: the pair is (sigmas[i], sigmas[i + 1])"]
    else:
        return ["the online and target levels are not a pair (sigmas[i], sigmas[i + 1]) with the online one higher"]
    idx = np.abs(grid[None, :] - s_hi[:, None]).argmin(axis=1)
    below = grid[np.minimum(idx + 1, len(grid) - 1)]
    if not (close(s_hi, grid[idx], rtol=1e-5) and np.all(idx < len(grid) - 1) and close(s_lo, below, rtol=1e-5)):
        problems.append("the two levels are not adjacent in the schedule: the pair is (sigmas[i], sigmas[i + 1])")
        return problems
    x0 = np_(inp["x0"])
    lower = _lower_point_problem(x0, x_hi, s_hi, x_lo, s_lo, outputs)
    if lower:
        problems.append(lower)
    if not problems:
        g = gen(inp["seed"])
        i = torch.randint(0, len(grid) - 1, (n,), generator=g)
        z = np_(torch.randn(inp["x0"].shape, generator=g))
        if not np.array_equal(idx, i.numpy()):
            problems.append("levels not drawn as in the contract: first i = torch.randint(0, len(sigmas) - 1, (n,), "
                            "generator=generator), then z = torch.randn(x0.shape, generator=generator)")
        elif not close(x_hi, x0 + s_hi[:, None] * z, rtol=1e-4, atol=1e-5):
            problems.append("the noisier point is not x0 + sigma_hi z with z = torch.randn(x0.shape, generator=generator) "
                            "drawn right after i")
    return problems


def _distance_problems(outputs: dict, inp: dict, expected: float) -> list[str]:
    """A right pair compared with a distance other than the squared L2 one: named when the loss is its value."""
    loss = arr(outputs["loss"]).ravel()
    if loss.size != 1 or close(loss, [expected], rtol=1e-4, atol=1e-7):
        return []
    distances = {"the distance is not squared: the L2 norm of the difference, where d is its square":
                 lambda a, b: (a - b).norm(dim=1),
                 "the distance is the L1 norm |a - b| summed over the coordinates; d is the squared L2 distance":
                 lambda a, b: (a - b).abs().sum(dim=1)}
    for desc, distance in distances.items():
        value = losses.consistency_distillation_loss(inp["model"], inp["target"], inp["teacher"], inp["x0"],
                                                     inp["sigmas"], ode_step=samplers.heun_step,
                                                     distance=distance, generator=gen(inp["seed"])).item()
        if close(loss, [value], rtol=1e-4, atol=1e-7):
            return [f"{desc}: loss = {fmt(float(loss[0]))}, expected {fmt(expected)}"]
    return []


def judge(outputs: dict) -> Result:
    """Song et al. 2023, Alg. 2: online on x_hi = x0 + sigma_hi z, target (no grad) on the teacher's Heun step to
    sigma_lo; squared L2 summed over coordinates, mean over the batch."""
    if (r := preamble(EXERCISE, outputs)) is not None:
        return r
    inp = inputs()
    expected = losses.consistency_distillation_loss(inp["model"], inp["target"], inp["teacher"], inp["x0"], inp["sigmas"],
                                                    ode_step=samplers.heun_step, generator=gen(inp["seed"])).item()
    problems = _pair_problems(outputs, inp)
    if not problems and outputs.get("target_grad") is None:
        problems = _distance_problems(outputs, inp, expected)
    return loss_verdict(EXERCISE, outputs, expected, BATCH, problems,
                        "target_model at the teacher's point, not with x0 or with the point itself",
                        "correct\nloss = {loss} as in Alg. 2 (online on x_hi, target without gradient on the teacher's Heun "
                        "step down to sigma_lo); 0 when online and target coincide")


def check(fn) -> Result:
    """Notebook 02, Exercise 2.3: cd_loss_student."""
    return reported(EXERCISE, judge(evaluate(fn)))
