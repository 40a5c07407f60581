"""A latent space for the digits: PCA, the honest linear baseline, and a tiny autoencoder (notebook 09).

Latent diffusion (Rombach et al. 2022, arXiv:2112.10752) trains the generator on codes z = E(x) of a fixed
encoder and decodes its samples with D(z). Here E and D are PCA: z = (x - mean) V^T / scale keeps the top
``dim`` principal directions V (dim, 64) of the training images, and D(z) = scale z V + mean maps back. One
``scale`` for all coordinates keeps the relative variances (the leading directions stay the big ones) and
makes the codes' overall std 1. :class:`MLPAutoencoder` is the nonlinear rival of the same code length.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import training, validate
from ..config import AutoencoderConfig
from ..data import Pool


def principal_directions(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean (d,), top ``dim`` principal directions V (dim, d) and variances (dim,): SVD of the centred data (Pearson 1901).

    Introduced in notebook 09.
    """
    x = validate.points_2d("x", x, dim=None).double()
    dim = validate.int_at_least("dim", dim, 1)
    if dim > x.shape[1]:
        raise ValueError(f"dim must be at most the data's {x.shape[1]} coordinates, got {dim}")
    mean = x.mean(0)
    _, s, vh = torch.linalg.svd(x - mean, full_matrices=False)
    sign = torch.where(vh[:dim].sum(1) < 0, -1.0, 1.0).to(vh)  # a fixed sign per direction: the same codes on every run
    return mean.float(), (sign[:, None] * vh[:dim]).float(), (s[:dim] ** 2 / x.shape[0]).float()


class PCACodec(nn.Module):
    """Encoder z = (x - mean) V^T / scale and decoder x = scale z V + mean (PCA, Hotelling 1933; notebook 09)."""

    def __init__(self, mean: torch.Tensor, directions: torch.Tensor, scale: float):
        super().__init__()
        self.register_buffer("mean", mean.float())
        self.register_buffer("directions", directions.float())
        self.scale = validate.positive_float("scale", scale)

    @classmethod
    def fit(cls, x: torch.Tensor, dim: int) -> PCACodec:
        """The top ``dim`` directions of ``x``; scale = sqrt of the mean variance kept, so codes have overall std 1."""
        mean, directions, variances = principal_directions(x, dim)
        return cls(mean, directions, float(variances.mean().sqrt()))

    @property
    def dim(self) -> int:
        return self.directions.shape[0]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """z = (x - mean) V^T / scale: (n, d) -> (n, dim)."""
        return (x - self.mean) @ self.directions.T / self.scale

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """x = scale z V + mean: (n, dim) -> (n, d)."""
        return self.scale * z @ self.directions + self.mean


def explained_variance(x: torch.Tensor, codec: nn.Module) -> float:
    """R^2 = 1 - ||x - D(E(x))||^2 / ||x - mean(x)||^2: the share of the images' variance the codes keep (notebook 09)."""
    x = x.double()
    with torch.no_grad():
        rec = codec.decode(codec.encode(x.float())).double()
    return float(1 - (x - rec).pow(2).sum() / (x - x.mean(0)).pow(2).sum())


class MLPAutoencoder(nn.Module):
    """E(x) = W2 SiLU(W1 x + b1) + b2, D(z) = W4 SiLU(W3 z + b3) + b4 (Hinton & Salakhutdinov 2006; notebook 09)."""

    def __init__(self, data_dim: int, dim: int, hidden: int = AutoencoderConfig.hidden):
        super().__init__()
        data_dim, dim = validate.int_at_least("data_dim", data_dim, 1), validate.int_at_least("dim", dim, 1)
        hidden = validate.int_at_least("hidden", hidden, 1)
        self.encoder = nn.Sequential(nn.Linear(data_dim, hidden), nn.SiLU(), nn.Linear(hidden, dim))
        self.decoder = nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, data_dim))

    @property
    def dim(self) -> int:
        return self.encoder[-1].out_features

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)


def reconstruction_loss(codec: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """E ||D(E(x)) - x||^2 / d: the autoencoder's mean squared reconstruction error (Hinton & Salakhutdinov 2006; notebook 09)."""
    return (codec.decode(codec.encode(x)) - x).pow(2).mean()


def train_autoencoder(x: torch.Tensor, dim: int, cfg: AutoencoderConfig = AutoencoderConfig(), *, seed: int = 0,
                      progress: bool = True) -> training.Trained:
    """An :class:`MLPAutoencoder` of ``dim`` numbers per image, trained on :func:`reconstruction_loss` in training.fit.

    Hinton & Salakhutdinov 2006; notebook 09. No evaluation EMA: the codec is the last weights.
    """
    pool = Pool(x, seed)
    training.seeded(seed)
    model = MLPAutoencoder(pool.points.shape[1], dim, cfg.hidden)
    return training.fit(model, lambda step, batch: reconstruction_loss(model, batch), pool, cfg, "autoencoder", progress=progress)
