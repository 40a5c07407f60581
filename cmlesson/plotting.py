"""The course's figures: titled, labelled, equal aspect for 2-D scatters, shared limits across panels.

Every function returns the matplotlib Figure (the notebooks display it); none calls ``plt.show``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from . import parameterization as P

MOONS_LIMITS = (-1.5, 2.5, -1.0, 1.5)  # x0, x1, y0, y1: the lesson's moons with a margin


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def limits_for(*point_sets, margin: float = 0.15) -> tuple[float, float, float, float]:
    """Shared axis limits that hold every point of ``point_sets`` (clipped to a sane window), with a margin."""
    pts = np.concatenate([_np(p) for p in point_sets])
    lo, hi = np.percentile(pts, 0.5, axis=0), np.percentile(pts, 99.5, axis=0)
    pad = margin * (hi - lo).max()
    return float(lo[0] - pad), float(hi[0] + pad), float(lo[1] - pad), float(hi[1] + pad)


def scatter_panel(ax, points, title: str, limits=MOONS_LIMITS, color: str = "C0") -> None:
    """One 2-D scatter on ``ax`` with the course's conventions."""
    pts = _np(points)
    ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5, color=color, linewidths=0, rasterized=True)
    ax.set_xlim(limits[0], limits[1])
    ax.set_ylim(limits[2], limits[3])
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")


def scatter_panels(panels: Mapping[str, object], limits=MOONS_LIMITS, suptitle: str | None = None, size: float = 3.2) -> Figure:
    """Side-by-side scatters, one per ``{title: points}``, with the same limits (for comparison)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size * 0.8), squeeze=False, layout="constrained")
    for i, (ax, (title, pts)) in enumerate(zip(axes[0], panels.items(), strict=True)):
        scatter_panel(ax, pts, title, limits, color="C7" if i == 0 and "data" in title.lower() else "C0")
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_coefficients(sigma_data: float, sigma_min: float, sigma_max: float, lesson: bool = True) -> Figure:
    """c_skip and c_out against sigma (log axis); optionally the lesson's wrong coefficients, dashed."""
    s = torch.logspace(np.log10(sigma_min), np.log10(sigma_max), 400, dtype=torch.float64)
    fig, ax = plt.subplots(figsize=(6.5, 3.6), layout="constrained")
    ax.plot(s, P.c_skip(s, sigma_data, sigma_min), color="C0", label=r"$c_\mathrm{skip}$ (Song et al.)")
    ax.plot(s, P.c_out(s, sigma_data, sigma_min), color="C1", label=r"$c_\mathrm{out}$ (Song et al.)")
    if lesson:
        ax.plot(s, P.lesson_c_skip(s, sigma_min), "--", color="C0", label=r"$c_\mathrm{skip}$ (lesson text)")
        ax.plot(s, P.lesson_c_out(s, sigma_min), "--", color="C1", label=r"$c_\mathrm{out}$ (lesson text)")
    ax.axvline(sigma_min, color="gray", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel(r"noise level $\sigma$")
    ax.set_ylabel("coefficient")
    ax.set_title(rf"Skip parameterization, $\sigma_\mathrm{{data}}$ = {sigma_data:.2f}, $\sigma_\mathrm{{min}}$ = {sigma_min}")
    ax.legend(fontsize=8)
    return fig


def plot_schedule(ax_levels, ax_gaps, schedules: Mapping[str, torch.Tensor]) -> None:
    """Levels (log axis) against their index, and the gap between adjacent levels, for each named schedule."""
    for i, (name, sig) in enumerate(schedules.items()):
        s = _np(sig)
        ax_levels.plot(np.arange(len(s)), s, "o-", ms=3, color=f"C{i}", label=name)
        ax_gaps.plot(np.arange(len(s) - 1), s[:-1] - s[1:], "o-", ms=3, color=f"C{i}", label=name)
    ax_levels.set_yscale("log")
    ax_levels.set_xlabel("index i (0 = most noise)")
    ax_levels.set_ylabel(r"$\sigma_i$")
    ax_levels.set_title("Noise levels")
    ax_gaps.set_yscale("log")
    ax_gaps.set_xlabel("index i")
    ax_gaps.set_ylabel(r"$\sigma_i - \sigma_{i+1}$")
    ax_gaps.set_title("Gap between adjacent levels")
    ax_levels.legend(fontsize=8)


def plot_curriculum(ax, K: int, curricula: Mapping[str, object]) -> None:
    """N(k) over training steps k = 0..K for each named curriculum function N(k, K)."""
    k = np.arange(K + 1)
    for name, fn in curricula.items():
        ax.step(k, [fn(int(i), K) for i in k], where="post", label=name)
    ax.set_xlabel("training step k")
    ax.set_ylabel("levels N(k)")
    ax.set_title("Discretization curriculum")
    ax.legend(fontsize=8)


def plot_trajectories(ax, path: torch.Tensor, endpoints: torch.Tensor | None = None, limits=MOONS_LIMITS) -> None:
    """ODE paths, shape (steps, n, 2), from the start (dot) to their end (star); optional consistency outputs (crosses)."""
    path = _np(path)
    for j in range(path.shape[1]):
        ax.plot(path[:, j, 0], path[:, j, 1], "-", color=f"C{j % 10}", lw=1, alpha=0.8)
        ax.plot(path[0, j, 0], path[0, j, 1], "o", color=f"C{j % 10}", ms=3)
        ax.plot(path[-1, j, 0], path[-1, j, 1], "*", color=f"C{j % 10}", ms=9)
    if endpoints is not None:
        e = _np(endpoints)
        ax.scatter(e[:, 0], e[:, 1], marker="x", s=25, color="black", lw=1, zorder=5)
    ax.set_xlim(limits[0], limits[1])
    ax.set_ylim(limits[2], limits[3])
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")


def plot_losses(histories: Mapping[str, Sequence[float]], smooth: int = 50) -> Figure:
    """Training losses (moving average over ``smooth`` steps), one panel per run: losses differ in scale."""
    fig, axes = plt.subplots(1, len(histories), figsize=(3.6 * len(histories), 2.8), squeeze=False, layout="constrained")
    for ax, (name, h) in zip(axes[0], histories.items(), strict=True):
        h = np.asarray(h, dtype=float)
        w = max(1, min(smooth, len(h)))
        ax.plot(np.arange(w - 1, len(h)), np.convolve(h, np.ones(w) / w, mode="valid"))
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(name, fontsize=10)
    return fig


def plot_ladder(steps: Sequence[int], w1: Mapping[str, Sequence[float]], floor: float) -> Figure:
    """W1 against the number of sampling steps, with the noise floor as a horizontal line."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4), layout="constrained")
    for name, values in w1.items():
        ax.plot(steps, values, "o-", label=name)
    ax.axhline(floor, color="gray", ls="--", label=f"noise floor {floor:.3f}")
    ax.set_xlabel("sampling steps")
    ax.set_ylabel("Wasserstein-1 to the data")
    ax.set_xticks(list(steps))
    ax.set_ylim(bottom=0)
    ax.set_title("Quality ladder")
    ax.legend(fontsize=8)
    return fig
