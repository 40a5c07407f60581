"""Argument checks shared by the public API: every error names the parameter, its value and the allowed range."""

from __future__ import annotations

import math

import numpy as np
import torch


def positive_float(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise if it is not a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number > 0, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def sigma_range(sigma_min: float, sigma_max: float) -> tuple[float, float]:
    """Check 0 < sigma_min < sigma_max; return both as floats."""
    sigma_min = positive_float("sigma_min", sigma_min)
    sigma_max = positive_float("sigma_max", sigma_max)
    if sigma_max <= sigma_min:
        raise ValueError(f"sigma_max must be > sigma_min = {sigma_min}, got sigma_max = {sigma_max}")
    return sigma_min, sigma_max


def int_at_least(name: str, value: int, minimum: int) -> int:
    """Return ``value`` if it is an integer >= ``minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def fraction(name: str, value: float, *, closed_right: bool = False) -> float:
    """Check 0 <= value < 1 (or <= 1 with ``closed_right``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number in [0, 1), got {type(value).__name__} {value!r}")
    value = float(value)
    ok = 0.0 <= value <= 1.0 if closed_right else 0.0 <= value < 1.0
    if not ok:
        interval = "[0, 1]" if closed_right else "[0, 1)"
        raise ValueError(f"{name} must be in {interval}, got {value}")
    return value


def points_2d(name: str, x, *, dim: int | None = 2) -> torch.Tensor:
    """Return ``x`` as a float32 tensor of shape (n, dim) with n >= 1 and no NaN/inf, else raise."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.asarray(x, dtype=np.float32))
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a tensor or array of shape (n, {dim or 'd'}), got {type(x).__name__}")
    if x.ndim != 2 or x.shape[0] < 1 or (dim is not None and x.shape[1] != dim):
        raise ValueError(f"{name} must have shape (n, {dim or 'd'}) with n >= 1, got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).any(dim=1).sum())
        raise ValueError(f"{name} contains NaN or inf in {bad} of {x.shape[0]} rows")
    return x.float()


def sigma_sequence(name: str, sigmas, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Check a strictly decreasing list of noise levels inside [sigma_min, sigma_max]."""
    s = torch.as_tensor(sigmas, dtype=torch.float64).flatten()
    if s.numel() < 1:
        raise ValueError(f"{name} must hold at least one noise level, got none")
    if not torch.isfinite(s).all():
        raise ValueError(f"{name} must be finite, got {s.tolist()}")
    if s.numel() > 1 and not (s[1:] < s[:-1]).all():
        raise ValueError(f"{name} must be strictly decreasing (high noise first), got {s.tolist()}")
    tol = 1e-6 * sigma_max
    if s.max() > sigma_max + tol or s.min() < sigma_min - 1e-9:
        raise ValueError(
            f"{name} must lie in [sigma_min, sigma_max] = [{sigma_min}, {sigma_max}], got {s.tolist()}"
        )
    return s.float()
