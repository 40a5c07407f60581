"""2-D training sets, drawn i.i.d. from their continuous distributions (introduced in notebook 01).

``sklearn.datasets.make_moons(n)`` places its points on an evenly spaced angle grid, so two of its
draws differ only by their noise and look closer to each other than any generator could get. Every
sampler here draws angles at random, so two calls are two independent samples of one distribution:
the right reference for a Wasserstein distance (see :mod:`cmlesson.metrics`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from . import validate

MOONS_NOISE = 0.05  # the lesson's make_moons(noise=0.05)


def two_moons(n: int, rng: np.random.Generator, noise: float = MOONS_NOISE) -> np.ndarray:
    """Two interleaved half circles (sklearn's make_moons geometry) with random angles: (n, 2)."""
    t = rng.uniform(0.0, math.pi, n)
    upper = rng.random(n) < 0.5
    x = np.where(upper, np.cos(t), 1.0 - np.cos(t))
    y = np.where(upper, np.sin(t), 0.5 - np.sin(t))
    return np.stack([x, y], axis=1) + noise * rng.standard_normal((n, 2))


def circles(n: int, rng: np.random.Generator, noise: float = 0.05, factor: float = 0.5) -> np.ndarray:
    """Two concentric circles of radius 1 and ``factor`` (sklearn's make_circles geometry): (n, 2)."""
    t = rng.uniform(0.0, 2 * math.pi, n)
    r = np.where(rng.random(n) < 0.5, 1.0, factor)
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1) + noise * rng.standard_normal((n, 2))


def eight_gaussians(n: int, rng: np.random.Generator, radius: float = 1.5, std: float = 0.1) -> np.ndarray:
    """A ring of eight Gaussian blobs: a mode-coverage test. (n, 2)."""
    k = rng.integers(0, 8, n)
    centers = radius * np.stack([np.cos(k * math.pi / 4), np.sin(k * math.pi / 4)], axis=1)
    return centers + std * rng.standard_normal((n, 2))


def spiral(n: int, rng: np.random.Generator, noise: float = 0.05) -> np.ndarray:
    """A two-arm spiral, thin and curved: the hardest of the four. (n, 2)."""
    t = np.sqrt(rng.random(n)) * 3 * math.pi
    arm = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    pts = arm[:, None] * np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * math.pi)
    return 1.5 * pts + noise * rng.standard_normal((n, 2))


DATASETS: dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {
    "moons": two_moons,
    "circles": circles,
    "eight_gaussians": eight_gaussians,
    "spiral": spiral,
}


def sample(name: str, n: int, seed: int | None = None) -> torch.Tensor:
    """Draw ``n`` i.i.d. points of the named 2-D data set as a float32 tensor of shape (n, 2)."""
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {name!r}")
    n = validate.int_at_least("n", n, 1)
    rng = np.random.default_rng(seed)
    return torch.from_numpy(DATASETS[name](n, rng).astype(np.float32))


def load_points(path: str | Path) -> torch.Tensor:
    """Load a user's own 2-D points from a ``.npy`` file or a ``.csv`` (two numeric columns, optional header)."""
    path = Path(path)
    if path.suffix.lower() not in (".npy", ".csv"):
        raise ValueError(f"path must end in .npy or .csv, got {str(path)!r}")
    try:
        if path.suffix.lower() == ".npy":
            arr = np.load(path, allow_pickle=False)
        else:
            arr = _load_csv(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"could not read points from {str(path)!r}: {err}") from None
    arr = np.asarray(arr, dtype=np.float64)
    pts = validate.points_2d(f"points in {path.name}", arr.astype(np.float32))
    if pts.shape[0] < 2:
        raise ValueError(f"points in {path.name} must hold at least 2 rows, got {pts.shape[0]}")
    return pts


def _load_csv(path: Path) -> np.ndarray:
    try:
        return np.loadtxt(path, delimiter=",", ndmin=2)
    except ValueError:  # a header line: try once more without it
        return np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1)


def estimate_sigma_data(x: torch.Tensor) -> float:
    """sigma_data = the data's standard deviation, pooled over coordinates (Karras et al. 2022, Sec. 5)."""
    x = validate.points_2d("x", x, dim=None)
    if x.shape[0] < 2:
        raise ValueError(f"x must hold at least 2 rows to estimate sigma_data, got {x.shape[0]}")
    return float(x.double().var(dim=0, unbiased=False).mean().sqrt())


class Pool:
    """The training data of a run, pre-sampled; batches are random rows of it, drawn by its own seeded generator (notebook 02)."""

    def __init__(self, points: torch.Tensor, seed: int = 0):
        self.points = validate.points_2d("data", points, dim=None)
        self.generator = torch.Generator().manual_seed(seed)

    def batch(self, n: int) -> torch.Tensor:
        """``n`` rows drawn with replacement: (n, d)."""
        idx = torch.randint(0, self.points.shape[0], (n,), generator=self.generator)
        return self.points[idx]


# --- real images: scikit-learn's 8x8 handwritten digits (notebook 07) ------------------------------

DIGITS_SIDE = 8  # images are 8 x 8, stored as rows of 64 pixels
DIGITS_MAX = 16.0  # pixel values are integers 0..16


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1,797 handwritten digits (shipped with it, no download): images (1797, 64) in [-1, 1], labels (1797,).

    Pixels p in 0..16 are scaled as 2 p / 16 - 1 (background -1, ink +1), the range of image
    diffusion models (Ho et al. 2020; Karras et al. 2022). Images are rows of 64 pixels, row-major.
    """
    from sklearn.datasets import load_digits  # imported here: only notebook 07 needs it

    bunch = load_digits()
    images = torch.from_numpy((2 * bunch.data / DIGITS_MAX - 1).astype(np.float32))
    return images, torch.from_numpy(bunch.target.astype(np.int64))


def digits_split(
    test_share: float = 0.2, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`digits` split into train and held-out parts, stratified by class: x_train, y_train, x_test, y_test.

    The held-out digits are never trained on: they are the reference sample for quality metrics.
    """
    if not 0 < test_share < 1:
        raise ValueError(f"test_share must be in (0, 1), got {test_share}")
    x, y = digits()
    g = torch.Generator().manual_seed(seed)
    train_idx, test_idx = [], []
    for c in range(10):
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_test = round(test_share * len(idx))
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    train, test = torch.cat(train_idx).sort().values, torch.cat(test_idx).sort().values
    return x[train], y[train], x[test], y[test]
