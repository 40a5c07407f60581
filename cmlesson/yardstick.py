"""The course's one yardstick (notebook 01 introduces it; every notebook, the benchmark and the widgets use it).

A sampler's quality is its exact W1 to the data (:func:`metrics.wasserstein_2d`) as a multiple of the noise
floor, over sampling seeds s = 0 .. seeds-1 (``ScoreConfig.seeds``). Seed s draws the sampler with a generator
seeded s and measures it against its own reference set ``ref(n, REF_SEED + s)``; the floor of seed s is the W1
between that reference and an independent second one, ``ref(n, OTHER_SEED + s)``: what a perfect generator
scores. The ratio of seed s shares its reference with its floor (common random numbers), which cancels part of
the reference's own sampling noise, so the per-seed ratios spread less than W1s divided by the mean floor. Two
samplers scored with the same seeds are compared seed by seed.

A shipped model's score need not be measured on every run: :func:`shipped_score` reads back the per-seed ratios
measured when its weights shipped (``checkpoints/scores.json``, keyed by the weights' own hash, the sampler's label, n
and seeds), and measures where nothing is stored. The noise floor's pairs are stored the same way, keyed by the two
point sets' bytes. ``CMLESSON_SCORES`` chooses: ``stored`` (the default), ``measure`` (never read the store),
``verify`` (measure and fail on any difference from the store: CI runs the solution notebooks so) and ``store``
(measure and write: ``python -m cmlesson.authoring.scores``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import metrics, validate
from .config import ScoreConfig
from .cpus import worker_threads

RefSampler = Callable[[int, int], torch.Tensor]  # (n, seed) -> (n, d) i.i.d. points of the data
Sampler = Callable[[torch.Generator], torch.Tensor]  # generator -> (n, d) samples of a model
Metric = Callable[[torch.Tensor, torch.Tensor], float]  # (a, b) -> a distance between point sets
REF_SEED, OTHER_SEED = metrics.REF_SEED, metrics.OTHER_SEED
STORE = Path(__file__).parent / "checkpoints" / "scores.json"  # scores measured when the models shipped
MODES = ("stored", "measure", "verify", "store")  # CMLESSON_SCORES: what shipped_score does with STORE


@dataclass(frozen=True)
class Score:
    """W1 / floor of seed s for each seed: their mean is the score, their spread its standard error."""

    per_seed: tuple[float, ...]

    @property
    def ratio(self) -> float:
        """Mean over seeds of W1_s / floor_s."""
        return float(np.mean(self.per_seed))

    @property
    def se(self) -> float:
        """Standard error of :attr:`ratio` over the seeds (0 for one seed: one seed has no error bar)."""
        n = len(self.per_seed)
        return float(np.std(self.per_seed, ddof=1) / np.sqrt(n)) if n > 1 else 0.0

    def __sub__(self, other: Score) -> Score:
        """The paired difference, seed by seed: both scores must come from the same seeds and references."""
        if len(other.per_seed) != len(self.per_seed):
            raise ValueError(f"a paired difference needs the same seeds: got {len(self.per_seed)} and {len(other.per_seed)}")
        return Score(tuple(a - b for a, b in zip(self.per_seed, other.per_seed, strict=True)))

    def beyond_noise(self, k: float = 2.0) -> bool:
        """For a difference: is it farther from zero than ``k`` standard errors?"""
        return abs(self.ratio) > k * self.se

    def verdict(self, k: float = 2.0) -> str:
        """For a difference: "beyond the noise" or "within the noise", and the bound it was held against."""
        return f"beyond the noise (|d| > {k:g} s.e.)" if self.beyond_noise(k) else f"within the noise (|d| <= {k:g} s.e.)"

    def __format__(self, spec: str) -> str:
        spec = spec or ".2f"
        return f"{self.ratio:{spec}}x ± {self.se:{spec.lstrip('+')}}"

    def __str__(self) -> str:
        return format(self)


def _w1s(pairs: list[tuple[torch.Tensor, torch.Tensor]], metric: Metric = metrics.wasserstein_2d) -> list[float]:
    with ThreadPoolExecutor(max(1, min(len(pairs), worker_threads()))) as pool:  # POT's solver releases the GIL
        return list(pool.map(lambda p: metric(*p), pairs))


def w1_per_seed(sample: Sampler, ref: RefSampler, n: int = ScoreConfig.n, seeds: int = ScoreConfig.seeds) -> list[float]:
    """W1(sample(generator seeded s), ref(n, REF_SEED + s)) for s = 0 .. seeds-1, in data units."""
    validate.int_at_least("seeds", seeds, 1)
    return _w1s([(sample(torch.Generator().manual_seed(s)), ref(n, REF_SEED + s)) for s in range(seeds)])


def mode() -> str:
    """What the store is for on this run: ``CMLESSON_SCORES``, one of :data:`MODES` (``stored`` when unset)."""
    value = os.environ.get("CMLESSON_SCORES", "stored") or "stored"
    if value not in MODES:
        raise ValueError(f"CMLESSON_SCORES must be one of {MODES}, got {value!r}")
    return value


def _read_store() -> dict[str, list[float]]:
    return json.loads(STORE.read_text()) if STORE.exists() else {}


def _write_store(entries: dict[str, list[float]]) -> None:
    store = _read_store() | entries
    tmp = STORE.with_suffix(f".{os.getpid()}.tmp")  # one writer's own file, renamed over the store at once
    lines = [f"{json.dumps(key)}: {json.dumps(values)}" for key, values in sorted(store.items())]  # one entry a line
    tmp.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    tmp.replace(STORE)


def _through_store(key: str, measure: Callable[[], list[float]], required: bool = True) -> list[float]:
    """The values stored under ``key``, or ``measure()``; what the mode says (see the module's docstring).

    ``verify`` fails on a stored value that differs, and on a missing one where ``required`` (a shipped model's score
    must be stored; a floor need not be: any n, seeds and reference sampler has one)."""
    how = mode()
    if how == "stored":
        stored = _read_store().get(key)
        if stored is not None:
            return list(stored)
    values = [float(v) for v in measure()]
    if how == "verify":
        stored = _read_store().get(key)
        if stored is None and required:
            raise AssertionError(f"no score stored for {key!r} in {STORE.name}: python -m cmlesson.authoring.scores stores it")
        agree = stored is None or (len(stored) == len(values)
                                   and all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(stored, values, strict=True)))
        if not agree:
            raise AssertionError(f"the score stored for {key!r} is {stored}, measured now {values}: "
                                 "python -m cmlesson.authoring.scores measures it again")
    if how == "store":
        _write_store({key: values})
    return values


def weights_id(model: nn.Module) -> str:
    """The first 16 hex digits of SHA-256 over the model's class, its noise levels (``sigma_*`` where it has them) and
    its parameters and buffers (names, shapes, dtypes, bytes)."""
    digest = hashlib.sha256(type(model).__qualname__.encode())
    for attribute in ("sigma_data", "sigma_min", "sigma_max"):
        if isinstance(value := getattr(model, attribute, None), float | int):
            digest.update(f"{attribute}={float(value)!r};".encode())
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name} {tuple(t.shape)} {t.dtype};".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())  # the raw bytes, whatever the dtype
    return digest.hexdigest()[:16]


def _points_id(*points: torch.Tensor) -> str:
    digest = hashlib.sha256()
    for p in points:
        digest.update(p.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=64)
def _floor(ref: RefSampler, n: int, seeds: int, metric: Metric, how: str) -> tuple[float, ...]:
    """The floors of seeds 0 .. seeds-1; ``how``, the store's mode, is part of the cache's key."""
    validate.int_at_least("seeds", seeds, 1)
    pairs = [(ref(n, REF_SEED + s), ref(n, OTHER_SEED + s)) for s in range(seeds)]
    if metric is not metrics.wasserstein_2d:
        return tuple(_w1s(pairs, metric))
    keys = [f"floor {_points_id(a, b)}" for a, b in pairs]  # the pair's own bytes: any machine that draws them alike
    stored = _read_store() if how == "stored" else {}
    todo = [i for i, key in enumerate(keys) if key not in stored]
    measured = dict(zip(todo, _w1s([pairs[i] for i in todo], metric), strict=True))
    for i in todo:
        _through_store(keys[i], lambda i=i: [measured[i]], required=False)  # verify or store what was just measured
    return tuple(stored[key][0] if i not in measured else measured[i] for i, key in enumerate(keys))


def forget_floors() -> None:
    """Empty the floors' cache, for a process whose store file changed under it (tests)."""
    _floor.cache_clear()


def floor_per_seed(ref: RefSampler, n: int = ScoreConfig.n, seeds: int = ScoreConfig.seeds,
                   metric: Metric = metrics.wasserstein_2d) -> list[float]:
    """The noise floor of seed s: metric(ref(n, REF_SEED + s), ref(n, OTHER_SEED + s)); cached per (ref, n, seeds, metric).

    With the default W1 their mean is :func:`metrics.noise_floor` (the same pairs), the floor in the data's units;
    notebook 05 passes ``metrics.per_dimension_wasserstein`` for the lesson's metric.
    """
    return list(_floor(ref, n, seeds, metric, mode()))


def ratios(w1: list[float], ref: RefSampler, n: int = ScoreConfig.n) -> Score:
    """W1s already measured the yardstick's way (seed s against ref(n, REF_SEED + s)), as a Score."""
    floors = floor_per_seed(ref, n, len(w1))
    return Score(tuple(float(w / f) for w, f in zip(w1, floors, strict=True)))


def score(sample: Sampler, ref: RefSampler, n: int = ScoreConfig.n, seeds: int = ScoreConfig.seeds) -> Score:
    """W1 / noise floor of ``sample`` (generator -> n points) over ``seeds`` sampling seeds, with its standard error."""
    return ratios(w1_per_seed(sample, ref, n, seeds), ref, n)


def shipped_score(model: nn.Module, label: str, sample: Sampler, ref: RefSampler, n: int = ScoreConfig.n,
                  seeds: int = ScoreConfig.seeds) -> Score:
    """:func:`score` of a shipped model, read back from :data:`STORE` when these weights, ``label``, n and seeds are there.

    ``label`` must name the sampler (how ``sample`` draws from ``model``), e.g. "sample_flowmap, uniform_times(2)", and
    ``ref`` must be the course's reference (the key holds neither function): a sampler changed under the same label
    reads the old score back, which CI's ``verify`` run of the solution notebooks catches. Measured where nothing is
    stored (a model trained here, or retrained); see the module's docstring.
    """
    validate.int_at_least("seeds", seeds, 1)
    key = f"{weights_id(model)} {label} n={n} seeds={seeds}"
    return Score(tuple(_through_store(key, lambda: score(sample, ref, n, seeds).per_seed)))
