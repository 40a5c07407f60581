"""What every exercise's kernel side shares: calling student code safely, turning its results into JSON, the stub
marker :data:`not_done`, and the grader's driver :func:`run_grader`.

This module, ``._fixtures`` and the top level of every exercise module import only the standard library, numpy and
torch (plus ``._kernel``, ``._fixtures`` and ``._judging``), never the rest of cmlesson: ``python -m cmlesson grade``
injects their source, read from these files, into the student's kernel as a private package of fresh modules (see
:func:`cmlesson.grading.exercises.kernel_sources`), where ``._judging`` is a stand-in. So a notebook that patches
cmlesson in its kernel changes nothing in what the grader's code computes there, and the judges run in the
grader's own process.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch

EXERCISE_LIMIT_S = 120.0  # seconds one student function may run when a grader calls it (grade.py, an nbgrader cell)
REAL_MODULE = "cmlesson.grading.exercises._kernel"  # where the notebooks' not_done lives (the grader's copy differs)


@dataclass(frozen=True)
class Exercise:
    """One graded exercise: its id (the module's name), points, notebook, title, the names the student defines,
    and its place among the notebook's exercises."""

    id: str
    points: int
    notebook: str
    description: str
    names: tuple[str, ...]
    rank: int = 0


class StudentError(Exception):
    """The student's function raised or returned something unusable; the message says which, in full."""


class NotDone:
    """``not_done(x)`` returns ``x``: a stub wraps its placeholder in it, ``return not_done(torch.zeros_like(x))``.

    It counts its calls (and keeps the last placeholders it returned), so a check knows *at run time* that the
    stub ran while it called the student's function: a stub under a decorator or behind a helper is "not
    attempted", and a solution followed by a dead stub line is judged.
    """

    KEEP = 20  # placeholders remembered (held, so that no other object can reuse their id)

    def __init__(self):
        self.calls = 0
        self._placeholders: list = []

    def __call__(self, x):
        self.calls += 1
        self._placeholders = [*self._placeholders[-(self.KEEP - 1):], x]
        return x

    def returned(self, value) -> bool:
        """True if ``value`` is a placeholder this marker returned (a stub value such as ``ex1_samples``)."""
        return value is not None and any(value is p for p in self._placeholders)


not_done = NotDone()


def _markers() -> list[NotDone]:
    """This module's marker and, in the grader's copy, also the real module's (the one the notebook's stubs call)."""
    found = {id(not_done): not_done}
    real = getattr(sys.modules.get(REAL_MODULE), "not_done", None)
    if real is not None and hasattr(real, "calls") and hasattr(real, "returned"):
        found[id(real)] = real
    return list(found.values())


def stub_calls() -> int:
    """How many times a stub has run so far (compare before and after a call)."""
    return sum(int(m.calls) for m in _markers())


def is_placeholder(value) -> bool:
    """True if ``value`` came out of ``not_done(...)`` (a stub that is a value, not a function)."""
    return any(m.returned(value) for m in _markers())


def name(fn) -> str:
    return getattr(fn, "__name__", None) or "your function"


def call(fn, *args):
    """``fn(*args)``; whatever it raises (even SystemExit) becomes a StudentError naming the function."""
    try:
        return fn(*args)
    except KeyboardInterrupt:  # the grader's time limit (or the user) stops everything
        raise
    except BaseException as err:  # even a student's sys.exit() must not stop the check
        text = f"{type(err).__name__}: {err}".strip()
        raise StudentError(f"{name(fn)} raised {text[:300]}") from None


def floats(value, what: str) -> dict:
    """A tensor, array or number as ``{"shape": [...], "values": [...]}`` (float64 lists)."""
    try:
        if isinstance(value, torch.Tensor):
            arr = value.detach().cpu().to(torch.float64).numpy()
        elif isinstance(value, (np.ndarray, float, int, np.floating, np.integer)) and not isinstance(value, bool):
            arr = np.asarray(value, dtype=np.float64)
        else:
            raise TypeError
    except (TypeError, ValueError, RuntimeError):
        raise StudentError(f"{what} returned {type(value).__name__}, expected a tensor") from None
    return {"shape": list(arr.shape), "values": arr.ravel().tolist()}


def number(value, what: str) -> float | int:
    """An int, a float, or a one-element tensor or array, as a Python number."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    elif isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise StudentError(f"{what} returned {type(value).__name__} {str(value)[:40]}, expected a number")
    return int(value) if isinstance(value, (int, np.integer)) else float(value)


def safely(body, *fns) -> dict:
    """``body()``, the student's functions called inside it; ``{"stub": True}`` if a stub ran meanwhile, ``{"alias":
    ...}`` for cmlesson's own function, ``{"error": ...}`` for a StudentError. Leaves torch's RNG as it was."""
    alias = [f"{fn.__module__}.{name(fn)}" for fn in fns if str(getattr(fn, "__module__", "")).startswith("cmlesson")]
    if alias:
        return {"alias": alias[0]}
    before = stub_calls()
    with torch.random.fork_rng(devices=[]):
        try:
            out = body()
        except StudentError as err:
            out = {"error": str(err)}
    return {"stub": True} if stub_calls() != before else out


def col(sigma, x: torch.Tensor) -> torch.Tensor:
    """A number, a (batch,) or a (batch, 1) tensor of levels, ready to broadcast against x (batch, d)."""
    s = torch.as_tensor(sigma, dtype=x.dtype)
    return s.reshape(()) if s.numel() == 1 else s.reshape(x.shape[0], 1)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- the grader's driver (runs in the student's kernel) ------------------------------------------------------


def time_limited(seconds: float, fn, *args):
    """``fn(*args)``, interrupted by a TimeoutError after ``seconds`` (SIGALRM; no limit off the main thread)."""
    def alarm(signum, frame):
        raise TimeoutError(f"still running after {seconds:.0f} s")

    try:
        previous = signal.signal(signal.SIGALRM, alarm)
    except (ValueError, AttributeError):
        return fn(*args)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def exercise_module(ex_id: str):
    """The module of exercise ``ex_id`` in this package (cmlesson.grading.exercises, or the grader's private copy)."""
    return importlib.import_module(f"{__package__}.{ex_id}")


def evaluate_in_kernel(ex_id: str, student: dict, assets: dict, limit_s: float) -> dict:
    """Look up the student's names in their notebook's globals and evaluate one exercise. ``assets`` holds plain
    arrays keyed ``"<ex_id>/<name>"``; an exercise's own ones go to its ``kernel_args``."""
    module = exercise_module(ex_id)
    missing = [n for n in module.EXERCISE.names if n not in student]
    if missing:
        return {"missing": missing}
    args = [student[n] for n in module.EXERCISE.names]
    mine = {k[len(ex_id) + 1:]: v for k, v in assets.items() if k.startswith(ex_id + "/")}
    extra = module.kernel_args(mine) if hasattr(module, "kernel_args") else ()
    try:
        return time_limited(limit_s, module.evaluate, *args, *extra)
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # a bug here, a patched torch, or the time limit outside the student's call
        return {"grader_error": f"{type(err).__name__}: {err}"[:300]}


def _write_json(path: str, obj: dict) -> None:
    """Write then rename, as ``cmlesson.authoring.student.write_atomic`` does: the kernel has its own (it imports no cmlesson)."""
    tmp = path + ".part"
    with open(tmp, "w") as f:
        f.write(json.dumps(obj, allow_nan=True))
    os.replace(tmp, path)


def stop_other_processes(sandboxed: bool) -> None:
    """In the grader's sandbox only (told so by the grader, and this kernel is PID 2 of its own PID namespace, not
    root): SIGKILL every other process there, the daemons a notebook left behind that could touch the results."""
    if sandboxed and os.getpid() == 2 and os.getuid() != 0:
        try:
            os.kill(-1, signal.SIGKILL)  # kill(-1) reaches only this PID namespace; never this process
        except OSError:
            pass
        try:
            while os.waitpid(-1, 0):  # this kernel's own children, killed: reaped, they stop counting
                pass
        except ChildProcessError:
            pass


def run_grader(student: dict, results_path: str, assets_path: str | None, ids: list[str], limit_s: float,
               sandboxed: bool = False) -> None:
    """Evaluate ``ids`` one by one, rewriting ``results_path`` after each (so a crash keeps what was done)."""
    stop_other_processes(sandboxed)
    assets = dict(np.load(assets_path, allow_pickle=False)) if assets_path else {}
    report = {"format": "cmlesson-grader/2", "current": None, "seconds": {}, "exercises": {}}
    for ex_id in ids:
        report["current"] = ex_id
        _write_json(results_path, report)
        start = time.perf_counter()
        report["exercises"][ex_id] = evaluate_in_kernel(ex_id, student, assets, limit_s)
        report["seconds"][ex_id] = round(time.perf_counter() - start, 3)
        stop_other_processes(sandboxed)  # what the student's function started
    report["current"] = None
    _write_json(results_path, report)
