"""PCA codes: round trips, the variance kept, and an independent computation of the directions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cmlesson.config import AutoencoderConfig
from cmlesson.frontier import latent


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(8, 8, generator=g)).Q
    scales = torch.tensor([5.0, 3.0, 2.0, 1.0, 0.1, 0.05, 0.02, 0.01])
    return (torch.randn(500, 8, generator=g) * scales) @ basis.T + 0.7


def test_directions_match_numpy_eigendecomposition_of_the_covariance(data):
    mean, v, var = latent.principal_directions(data, 3)
    cov = np.cov(data.numpy().astype(np.float64), rowvar=False, bias=True)
    evals, evecs = np.linalg.eigh(cov)
    top = evecs[:, ::-1][:, :3].T
    assert np.allclose(np.abs(v.numpy() @ top.T), np.eye(3), atol=1e-4)  # the same directions, up to sign
    assert np.allclose(var.numpy(), evals[::-1][:3], rtol=1e-4)
    assert torch.allclose(mean, data.mean(0), atol=1e-5)


def test_round_trip_is_exact_on_the_kept_directions(data):
    codec = latent.PCACodec.fit(data, 4)
    z = torch.randn(20, 4)
    assert torch.allclose(codec.encode(codec.decode(z)), z, atol=1e-4)  # codes -> images -> the same codes
    x_in_span = codec.decode(z)
    assert torch.allclose(codec.decode(codec.encode(x_in_span)), x_in_span, atol=1e-4)


def test_all_directions_reconstruct_everything_and_codes_have_unit_std(data):
    full = latent.PCACodec.fit(data, 8)
    assert torch.allclose(full.decode(full.encode(data)), data, atol=1e-4)
    assert latent.explained_variance(data, full) == pytest.approx(1.0, abs=1e-6)
    z = latent.PCACodec.fit(data, 3).encode(data)
    assert z.var(0, unbiased=False).mean().item() == pytest.approx(1.0, rel=1e-4)
    assert (z.var(0)[:-1] >= z.var(0)[1:]).all()  # the leading directions stay the big ones


def test_explained_variance_is_the_kept_eigenvalues_share(data):
    _, _, var_all = latent.principal_directions(data, 8)
    codec = latent.PCACodec.fit(data, 2)
    assert latent.explained_variance(data, codec) == pytest.approx(float(var_all[:2].sum() / var_all.sum()), abs=1e-4)


def test_dim_is_checked(data):
    with pytest.raises(ValueError, match="at most"):
        latent.PCACodec.fit(data, 9)


def test_explained_variance_is_1_for_a_perfect_code_and_0_for_the_mean(data):
    class Identity(torch.nn.Module):
        def encode(self, x):
            return x

        def decode(self, z):
            return z

    class Mean(Identity):
        def decode(self, z):
            return data.mean(0).expand_as(z)

    assert latent.explained_variance(data, Identity()) == pytest.approx(1.0)
    assert latent.explained_variance(data, Mean()) == pytest.approx(0.0, abs=1e-6)


def test_reconstruction_loss_by_hand():
    ae = latent.MLPAutoencoder(3, 2, hidden=4)
    x = torch.randn(5, 3)
    by_hand = ((ae.decoder(ae.encoder(x)) - x) ** 2).sum() / 15
    assert latent.reconstruction_loss(ae, x).item() == pytest.approx(by_hand.item(), rel=1e-6)
    assert ae.encode(x).shape == (5, 2) and ae.dim == 2


def test_autoencoder_learns_a_plane_in_eight_dimensions():
    """Data on a 2-D plane of R^8: two code numbers suffice, and a short run keeps most of the variance."""
    g = torch.Generator().manual_seed(0)
    plane = torch.linalg.qr(torch.randn(8, 2, generator=g)).Q  # (8, 2)
    x = torch.randn(600, 2, generator=g) @ plane.T
    cfg = AutoencoderConfig(hidden=32, steps=300, batch=128, lr=1e-2, warmup=10)
    trained = latent.train_autoencoder(x, 2, cfg, progress=False)
    assert trained.history[-1] < 0.2 * trained.history[0]
    assert latent.explained_variance(x, trained.model) > 0.9
