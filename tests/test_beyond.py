"""Additions for notebooks 06-07: the mixed level sampler, the digits loader, the image grids, a 64-pixel backbone."""

from __future__ import annotations

import functools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cmlesson import data, losses, plotting, training
from cmlesson.config import ConsistencyTrainingConfig, NetworkConfig
from cmlesson.networks import NoiseConditionedMLP
from cmlesson.parameterization import ConsistencyFunction, EDMDenoiser
from cmlesson.schedules import karras_sigmas

# --- mixed level sampling ----------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(N=st.integers(2, 80), u=st.floats(0, 1))
def test_mixed_level_probs_are_the_mixture(N, u):
    """p = u / (N-1) + (1 - u) p_lognormal: sums to 1, and every pair gets at least u / (N-1)."""
    sigmas = karras_sigmas(N, 0.002, 80.0)
    p = losses.mixed_level_probs(sigmas, u)
    expected = u / (N - 1) + (1 - u) * losses.lognormal_level_probs(sigmas)
    torch.testing.assert_close(p, expected)
    assert abs(p.sum().item() - 1) < 1e-5
    assert (p >= u / (N - 1) - 1e-7).all()


def test_mixed_level_probs_endpoints():
    """u = 1 is uniform sampling, u = 0 is iCT's lognormal."""
    sigmas = karras_sigmas(41, 0.002, 80.0)
    torch.testing.assert_close(losses.mixed_level_probs(sigmas, 1.0), torch.full((40,), 1 / 40))
    torch.testing.assert_close(losses.mixed_level_probs(sigmas, 0.0), losses.lognormal_level_probs(sigmas))
    with pytest.raises(ValueError, match="uniform_share"):
        losses.mixed_level_probs(sigmas, 1.5)


def test_mixed_levels_follow_their_probabilities():
    """Drawn indices have the frequencies of mixed_level_probs (within 5 standard errors); the top pair is not starved."""
    sigmas, n = karras_sigmas(41, 0.002, 80.0), 40_000
    p = losses.mixed_level_probs(sigmas, 0.3).double()
    idx = functools.partial(losses.mixed_levels, uniform_share=0.3)(sigmas, n, torch.Generator().manual_seed(0))
    assert idx.dtype == torch.int64 and idx.min() >= 0 and idx.max() <= len(sigmas) - 2
    freq = torch.bincount(idx, minlength=len(sigmas) - 1).double() / n
    assert ((freq - p).abs() <= 5 * (p * (1 - p) / n).sqrt() + 1e-12).all()
    top_lognormal = losses.lognormal_level_probs(sigmas)[0].item()
    assert freq[0] > 5 * top_lognormal, "the uniform share should lift the top pair well above lognormal's share"


def test_mixed_levels_plug_into_consistency_training():
    """train_consistency accepts the sampler as ``levels`` (a smoke run on two moons)."""
    cfg = ConsistencyTrainingConfig(steps=3, batch=16, warmup=1)
    trained = training.train_consistency(data.sample("moons", 64, seed=0), cfg, levels=losses.mixed_levels,
                                         net=NetworkConfig(hidden=16, depth=2), progress=False)
    assert len(trained.history) == 3 and all(np.isfinite(trained.history))


# --- digits ------------------------------------------------------------------------------------------


def test_digits_are_scaled_to_plus_minus_one():
    """1,797 images of 64 pixels in [-1, 1] (0 -> -1, 16 -> +1), labels 0..9, every class present."""
    x, y = data.digits()
    assert x.shape == (1797, 64) and x.dtype == torch.float32
    assert y.shape == (1797,) and y.dtype == torch.int64
    assert x.min().item() == -1.0 and x.max().item() == 1.0
    assert set(y.tolist()) == set(range(10))
    from sklearn.datasets import load_digits

    raw = load_digits().data
    np.testing.assert_allclose(x.numpy(), raw / 8 - 1, atol=1e-6)


def test_digits_split_is_disjoint_stratified_and_seeded():
    """Held-out digits are a stratified 20 % share, disjoint from the training ones; the same seed repeats it."""
    x_tr, y_tr, x_te, y_te = data.digits_split(0.2, seed=0)
    assert len(x_tr) + len(x_te) == 1797 and len(x_tr) == len(y_tr) and len(x_te) == len(y_te)
    x, _ = data.digits()
    as_rows = lambda t: {tuple(r) for r in t.tolist()}
    train_rows = {tuple(r) for r in x_tr.tolist()}
    # a few digits occur twice in the data set; only rows that are unique there must stay on one side
    counts: dict[tuple, int] = {}
    for r in x.tolist():
        counts[tuple(r)] = counts.get(tuple(r), 0) + 1
    assert not {r for r in as_rows(x_te) if counts[r] == 1} & train_rows
    share = torch.bincount(y_te, minlength=10).double() / torch.bincount(torch.cat([y_tr, y_te]), minlength=10).double()
    assert ((share - 0.2).abs() < 0.01).all()
    again = data.digits_split(0.2, seed=0)
    assert torch.equal(again[2], x_te) and not torch.equal(data.digits_split(0.2, seed=1)[2], x_te)
    with pytest.raises(ValueError, match="test_share"):
        data.digits_split(1.0)


def test_mlp_backbone_wraps_64_pixel_images():
    """NoiseConditionedMLP(64, ...) takes (batch, 64) and c_noise (batch,); both wrappers accept it."""
    x = torch.randn(5, 64)
    net = NoiseConditionedMLP(64, NetworkConfig(hidden=32, depth=2))
    assert net(x, torch.zeros(5)).shape == (5, 64)
    for cls in (EDMDenoiser, ConsistencyFunction):
        assert cls(net, 0.6, 0.002, 80.0)(x, 1.0).shape == (5, 64)
    assert torch.equal(ConsistencyFunction(net, 0.6, 0.002, 80.0)(x, 0.002), x)


# --- figures -----------------------------------------------------------------------------------------


def test_image_grids_tile_every_image_on_one_gray_scale():
    """Each panel is one image of the tiles (with 1-pixel gutters), titled, on the fixed [-1, 1] scale."""
    imgs = torch.linspace(-1, 1, 12 * 64).reshape(12, 64)
    fig = plotting.image_grids({"a": imgs, "b": -imgs}, ncol=5, labels={"a": [str(i) for i in range(12)]})
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["a", "b"]
    im = axes[0].images[0]
    assert im.get_array().shape == (3 * 13 + 1, 5 * 9 + 1)  # a labelled row: 8 pixels, a gutter, a 4-pixel strip
    assert axes[1].images[0].get_array().shape == (3 * 9 + 1, 5 * 9 + 1)  # no labels, no strip
    assert im.get_clim() == (-1, 1)
    np.testing.assert_allclose(im.get_array()[1:9, 1:9], imgs[0].reshape(8, 8).numpy())
    assert len(axes[0].texts) == 12 and len(axes[1].texts) == 0
    for i, text in enumerate(axes[0].texts):  # each reading in the blank strip under its own tile, never on the ink
        row_top = 1 + (i // 5) * 13
        assert row_top + 8 <= text.get_position()[1] <= row_top + 12, (i, text.get_position())
    plt.close(fig)


def test_plot_level_usage_normalises_counts():
    sigmas = karras_sigmas(11, 0.002, 80.0)
    fig, ax = plt.subplots()
    plotting.plot_level_usage(ax, sigmas, {"counts": torch.arange(1, 11), "probs": losses.lognormal_level_probs(sigmas)}, "t")
    ys = [line.get_ydata() for line in ax.lines]
    assert all(abs(float(np.sum(y)) - 1) < 1e-6 for y in ys)
    assert ax.get_title() == "t" and ax.get_xscale() == "log"
    plt.close(fig)
