"""The backbone F(x_in, c_noise): a residual MLP with a noise-level embedding (introduced in notebook 01).

The lesson calls its MLP "SimpleUNet"; it has no U, so here it is named for what it is. The
backbone never sees sigma or raw x: the wrappers in :mod:`cmlesson.parameterization` hand it the
scaled input c_in x and c_noise = ln(sigma)/4, and scale its output. :class:`ResidualMLP` is the body
every backbone of the course shares; the labs' backbones (``frontier.guidance.ConditionedMLP``,
``frontier.flowmap.TwoTimeMLP``) differ from :class:`NoiseConditionedMLP` only in their embeddings.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import validate
from .config import NetworkConfig


class FourierEmbedding(nn.Module):
    """[sin(2 pi w c), cos(2 pi w c)], w log-spaced in [max_freq / 16, max_freq]: (batch,) -> (batch, dim).

    Fourier features (Tancik et al. 2020), as EDM embeds its noise level (Karras et al. 2022); notebook 01.
    """

    def __init__(self, dim: int, max_freq: float):
        super().__init__()
        max_freq = validate.positive_float("max_freq", max_freq)
        self.register_buffer("freqs", torch.logspace(math.log10(max_freq / 16), math.log10(max_freq), dim // 2) * 2 * math.pi)

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        angles = c[:, None] * self.freqs[None, :]  # (batch, dim/2)
        return torch.cat([angles.sin(), angles.cos()], dim=1)  # (batch, dim)


def fourier_embedding(cfg: NetworkConfig, max_freq: float | None = None, *, silu: bool = False,
                      zero: bool = False) -> nn.Sequential:
    """c -> W phi(c) (then SiLU if ``silu``): Fourier features of one number per row, then a linear layer to cfg.hidden.

    (batch,) -> (batch, hidden). ``max_freq`` defaults to cfg.max_freq; ``zero`` starts the linear layer at zero (an
    embedding that adds nothing at first). Tancik et al. 2020; introduced in notebook 01, for c_noise.
    """
    linear = nn.Linear(cfg.emb_dim, cfg.hidden)
    if zero:
        nn.init.zeros_(linear.weight)
        nn.init.zeros_(linear.bias)
    extra = [nn.SiLU()] if silu else []
    return nn.Sequential(FourierEmbedding(cfg.emb_dim, cfg.max_freq if max_freq is None else max_freq), linear, *extra)


class ResidualMLP(nn.Module):
    """F(x, ...) = W_out h_L, h_0 = SiLU(W_in x + e), h_l = h_(l-1) + SiLU(W_l h_(l-1) + e): the course's backbone (notebook 01).

    Subclasses differ only in the embedding e = self.embedding(...) of what F is conditioned on (noise level, label,
    guidance scale, times), whose modules they pass as ``embeddings`` (registered before the body, in order). The
    output layer starts at zero: F = 0 at first, so a denoiser starts as c_skip x. Residual layers as He et al. 2016's,
    the conditioning added to every layer as in EDM's networks (Karras et al. 2022).
    """

    def __init__(self, data_dim: int, cfg: NetworkConfig, **embeddings: nn.Module | None):
        super().__init__()
        data_dim = validate.int_at_least("data_dim", data_dim, 1)
        for name, module in embeddings.items():
            setattr(self, name, module)
        self.inp = nn.Linear(data_dim, cfg.hidden)
        self.layers = nn.ModuleList(nn.Linear(cfg.hidden, cfg.hidden) for _ in range(cfg.depth - 1))
        self.out = nn.Linear(cfg.hidden, data_dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def embedding(self, *conditions, **named) -> torch.Tensor:
        """e: (batch, hidden)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, *conditions, **named) -> torch.Tensor:
        e = self.embedding(*conditions, **named)  # (batch, hidden)
        h = nn.functional.silu(self.inp(x) + e)
        for layer in self.layers:
            h = h + nn.functional.silu(layer(h) + e)
        return self.out(h)  # (batch, data_dim)


class NoiseConditionedMLP(ResidualMLP):
    """F(x_in, c_noise): the residual MLP, e = SiLU(W phi(c_noise)), phi Fourier features (Tancik et al. 2020; notebook 01)."""

    def __init__(self, data_dim: int = 2, cfg: NetworkConfig = NetworkConfig()):
        super().__init__(data_dim, cfg, embed=fourier_embedding(cfg, silu=True))

    def embedding(self, c_noise: torch.Tensor) -> torch.Tensor:
        return self.embed(c_noise)
