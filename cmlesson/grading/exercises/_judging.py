"""What every exercise's judge shares: the :class:`Result` of a check and the helpers that compare outputs.

Judges run in the grader's process (or the notebook's, for a check cell), with cmlesson: the cmlesson modules
the judges use are imported here once, so an exercise module imports them from ``._judging``. In the student's
kernel this module is replaced by a stand-in (see :func:`cmlesson.grading.exercises.kernel_sources`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import ot
import torch

from ... import checkpoints, data, losses, metrics, parameterization, samplers, schedules, training, yardstick
from ...authoring import bench
from ...ema import ema_update_

__all__ = ["Result", "arr", "bench", "checkpoints", "close", "data", "ema_update_", "first_difference", "fmt", "loss_verdict",
           "losses", "metrics", "np_", "ot", "reported", "parameterization", "preamble", "samplers", "schedules", "training",
           "yardstick"]


@dataclass
class Result:
    """What a check found: ``status`` is "ok", "wrong" or "not attempted"; ``message`` says why, first line short."""

    score: int
    max_score: int
    status: str
    message: str
    kind: str = ""  # what kind of finding this is, the same for every student (the class report groups by it)

    @property
    def passed(self) -> bool:
        return self.status == "ok"

    @property
    def reason(self) -> str:
        """The message's first line (the grader's CSV column)."""
        return self.message.split("\n", 1)[0]

    def report(self, title: str) -> str:
        mark = {"ok": "PASS", "wrong": "FIX", "not attempted": "TODO"}.get(self.status, self.status)
        return f"[{mark}] {title}: {self.score}/{self.max_score}\n" + "\n".join("  " + line for line in self.message.split("\n"))

    def use(self, yours, package, what: str = ""):
        """``yours`` once the check passed, else ``package`` -- saying which, in one visible line.

        ``yours`` and ``package`` may be functions, tuples of them or values; ``what`` names them in the line.
        """
        label = what or _label(yours)
        if self.passed:
            print(f"-> from here on the notebook uses your {label}")
            return yours
        why = "not attempted yet" if self.status == "not attempted" else "did not pass its check yet"
        verb = "stand" if isinstance(package, tuple) else "stands"
        print(f"-> your {label} {why}: the package's {_label(package)} {verb} in below")
        return package


def _label(obj) -> str:
    if isinstance(obj, tuple):
        return " and ".join(_label(o) for o in obj)
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):  # a value, e.g. a noise level: say which
        return f"{obj:.4g}"
    module = getattr(obj, "__module__", "") or ""
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__name__
    return f"{module}.{name}" if module.startswith("cmlesson") else name


def reported(ex, result: Result) -> Result:
    """Print the check's report (what a notebook's check cell shows) and return the result."""
    print(result.report(ex.description))
    return result


def ok(ex, message: str) -> Result:
    return Result(ex.points, ex.points, "ok", message, "correct")


def wrong(ex, message: str, score: int = 0, kind: str = "") -> Result:
    return Result(score, ex.points, "wrong", message, kind)


def not_attempted(ex, message: str, kind: str = "not attempted") -> Result:
    return Result(0, ex.points, "not attempted", message, kind)


def preamble(ex, outputs: dict, shape_hint: str = "") -> Result | None:
    """The verdict for missing names, stubs, aliases of cmlesson's own function, calls into the package's answer,
    tampering with the grader's watch and errors; None if there are outputs
    to judge. ``shape_hint`` is added to the message of an error from tensors of sizes that do not broadcast."""
    if outputs.get("missing"):
        names = ", ".join(outputs["missing"])
        return not_attempted(ex, f"{names} is not defined: run the exercise cell, and keep its name", "not defined")
    if outputs.get("stub"):
        return not_attempted(ex, "not attempted: the cell still runs its stub; replace not_done(...) by your code",
                             "not attempted (the stub runs)")
    if outputs.get("alias"):
        return wrong(ex, f"this is cmlesson's own {outputs['alias']}: write the code yourself",
                     kind="cmlesson's own function handed in")
    if outputs.get("tampered"):
        return wrong(ex, f"tampering with the grader: {outputs['tampered']}; the grader watches which of the package's "
                     "functions your code runs, and code that interferes with that scores 0", kind="tampering with the grader")
    if outputs.get("delegated"):
        via = f" (call chain: {outputs['via']})" if outputs.get("via") else ""
        return wrong(ex, f"your code runs cmlesson.{outputs['delegated']}{via}, the package's own answer to this "
                     "exercise: calling it under any name scores 0; write the code yourself",
                     kind=f"calls the package's answer (cmlesson.{outputs['delegated']})")
    if outputs.get("error"):
        hint = "\n" + shape_hint if shape_hint and "must match the size of tensor" in outputs["error"] else ""
        raised = re.search(r" raised ([A-Za-z_][\w.]*)", outputs["error"])
        return wrong(ex, f"your code raised an error: {outputs['error']}{hint}",
                     kind=f"raised {raised[1] if raised else 'an error'}")
    if outputs.get("grader_error"):
        return wrong(ex, f"could not be evaluated: {outputs['grader_error']}", kind="could not be evaluated")
    return None


def loss_verdict(ex, outputs: dict, expected: float, batch: int, pair_problems: list[str], target_point: str,
                 correct: str) -> Result:
    """The verdict on a consistency loss (Song et al. 2023, Alg. 2 and 3: d = the squared L2 distance, summed over a
    point's coordinates, averaged over the batch), from a scalar loss, its value when online and target coincide,
    the gradients it sent, and ``pair_problems`` (what the exercise found in the pairs the two networks saw).
    ``target_point`` says what the online output is compared with; ``correct`` is the message of a right loss.
    A right pair with a mean over the coordinates too, or a sum over the batch, gets 1 point."""
    loss = arr(outputs["loss"])
    if loss.size != 1:
        return wrong(ex, f"returns a tensor of shape {tuple(loss.shape)}; expected a scalar: the mean over the batch")
    got, zero = float(loss.ravel()[0]), arr(outputs["zero_case"]).ravel()
    problems = []
    if zero.size != 1 or abs(float(zero[0])) > 1e-6:
        problems.append(f"your loss is {fmt(float(zero[0]))}, not 0, when the online and target networks coincide (both "
                        f"output the same point everywhere): compare model(x_hi, sigma_hi) with {target_point}")
    if outputs.get("target_grad"):
        problems.append(f"gradient reaches the target network (its parameters got gradients of norm "
                        f"{fmt(outputs['target_grad'])}): call target_model under torch.no_grad() (or .detach() its "
                        "output); it only supplies targets, and the EMA moves it")
    if not outputs.get("requires_grad") or not outputs.get("online_grad"):
        problems.append("no gradient reaches the online model: the loss must be differentiable in its parameters")
    problems += pair_problems
    if not problems and close(np.array(got), expected, rtol=1e-4, atol=1e-7):
        return ok(ex, correct.format(loss=fmt(got)))
    score = 0
    if not problems:
        score = 1
        if close(np.array(got), expected / 2, rtol=1e-4, atol=1e-7):
            problems = [f"a mean where the paper's distance is a sum: loss = {fmt(got)}, expected {fmt(expected)}; you "
                        "averaged over the coordinates too (mse_loss does); d is the squared L2 distance, summed over a "
                        "point's coordinates, then averaged over the batch"]
        elif close(np.array(got), expected * batch, rtol=1e-4, atol=1e-6):
            problems = [f"loss = {fmt(got)}, expected {fmt(expected)}: summed over the batch instead of averaging"]
        else:
            score = 0
            problems = [f"loss = {fmt(got)}, expected {fmt(expected)}: the squared L2 distance per point, averaged over "
                        "the batch"]
    return wrong(ex, "\n".join(problems), score)


def arr(d: dict) -> np.ndarray:
    """``{"shape", "values"}`` back to an array; ValueError if malformed."""
    shape = [int(s) for s in d["shape"]]
    values = np.asarray([float("nan") if v is None else float(v) for v in d["values"]], dtype=np.float64)
    return values.reshape(shape)


def fmt(x: float) -> str:
    return f"{x:.4g}"


def close(a: np.ndarray, b, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    b = np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def np_(t) -> np.ndarray:
    return torch.as_tensor(t).detach().double().numpy()


def first_difference(got: np.ndarray, expected: np.ndarray, where: np.ndarray, label: str) -> str:
    """ "at sigma = 0.3: yours 0.71, expected 0.74" for the first entry that differs."""
    got, expected = got.reshape(len(where), -1), expected.reshape(len(where), -1)
    bad = ~np.isclose(got, expected, rtol=1e-4, atol=1e-6)
    i = int(np.argmax(bad.any(axis=1))) if bad.any() else 0
    return f"at {label} = {fmt(where[i])}: yours {fmt(got[i, 0])}, expected {fmt(expected[i, 0])}"
