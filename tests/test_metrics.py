"""Sample-quality metrics: exact 2-D W1, the lesson's per-dimension W1, the noise floor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from sklearn.datasets import make_moons

from cmlesson import data, metrics
from cmlesson.metrics import noise_floor, per_dimension_wasserstein, wasserstein_2d


def points(n: int, seed: int, dim: int = 2, scale: float = 1.0) -> np.ndarray:
    """Random points, rounded to float32 as the metrics do (so the references see the same numbers)."""
    return (scale * np.random.default_rng(seed).standard_normal((n, dim))).astype(np.float32).astype(np.float64)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 40), dim=st.integers(1, 3), seed=st.integers(0, 10_000))
def test_w1_matches_the_optimal_assignment(n, dim, seed):
    """Equal sizes: W1 = mean Euclidean distance of the optimal one-to-one matching (scipy's Hungarian solver)."""
    a, b = points(n, seed, dim), points(n, seed + 1, dim, scale=2.0)
    cost = cdist(a, b)
    rows, cols = linear_sum_assignment(cost)
    assert wasserstein_2d(a, b) == pytest.approx(cost[rows, cols].mean(), rel=1e-9, abs=1e-12)


def test_w1_is_symmetric_and_zero_on_identical_sets():
    """W1(a, b) = W1(b, a) and W1(a, a) = 0."""
    a, b = points(50, 0), points(70, 1)
    assert wasserstein_2d(a, b) == pytest.approx(wasserstein_2d(b, a), rel=1e-12)
    assert wasserstein_2d(a, a) == pytest.approx(0.0, abs=1e-12)


def test_w1_of_a_set_and_its_repetition_is_zero():
    """Unequal sizes with the same empirical distribution (each point twice): W1 = 0."""
    a = points(30, 2)
    assert wasserstein_2d(a, np.concatenate([a, a])) == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=15, deadline=None)
@given(vx=st.floats(-5, 5), vy=st.floats(-5, 5), seed=st.integers(0, 10_000))
def test_w1_of_a_translate_is_the_shift_length(vx, vy, seed):
    """W1(a, a + v) = ||v||: the identity matching costs ||v||, and W1 >= ||mean(a + v) - mean(a)|| = ||v|| (test
    function x . v/||v||). After float32 rounding each point moves by its own v_i ~ v, so the two bounds become
    ||mean v_i|| <= W1 <= mean ||v_i||, which differ by < 1e-6. POT builds Euclidean costs as
    sqrt(|a|^2 + |b|^2 - 2 a.b), exact to ~sqrt(float64 eps) |a| ~ 1e-7 for near-identical points: the slack."""
    a = points(40, seed).astype(np.float32)
    shifted = a + np.array([vx, vy], dtype=np.float32)
    v_i = shifted.astype(np.float64) - a.astype(np.float64)
    w = wasserstein_2d(a, shifted)
    assert np.linalg.norm(v_i.mean(0)) - 1e-7 <= w <= np.linalg.norm(v_i, axis=1).mean() + 1e-7
    assert w == pytest.approx(np.hypot(vx, vy), abs=1e-5)


def test_w1_accepts_tensors_and_arrays_alike():
    """Tensors and arrays of the same points give the same W1."""
    a, b = points(20, 0), points(20, 1)
    assert wasserstein_2d(torch.from_numpy(a).float(), torch.from_numpy(b).float()) == wasserstein_2d(a, b)


def test_w1_rejects_different_dimensions():
    """Point sets with different numbers of columns raise ValueError."""
    with pytest.raises(ValueError, match="same number of columns"):
        wasserstein_2d(points(5, 0, 2), points(5, 0, 3))


def test_per_dimension_w1_matches_sorted_differences():
    """Equal sizes: the 1-D W1 of a coordinate is mean |sort(a) - sort(b)|; the metric averages the coordinates."""
    a, b = points(60, 0), points(60, 1, scale=3.0)
    expected = np.mean([np.abs(np.sort(a[:, d]) - np.sort(b[:, d])).mean() for d in range(2)])
    assert per_dimension_wasserstein(a, b) == pytest.approx(expected, rel=1e-9)


def test_per_dimension_w1_cannot_see_a_shuffled_column():
    """The lesson's pitfall: shuffling the y column of moons destroys the moons but not the marginals, so the
    per-dimension metric does not change at all, while exact 2-D W1 jumps (formulas.md: 0.022 -> 0.28)."""
    a, b = data.sample("moons", 1000, seed=1).numpy(), data.sample("moons", 1000, seed=2).numpy()
    shuffled = b.copy()
    shuffled[:, 1] = np.random.default_rng(0).permutation(shuffled[:, 1])
    assert per_dimension_wasserstein(a, shuffled) == pytest.approx(per_dimension_wasserstein(a, b), rel=1e-12)
    assert wasserstein_2d(a, shuffled) > 3 * wasserstein_2d(a, b)
    assert wasserstein_2d(a, shuffled) > 0.2


def test_noise_floor_of_moons_is_sensible():
    """Two independent 500-point moons samples are ~0.09 apart in W1 (0.049 at n = 2000, growing ~sqrt(log n / n))."""
    floor = noise_floor(lambda n, seed: data.sample("moons", n, seed), n=500)
    assert 0.06 < floor < 0.13


def test_noise_floor_takes_another_metric():
    """With metric=per_dimension_wasserstein the floor is the mean per-axis W1 of the same independent pairs."""
    def sample(n, seed):
        return data.sample("moons", n, seed)
    pairs = [(sample(300, metrics.REF_SEED + s), sample(300, metrics.OTHER_SEED + s)) for s in range(3)]
    expected = np.mean([per_dimension_wasserstein(a, b) for a, b in pairs])
    assert noise_floor(sample, n=300, seeds=3, metric=per_dimension_wasserstein) == pytest.approx(expected, rel=1e-12)
    assert noise_floor(sample, n=300, seeds=3, metric=per_dimension_wasserstein) < noise_floor(sample, n=300, seeds=3)


def test_noise_floor_of_a_deterministic_sampler_is_zero():
    """If every 'draw' returns the same points, the floor is 0."""
    fixed = torch.from_numpy(points(100, 0)).float()
    assert noise_floor(lambda n, seed: fixed[:n], n=100, seeds=2) == pytest.approx(0.0, abs=1e-9)


def test_iid_moons_are_farther_apart_than_make_moons_draws():
    """make_moons puts its points on a fixed angle grid, so two of its draws are closer than two i.i.d. samples:
    data.sample is the honest reference (formulas.md: 0.049 vs 0.023 at n = 2000)."""
    iid = wasserstein_2d(data.sample("moons", 1000, seed=1), data.sample("moons", 1000, seed=2))
    grid = wasserstein_2d(make_moons(1000, noise=0.05, random_state=1)[0], make_moons(1000, noise=0.05, random_state=2)[0])
    assert iid > 1.5 * grid
