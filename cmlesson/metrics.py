"""Sample-quality metrics for 2-D point sets (introduced in notebook 01, used throughout).

* :func:`wasserstein_2d` — the exact Wasserstein-1 distance between two point clouds, solved as an
  optimal-transport problem (network simplex, POT's ``emd2``). This is the course's quality figure.
* :func:`per_dimension_wasserstein` — the lesson's metric: the 1-D W1 of each coordinate, averaged
  (notebook 05 shows what it misses). It ignores how coordinates go together, so it cannot tell a moon
  from a shuffled cloud.
* :func:`noise_floor` — the W1 between two *independent* samples of the data: what a perfect
  generator would score. Report W1 as a multiple of it; 1.0 is the physical limit. The course's
  yardstick (:mod:`cmlesson.yardstick`) computes the floor seed by seed, with one seed convention
  (``REF_SEED``/``OTHER_SEED``); :func:`noise_floor` is the mean of its floors.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import ot
import torch
from scipy.spatial.distance import cdist
from scipy.stats import wasserstein_distance

from . import validate
from .config import ScoreConfig

REF_SEED, OTHER_SEED = 10_000, 20_000  # reference sets: ref(n, REF_SEED + s) for seed s; its floor's partner OTHER_SEED + s


def _np(name: str, x) -> np.ndarray:
    return validate.points_2d(name, x, dim=None).double().numpy()


def wasserstein_2d(a, b) -> float:
    """Exact W1 = min over couplings P of sum P_ij ||a_i - b_j||_2, uniform weights (earth mover's distance)."""
    a, b = _np("a", a), _np("b", b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same number of columns, got {a.shape[1]} and {b.shape[1]}")
    cost = cdist(a, b)  # (n_a, n_b) Euclidean distances (scipy computes them several times faster than ot.dist)
    return float(ot.emd2(ot.unif(len(a)), ot.unif(len(b)), cost, numItermax=10_000_000))


def per_dimension_wasserstein(a, b) -> float:
    """The lesson's metric: mean over coordinates d of the 1-D W1 between a[:, d] and b[:, d]."""
    a, b = _np("a", a), _np("b", b)
    return float(np.mean([wasserstein_distance(a[:, d], b[:, d]) for d in range(a.shape[1])]))


def noise_floor(
    sample: Callable[[int, int], torch.Tensor], n: int = ScoreConfig.n, seeds: int = ScoreConfig.seeds,
    metric: Callable[..., float] = wasserstein_2d,
) -> float:
    """Mean over s of ``metric``(sample(n, REF_SEED + s), sample(n, OTHER_SEED + s)): a perfect generator's score.

    The mean of :func:`cmlesson.yardstick.floor_per_seed`, the one place these pairs are drawn and measured.
    """
    from . import yardstick  # yardstick imports this module: imported on first use

    return float(np.mean(yardstick.floor_per_seed(sample, n, seeds, metric)))
