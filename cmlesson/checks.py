"""Exercise checks that explain what is wrong (used in every notebook and by ``python -m cmlesson grade``).

Each exercise ``<id>`` (see :data:`EXERCISES`) has three functions:

* ``evaluate_<id>(student's function) -> dict``: build fixed, seeded inputs, call the student's function on
  them and return what it produced as plain JSON-able data. Flags: ``{"stub": True}`` when the function is
  still the notebook's stub (its code calls :func:`not_done`), ``{"error": "... raised ValueError: ..."}``
  when it raised.
* ``judge_<id>(outputs) -> Result``: recompute the canonical answer with cmlesson on the same inputs, compare,
  and say what is wrong in words a student can act on, with the numbers.
* ``check_<id>(...)``: ``judge(evaluate(...))`` plus a printed report; what the notebooks' check cells call.

The grader never trusts the student's kernel. The code between the ``kernel code: BEGIN`` and ``END`` markers
below (the evaluate functions, their inputs and the small models they hand to the student's functions) uses
only json, math, os, signal, time, numpy, torch and torch.nn: the grader injects its *own* copy of that text
into the student's kernel, which writes the outputs as JSON to a file; the judges then run in the grader's
process. Patching ``cmlesson`` inside the kernel therefore changes nothing.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch
from torch import nn

# ====================================== kernel code: BEGIN ======================================
# Runs inside the student's kernel when grading. Only json, math, os, signal, time, np, torch and nn.

STUDENT_NAMES: dict[str, tuple[str, ...]] = {
    "coefficients": ("c_skip_student", "c_out_student"),
    "multistep": ("multistep_student",),
    "heun_step": ("heun_step_student",),
    "curriculum": ("ct_curriculum_student",),
    "ema": ("ema_update_student",),
    "ct_loss": ("ct_loss_student",),
    "ct_training": ("ex1_samples",),
    "w1": ("w1_student",),
    "ladder": ("quality_ladder_student",),
}
LADDER_STEPS = (1, 2, 3)  # the ladder's rungs: consistency steps
LADDER_SEED = 3  # the seed handed to quality_ladder_student
CT_SAMPLES = 2000  # rows of ex1_samples


class StudentError(Exception):
    """The student's function raised or returned something unusable; the message says which, in full."""


def _is_stub(fn) -> bool:
    """The notebook's stub, not yet replaced: its code calls ``not_done``."""
    code = getattr(fn, "__code__", None)
    return code is not None and "not_done" in code.co_names


def _name(fn) -> str:
    return getattr(fn, "__name__", None) or "your function"


def _call(fn, *args):
    """``fn(*args)``; whatever it raises (even SystemExit) becomes a StudentError naming the function."""
    try:
        return fn(*args)
    except KeyboardInterrupt:  # the grader's time limit (or the user) stops everything
        raise
    except BaseException as err:  # even a student's sys.exit() must not stop the check
        text = f"{type(err).__name__}: {err}".strip()
        raise StudentError(f"{_name(fn)} raised {text[:300]}") from None


def _floats(value, what: str) -> dict:
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


def _number(value, what: str) -> float | int:
    """An int, a float, or a one-element tensor or array, as a Python number."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    elif isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise StudentError(f"{what} returned {type(value).__name__} {str(value)[:40]}, expected a number")
    return int(value) if isinstance(value, (int, np.integer)) else float(value)


def _safely(body, *fns) -> dict:
    """Run ``body()`` unless a function is a stub; a StudentError becomes ``{"error": ...}``. Leaves torch's RNG as it was."""
    if any(_is_stub(fn) for fn in fns):
        return {"stub": True}
    alias = [f"{fn.__module__}.{_name(fn)}" for fn in fns if str(getattr(fn, "__module__", "")).startswith("cmlesson")]
    if alias:
        return {"alias": alias[0]}
    with torch.random.fork_rng(devices=[]):
        try:
            return body()
        except StudentError as err:
            return {"error": str(err)}


def _col(sigma, x: torch.Tensor) -> torch.Tensor:
    """A number, a (batch,) or a (batch, 1) tensor of levels, ready to broadcast against x (batch, d)."""
    s = torch.as_tensor(sigma, dtype=x.dtype)
    return s.reshape(()) if s.numel() == 1 else s.reshape(x.shape[0], 1)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- coefficients: c_skip and c_out ---------------------------------------------------------------


def coefficients_inputs() -> list[dict]:
    """Two (sigma_data, sigma_min) settings; each sigma vector starts exactly at sigma_min (the boundary)."""
    cases = []
    for sigma_data, sigma_min in ((0.5, 0.002), (1.3, 0.05)):
        sigma = torch.tensor([1.0, 2.0, 5.0], dtype=torch.float64) * sigma_min
        sigma = torch.cat([sigma, torch.tensor([0.3, 1.0, 3.0, 10.0, 80.0], dtype=torch.float64)])
        cases.append({"sigma": sigma, "sigma_data": sigma_data, "sigma_min": sigma_min})
    return cases


def evaluate_coefficients(c_skip_fn, c_out_fn) -> dict:
    """c_skip and c_out at every level of :func:`coefficients_inputs`."""

    def body() -> dict:
        cases = []
        for case in coefficients_inputs():
            args = (case["sigma"].clone(), case["sigma_data"], case["sigma_min"])
            cases.append({"c_skip": _floats(_call(c_skip_fn, *args), _name(c_skip_fn)),
                          "c_out": _floats(_call(c_out_fn, *args), _name(c_out_fn))})
        return {"cases": cases}

    return _safely(body, c_skip_fn, c_out_fn)


# --- multistep: Song et al. 2023, Alg. 1 ------------------------------------------------------------


class GaussianConsistency:
    """The exact consistency function of data N(m, s^2 I); sigma_min = 0.2 so that sqrt(tau^2 - sigma_min^2) != tau.

    Records the level of every call in ``calls``.
    """

    def __init__(self):
        self.m, self.s = torch.tensor([0.3, -0.2]), 0.5
        self.sigma_data, self.sigma_min, self.sigma_max = 0.5, 0.2, 80.0
        self.calls: list[float] = []

    def __call__(self, x: torch.Tensor, sigma) -> torch.Tensor:
        s = _col(sigma, x)
        self.calls.append(float(torch.as_tensor(sigma, dtype=torch.float64).reshape(-1)[0]))
        m = self.m.to(x.dtype)
        return m + (x - m) * math.sqrt(self.s**2 + self.sigma_min**2) / (self.s**2 + s**2).sqrt()


def multistep_inputs() -> dict:
    """A fake consistency model, start noise already scaled by sigmas[0], four levels, the generator's seed."""
    x = 80.0 * torch.randn(256, 2, generator=_gen(11))
    return {"model": GaussianConsistency(), "x": x, "sigmas": [80.0, 2.0, 0.8, 0.3], "seed": 5}


def evaluate_multistep(fn) -> dict:
    """The student's sample, and the level of every model call."""

    def body() -> dict:
        inp = multistep_inputs()
        result = _call(fn, inp["model"], inp["x"].clone(), list(inp["sigmas"]), _gen(inp["seed"]))
        return {"result": _floats(result, _name(fn)), "calls": inp["model"].calls}

    return _safely(body, fn)


# --- heun_step: one Heun step of the PF-ODE -----------------------------------------------------------


class GaussianDenoiser:
    """The exact denoiser of data N(m, s^2 I): D(x, sigma) = m + s^2 / (s^2 + sigma^2) (x - m). Counts its calls."""

    def __init__(self):
        self.m, self.s, self.sigma_data = torch.tensor([0.3, -0.2]), 0.5, 0.5
        self.calls = 0

    def __call__(self, x: torch.Tensor, sigma) -> torch.Tensor:
        self.calls += 1
        m = self.m.to(x.dtype)
        return m + self.s**2 / (self.s**2 + _col(sigma, x) ** 2) * (x - m)


def heun_inputs() -> list[dict]:
    """Two steps: a large one (2.0 -> 1.2) and a small one (0.6 -> 0.25), on points at the matching noise scale."""
    g = _gen(17)
    return [{"x": 2.0 * torch.randn(128, 2, generator=g), "sigma": 2.0, "sigma_next": 1.2},
            {"x": 0.7 * torch.randn(128, 2, generator=g), "sigma": 0.6, "sigma_next": 0.25}]


def evaluate_heun_step(fn) -> dict:
    """The student's step from each case, and how many times it called the denoiser."""

    def body() -> dict:
        cases = []
        for case in heun_inputs():
            den = GaussianDenoiser()
            result = _call(fn, den, case["x"].clone(), case["sigma"], case["sigma_next"])
            cases.append({"result": _floats(result, _name(fn)), "calls": den.calls})
        return {"cases": cases}

    return _safely(body, fn)


# --- curriculum: N(k) -----------------------------------------------------------------------------------


def curriculum_inputs() -> list[tuple[int, int, int, int]]:
    """(k, K, s0, s1): the paper's s0 = 2, s1 = 150 across a run, then other s0, s1 (catches hard-coded values)."""
    return ([(k, 1000, 2, 150) for k in (0, 1, 10, 100, 250, 500, 750, 999, 1000)]
            + [(k, 400, 10, 1280) for k in (0, 50, 200, 400)])


def evaluate_curriculum(fn) -> dict:
    """N(k) for every (k, K, s0, s1) of :func:`curriculum_inputs`."""

    def body() -> dict:
        return {"values": [_number(_call(fn, *args), _name(fn)) for args in curriculum_inputs()]}

    return _safely(body, fn)


# --- ema: theta_ema <- decay theta_ema + (1 - decay) theta ------------------------------------------------


class EmaNet(nn.Module):
    """Two linear layers and two buffers (a float running mean, an int counter), every value set from ``seed``."""

    def __init__(self, seed: int):
        super().__init__()
        g = _gen(seed)
        self.hidden, self.out = nn.Linear(3, 4), nn.Linear(4, 2)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g))
        self.register_buffer("running_mean", torch.randn(4, generator=g))
        self.register_buffer("steps", torch.tensor(seed, dtype=torch.int64))


def ema_inputs() -> tuple[nn.Module, nn.Module, float]:
    """(ema_model, model, decay): the EMA copy is frozen like ``cmlesson.ema.frozen_copy`` makes it."""
    with torch.random.fork_rng(devices=[]):
        return EmaNet(31).requires_grad_(False).eval(), EmaNet(32), 0.9


def _state(module: nn.Module) -> dict:
    return {k: _floats(v, k) for k, v in module.state_dict().items()}


def evaluate_ema(fn) -> dict:
    """Both models' parameters and buffers after one update, and whether the function returned None."""

    def body() -> dict:
        ema_model, model, decay = ema_inputs()
        returned = _call(fn, ema_model, model, decay)
        return {"returned_none": returned is None, "ema": _state(ema_model), "model": _state(model)}

    return _safely(body, fn)


# --- ct_loss: the consistency training loss (Exercise 1) ------------------------------------------------------


class SpyNet(nn.Module):
    """A small differentiable f(x, sigma) with two parameters; records the x, sigma and grad mode of each call."""

    def __init__(self, seed: int):
        super().__init__()
        g = _gen(seed)
        self.w = nn.Parameter(0.5 * torch.randn(2, 2, generator=g))
        self.b = nn.Parameter(0.1 * torch.randn(2, generator=g))
        self.sigma_data, self.sigma_min, self.sigma_max = 0.5, 0.002, 80.0
        self.calls: list[tuple[torch.Tensor, torch.Tensor, bool]] = []

    def forward(self, x: torch.Tensor, sigma) -> torch.Tensor:
        s = _col(sigma, x)
        rows = torch.as_tensor(sigma, dtype=torch.float64).detach().reshape(-1)
        rows = rows.expand(x.shape[0]) if rows.numel() == 1 else rows
        self.calls.append((x.detach().to(torch.float64).clone(), rows.clone(), torch.is_grad_enabled()))
        return x / (1 + s) + torch.tanh(x @ self.w + self.b) * s / (1 + s)


class ConstNet(nn.Module):
    """Outputs the same point c for every x and sigma: online and target coincide, so the loss must be 0."""

    def __init__(self):
        super().__init__()
        self.c = nn.Parameter(torch.tensor([0.3, -0.7]))
        self.sigma_data, self.sigma_min, self.sigma_max = 0.5, 0.002, 80.0

    def forward(self, x: torch.Tensor, sigma) -> torch.Tensor:
        return self.c * torch.ones_like(x)


def ct_loss_inputs() -> dict:
    """Online and target spies with different weights, a batch x0, a decreasing schedule, the generator's seed."""
    x0 = 0.5 * torch.randn(64, 2, generator=_gen(23))
    sigmas = torch.tensor([80.0, 20.0, 5.0, 1.5, 0.5, 0.15, 0.03, 0.002])
    return {"model": SpyNet(21), "target": SpyNet(22), "x0": x0, "sigmas": sigmas, "seed": 24}


def _calls(calls: list) -> dict:
    if not calls:
        return {"count": 0}
    return {"count": len(calls), "x": _floats(torch.cat([c[0] for c in calls]), "x"),
            "sigma": _floats(torch.cat([c[1] for c in calls]), "sigma"), "grad": [bool(c[2]) for c in calls]}


def _grad_norm(module: nn.Module) -> float | None:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    return float(sum(float(g.double().pow(2).sum()) for g in grads) ** 0.5) if grads else None


def evaluate_ct_loss(fn) -> dict:
    """The loss, the gradients after backward(), every call of both models, and the loss when they coincide."""

    def body() -> dict:
        inp = ct_loss_inputs()
        model, target = inp["model"], inp["target"]
        loss = _call(fn, model, target, inp["x0"].clone(), inp["sigmas"].clone(), _gen(inp["seed"]))
        if not isinstance(loss, torch.Tensor):
            raise StudentError(f"{_name(fn)} returned {type(loss).__name__}, expected a scalar tensor (keep the graph)")
        out = {"loss": _floats(loss, _name(fn)), "requires_grad": bool(loss.requires_grad)}
        if loss.requires_grad and loss.numel() == 1:
            _call(loss.backward)
        out.update(online_grad=_grad_norm(model), target_grad=_grad_norm(target),
                   online_calls=_calls(model.calls), target_calls=_calls(target.calls))
        zero = _call(fn, ConstNet(), ConstNet(), inp["x0"].clone(), inp["sigmas"].clone(), _gen(inp["seed"]))
        out["zero_case"] = _floats(zero, _name(fn))
        return out

    return _safely(body, fn)


# --- ct_training: the samples of the student's teacher-free model (Exercise 1) -----------------------------------


def evaluate_ct_training(samples) -> dict:
    """ex1_samples as floats (the grader computes W1 itself)."""

    def body() -> dict:
        if isinstance(samples, (torch.Tensor, np.ndarray)) and np.prod(samples.shape) > 100 * CT_SAMPLES:
            raise StudentError(f"ex1_samples has shape {tuple(samples.shape)}, expected ({CT_SAMPLES}, 2)")
        return {"samples": _floats(samples, "ex1_samples")}

    return _safely(body)


# --- w1: exact 2-D Wasserstein-1 (Exercise 2) -----------------------------------------------------------------


def w1_inputs() -> list[tuple[np.ndarray, np.ndarray]]:
    """Three pairs: same per-axis marginals but a different 2-D shape; two shifted clouds; a 2-point case."""
    rng = np.random.default_rng(41)
    t = rng.normal(size=300)
    line = np.stack([t, t + 0.1 * rng.normal(size=300)], axis=1)  # points along the diagonal
    shuffled = np.stack([rng.permutation(line[:, 0]), rng.permutation(line[:, 1])], axis=1)  # same marginals
    a, b = rng.normal(size=(250, 2)), rng.normal(size=(250, 2)) * [1.0, 0.5] + [0.8, -0.4]
    return [(line, shuffled), (a, b), (np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 1.0], [1.0, 1.0]]))]


def evaluate_w1(fn) -> dict:
    """The student's W1 on each pair of :func:`w1_inputs`."""

    def body() -> dict:
        return {"values": [_number(_call(fn, a.copy(), b.copy()), _name(fn)) for a, b in w1_inputs()]}

    return _safely(body, fn)


# --- ladder: W1 against the number of consistency steps (Exercise 2) -------------------------------------------


class _Fourier(nn.Module):
    def __init__(self, n: int):
        super().__init__()
        self.register_buffer("freqs", torch.zeros(n))

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        angles = c[:, None] * self.freqs[None, :]
        return torch.cat([angles.sin(), angles.cos()], dim=1)


class _Backbone(nn.Module):
    """The same layers as cmlesson.networks.NoiseConditionedMLP, sized from a state dict."""

    def __init__(self, state: dict[str, torch.Tensor]):
        super().__init__()
        hidden, emb_dim = state["embed.1.weight"].shape
        data_dim = state["inp.weight"].shape[1]
        depth = 1 + sum(1 for k in state if k.startswith("layers.") and k.endswith(".weight"))
        self.embed = nn.Sequential(_Fourier(state["embed.0.freqs"].shape[0]), nn.Linear(emb_dim, hidden), nn.SiLU())
        self.inp = nn.Linear(data_dim, hidden)
        self.layers = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth - 1))
        self.out = nn.Linear(hidden, data_dim)

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        e = self.embed(c_noise)
        h = nn.functional.silu(self.inp(x) + e)
        for layer in self.layers:
            h = h + nn.functional.silu(layer(h) + e)
        return self.out(h)


class ConsistencyMLP(nn.Module):
    """cmlesson's ConsistencyFunction(NoiseConditionedMLP) rebuilt in plain torch from its weights: same numbers."""

    def __init__(self, state: dict[str, np.ndarray], sigma_data: float, sigma_min: float, sigma_max: float):
        super().__init__()
        inner = {k[len("backbone."):]: torch.from_numpy(np.array(v)) for k, v in state.items() if k.startswith("backbone.")}
        with torch.random.fork_rng(devices=[]):
            self.backbone = _Backbone(inner)
        self.backbone.load_state_dict(inner)
        self.sigma_data, self.sigma_min, self.sigma_max = float(sigma_data), float(sigma_min), float(sigma_max)
        self.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor, sigma) -> torch.Tensor:
        s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
        s = (s.expand(x.shape[0]) if s.ndim == 0 else s).reshape(-1, 1)
        sd, smin = self.sigma_data, self.sigma_min
        F_x = self.backbone(1 / (s**2 + sd**2).sqrt() * x, (s.log() / 4).flatten())
        return sd**2 / ((s - smin) ** 2 + sd**2) * x + sd * (s - smin) / (s**2 + sd**2).sqrt() * F_x


def evaluate_ladder(fn, model, reference) -> dict:
    """``fn(model, [1, 2, 3], reference, seed)`` as a list of [repr(key), key is an int, value]."""

    def body() -> dict:
        result = _call(fn, model, list(LADDER_STEPS), reference, LADDER_SEED)
        if not isinstance(result, dict):
            raise StudentError(f"{_name(fn)} returned {type(result).__name__}, expected a dict {{steps: W1}}")
        items = []
        for key, value in list(result.items())[:20]:
            is_int = isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_))
            items.append([repr(key)[:40], is_int, _number(value, f"{_name(fn)}(...)[{key!r}]")])
        return {"items": items}

    return _safely(body, fn)


# --- the grader's driver --------------------------------------------------------------------------------------

EVALUATORS = {
    "coefficients": evaluate_coefficients, "multistep": evaluate_multistep, "heun_step": evaluate_heun_step,
    "curriculum": evaluate_curriculum, "ema": evaluate_ema, "ct_loss": evaluate_ct_loss,
    "ct_training": evaluate_ct_training, "w1": evaluate_w1, "ladder": evaluate_ladder,
}


def _ladder_args(assets: dict) -> tuple[nn.Module, torch.Tensor]:
    state = {k[len("cd/"):]: v for k, v in assets.items() if k.startswith("cd/")}
    model = ConsistencyMLP(state, assets["sigma_data"], assets["sigma_min"], assets["sigma_max"])
    return model, torch.from_numpy(np.asarray(assets["reference"], dtype=np.float32))


def _time_limited(seconds: float, fn, *args):
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


def evaluate_in_kernel(ex_id: str, student: dict, assets: dict, limit_s: float) -> dict:
    """Look up the student's names in their notebook's globals and evaluate one exercise."""
    missing = [n for n in STUDENT_NAMES[ex_id] if n not in student]
    if missing:
        return {"missing": missing}
    args = [student[n] for n in STUDENT_NAMES[ex_id]]
    if ex_id == "ladder":
        args += list(_ladder_args(assets))
    try:
        return _time_limited(limit_s, EVALUATORS[ex_id], *args)
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # a bug here, a patched torch, or the time limit outside the student's call
        return {"grader_error": f"{type(err).__name__}: {err}"[:300]}


def _write_json(path: str, obj: dict) -> None:
    tmp = path + ".part"
    with open(tmp, "w") as f:
        f.write(json.dumps(obj))
    os.replace(tmp, path)


def run_grader(student: dict, results_path: str, assets_path: str | None, ids: list[str], limit_s: float) -> None:
    """Evaluate ``ids`` one by one, rewriting ``results_path`` after each (so a crash keeps what was done)."""
    assets = dict(np.load(assets_path, allow_pickle=False)) if assets_path else {}
    report = {"format": "cmlesson-grader/1", "current": None, "seconds": {}, "exercises": {}}
    for ex_id in ids:
        report["current"] = ex_id
        _write_json(results_path, report)
        start = time.perf_counter()
        report["exercises"][ex_id] = evaluate_in_kernel(ex_id, student, assets, limit_s)
        report["seconds"][ex_id] = round(time.perf_counter() - start, 3)
    report["current"] = None
    _write_json(results_path, report)


# ======================================= kernel code: END =======================================

KERNEL_PRELUDE = (
    "from __future__ import annotations\n"
    "import json, math, os, signal, time\n"
    "import numpy as np\n"
    "import torch\n"
    "from torch import nn\n"
)


def kernel_source() -> str:
    """The self-contained code the grader injects into a student's kernel: the prelude and the marked block above."""
    with open(__file__, encoding="utf-8") as f:
        lines = f.read().split("\n")
    begin = next(i for i, line in enumerate(lines) if line.startswith("# ===") and "kernel code: BEGIN" in line)
    end = next(i for i, line in enumerate(lines) if line.startswith("# ===") and "kernel code: END" in line)
    return KERNEL_PRELUDE + "\n".join(lines[begin:end]) + "\n"


def not_done(x):
    """Wrap a stub's placeholder (``return not_done(torch.zeros_like(sigma))``): returns x; its check says "not attempted"."""
    return x


def attempted(fn) -> bool:
    """False while ``fn`` is still its notebook's stub (its code calls not_done): a notebook can skip what needs it."""
    return not _is_stub(fn)


# ==============================================================================================================
# Judges: run in the grader's (or the notebook's) process, with cmlesson.
# ==============================================================================================================

import ot  # noqa: E402

from . import bench, data, losses, metrics, parameterization, samplers, schedules  # noqa: E402
from .ema import ema_update_  # noqa: E402


@dataclass(frozen=True)
class Exercise:
    """One graded exercise: its points, the notebook it is in, the names the student defines there."""

    points: int
    notebook: str
    description: str

    @property
    def names(self) -> tuple[str, ...]:
        """The notebook names the exercise reads (functions, or ex1_samples)."""
        return next(STUDENT_NAMES[k] for k, ex in EXERCISES.items() if ex is self)


EXERCISES: dict[str, Exercise] = {
    "coefficients": Exercise(1, "01", "c_skip and c_out with the boundary condition"),
    "multistep": Exercise(1, "01", "multistep consistency sampling (Alg. 1)"),
    "heun_step": Exercise(1, "02", "one Heun step of the teacher's ODE"),
    "curriculum": Exercise(1, "03", "the CT curriculum N(k)"),
    "ema": Exercise(1, "04", "the EMA update"),
    "ct_loss": Exercise(2, "05", "Exercise 1: the consistency training loss"),
    "ct_training": Exercise(2, "05", "Exercise 1: samples of your teacher-free model"),
    "w1": Exercise(1, "05", "Exercise 2: exact 2-D W1"),
    "ladder": Exercise(2, "05", "Exercise 2: the quality ladder"),
}


@dataclass
class Result:
    """What a check found: ``status`` is "ok", "wrong" or "not attempted"; ``message`` says why, first line short."""

    score: int
    max_score: int
    status: str
    message: str

    @property
    def reason(self) -> str:
        """The message's first line (the grader's CSV column)."""
        return self.message.split("\n", 1)[0]

    def report(self, title: str) -> str:
        mark = {"ok": "PASS", "wrong": "FIX", "not attempted": "TODO"}.get(self.status, self.status)
        return f"[{mark}] {title}: {self.score}/{self.max_score}\n" + "\n".join("  " + line for line in self.message.split("\n"))


def _ok(ex_id: str, message: str) -> Result:
    return Result(EXERCISES[ex_id].points, EXERCISES[ex_id].points, "ok", message)


def _wrong(ex_id: str, message: str, score: int = 0) -> Result:
    return Result(score, EXERCISES[ex_id].points, "wrong", message)


def _preamble(ex_id: str, outputs: dict) -> Result | None:
    """The verdict for missing names, stubs, aliases of cmlesson's own function and errors; None if there are outputs to judge."""
    pts = EXERCISES[ex_id].points
    if outputs.get("missing"):
        names = ", ".join(outputs["missing"])
        return Result(0, pts, "not attempted", f"{names} is not defined: run the exercise cell, and keep its name")
    if outputs.get("stub"):
        return Result(0, pts, "not attempted", "not attempted: the cell still holds the stub; replace not_done(...) by your code")
    if outputs.get("alias"):
        return _wrong(ex_id, f"this is cmlesson's own {outputs['alias']}: write the code yourself")
    if outputs.get("error"):
        return _wrong(ex_id, f"your code raised an error: {outputs['error']}")
    if outputs.get("grader_error"):
        return _wrong(ex_id, f"could not be evaluated: {outputs['grader_error']}")
    return None


def _arr(d: dict) -> np.ndarray:
    """``{"shape", "values"}`` back to an array; ValueError if malformed."""
    shape = [int(s) for s in d["shape"]]
    values = np.asarray([float("nan") if v is None else float(v) for v in d["values"]], dtype=np.float64)
    return values.reshape(shape)


def _g(x: float) -> str:
    return f"{x:.4g}"


def _close(a: np.ndarray, b, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    b = np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def _np(t) -> np.ndarray:
    return torch.as_tensor(t).detach().double().numpy()


def _first_difference(got: np.ndarray, expected: np.ndarray, where: np.ndarray, label: str) -> str:
    """ "at sigma = 0.3: yours 0.71, expected 0.74" for the first entry that differs."""
    got, expected = got.reshape(len(where), -1), expected.reshape(len(where), -1)
    bad = ~np.isclose(got, expected, rtol=1e-4, atol=1e-6)
    i = int(np.argmax(bad.any(axis=1))) if bad.any() else 0
    return f"at {label} = {_g(where[i])}: yours {_g(got[i, 0])}, expected {_g(expected[i, 0])}"


# --- coefficients ---------------------------------------------------------------------------------------------


def _coefficient_problem(name: str, got: list[np.ndarray], cases: list[dict]) -> str | None:
    """What is wrong with one coefficient over both settings, or None."""
    canon = {"c_skip": parameterization.c_skip, "c_out": parameterization.c_out}[name]
    expected = [_np(canon(c["sigma"], c["sigma_data"], c["sigma_min"])) for c in cases]
    for g, e in zip(got, expected, strict=True):
        if g.shape != e.shape:
            return f"{name} returned shape {tuple(g.shape)} for sigma of shape {tuple(e.shape)}: compute it elementwise"
    if all(_close(g, e, rtol=1e-5, atol=1e-9) for g, e in zip(got, expected, strict=True)):
        return None
    parts = []
    at_min, want = float(got[0][0]), (1.0 if name == "c_skip" else 0.0)
    if abs(at_min - want) > 1e-6:
        parts.append(f"boundary condition fails: {name}(sigma_min) = {at_min:.7g}, "
                     f"must be exactly {want:g} so that f(x, sigma_min) = x")
    s = [c["sigma"] for c in cases]
    variants = {
        "c_skip": {"the lesson's sigma_min^2 / (sigma^2 + sigma_min^2), which is 1/2 at sigma_min: use sigma_data and "
                   "shift sigma by sigma_min (Song et al. 2023, App. C)":
                   [parameterization.lesson_c_skip(x, c["sigma_min"]) for x, c in zip(s, cases, strict=True)],
                   "EDM's c_skip without the shift sigma -> sigma - sigma_min":
                   [parameterization.edm_c_skip(x, c["sigma_data"]) for x, c in zip(s, cases, strict=True)]},
        "c_out": {"the lesson's sigma sigma_min / sqrt(sigma^2 + sigma_min^2), about sigma_min at every level: "
                  "use sigma_data (Song et al. 2023, App. C)":
                  [parameterization.lesson_c_out(x, c["sigma_min"]) for x, c in zip(s, cases, strict=True)],
                  "EDM's c_out without the shift sigma -> sigma - sigma_min in the numerator":
                  [parameterization.edm_c_out(x, c["sigma_data"]) for x, c in zip(s, cases, strict=True)],
                  "(sigma - sigma_min) in the square root too: keep sqrt(sigma^2 + sigma_data^2) there":
                  [c["sigma_data"] * (x - c["sigma_min"]) / ((x - c["sigma_min"]) ** 2 + c["sigma_data"] ** 2).sqrt()
                   for x, c in zip(s, cases, strict=True)]},
    }[name]
    for desc, values in variants.items():
        if all(_close(g, _np(v), rtol=1e-5, atol=1e-9) for g, v in zip(got, values, strict=True)):
            return "; ".join(parts + [f"{name} is {desc}"])
    if _close(got[0], expected[0], rtol=1e-5, atol=1e-9):
        c = cases[1]
        return (f"{name} is right for sigma_data = 0.5, sigma_min = 0.002 but not for sigma_data = {c['sigma_data']}, "
                f"sigma_min = {c['sigma_min']}: use the arguments, do not hard-code them")
    case = 0 if not _close(got[0], expected[0], rtol=1e-5, atol=1e-9) else 1
    parts.append(f"{name} " + _first_difference(got[case], expected[case], _np(s[case]), "sigma"))
    return "; ".join(parts)


def judge_coefficients(outputs: dict) -> Result:
    """c_skip(sigma_min) = 1, c_out(sigma_min) = 0 and Song et al.'s formulas at every level."""
    if (r := _preamble("coefficients", outputs)) is not None:
        return r
    cases = coefficients_inputs()
    problems = [p for name in ("c_skip", "c_out")
                if (p := _coefficient_problem(name, [_arr(c[name]) for c in outputs["cases"]], cases)) is not None]
    if problems:
        return _wrong("coefficients", "\n".join(problems))
    return _ok("coefficients", "correct\nc_skip and c_out match Song et al. 2023 at every level; "
               "c_skip(sigma_min) = 1 and c_out(sigma_min) = 0")


# --- multistep ------------------------------------------------------------------------------------------------


def _multistep_variant(inp: dict, noise_scale=None, noise_first: bool = False, return_noisy: bool = False) -> np.ndarray:
    """Alg. 1 with one known mistake, for diagnosis."""
    model, x, g = GaussianConsistency(), inp["x"].clone(), _gen(inp["seed"])
    scale = noise_scale or (lambda tau: math.sqrt(tau**2 - model.sigma_min**2))
    if noise_first:
        x = x + inp["sigmas"][0] * torch.randn(x.shape, generator=g)
    denoised = model(x, inp["sigmas"][0])
    for tau in inp["sigmas"][1:]:
        x = denoised + scale(tau) * torch.randn(x.shape, generator=g)
        denoised = model(x, tau)
    return _np(x if return_noisy else denoised)


def judge_multistep(outputs: dict) -> Result:
    """Song et al. 2023, Alg. 1, draw for draw."""
    if (r := _preamble("multistep", outputs)) is not None:
        return r
    inp = multistep_inputs()
    sigmas = inp["sigmas"]
    expected = _np(samplers.sample_consistency(inp["model"], inp["x"].clone(), sigmas, generator=_gen(inp["seed"])))
    got, calls = _arr(outputs["result"]), [float(c) for c in outputs["calls"]]
    if got.shape != expected.shape:
        return _wrong("multistep", f"returned shape {tuple(got.shape)}, expected {tuple(expected.shape)} (like x)")
    if _close(got, expected):
        return _ok("multistep", f"correct\nmatches Alg. 1 draw for draw ({len(sigmas)} model calls, "
                   "re-noised with sqrt(sigma^2 - sigma_min^2))")
    problems = []
    if not calls:
        problems.append("never called the model")
    elif abs(calls[0] - sigmas[0]) > 1e-6 * sigmas[0]:
        problems.append(f"first call was model(x, {_g(calls[0])}), not at sigmas[0] = {_g(sigmas[0])}: "
                        "x is already noise at that level")
    if calls and len(calls) != len(sigmas):
        problems.append(f"called the model {len(calls)} times; expected once per level ({len(sigmas)})")
    variants = {
        "re-noised with sigma instead of sqrt(sigma^2 - sigma_min^2) (with the model's own sigma_min, here 0.2)":
            _multistep_variant(inp, noise_scale=lambda tau: tau),
        "added noise before the first call: x already is noise at sigmas[0], denoise it directly":
            _multistep_variant(inp, noise_first=True),
        "returned the last re-noised x instead of the model's output": _multistep_variant(inp, return_noisy=True),
    }
    problems += [desc for desc, v in variants.items() if _close(got, v)]
    if not problems:
        diff = float(np.abs(got - expected).max())
        problems.append(f"differs from Alg. 1 by up to {_g(diff)}: after the first call, for each next level tau draw "
                        "z = torch.randn(x.shape, generator=generator), set x = denoised + sqrt(tau^2 - sigma_min^2) z, "
                        "and denoise at tau")
    return _wrong("multistep", "\n".join(problems))


# --- heun_step ------------------------------------------------------------------------------------------------


def _slope(den, x: torch.Tensor, sigma: float) -> torch.Tensor:
    return (x - den(x, sigma)) / sigma


def _heun_variants(case: dict) -> dict[str, np.ndarray]:
    den, x, s, sn = GaussianDenoiser(), case["x"], case["sigma"], case["sigma_next"]
    d = _slope(den, x, s)
    euler = x + (sn - s) * d
    back = x + (s - sn) * d
    return {
        "an Euler step: no correction with the slope at the end point": _np(euler),
        "the second slope taken at x instead of at the Euler point x + (sigma_next - sigma) d":
            _np(x + (sn - s) * (d + _slope(den, x, sn)) / 2),
        "the sum of the two slopes not halved": _np(x + (sn - s) * (d + _slope(den, euler, sn))),
        "a step toward higher noise: the step is (sigma_next - sigma) times the slope, and sigma_next < sigma":
            _np(back + (s - sn) * (d + _slope(den, back, sn)) / 2),
    }


def _heun_error_note(case: dict, got: np.ndarray, expected: np.ndarray) -> str:
    """How far the student's step and a Heun step land from the exact ODE solution (closed form for Gaussian data)."""
    gauss = GaussianDenoiser()
    m, s = _np(gauss.m), gauss.s
    exact = m + (_np(case["x"]) - m) * math.sqrt(s**2 + case["sigma_next"] ** 2) / math.sqrt(s**2 + case["sigma"] ** 2)
    return (f"(its error vs the exact ODE solution is {_g(np.abs(got - exact).max())}, "
            f"a Heun step's is {_g(np.abs(expected - exact).max())})")


def judge_heun_step(outputs: dict) -> Result:
    """Karras et al. 2022, Alg. 1: Euler, then the average of the slopes at both ends."""
    if (r := _preamble("heun_step", outputs)) is not None:
        return r
    cases = heun_inputs()
    for case, out in zip(cases, outputs["cases"], strict=True):
        got = _arr(out["result"])
        expected = _np(samplers.heun_step(GaussianDenoiser(), case["x"], case["sigma"], case["sigma_next"]))
        if got.shape != expected.shape:
            return _wrong("heun_step", f"returned shape {tuple(got.shape)}, expected {tuple(expected.shape)} (like x)")
        if _close(got, expected):
            continue
        err = _heun_error_note(case, got, expected)
        step = f"step {_g(case['sigma'])} -> {_g(case['sigma_next'])}"
        for desc, v in _heun_variants(case).items():
            if _close(got, v):
                return _wrong("heun_step", f"{desc} {err}")
        note = f"; it called the denoiser {out['calls']} times, Heun needs 2" if out["calls"] != 2 else ""
        diff = _g(np.abs(got - expected).max())
        return _wrong("heun_step", f"differs from a Heun step by up to {diff} on the {step}{note} {err}")
    return _ok("heun_step", "correct\nmatches a Heun step (Euler, then the average of the slopes at both ends)")


# --- curriculum -----------------------------------------------------------------------------------------------


def judge_curriculum(outputs: dict) -> Result:
    """N(k) = ceil(sqrt(k/K ((s1+1)^2 - s0^2) + s0^2) - 1) + 1 (Song et al. 2023, App. C), integers."""
    if (r := _preamble("curriculum", outputs)) is not None:
        return r
    args = curriculum_inputs()
    got = np.asarray([float(v) for v in outputs["values"]])
    expected = np.asarray([schedules.ct_curriculum(*a) for a in args], dtype=float)
    if got.shape != expected.shape:
        return _wrong("curriculum", f"expected {len(expected)} values, got {got.size}")
    non_int = [v for v in got if not float(v).is_integer()]
    if np.array_equal(got, expected):
        return _ok("curriculum", "correct\nN(k) matches Song et al. 2023 (N(0) = s0 = 2 up to N(K) = s1 + 1 = 151)")
    paper = len([a for a in args if a[2] == 2])  # the first block: s0 = 2, s1 = 150, K = 1000
    g1, e1 = got[:paper], expected[:paper]
    problems = []
    if non_int:
        problems.append(f"returns fractions (e.g. {_g(non_int[0])}): N counts levels, round up with math.ceil")
    if np.all(np.diff(g1) <= 0) and g1[0] > g1[-1]:
        problems.append(f"N(k) decreases from {_g(g1[0])} to {_g(g1[-1])} (high to low): "
                        "it must grow from s0 at k = 0 to s1 + 1 at k = K")
    elif np.array_equal(g1, [schedules.lesson_curriculum(*a[:2]) for a in args[:paper]]):
        problems.append("linear like the lesson's N = 2 + 148 k/K: Song et al.'s N(k) grows like sqrt(k/K), "
                        f"fast at first (N(100) = {int(e1[3])}, yours {int(g1[3])}), then slower")
    elif np.array_equal(g1, e1):
        problems.append("right for s0 = 2, s1 = 150, wrong for s0 = 10, s1 = 1280: use the arguments s0 and s1")
    else:
        ends = [f"N(0) = {_g(g1[0])}, expected s0 = {int(e1[0])}" if g1[0] != e1[0] else "",
                f"N(K) = {_g(g1[-1])}, expected s1 + 1 = {int(e1[-1])}" if g1[-1] != e1[-1] else ""]
        if np.all(np.abs(g1 - e1) <= 1) and any(ends):
            problems.append("off by one at the ends: " + "; ".join(e for e in ends if e))
        elif not non_int:
            k = int(np.argmax(got != expected))
            k_, K, s0, s1 = args[k]
            problems.append(f"N(k = {k_}, K = {K}, s0 = {s0}, s1 = {s1}) = {_g(got[k])}, expected {int(expected[k])}")
    return _wrong("curriculum", "\n".join(problems))


# --- ema ------------------------------------------------------------------------------------------------------


def _ema_expected(decay_for_params: float | None, copy_buffers: bool) -> dict[str, np.ndarray]:
    ema_model, model, decay = ema_inputs()
    with torch.no_grad():
        if decay_for_params is not None:
            for p_ema, p in zip(ema_model.parameters(), model.parameters(), strict=True):
                p_ema.mul_(decay_for_params).add_(p, alpha=1 - decay_for_params)
        if copy_buffers:
            for b_ema, b in zip(ema_model.buffers(), model.buffers(), strict=True):
                b_ema.copy_(b)
    return {k: _np(v) for k, v in ema_model.state_dict().items()}


def judge_ema(outputs: dict) -> Result:
    """In place: parameters theta_ema <- decay theta_ema + (1 - decay) theta; buffers copied; the online model untouched."""
    if (r := _preamble("ema", outputs)) is not None:
        return r
    ema_model, model, decay = ema_inputs()
    start = {k: _np(v) for k, v in ema_model.state_dict().items()}
    online = {k: _np(v) for k, v in model.state_dict().items()}
    ema_update_(ema_model, model, decay)
    expected = {k: _np(v) for k, v in ema_model.state_dict().items()}
    got = {k: _arr(v) for k, v in outputs["ema"].items()}
    got_online = {k: _arr(v) for k, v in outputs["model"].items()}
    if set(got) != set(expected):
        return _wrong("ema", f"ema_model's entries changed: {sorted(got)} instead of {sorted(expected)}")
    params = [k for k, _ in ema_model.named_parameters()]
    buffers = [k for k, _ in ema_model.named_buffers()]

    def same(a: dict, b: dict, keys: list[str]) -> bool:
        return all(_close(a[k], b[k], rtol=1e-5, atol=1e-7) for k in keys)

    problems = []
    if not same(got_online, online, list(online)):
        problems.append("you changed model (the online network): only ema_model may change")
    if not same(got, expected, params):
        if same(got, start, params):
            problems.append("ema_model's parameters did not change: update them in place "
                            "(p_ema.mul_(decay).add_(p, alpha=1 - decay) under torch.no_grad())")
        elif same(got, _ema_expected(1 - decay, True), params):
            problems.append(f"decay applied the wrong way round: with decay = {decay} the average keeps {decay} of "
                            f"theta_ema and takes {1 - decay:.1f} of theta, yours keeps {1 - decay:.1f}")
        else:
            k = next(k for k in params if not _close(got[k], expected[k], rtol=1e-5, atol=1e-7))
            problems.append(f"parameter {k}: yours {_g(got[k].ravel()[0])}, expected {_g(expected[k].ravel()[0])} "
                            f"= {decay} x {_g(start[k].ravel()[0])} + {1 - decay:.1f} x {_g(online[k].ravel()[0])}")
    if not same(got, expected, buffers):
        if same(got, start, buffers):
            problems.append("buffers not copied: ema_model's buffers (running statistics, counters) must be copied from model")
        else:
            problems.append("buffers averaged or altered: copy them from model as they are")
    if problems:
        return _wrong("ema", "\n".join(problems))
    note = "" if outputs.get("returned_none", True) else " (it returns a value; an in-place update returns None)"
    return _ok("ema", f"correct\nparameters averaged in place with decay {decay}, buffers copied, model untouched{note}")


# --- ct_loss --------------------------------------------------------------------------------------------------


def _ct_loss_pair_problems(outputs: dict, inp: dict, hi: np.ndarray, lo: np.ndarray, z: np.ndarray) -> list[str]:
    """Which levels and noise the online and target models saw, against Alg. 3's."""
    on, tg = outputs["online_calls"], outputs["target_calls"]
    if on["count"] == 0:
        return ["the online model was never called"]
    if tg["count"] == 0:
        return ["target_model was never called: the lower level of the pair goes through the target network"]
    x_on, s_on, x_tg, s_tg = _arr(on["x"]), _arr(on["sigma"]), _arr(tg["x"]), _arr(tg["sigma"])
    n = len(hi)
    if len(s_on) != n or len(s_tg) != n:
        return []  # several calls per model: nothing to line up
    problems = []
    if _close(s_on, lo) and _close(s_tg, hi):
        problems.append("pair reversed: the online model is on the lower level sigmas[i + 1] and the target on the higher; "
                        "cmlesson's sigmas decrease (high noise first), so the online model goes on sigmas[i]")
    elif not (_close(s_on, hi) and _close(s_tg, lo)):
        if np.all(s_on > s_tg):
            problems.append("levels not drawn as in the contract: first i = torch.randint(0, len(sigmas) - 1, (n,), "
                            "generator=generator), then z = torch.randn(x0.shape, generator=generator)")
        else:
            problems.append("the online and target levels are not an adjacent pair (sigmas[i], sigmas[i + 1])")
    x0 = _np(inp["x0"])
    z_on, z_tg = (x_on - x0) / s_on[:, None], (x_tg - x0) / s_tg[:, None]
    if not _close(z_on, z_tg, rtol=1e-3, atol=1e-4):
        problems.append("different noise at the two levels: use one z for both x0 + sigma_hi z and x0 + sigma_lo z")
    elif not problems and not _close(z_on, z, rtol=1e-3, atol=1e-4):
        problems.append("noise not drawn as in the contract: z = torch.randn(x0.shape, generator=generator), after i")
    return problems


def judge_ct_loss(outputs: dict) -> Result:
    """Song et al. 2023, Alg. 3: online on sigma_hi, target (no grad) on sigma_lo, the same z, squared L2, batch mean."""
    if (r := _preamble("ct_loss", outputs)) is not None:
        return r
    inp = ct_loss_inputs()
    expected = losses.consistency_training_loss(inp["model"], inp["target"], inp["x0"], inp["sigmas"],
                                                generator=_gen(inp["seed"])).item()
    g, n = _gen(inp["seed"]), len(inp["x0"])
    i = torch.randint(0, len(inp["sigmas"]) - 1, (n,), generator=g)
    z = _np(torch.randn(inp["x0"].shape, generator=g))
    hi, lo = _np(inp["sigmas"][i]), _np(inp["sigmas"][i + 1])
    loss = _arr(outputs["loss"])
    if loss.size != 1:
        return _wrong("ct_loss", f"returns a tensor of shape {tuple(loss.shape)}; expected a scalar: the mean over the batch")
    got, zero = float(loss.ravel()[0]), _arr(outputs["zero_case"]).ravel()
    problems = []
    if zero.size != 1 or abs(float(zero[0])) > 1e-6:
        problems.append(f"your loss is {_g(float(zero[0]))}, not 0, when model and target coincide (both output the same "
                        "point everywhere): compare model(x_hi, sigma_hi) with target_model(x_lo, sigma_lo), not with x0")
    if outputs.get("target_grad"):
        problems.append("gradient reaches the target network: call target_model under torch.no_grad() (or .detach() its output)")
    if not outputs.get("requires_grad") or not outputs.get("online_grad"):
        problems.append("no gradient reaches the online model: the loss must be differentiable in its parameters")
    problems += _ct_loss_pair_problems(outputs, inp, hi, lo, z)
    if not problems and _close(np.array(got), expected, rtol=1e-4, atol=1e-7):
        return _ok("ct_loss", f"correct\nloss = {_g(got)} as in Alg. 3 (online on sigma_hi, target without gradient on sigma_lo, "
                   "same z); 0 when model and target coincide")
    score = 0
    if not problems and _close(np.array(got), expected / 2, rtol=1e-4, atol=1e-7):
        problems.append(f"loss = {_g(got)}, expected {_g(expected)}: you averaged over the coordinates too (mse_loss); "
                        "sum the squares over each point's coordinates, then average over the batch")
        score = 1
    elif not problems and _close(np.array(got), expected * n, rtol=1e-4, atol=1e-6):
        problems.append(f"loss = {_g(got)}, expected {_g(expected)}: summed over the batch instead of averaging")
        score = 1
    elif not problems:
        problems.append(f"loss = {_g(got)}, expected {_g(expected)}: squared L2 distance per sample, mean over the batch")
    return _wrong("ct_loss", "\n".join(problems), score)


# --- ct_training ----------------------------------------------------------------------------------------------

CT_DATASET, CT_REFERENCE_SEED = "moons", 20_231
CT_PASS, CT_PARTIAL = 3.0, 6.0  # W1 as a multiple of the noise floor: full marks, half marks


@lru_cache(maxsize=1)
def ct_reference() -> tuple[torch.Tensor, float]:
    """A fresh two-moons reference sample (2000 points) and the noise floor (mean W1 of independent pairs)."""
    ref = data.sample(CT_DATASET, CT_SAMPLES, seed=CT_REFERENCE_SEED)
    floor = metrics.noise_floor(lambda n, seed: data.sample(CT_DATASET, n, seed=seed), CT_SAMPLES)
    return ref, floor


def judge_ct_training(outputs: dict) -> Result:
    """W1(ex1_samples, fresh data) as a multiple of the noise floor: full marks at <= 3x."""
    if (r := _preamble("ct_training", outputs)) is not None:
        return r
    x = _arr(outputs["samples"])
    if x.shape != (CT_SAMPLES, 2):
        return _wrong("ct_training", f"ex1_samples has shape {tuple(x.shape)}, expected ({CT_SAMPLES}, 2)")
    if not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).any(axis=1).sum())
        return _wrong("ct_training", f"ex1_samples has NaN or inf in {bad} rows: training diverged (lower the learning rate)")
    if not x.any():
        return Result(0, EXERCISES["ct_training"].points, "not attempted", "not attempted: ex1_samples is all zeros (the stub)")
    ref, floor = ct_reference()
    w1 = metrics.wasserstein_2d(x, ref)
    ratio = w1 / floor
    head = (f"W1 = {w1:.4f} = {ratio:.2f}x the noise floor ({floor:.4f}); "
            f"full marks at <= {CT_PASS:g}x, half marks at <= {CT_PARTIAL:g}x")
    if ratio <= CT_PASS:
        return _ok("ct_training", head)
    r = _np(ref)
    spread = float(x.std(axis=0).mean() / r.std(axis=0).mean())
    shift = float(np.linalg.norm(x.mean(axis=0) - r.mean(axis=0)))
    hint = (f"samples spread {spread:.2f}x as wide as the data, mean off by {shift:.3f}: train longer, check the "
            "loss (online on the higher level) and sample with the EMA model")
    return _wrong("ct_training", f"{head}\n{hint}", 1 if ratio <= CT_PARTIAL else 0)


# --- w1 -------------------------------------------------------------------------------------------------------


def _w1_variants(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    sq = float(ot.emd2(ot.unif(len(a)), ot.unif(len(b)), ot.dist(a, b), numItermax=10_000_000))
    return {
        "W1 computed per axis, not in 2-D (the lesson's metric, blind to how the coordinates go together)":
            metrics.per_dimension_wasserstein(a, b),
        "the per-axis W1 summed, not the exact 2-D W1": 2 * metrics.per_dimension_wasserstein(a, b),
        "squared Euclidean costs (ot.dist's default metric is 'sqeuclidean'): W1 needs metric='euclidean'": sq,
        "the square root of the squared-cost optimum: that is W2, not W1": math.sqrt(sq),
        "a[i] paired with b[i]: W1 needs the best matching, not the given order":
            float(np.linalg.norm(a - b, axis=1).mean()),
    }


def judge_w1(outputs: dict) -> Result:
    """The exact W1 with Euclidean costs (metrics.wasserstein_2d), on three pairs of point sets."""
    if (r := _preamble("w1", outputs)) is not None:
        return r
    cases = w1_inputs()
    got = np.asarray([float(v) for v in outputs["values"]])
    expected = np.asarray([metrics.wasserstein_2d(a, b) for a, b in cases])
    if _close(got, expected, rtol=1e-5, atol=1e-8):
        return _ok("w1", f"correct\nexact 2-D W1 on all {len(cases)} pairs "
                   f"(e.g. {_g(expected[0])} for two sets with the same per-axis marginals)")
    example = (f"on two sets with the same per-axis marginals but different 2-D shapes yours = {_g(got[0])}, "
               f"exact W1 = {_g(expected[0])}")
    variants = [_w1_variants(a, b) for a, b in cases]
    for desc in variants[0]:
        if _close(got, np.asarray([v[desc] for v in variants]), rtol=1e-5, atol=1e-8):
            return _wrong("w1", f"{desc}\n{example}")
    k = int(np.argmax(~np.isclose(got, expected, rtol=1e-5, atol=1e-8)))
    return _wrong("w1", f"pair {k + 1}: yours {_g(got[k])}, exact 2-D W1 = {_g(expected[k])}\n{example}")


# --- ladder ---------------------------------------------------------------------------------------------------

LADDER_REFERENCE_SEED = 20_232
LADDER_RTOL, LADDER_NEAR = 2e-3, 0.10  # exact (OT solver noise), and close enough for half marks


@dataclass
class LadderAssets:
    """The consistency model and reference points the ladder is measured with, and its canonical values (cached)."""

    model: nn.Module
    reference: torch.Tensor
    _cache: dict = field(default_factory=dict, repr=False)

    def ladder(self, variant: str = "canonical") -> dict[int, float]:
        """{k: W1} computed the contract's way (``variant="canonical"``) or with one known mistake."""
        if variant not in self._cache:
            self._cache[variant] = _ladder(self.model, self.reference, variant)
        return self._cache[variant]

    def kernel_arrays(self) -> dict[str, np.ndarray]:
        """What the kernel needs to rebuild the model (:class:`ConsistencyMLP`) and the reference: plain arrays."""
        arrays = {f"cd/{k}": v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}
        arrays.update(reference=self.reference.numpy(), sigma_data=np.float64(self.model.sigma_data),
                      sigma_min=np.float64(self.model.sigma_min), sigma_max=np.float64(self.model.sigma_max))
        return arrays


def _ladder(model, reference: torch.Tensor, variant: str) -> dict[int, float]:
    """bench.quality_ladder (the canonical answer), or the ladder with one known mistake."""
    m = model
    if variant == "one generator":
        g, out = _gen(LADDER_SEED), {}
        for k in LADDER_STEPS:
            start = samplers.noise(len(reference), reference.shape[1], m.sigma_max, g)
            sigmas = samplers.multistep_sigmas(k, m.sigma_min, m.sigma_max, m.sigma_data)
            out[k] = metrics.wasserstein_2d(samplers.sample_consistency(m, start, sigmas, generator=g), reference)
        return out
    metric = metrics.per_dimension_wasserstein if variant == "per axis" else metrics.wasserstein_2d
    levels = None
    if variant == "lesson levels":
        def levels(k: int) -> list[float]:
            return [min(s, m.sigma_max) for s in samplers.lesson_multistep_sigmas(k)]
    return bench.quality_ladder(m, LADDER_STEPS, reference, LADDER_SEED, metric, levels)


@lru_cache(maxsize=1)
def ladder_reference() -> torch.Tensor:
    """A fresh two-moons reference of 2000 points (not the training pool, not ct_reference)."""
    return data.sample("moons", 2000, seed=LADDER_REFERENCE_SEED)


@lru_cache(maxsize=1)
def default_ladder_assets() -> LadderAssets:
    """The shipped CD checkpoint and :func:`ladder_reference`."""
    from . import checkpoints

    return LadderAssets(checkpoints.load("cd"), ladder_reference())


_LADDER_VARIANTS = {
    "per axis": "you measured W1 per axis (the lesson's metric), not the exact 2-D W1",
    "one generator": "one generator for all k: seed a fresh torch.Generator with `seed` for each k",
    "lesson levels": "you used the lesson's hand-picked levels; use cmlesson.samplers.multistep_sigmas(k, ...)",
}


def judge_ladder(outputs: dict, assets: LadderAssets | None = None) -> Result:
    """{k: W1} for k = 1, 2, 3 against the canonical ladder on the same model, reference and seed."""
    if (r := _preamble("ladder", outputs)) is not None:
        return r
    assets = assets or default_ladder_assets()
    items = outputs["items"]
    keys = [str(k) for k, _, _ in items]
    if not all(is_int for _, is_int, _ in items):
        return _wrong("ladder", f"keys must be the step counts as ints, like {list(LADDER_STEPS)}; got {', '.join(keys)}")
    got = {int(k): float(v) for k, _, v in items}
    if sorted(got) != sorted(LADDER_STEPS):
        return _wrong("ladder", f"keys {sorted(got)}, expected one per requested step count: {list(LADDER_STEPS)}")
    expected = assets.ladder()
    table = ", ".join(f"{k}: {got[k]:.4f} (expected {expected[k]:.4f})" for k in expected)
    if all(math.isclose(got[k], expected[k], rel_tol=LADDER_RTOL) for k in expected):
        return _ok("ladder", "W1 per number of steps matches: " + ", ".join(f"{k}: {got[k]:.4f}" for k in expected))
    for variant, desc in _LADDER_VARIANTS.items():
        alt = assets.ladder(variant)
        if all(math.isclose(got[k], alt[k], rel_tol=LADDER_RTOL) for k in alt):
            return _wrong("ladder", f"{desc}\n{table}")
    if all(math.isclose(got[k], expected[k], rel_tol=LADDER_NEAR) for k in expected):
        return _wrong("ladder", "close, but not the seeded samples: for each k seed a fresh generator with `seed`, draw the "
                      f"start noise from it and pass it to the sampler\n{table}", 1)
    return _wrong("ladder", table)


# --- the check functions the notebooks call -------------------------------------------------------------------

JUDGES = {
    "coefficients": judge_coefficients, "multistep": judge_multistep, "heun_step": judge_heun_step,
    "curriculum": judge_curriculum, "ema": judge_ema, "ct_loss": judge_ct_loss, "ct_training": judge_ct_training,
    "w1": judge_w1, "ladder": judge_ladder,
}


def _report(ex_id: str, result: Result) -> Result:
    print(result.report(EXERCISES[ex_id].description))
    return result


def check_coefficients(c_skip_fn, c_out_fn) -> Result:
    """Notebook 01: c_skip_student and c_out_student."""
    return _report("coefficients", judge_coefficients(evaluate_coefficients(c_skip_fn, c_out_fn)))


def check_multistep(fn) -> Result:
    """Notebook 01: multistep_student."""
    return _report("multistep", judge_multistep(evaluate_multistep(fn)))


def check_heun_step(fn) -> Result:
    """Notebook 02: heun_step_student."""
    return _report("heun_step", judge_heun_step(evaluate_heun_step(fn)))


def check_curriculum(fn) -> Result:
    """Notebook 03: ct_curriculum_student."""
    return _report("curriculum", judge_curriculum(evaluate_curriculum(fn)))


def check_ema(fn) -> Result:
    """Notebook 04: ema_update_student."""
    return _report("ema", judge_ema(evaluate_ema(fn)))


def check_ct_loss(fn) -> Result:
    """Notebook 05, Exercise 1: ct_loss_student."""
    return _report("ct_loss", judge_ct_loss(evaluate_ct_loss(fn)))


def check_ct_training(samples) -> Result:
    """Notebook 05, Exercise 1: ex1_samples."""
    return _report("ct_training", judge_ct_training(evaluate_ct_training(samples)))


def check_w1(fn) -> Result:
    """Notebook 05, Exercise 2: w1_student."""
    return _report("w1", judge_w1(evaluate_w1(fn)))


def check_ladder(fn, model: nn.Module | None = None, reference: torch.Tensor | None = None) -> Result:
    """Notebook 05, Exercise 2: quality_ladder_student, on the shipped CD model (or ``model``) and a fresh reference."""
    if model is None and reference is None:
        assets = default_ladder_assets()
    else:
        assets = LadderAssets(model if model is not None else default_ladder_assets().model,
                              reference if reference is not None else ladder_reference())
    return _report("ladder", judge_ladder(evaluate_ladder(fn, assets.model, assets.reference), assets))
