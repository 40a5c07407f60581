"""The course's one yardstick (notebook 01 introduces it; every notebook, the benchmark and the widgets use it).

A sampler's quality is its exact W1 to the data (:func:`metrics.wasserstein_2d`) as a multiple of the noise
floor, over sampling seeds s = 0 .. seeds-1 (``ScoreConfig.seeds``). Seed s draws the sampler with a generator
seeded s and measures it against its own reference set ``ref(n, REF_SEED + s)``; the floor of seed s is the W1
between that reference and an independent second one, ``ref(n, OTHER_SEED + s)``: what a perfect generator
scores. The ratio of seed s shares its reference with its floor (common random numbers), which cancels part of
the reference's own sampling noise, so the per-seed ratios spread less than W1s divided by the mean floor. Two
samplers scored with the same seeds are compared seed by seed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from . import metrics, validate
from .config import ScoreConfig
from .cpus import worker_threads

RefSampler = Callable[[int, int], torch.Tensor]  # (n, seed) -> (n, d) i.i.d. points of the data
Sampler = Callable[[torch.Generator], torch.Tensor]  # generator -> (n, d) samples of a model
Metric = Callable[[torch.Tensor, torch.Tensor], float]  # (a, b) -> a distance between point sets
REF_SEED, OTHER_SEED = metrics.REF_SEED, metrics.OTHER_SEED


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


@functools.lru_cache(maxsize=64)
def _floor(ref: RefSampler, n: int, seeds: int, metric: Metric) -> tuple[float, ...]:
    validate.int_at_least("seeds", seeds, 1)
    return tuple(_w1s([(ref(n, REF_SEED + s), ref(n, OTHER_SEED + s)) for s in range(seeds)], metric))


def floor_per_seed(ref: RefSampler, n: int = ScoreConfig.n, seeds: int = ScoreConfig.seeds,
                   metric: Metric = metrics.wasserstein_2d) -> list[float]:
    """The noise floor of seed s: metric(ref(n, REF_SEED + s), ref(n, OTHER_SEED + s)); cached per (ref, n, seeds, metric).

    With the default W1 their mean is :func:`metrics.noise_floor` (the same pairs), the floor in the data's units;
    notebook 05 passes ``metrics.per_dimension_wasserstein`` for the lesson's metric.
    """
    return list(_floor(ref, n, seeds, metric))


def ratios(w1: list[float], ref: RefSampler, n: int = ScoreConfig.n) -> Score:
    """W1s already measured the yardstick's way (seed s against ref(n, REF_SEED + s)), as a Score."""
    floors = floor_per_seed(ref, n, len(w1))
    return Score(tuple(float(w / f) for w, f in zip(w1, floors, strict=True)))


def score(sample: Sampler, ref: RefSampler, n: int = ScoreConfig.n, seeds: int = ScoreConfig.seeds) -> Score:
    """W1 / noise floor of ``sample`` (generator -> n points) over ``seeds`` sampling seeds, with its standard error."""
    return ratios(w1_per_seed(sample, ref, n, seeds), ref, n)
