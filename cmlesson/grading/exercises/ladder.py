"""Notebook 05, Exercise 5.2b: the quality ladder, W1 against the number of consistency sampling steps (Alg. 1),
the package's ``bench.quality_ladder``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from ._judging import Result, bench, checkpoints, data, metrics, ok, preamble, reported, samplers, wrong
from ._kernel import Exercise, StudentError, call, gen, name, number, safely

EXERCISE = Exercise("ladder", 2, "05", "Exercise 5.2b: the quality ladder", ("quality_ladder_student",), rank=4,
                    answers=('authoring.bench.quality_ladder',))
LADDER_STEPS = (1, 2, 3)  # the ladder's rungs: consistency steps
LADDER_SEED = 3  # the seed handed to quality_ladder_student


# --- kernel side -----------------------------------------------------------------------------------------------

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


def kernel_args(arrays: dict) -> tuple[nn.Module, torch.Tensor]:
    """The model and reference the ladder is measured with, rebuilt in the kernel from the grader's plain arrays."""
    state = {k[len("cd/"):]: v for k, v in arrays.items() if k.startswith("cd/")}
    model = ConsistencyMLP(state, arrays["sigma_data"], arrays["sigma_min"], arrays["sigma_max"])
    return model, torch.from_numpy(np.asarray(arrays["reference"], dtype=np.float32))


class SpyMetric:
    """A stand-in metric(samples, reference): returns 1000 + its call count and records the shapes it was given."""

    def __init__(self):
        self.shapes: list[list[list[int]]] = []

    def __call__(self, a, b) -> float:
        self.shapes.append([list(getattr(a, "shape", ())), list(getattr(b, "shape", ()))])
        return 1000.0 + len(self.shapes)


def evaluate(fn, model, reference) -> dict:
    """``fn(model, [1, 2, 3], reference, seed)`` as a list of [repr(key), key is an int, value]; then
    ``fn(model, [1, 2], reference, seed, metric)`` with a :class:`SpyMetric`: does the ladder measure with ``metric``?"""

    def body() -> dict:
        result = call(fn, model, list(LADDER_STEPS), reference, LADDER_SEED)
        if not isinstance(result, dict):
            raise StudentError(f"{name(fn)} returned {type(result).__name__}, expected a dict {{steps: W1}}")
        items = []
        for key, value in list(result.items())[:20]:
            is_int = isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_))
            items.append([repr(key)[:40], is_int, number(value, f"{name(fn)}(...)[{key!r}]")])
        spy = SpyMetric()
        try:
            via = call(fn, model, [1, 2], reference, LADDER_SEED, spy)
            values = [number(v, "metric") for v in via.values()] if isinstance(via, dict) else None
            metric = {"values": values, "shapes": spy.shapes}
        except StudentError as err:
            metric = {"error": str(err)}
        return {"items": items, "metric": metric}

    return safely(EXERCISE, body, fn)


# --- judge side ------------------------------------------------------------------------------------------------

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
        g, out = gen(LADDER_SEED), {}
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
def grader_assets() -> LadderAssets:
    """The shipped CD checkpoint and :func:`ladder_reference`."""
    return LadderAssets(checkpoints.load("cd"), ladder_reference())


_LADDER_VARIANTS = {
    "per axis": "you measured W1 per axis (the lesson's metric), not the exact 2-D W1",
    "one generator": "one generator for all k: seed a fresh torch.Generator with `seed` for each k",
    "lesson levels": "you used the lesson's hand-picked levels; use cmlesson.samplers.multistep_sigmas(k, ...)",
}


def judge(outputs: dict, assets: LadderAssets | None = None) -> Result:
    """{k: W1} for k = 1, 2, 3 against the canonical ladder on the same model, reference and seed."""
    if (r := preamble(EXERCISE, outputs)) is not None:
        return r
    assets = assets or grader_assets()
    items = outputs["items"]
    keys = [str(k) for k, _, _ in items]
    if not all(is_int for _, is_int, _ in items):
        return wrong(EXERCISE, f"keys must be the step counts as ints, like {list(LADDER_STEPS)}; got {', '.join(keys)}")
    got = {int(k): float(v) for k, _, v in items}
    if sorted(got) != sorted(LADDER_STEPS):
        return wrong(EXERCISE, f"keys {sorted(got)}, expected one per requested step count: {list(LADDER_STEPS)}")
    expected = assets.ladder()
    table = ", ".join(f"{k}: {got[k]:.4f} (expected {expected[k]:.4f})" for k in expected)
    if all(math.isclose(got[k], expected[k], rel_tol=LADDER_RTOL) for k in expected):
        values = ", ".join(f"{k}: {got[k]:.4f}" for k in expected)
        if (problem := _metric_problem(outputs.get("metric", {}), len(assets.reference))) is not None:
            return wrong(EXERCISE, f"{problem}\nwith the default metric, W1 per number of steps matches: {values}", 1)
        return ok(EXERCISE, f"W1 per number of steps matches: {values}; every rung measured with `metric`")
    for variant, desc in _LADDER_VARIANTS.items():
        alt = assets.ladder(variant)
        if all(math.isclose(got[k], alt[k], rel_tol=LADDER_RTOL) for k in alt):
            return wrong(EXERCISE, f"{desc}\n{table}")
    near = all(math.isclose(got[k], expected[k], rel_tol=LADDER_NEAR) for k in expected)
    first = min(expected)
    if math.isclose(got[first], expected[first], rel_tol=LADDER_RTOL):
        return wrong(EXERCISE, f"the {first}-step rung matches, the others do not: the re-noising draws of each rung come "
                     "from the same seeded generator as its start noise (pass it to the sampler as generator=)\n"
                     f"{table}", 1 if near else 0)
    if near:
        return wrong(EXERCISE, "close, but not the seeded samples: for each k seed a fresh generator with `seed`, draw the "
                      f"start noise from it and pass it to the sampler\n{table}", 1)
    return wrong(EXERCISE, table)


def _metric_problem(metric: dict, n: int) -> str | None:
    """Why the ladder does not measure its rungs with its ``metric`` argument, or None if it does."""
    keep = "measure every rung with the argument `metric` (the notebook passes your w1 through it)"
    if "error" in metric:
        return f"called with a metric as fifth argument, your function failed: {metric['error']}\n{keep}"
    if metric.get("values") is None:
        return f"called with a metric as fifth argument, your function did not return a dict\n{keep}"
    if not metric.get("shapes"):
        return f"your function ignores its argument `metric`: {keep}"
    if metric["values"] != [1001.0, 1002.0] or any(a != [n, 2] or b != [n, 2] for a, b in metric["shapes"]):
        return (f"your function does not return, for each rung, what metric(samples, reference) returned for it "
                f"(it got shapes {metric['shapes']}, returned {metric['values']}): {keep}")
    return None


def check(fn, model: nn.Module | None = None, reference: torch.Tensor | None = None) -> Result:
    """Notebook 05, Exercise 5.2b: quality_ladder_student, on the shipped CD model (or ``model``) and a fresh reference."""
    if model is None and reference is None:
        assets = grader_assets()
    else:
        assets = LadderAssets(model if model is not None else grader_assets().model,
                              reference if reference is not None else ladder_reference())
    return reported(EXERCISE, judge(evaluate(fn, assets.model, assets.reference), assets))
