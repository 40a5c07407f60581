"""The course's figures: titled, labelled, equal aspect for 2-D scatters, shared limits across panels.

A function that makes a figure returns it (the notebooks display it); one that takes ``ax`` draws on that axis.
None calls ``plt.show``. Each docstring names the notebook that introduces the figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

MOONS_LIMITS = (-1.5, 2.5, -1.0, 1.5)  # x0, x1, y0, y1: the lesson's moons with a margin


MAX_TITLE_LINES = 2  # a panel's title says what it shows and its score; more does not fit above a small panel


def _title(title: str) -> str:
    """``title`` if it has at most MAX_TITLE_LINES lines; otherwise a ValueError that says what to cut."""
    if title.count("\n") >= MAX_TITLE_LINES:
        raise ValueError(f"title has {title.count(chr(10)) + 1} lines, at most {MAX_TITLE_LINES} fit above a panel: {title!r}")
    return title


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def scatter_panel(ax, points, title: str, limits=MOONS_LIMITS, color: str = "C0") -> None:
    """One 2-D scatter on ``ax`` with the course's conventions (notebooks 03-05 draw single panels)."""
    pts = _np(points)
    ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5, color=color, linewidths=0, rasterized=True)
    ax.set_xlim(limits[0], limits[1])
    ax.set_ylim(limits[2], limits[3])
    ax.set_aspect("equal")
    ax.set_title(_title(title), fontsize=10)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")


def panel_grid(n: int, per_row: int = 3) -> tuple[int, int]:
    """(rows, columns) for n panels, at most ``per_row`` a row and the rows as even as possible: 4 -> (2, 2), 5 -> (2, 3)."""
    rows = -(-n // per_row)
    return rows, -(-n // rows)


def scatter_panels(panels: Mapping[str, object], limits=MOONS_LIMITS, suptitle: str | None = None, size: float = 3.2) -> Figure:
    """Scatters, one per ``{title: points}``, with the same limits (for comparison); at most three a row, so that
    the figure stays readable in a notebook's width. A first panel titled "data ..." is drawn in grey. Notebook 01."""
    rows, cols = panel_grid(len(panels))
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * 0.8 * rows + 0.3 * (rows - 1)), squeeze=False,
                             layout="constrained")
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for i, (ax, (title, pts)) in enumerate(zip(axes.flat[: len(panels)], panels.items(), strict=True)):
        scatter_panel(ax, pts, title, limits, color="C7" if i == 0 and "data" in title.lower() else "C0")
    if suptitle:
        fig.suptitle(_title(suptitle))
    return fig


def plot_curriculum(ax, K: int, curricula: Mapping[str, object], colors: Mapping[str, str] | None = None) -> None:
    """N(k) over training steps k = 0..K for each named curriculum function N(k, K) (notebook 03; 06 adds iCT's).
    ``colors`` (name: colour) keeps one colour per curriculum across panels."""
    k = np.arange(K + 1)
    for name, fn in curricula.items():
        ax.step(k, [fn(int(i), K) for i in k], where="post", label=name, color=(colors or {}).get(name))
    ax.set_xlabel("training step k")
    ax.set_ylabel("levels N(k)")
    ax.set_title("Discretization curriculum")
    ax.legend(fontsize=8)


def plot_losses(histories: Mapping[str, Sequence[float]], smooth: int = 50) -> Figure:
    """Training losses (moving average over ``smooth`` steps), one panel per run: losses differ in scale. Notebook 02."""
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


def plot_against_sigma(ax, sigmas, curves: Mapping[str, object], ylabel: str, title: str, logy: bool = False) -> None:
    """One line per ``{label: values}`` against the noise level, high noise on the left (as a sampler runs).

    Introduced in notebook 01 (distance to the trajectory's end) and used in 02 (ODE step errors).
    """
    s = _np(sigmas)
    for i, (name, values) in enumerate(curves.items()):
        ax.plot(s, _np(values), "o-", ms=3, color=f"C{i}", label=name)
    ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    ax.set_xlim(s.max() * 1.3, s.min() / 1.3)
    ax.set_xlabel(r"noise level $\sigma$ (noise $\rightarrow$ data)")
    ax.set_ylabel(ylabel)
    ax.set_title(_title(title), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def plot_outputs_along_paths(ax, path, outputs: Mapping[str, object], background=None, limits=MOONS_LIMITS,
                             title: str = "") -> None:
    """ODE paths (lines, ★ at the end) and where each named map sends every point of each path.

    ``path`` has shape (levels, n, 2); each value of ``outputs`` has the same shape (e.g. the teacher's
    denoiser D(x_sigma, sigma) and the consistency function f(x_sigma, sigma) at every level): hollow circles
    in the path's colour for the first map, black crosses (drawn on top of the open stars) for the second; the
    legend goes under the axes. Notebook 01.
    """
    if not 1 <= len(outputs) <= 2:
        raise ValueError(f"outputs must name 1 or 2 maps (hollow circles, then crosses), got {len(outputs)}")
    if background is not None:
        bg = _np(background)
        ax.scatter(bg[:, 0], bg[:, 1], s=2, color="0.75", alpha=0.5, linewidths=0, rasterized=True)
    path = _np(path)
    markers = [dict(marker="o", facecolors="none", s=16, linewidths=0.8), dict(marker="x", s=22, linewidths=1.1)]
    for j in range(path.shape[1]):
        color = f"C{j % 10}"
        ax.plot(path[:, j, 0], path[:, j, 1], "-", color=color, lw=1.2, alpha=0.9)
        ax.plot(path[-1, j, 0], path[-1, j, 1], "*", mfc="white", mec=color, mew=1.6, ms=17, zorder=6)  # open: the
        #                                                                       crosses that land on it stay visible
        for style, out in zip(markers, outputs.values(), strict=False):  # 1 or 2 maps
            o = _np(out)[:, j]
            kw = dict(style, edgecolors=color) if style["marker"] == "o" else dict(style, color="black")
            ax.scatter(o[:, 0], o[:, 1], zorder=7 if style["marker"] == "x" else 5, **kw)
    handles = [plt.Line2D([], [], color="0.3", lw=1.2, label="ODE path (enters from far away)"),
               plt.Line2D([], [], ls="", marker="*", ms=11, mfc="white", mec="0.3", mew=1.2,
                          label=r"path's end $x_{\sigma_\min}$")]
    for style, name in zip(markers, outputs, strict=False):
        handles.append(plt.Line2D([], [], ls="", marker=style["marker"], mfc="none", color="0.3", label=name))
    ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)  # under the
    #                                                                                      axes: off the moons
    ax.set_xlim(limits[0], limits[1])
    ax.set_ylim(limits[2], limits[3])
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(_title(title), fontsize=10)


EMA_MEMORY_LEGEND = {"fontsize": 8, "loc": "upper left", "bbox_to_anchor": (1.02, 1.0)}  # beside the curves


def plot_ema_memory(decays: Sequence[float], steps: int, marks: Mapping[str, int] | None = None) -> Figure:
    """decay^k: the weight an EMA still gives its initial value after k updates, for each decay (notebook 04).

    Exact for any training run: theta_ema(k) = decay^k theta(0) + (1 - decay) sum_j decay^(k-j) theta(j).
    The step axis is logarithmic, so that a short memory (0.95: tens of steps) shows beside a long one (0.9999).
    ``marks`` draws vertical lines at named step counts (e.g. the lesson's 8,000 steps).
    """
    k = np.arange(1, steps + 1)
    fig, ax = plt.subplots(figsize=(7.6, 3.4), layout="constrained")
    for i, d in enumerate(decays):
        ax.plot(k, float(d) ** k, color=f"C{i}", label=f"decay {d:g}")
    for j, (name, at) in enumerate((marks or {}).items()):
        ax.axvline(at, color="0.4", ls=":" if j else "--", lw=1)
        ax.text(at, 1.02, f" {name}", rotation=0, fontsize=8, va="bottom", ha="left", color="0.3",
                transform=ax.get_xaxis_transform())
    ax.set_xscale("log")
    ax.set_xlim(1, steps)
    ax.set_ylim(0, 1.0)
    ax.set_xlabel("optimizer steps k (log scale)")
    ax.set_ylabel(r"weight on the initial weights, decay$^k$")
    ax.set_title("How much of its start an EMA still holds", pad=16)
    ax.grid(alpha=0.3)
    ax.legend(**EMA_MEMORY_LEGEND)
    return fig


def plot_target_decay(ax, K: int, curricula: Mapping[str, object], decay,
                      colors: Mapping[str, str] | None = None) -> None:
    """The CT target decay mu(k) = decay(N(k)) over steps k = 0..K, one line per named curriculum N(k, K) (notebook 03).
    ``colors`` (name: colour) keeps one colour per curriculum across panels."""
    k = np.arange(K + 1)
    for i, (name, curriculum) in enumerate(curricula.items()):
        color = (colors or {}).get(name, f"C{i}")
        ax.step(k, [decay(curriculum(int(j), K)) for j in k], where="post", color=color, label=name)
    ax.set_xlabel("training step k")
    ax.set_ylabel(r"target decay $\mu(k)$")
    ax.set_title(r"Target EMA: $\mu(k) = \exp(s_0 \ln \mu_0 / N(k))$", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def plot_ladders(steps: Sequence[int], panels: Mapping[str, Mapping[str, Sequence[float]]]) -> Figure:
    """Several quality ladders side by side, one per metric: ``{metric: {series: values / noise floor}}`` (notebook 05).

    Values are in floor units (cmlesson.yardstick), so each panel draws the floor, a perfect generator's score, at 1.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 3.4), squeeze=False, layout="constrained")
    for ax, (metric, series) in zip(axes[0], panels.items(), strict=True):
        for i, (name, values) in enumerate(series.items()):
            ax.plot(steps, values, "o-", color=f"C{i}", label=name)
        ax.axhline(1.0, color="gray", ls="--", label="noise floor (a perfect generator)")
        ax.set_xscale("log")
        ax.set_xticks(list(steps))
        ax.set_xticklabels([str(s) for s in steps])
        ax.minorticks_off()
        ax.set_ylim(bottom=0)
        ax.set_xlabel("consistency sampling steps")
        ax.set_ylabel("distance to the data / its noise floor")
        ax.set_title(metric, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def image_grid(ax, images, title: str, ncol: int = 10, side: int = 8, labels: Sequence[str] | None = None,
               labels_below: bool = True) -> None:
    """Images, given as rows of side*side pixels in [-1, 1], tiled ``ncol`` per row on ``ax`` (notebook 07, via
    :func:`image_grids`; notebook 09 draws single grids).

    Every grid uses the same gray scale (-1 white background, +1 black ink), so grids can be compared;
    ``labels`` (one short string per image, e.g. a classifier's prediction) are written in a blank strip under each
    tile, clear of the ink (``labels_below=False``: in the tile's corner, over it).
    """
    imgs = _np(images).reshape(-1, side, side)
    n = len(imgs)
    nrow = -(-n // ncol)
    strip = side // 2 if labels and labels_below else 0
    row = side + 1 + strip
    canvas = np.full((nrow * row + 1, ncol * (side + 1) + 1), -1.0)
    for i, img in enumerate(imgs):
        r, c = divmod(i, ncol)
        canvas[1 + r * row: 1 + r * row + side, 1 + c * (side + 1): 1 + c * (side + 1) + side] = img
    ax.imshow(canvas, cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
    for i, text in enumerate(labels or []):
        r, c = divmod(i, ncol)
        if strip:
            ax.text(c * (side + 1) + (side + 1) / 2, r * row + side + (strip + 1) / 2, text, color="C3", fontsize=8,
                    va="center", ha="center")
        else:
            ax.text(c * (side + 1) + 1.2, r * (side + 1) + 1.2, text, color="C3", fontsize=7, va="top", ha="left")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(_title(title), fontsize=10)


def image_grids(panels: Mapping[str, object], ncol: int = 10, side: int = 8, size: float = 3.4,
                labels: Mapping[str, Sequence[str]] | None = None, suptitle: str | None = None,
                per_row: int = 3) -> Figure:
    """:func:`image_grid` panels, one per ``{title: images}``, same gray scale, at most ``per_row`` a row (notebooks 07
    and 09)."""
    nrow = max(-(-len(_np(imgs).reshape(-1, side * side)) // ncol) for imgs in panels.values())
    tall = (side + 1 + side // 2) / (side + 1) if labels else 1  # a tile with image_grid's reading strip under it
    height = size * tall * nrow / ncol + 0.5  # tiles are square; room for the titles
    rows, cols = panel_grid(len(panels), per_row)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, height * rows), squeeze=False, layout="constrained")
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (title, imgs) in zip(axes.flat[: len(panels)], panels.items(), strict=True):
        image_grid(ax, imgs, title, ncol, side, (labels or {}).get(title))
    if suptitle:
        fig.suptitle(_title(suptitle))
    return fig


def plot_level_usage(ax, sigmas, probs: Mapping[str, object], title: str) -> None:
    """Share of training pairs each pair (sigmas[i], sigmas[i+1]) gets, against sigma_i, per named level sampler (notebook 06).

    ``probs`` maps a name to the per-pair probabilities or to drawn counts (normalised here); a log x axis,
    high noise on the right.
    """
    s = _np(sigmas)[:-1]
    for i, (name, p) in enumerate(probs.items()):
        p = _np(p).astype(float)
        ax.step(s, p / p.sum(), where="mid", color=f"C{i}", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"higher level of the pair $\sigma_i$")
    ax.set_ylabel("share of training pairs")
    ax.set_title(_title(title), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


# --- the training pair, as a diagram (notebooks 02 and 03) -------------------------------------------------------


def _trajectory(s: np.ndarray) -> np.ndarray:
    """A made-up probability-flow path, x as a function of log sigma: a data point at the left, noise at the right."""
    return 0.6 + 0.9 * np.tanh(1.3 * (s - 0.8)) + 0.25 * s


def _pair_schematic(ax, lower_label: str, step_label: str, title: str, off: float) -> None:
    s = np.linspace(0.0, 3.0, 200)  # log sigma, from sigma_min (0) to beyond sigma_max's side
    ax.plot(s, _trajectory(s), color="0.75", lw=2, zorder=1, label="the ODE path through the noisy point")
    hi, lo = 2.3, 1.6
    x_hi, x_lo = _trajectory(hi), _trajectory(lo) + off  # the lower point sits a little off the path: a solver's error
    x0 = _trajectory(0.0)
    ax.axvline(0.0, color="C2", lw=1.5, zorder=1)
    ax.text(0.05, -0.95, r"boundary $\sigma_\mathrm{min}$: $f(x, \sigma_\mathrm{min}) = x$",
            color="C2", fontsize=8, va="bottom")
    ax.annotate("", xy=(lo, x_lo), xytext=(hi, x_hi), arrowprops={"arrowstyle": "->", "color": "C1", "lw": 1.8})
    ax.text((hi + lo) / 2, max(x_hi, x_lo) + 0.12, step_label, color="C1", fontsize=8, ha="center")
    online_end, target_end = x0 + 0.18, x0 - 0.12  # the two outputs, not yet equal: the loss pulls them together
    ax.annotate("", xy=(0.02, online_end), xytext=(hi, x_hi),
                arrowprops={"arrowstyle": "->", "color": "C0", "lw": 1.6, "connectionstyle": "arc3,rad=0.25"})
    ax.annotate("", xy=(0.02, target_end), xytext=(lo, x_lo),
                arrowprops={"arrowstyle": "->", "color": "C3", "lw": 1.6, "ls": "--", "connectionstyle": "arc3,rad=-0.2"})
    ax.text(0.75, x_hi + 0.3, r"online $f_\theta(x_{\sigma_i}, \sigma_i)$ (gradient)", color="C0", fontsize=8)
    ax.text(lo - 1.15, x_lo - 0.75, r"target $f_{\theta^-}(\cdot, \sigma_{i+1})$ (no gradient)", color="C3", fontsize=8)
    ax.plot([hi], [x_hi], "o", color="C0", ms=7, zorder=3)
    ax.plot([lo], [x_lo], "s", color="C3", ms=7, zorder=3)
    ax.text(hi + 0.07, x_hi - 0.05, r"$x_{\sigma_i} = x_0 + \sigma_i z$", fontsize=8, va="top")
    ax.text(lo + 0.07, x_lo - 0.08, lower_label, fontsize=8, va="top")
    ax.plot([0.0, 0.0], [target_end, online_end], color="k", lw=3, zorder=4, solid_capstyle="butt")
    ax.text(0.07, x0 + 0.02, r"loss $d(\cdot,\cdot)$", fontsize=8, va="center")
    ax.plot([0.0], [x0], "*", color="k", ms=10, zorder=5)
    ax.set(xlim=(-0.3, 3.1), ylim=(-1.0, 2.9), xticks=[0, lo, hi], yticks=[],
           xticklabels=[r"$\sigma_\mathrm{min}$", r"$\sigma_{i+1}$", r"$\sigma_i$"],
           xlabel=r"noise level $\sigma$ (log scale, schematic)", ylabel="x (one coordinate)", title=title)
    ax.legend(fontsize=8, loc="upper left", frameon=False)


def cd_pair_schematic(ax) -> None:
    """Consistency distillation's training pair (Song et al. 2023, Alg. 2): the teacher's ODE step down one level,
    the online model on the noisier point, the target model on the teacher's point, the loss between their outputs."""
    _pair_schematic(ax, r"$\hat x_{\sigma_{i+1}}$ (teacher's Heun step)", "teacher: one Heun step of the ODE",
                    "Distillation pair: two points of one ODE path, one output", off=0.12)


def ct_pair_schematic(ax) -> None:
    """Consistency training's pair (Song et al. 2023, Alg. 3): the lower point is x_0 + sigma_{i+1} z, the same data point
    and noise as the upper one, in place of the teacher's step (off the ODE path by an error that shrinks with the gap)."""
    _pair_schematic(ax, r"$x_0 + \sigma_{i+1} z$ (same $x_0$, same $z$)", r"no teacher: the same $z$, scaled down",
                    "Training pair without a teacher", off=-0.22)
