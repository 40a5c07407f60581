"""The backbone F(x_in, c_noise): a residual MLP with a noise-level embedding (introduced in notebook 01).

The lesson calls its MLP "SimpleUNet"; it has no U, so here it is named for what it is. The
backbone never sees sigma or raw x: the wrappers in :mod:`cmlesson.parameterization` hand it the
scaled input c_in x and c_noise = ln(sigma)/4, and scale its output.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import validate
from .config import NetworkConfig


class FourierEmbedding(nn.Module):
    """[sin(2 pi w c), cos(2 pi w c)] for fixed log-spaced frequencies w: (batch,) -> (batch, dim)."""

    def __init__(self, dim: int, max_freq: float):
        super().__init__()
        max_freq = validate.positive_float("max_freq", max_freq)
        self.register_buffer("freqs", torch.logspace(math.log10(max_freq / 16), math.log10(max_freq), dim // 2) * 2 * math.pi)

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        angles = c[:, None] * self.freqs[None, :]  # (batch, dim/2)
        return torch.cat([angles.sin(), angles.cos()], dim=1)  # (batch, dim)


class NoiseConditionedMLP(nn.Module):
    """Residual MLP: h <- h + SiLU(W h + e(c_noise)) per layer; the output layer starts at zero."""

    def __init__(self, data_dim: int = 2, cfg: NetworkConfig = NetworkConfig()):
        super().__init__()
        data_dim = validate.int_at_least("data_dim", data_dim, 1)
        hidden = validate.int_at_least("hidden", cfg.hidden, 1)
        depth = validate.int_at_least("depth", cfg.depth, 1)
        emb_dim = validate.int_at_least("emb_dim", cfg.emb_dim, 2)
        self.embed = nn.Sequential(FourierEmbedding(emb_dim, cfg.max_freq), nn.Linear(emb_dim, hidden), nn.SiLU())
        self.inp = nn.Linear(data_dim, hidden)
        self.layers = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth - 1))
        self.out = nn.Linear(hidden, data_dim)
        nn.init.zeros_(self.out.weight)  # F = 0 at start: the denoiser starts as c_skip x
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        e = self.embed(c_noise)  # (batch, hidden)
        h = nn.functional.silu(self.inp(x) + e)
        for layer in self.layers:
            h = h + nn.functional.silu(layer(h) + e)
        return self.out(h)  # (batch, data_dim)
