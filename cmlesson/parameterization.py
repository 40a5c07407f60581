"""The skip parameterization of the consistency function and the EDM denoiser (introduced in notebook 01).

Both are a :class:`Preconditioner` around a backbone ``F(x_in, c_noise)`` (see :mod:`cmlesson.networks`):
``c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma))``; they differ only in the
coefficients. The consistency function shifts sigma by sigma_min so that c_skip = 1 and c_out = 0
at sigma = sigma_min: the boundary condition f(x, sigma_min) = x holds exactly, whatever F is.
A backbone conditioned on a class (and a guidance scale) gets them passed through (notebook 09).
"""

from __future__ import annotations

import torch
from torch import nn

from . import validate


def c_skip(sigma: torch.Tensor, sigma_data: float, sigma_min: float) -> torch.Tensor:
    """Song et al. 2023, App. C (notebook 01): c_skip = sigma_data^2 / ((sigma - sigma_min)^2 + sigma_data^2).

    Written as 1 / (1 + ((sigma - sigma_min) / sigma_data)^2) so that c_skip(sigma_min) is exactly 1.0
    in floating point (number / tensor rounds through a reciprocal: 0.99999994 for some sigma_data).
    """
    return 1 / (1 + ((sigma - sigma_min) / sigma_data) ** 2)


def c_out(sigma: torch.Tensor, sigma_data: float, sigma_min: float) -> torch.Tensor:
    """Song et al. 2023, App. C (notebook 01): c_out = sigma_data (sigma - sigma_min) / sqrt(sigma^2 + sigma_data^2)."""
    return sigma_data * (sigma - sigma_min) / (sigma**2 + sigma_data**2).sqrt()


def c_in(sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """Karras et al. 2022, Table 1 (notebook 01): c_in = 1 / sqrt(sigma^2 + sigma_data^2): the network sees unit variance."""
    return 1 / (sigma**2 + sigma_data**2).sqrt()


def c_noise(sigma: torch.Tensor) -> torch.Tensor:
    """Karras et al. 2022, Table 1 (notebook 01): c_noise = ln(sigma) / 4."""
    return sigma.log() / 4


def edm_c_skip(sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """Karras et al. 2022, Table 1 (notebook 01): c_skip = sigma_data^2 / (sigma^2 + sigma_data^2)."""
    return sigma_data**2 / (sigma**2 + sigma_data**2)


def edm_c_out(sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """Karras et al. 2022, Table 1 (notebook 01): c_out = sigma sigma_data / sqrt(sigma^2 + sigma_data^2)."""
    return sigma * sigma_data / (sigma**2 + sigma_data**2).sqrt()


def lesson_c_skip(sigma: torch.Tensor, sigma_min: float) -> torch.Tensor:
    """The lesson text's (wrong) c_skip = sigma_min^2 / (sigma^2 + sigma_min^2): 1/2 at sigma_min, not 1 (notebook 01)."""
    return sigma_min**2 / (sigma**2 + sigma_min**2)


def lesson_c_out(sigma: torch.Tensor, sigma_min: float) -> torch.Tensor:
    """The lesson text's (wrong) c_out = sigma sigma_min / sqrt(sigma^2 + sigma_min^2): ~ sigma_min everywhere (notebook 01)."""
    return sigma * sigma_min / (sigma**2 + sigma_min**2).sqrt()


def append_dims(v: torch.Tensor, target_dims: int) -> torch.Tensor:
    """v with trailing dimensions of size 1 up to ``target_dims``: (batch,) -> (batch, 1, ..., 1) (k-diffusion's append_dims).

    A level per row broadcast against a batch x: append_dims(sigma, x.ndim) * x. Introduced in notebook 01.
    """
    missing = target_dims - v.ndim
    if missing < 0:
        raise ValueError(f"v has {v.ndim} dimensions, more than target_dims = {target_dims}")
    return v[(...,) + (None,) * missing]


def per_row(v: torch.Tensor | float, x: torch.Tensor, name: str = "sigma", dtype: torch.dtype | None = None) -> torch.Tensor:
    """A number or a (batch,) tensor as a (batch,) tensor, one value per row of x (x's dtype unless ``dtype`` is given).

    The levels, labels and guidance scales of a batch (notebook 01); a tensor of another length raises ValueError.
    """
    v = torch.as_tensor(v, dtype=dtype or x.dtype, device=x.device)
    if v.ndim == 0:
        v = v.expand(x.shape[0])
    if v.shape != (x.shape[0],):
        raise ValueError(f"{name} must be a number or have shape ({x.shape[0]},), got {tuple(v.shape)}")
    return v


class Preconditioner(nn.Module):
    """c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma)[, label, w]) around a backbone F (NVlabs/edm's EDMPrecond).

    Karras et al. 2022, Eq. 7; introduced in notebook 01. Subclasses differ only in c_skip and c_out. ``label`` and
    ``w`` (a number, or one value per row) are passed on to a backbone conditioned on a class and a guidance scale
    (notebook 09); left out, the backbone is called as F(x_in, c_noise).
    """

    def __init__(self, backbone: nn.Module, sigma_data: float, sigma_min: float, sigma_max: float):
        super().__init__()
        self.backbone = backbone
        self.sigma_data = validate.positive_float("sigma_data", sigma_data)
        self.sigma_min, self.sigma_max = validate.sigma_range(sigma_min, sigma_max)

    def c_skip(self, sigma: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def c_out(self, sigma: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | float, label: torch.Tensor | int | None = None,
                w: torch.Tensor | float | None = None) -> torch.Tensor:
        s = append_dims(per_row(sigma, x), x.ndim)  # (batch, 1, ...)
        conditions = {} if label is None else {"label": per_row(label, x, "label", torch.long)}
        if w is not None:
            conditions["w"] = per_row(w, x, "w")
        F_x = self.backbone(c_in(s, self.sigma_data) * x, c_noise(s).flatten(), **conditions)
        return self.c_skip(s) * x + self.c_out(s) * F_x


class ConsistencyFunction(Preconditioner):
    """f(x, sigma) with the sigma_min shift: f(x, sigma_min) = x for every F (Song et al. 2023, Eq. 5, App. C; notebook 01)."""

    def c_skip(self, sigma: torch.Tensor) -> torch.Tensor:
        return c_skip(sigma, self.sigma_data, self.sigma_min)

    def c_out(self, sigma: torch.Tensor) -> torch.Tensor:
        return c_out(sigma, self.sigma_data, self.sigma_min)


class EDMDenoiser(Preconditioner):
    """D(x, sigma): the diffusion teacher's x0-prediction (Karras et al. 2022, Eq. 7 and Table 1; notebook 01)."""

    def c_skip(self, sigma: torch.Tensor) -> torch.Tensor:
        return edm_c_skip(sigma, self.sigma_data)

    def c_out(self, sigma: torch.Tensor) -> torch.Tensor:
        return edm_c_out(sigma, self.sigma_data)


def consistency_function(backbone: nn.Module, x: torch.Tensor, sigma: torch.Tensor, sigma_data: float,
                         sigma_min: float) -> torch.Tensor:
    """What :class:`ConsistencyFunction` computes, as a function of a backbone F and (batch,) levels (notebook 02's exercise).

    x: (batch, d); sigma: (batch,), one level per row; returns f(x, sigma): (batch, d), exactly x where sigma = sigma_min.
    Song et al. 2023, Eq. 5 and App. C.
    """
    s = append_dims(per_row(sigma, x), x.ndim)  # (batch, 1, ...)
    F_x = backbone(c_in(s, sigma_data) * x, c_noise(s).flatten())
    return c_skip(s, sigma_data, sigma_min) * x + c_out(s, sigma_data, sigma_min) * F_x
