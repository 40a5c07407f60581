"""Class-conditional denoisers and classifier-free guidance (Ho & Salimans 2022), introduced in notebook 09.

A conditional backbone ``F(x_in, c_noise, label)`` adds a learned label embedding to the noise embedding
of :class:`cmlesson.networks.NoiseConditionedMLP`. Label :data:`NULL_LABEL` (= 10 for the ten digits) is the
"no label" token: training replaces the label of a share of each batch by it, so one network learns both
D(x, sigma | c) and D(x, sigma). The guided denoiser mixes the two, D_w = D_uncond + w (D_cond - D_uncond):
w = 0 is the unconditional model, w = 1 the conditional one, w > 1 pushes further towards the class.
:class:`Guided` binds labels and w so that the result has the plain ``denoiser(x, sigma)`` signature and every
sampler of :mod:`cmlesson.samplers` runs on it unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import training, validate
from ..config import GuidedTeacherConfig, NetworkConfig, NoiseConfig
from ..data import Pool
from ..networks import ResidualMLP, fourier_embedding
from ..parameterization import EDMDenoiser, append_dims, per_row

N_CLASSES = 10  # the ten digits
NULL_LABEL = N_CLASSES  # the "no label" token: index 10 of the label embedding


class ConditionedMLP(ResidualMLP):
    """F(x, c_noise, label[, w]): the course's residual MLP with e = e_noise + e_label (+ e_w) (Ho & Salimans 2022).

    ``guidance_embedding=True`` adds Fourier features of the guidance scale w (Luo et al. 2023, arXiv:2310.04378,
    Sec. 4.2: the consistency model is conditioned on w); its last layer starts at zero, so a copy of a teacher's
    weights computes exactly the teacher's function at first. Introduced in notebook 09.
    """

    def __init__(self, data_dim: int, cfg: NetworkConfig = NetworkConfig(), n_classes: int = N_CLASSES,
                 guidance_embedding: bool = False, max_guidance: float = 8.0):
        n_classes = validate.int_at_least("n_classes", n_classes, 1)
        max_guidance = validate.positive_float("max_guidance", max_guidance) if guidance_embedding else None
        super().__init__(data_dim, cfg, embed=fourier_embedding(cfg, silu=True),
                         label=nn.Embedding(n_classes + 1, cfg.hidden),  # the last row is the "no label" token
                         guidance=fourier_embedding(cfg, 1.0, zero=True) if guidance_embedding else None)
        self.n_classes, self.cfg = n_classes, cfg
        if guidance_embedding:
            self.max_guidance = max_guidance

    def embedding(self, c_noise: torch.Tensor, label: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        e = self.embed(c_noise) + self.label(label)  # (batch, hidden)
        if self.guidance is not None:
            if w is None:
                raise ValueError("this backbone is conditioned on the guidance scale: pass w")
            e = e + self.guidance(w / self.max_guidance)
        return e


def guided(d_uncond: torch.Tensor, d_cond: torch.Tensor, w: torch.Tensor | float) -> torch.Tensor:
    """D_w = D_uncond + w (D_cond - D_uncond): classifier-free guidance (notebook 09).

    Ho & Salimans 2022, Eq. 6 writes (1 + w') eps_cond - w' eps_uncond: the same with their w' = w - 1 (w = 1 is the
    conditional model), and the same for D as for eps, D = x - sigma eps being affine in eps at fixed x and sigma.
    """
    w = append_dims(torch.as_tensor(w, dtype=d_cond.dtype), d_cond.ndim)
    return d_uncond + w * (d_cond - d_uncond)


def guided_denoise(denoiser: nn.Module, x: torch.Tensor, sigma, label: torch.Tensor, w) -> torch.Tensor:
    """:func:`guided` of D(x, sigma | label) and D(x, sigma | no label), one batch (Ho & Salimans 2022; notebook 09)."""
    n = x.shape[0]
    s = per_row(sigma, x)
    labels = per_row(label, x, "label", torch.long)
    both = denoiser(torch.cat([x, x]), torch.cat([s, s]), torch.cat([labels, torch.full_like(labels, NULL_LABEL)]))
    return guided(both[n:], both[:n], w)


class Guided(nn.Module):
    """D_w(x, sigma) for fixed labels and w, as a plain ``denoiser(x, sigma)`` (:func:`guided`; notebook 09)."""

    def __init__(self, denoiser: nn.Module, label: torch.Tensor | int, w: torch.Tensor | float):
        super().__init__()
        self.denoiser, self.label, self.w = denoiser, label, w
        self.sigma_data, self.sigma_min, self.sigma_max = denoiser.sigma_data, denoiser.sigma_min, denoiser.sigma_max

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
        return guided_denoise(self.denoiser, x, sigma, self.label, self.w)


def drop_labels(labels: torch.Tensor, share: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each label replaced by NULL_LABEL with probability ``share`` (Ho & Salimans 2022, Alg. 1, p_uncond; notebook 09)."""
    share = validate.fraction("share", share, closed_right=True)
    drop = torch.rand(labels.shape, generator=generator) < share
    return torch.where(drop, torch.full_like(labels, NULL_LABEL), labels)


def conditional_edm_loss(denoiser: nn.Module, x0: torch.Tensor, labels: torch.Tensor, P_mean: float, P_std: float,
                         generator: torch.Generator | None = None) -> torch.Tensor:
    """E lambda(s) ||D(x0 + s z, s, label) - x0||^2, ln s ~ N(P_mean, P_std^2) (Karras et al. 2022, Eq. 8; notebook 09)."""
    sigma = (P_mean + P_std * torch.randn(x0.shape[0], generator=generator)).exp()
    z = torch.randn(x0.shape, generator=generator)
    weight = (sigma**2 + denoiser.sigma_data**2) / (sigma * denoiser.sigma_data) ** 2
    return (weight * (denoiser(x0 + append_dims(sigma, x0.ndim) * z, sigma, labels) - x0).pow(2).mean(1)).mean()


def labelled_pool(x: torch.Tensor, labels: torch.Tensor, seed: int) -> Pool:
    """Rows [x, label] in one data.Pool: a batch draws images with their labels (split by :func:`split_batch`; notebook 09)."""
    x = validate.points_2d("x", x, dim=None)
    if labels.shape != (x.shape[0],):
        raise ValueError(f"labels must have shape ({x.shape[0]},), got {tuple(labels.shape)}")
    return Pool(torch.cat([x, labels.float()[:, None]], dim=1), seed=seed)


def split_batch(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The (x, labels) of a batch drawn from :func:`labelled_pool` (notebook 09)."""
    return batch[:, :-1], batch[:, -1].round().long()


def train_conditional_teacher(
    x: torch.Tensor, labels: torch.Tensor, cfg: GuidedTeacherConfig = GuidedTeacherConfig(), *,
    noise: NoiseConfig = NoiseConfig(), net: NetworkConfig = NetworkConfig(), seed: int = 0, progress: bool = True,
) -> training.Trained:
    """A class-conditional EDM teacher with label dropout (Ho & Salimans 2022, arXiv:2207.12598, Alg. 1); notebook 09."""
    pool, gen = labelled_pool(x, labels, seed), training.seeded(seed)
    noise = training.noise_config_for(x, noise)
    model = EDMDenoiser(ConditionedMLP(x.shape[1], net), noise.sigma_data, noise.sigma_min, noise.sigma_max)

    def loss(step: int, batch: torch.Tensor) -> torch.Tensor:
        x0, y = split_batch(batch)
        return conditional_edm_loss(model, x0, drop_labels(y, cfg.uncond_share, gen), cfg.P_mean, cfg.P_std, gen)

    return training.fit(model, loss, pool, cfg, "conditional teacher", progress=progress)
