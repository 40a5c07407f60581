"""2-D data sets, loading a user's points, and the sigma_data estimate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import make_moons

from cmlesson import data
from cmlesson.metrics import per_dimension_wasserstein


@pytest.mark.parametrize("name", sorted(data.DATASETS))
def test_sample_shape_dtype_and_seeding(name):
    """sample() is (n, 2) float32, finite; the same seed repeats it, another seed differs."""
    x = data.sample(name, 7, seed=3)
    assert x.shape == (7, 2) and x.dtype == torch.float32
    assert torch.isfinite(x).all()
    assert torch.equal(x, data.sample(name, 7, seed=3))
    assert not torch.equal(x, data.sample(name, 7, seed=4))


def test_moons_have_make_moons_marginals():
    """The i.i.d. moons share sklearn make_moons' geometry: each coordinate's distribution matches closely."""
    ours = data.sample("moons", 4000, seed=0)
    sk = make_moons(4000, noise=0.05, random_state=0)[0]
    assert per_dimension_wasserstein(ours, sk) < 0.03


def test_moons_lie_on_the_two_half_circles():
    """Every moons point is within a few noise widths of the unit half circle at (0, 0) or the one at (1, 0.5)."""
    x = data.sample("moons", 2000, seed=0).double().numpy()
    r_upper = np.hypot(x[:, 0], x[:, 1])
    r_lower = np.hypot(x[:, 0] - 1.0, x[:, 1] - 0.5)
    dist = np.minimum(np.abs(r_upper - 1), np.abs(r_lower - 1))
    assert dist.max() < 6 * data.MOONS_NOISE
    assert 0.5 * data.MOONS_NOISE < np.sqrt(np.mean(dist**2)) < 1.2 * data.MOONS_NOISE


def test_unknown_dataset_is_rejected():
    """An unknown name raises ValueError naming `dataset`, the bad name and the choices."""
    with pytest.raises(ValueError, match=r"dataset must be one of .*'moons'.*got 'spirals'"):
        data.sample("spirals", 10)


# --- load_points -----------------------------------------------------------------------------------


def test_load_npy(tmp_path):
    """A (n, 2) float64 .npy loads as the same points in float32."""
    pts = np.random.default_rng(0).standard_normal((5, 2))
    np.save(tmp_path / "pts.npy", pts)
    out = data.load_points(tmp_path / "pts.npy")
    assert out.dtype == torch.float32
    assert torch.equal(out, torch.from_numpy(pts.astype(np.float32)))


@pytest.mark.parametrize("header", ["", "x,y\n"])
def test_load_csv_with_and_without_header(tmp_path, header):
    """A two-column .csv loads with or without a header line."""
    (tmp_path / "pts.csv").write_text(header + "1.5,2\n-3,4.25\n0,0\n")
    out = data.load_points(str(tmp_path / "pts.csv"))
    assert torch.equal(out, torch.tensor([[1.5, 2.0], [-3.0, 4.25], [0.0, 0.0]]))


@pytest.mark.parametrize(
    ("filename", "write", "match"),
    [
        ("three.npy", lambda p: np.save(p, np.zeros((4, 3))), r"points in three\.npy must have shape \(n, 2\).*\(4, 3\)"),
        ("flat.npy", lambda p: np.save(p, np.zeros(4)), r"points in flat\.npy must have shape"),
        ("nan.npy", lambda p: np.save(p, np.array([[0.0, 1.0], [np.nan, 2.0], [3.0, 4.0]])), r"points in nan\.npy contains NaN"),
        ("nan.csv", lambda p: p.write_text("0,1\nnan,2\n3,4\n"), r"points in nan\.csv contains NaN"),
        ("one.csv", lambda p: p.write_text("1,2\n"), r"points in one\.csv must hold at least 2 rows"),
        ("column.csv", lambda p: p.write_text("1\n2\n3\n"), r"points in column\.csv must have shape"),
        ("garbage.npy", lambda p: p.write_bytes(b"not a numpy file at all"), r"could not read points from .*garbage\.npy"),
        ("words.csv", lambda p: p.write_text("a,b\nc,d\n"), r"could not read points from .*words\.csv"),
        ("missing.npy", None, r"could not read points from .*missing\.npy"),
        ("points.txt", lambda p: p.write_text("1,2\n3,4\n"), r"path must end in \.npy or \.csv, got .*points\.txt"),
    ],
)
def test_load_points_rejects_bad_files(tmp_path, filename, write, match):
    """Wrong shape, NaN, too few rows, unreadable or missing files and wrong suffixes raise ValueError naming the file."""
    path = tmp_path / filename
    if write is not None:
        write(path)
    with pytest.raises(ValueError, match=match):
        data.load_points(path)


# --- sigma_data ---------------------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 50), dim=st.integers(1, 4), seed=st.integers(0, 10_000), scale=st.floats(1e-2, 1e2))
def test_estimate_sigma_data_matches_numpy(n, dim, seed, scale):
    """sigma_data = sqrt(mean over coordinates of the population variance), as numpy computes it."""
    x = (scale * np.random.default_rng(seed).standard_normal((n, dim)) + 3.0).astype(np.float32)
    expected = np.sqrt(np.var(x.astype(np.float64), axis=0, ddof=0).mean())
    assert data.estimate_sigma_data(torch.from_numpy(x)) == pytest.approx(expected, rel=1e-9)


def test_estimate_sigma_data_scales_and_ignores_shifts():
    """sigma_data(c x + v) = |c| sigma_data(x)."""
    x = data.sample("moons", 500, seed=0).double()
    base = data.estimate_sigma_data(x.float())
    moved = -3 * x + torch.tensor([5.0, -2.0], dtype=torch.float64)
    assert data.estimate_sigma_data(moved.float()) == pytest.approx(3 * base, rel=1e-5)


def test_estimate_sigma_data_needs_two_rows():
    """One row has no spread: ValueError naming x."""
    with pytest.raises(ValueError, match="x must hold at least 2 rows"):
        data.estimate_sigma_data(torch.zeros(1, 2))


def test_pool_batches_are_seeded_rows_of_the_pool():
    """Pool.batch(n) returns n rows of the pool; the same seed gives the same batches."""
    pts = data.sample("moons", 100, seed=0)
    a, b = data.Pool(pts, seed=1), data.Pool(pts, seed=1)
    batch = a.batch(32)
    assert batch.shape == (32, 2)
    assert torch.equal(batch, b.batch(32))
    assert ((batch[:, None, :] == pts[None, :, :]).all(-1).any(1)).all()
