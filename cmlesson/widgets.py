"""Live explorers for JupyterLab: sliders that redraw a figure without re-running any cell.

* :func:`schedule_explorer` (notebook 03): noise-level schedules and the CT curriculum N(k).
* :func:`step_explorer` (notebook 05): consistency sampling with 1-10 steps against the data and the teacher.
* :func:`trajectory_explorer` (notebook 01): teacher ODE paths and where the consistency function sends them.
* :func:`digit_explorer` (notebook 09): ask the guided latent consistency model for digits, with a guidance
  scale and 1-4 steps; the classifier reads every tile.

Each returns an :class:`Explorer` (an ipywidgets ``VBox``): put it last in a cell. The models are the tiny
checkpoints shipped with the package (:mod:`cmlesson.checkpoints`), so nothing trains inside a widget.

Speed: a redraw must take at most 250 ms on a 2-core CPU. Each explorer therefore builds its matplotlib
figure once and only updates the data of its artists (rebuilding axes costs more than drawing them), keeps
the drawn axes, ticks and labels as a background and repaints only what changed (text is most of
matplotlib's drawing time; see :class:`Explorer`), sends PNG bytes to an ``ipywidgets.Image`` (no flicker,
no pyplot state, no figure to close), runs torch on one thread during the redraw, caches model samples by
control values, and computes the exact W1 on 500 vs 500 points (its cost grows with the cube of the points).
:func:`measure_latency` measures a redraw.

Bad input (sigma_min >= sigma_max, N < 2, hand-set levels that do not decrease, ...) shows a short
message above the figure and keeps the last good figure; no callback ever lets a traceback through.
"""

from __future__ import annotations

import functools
import html
import io
import math
import re
import statistics
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from contextlib import contextmanager

import ipywidgets as W
import matplotlib as mpl
import numpy as np
import PIL.Image
import torch
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.transforms import Bbox, IdentityTransform
from torch import nn

from . import checkpoints, data, metrics, samplers, schedules
from .config import BenchConfig, ConsistencyTrainingConfig, DistillConfig, NoiseConfig
from .frontier import lcm
from .frontier.classifier import CONFIDENT
from .plotting import MOONS_LIMITS

DPI = 80  # 11 inches -> 880 pixels wide: fits JupyterLab's default output width
N_POINTS = 500  # points per scatter and per W1 (the exact W1's cost grows with the cube of the points)
SEED = 0  # sampling seed: the same noise for every setting, so a change in the figure is the control's doing
REFERENCE_SEED = 10_000  # the data panel: independent of the training pool (seed 0)
DATA_COLOR = "0.6"

ModelSpec = nn.Module | Mapping[str, nn.Module] | None
AxesKeys = Mapping[Axes, Hashable] | None


class InvalidInput(ValueError):  # noqa: N818 - reads better in the callbacks than InvalidInputError
    """A control combination the explorer cannot draw; its message is shown as is (keep it short)."""


# --------------------------------------------------------------------------------------------------
# The widget shell: controls, a message line, the figure as a PNG image, an info line.


def _png(fig: Figure) -> bytes:
    """The figure as drawn on its canvas now, as PNG (zlib level 1: level 6 costs ~10 ms more, saves ~5%)."""
    canvas = fig.canvas
    image = PIL.Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buf = io.BytesIO()
    image.save(buf, format="png", compress_level=1)
    return buf.getvalue()


_RC = {"font.size": 10, "axes.titlesize": 10, "legend.fontsize": 8.5,
       "axes.titley": 1.0}  # a fixed title position: matplotlib otherwise measures every tick label to place it


def _course_style(factory: Callable[..., Explorer]) -> Callable[..., Explorer]:
    """Build the explorer's figure under the widgets' rc settings (set_title, legend, ... read them when called)."""

    @functools.wraps(factory)
    def wrapper(*args, **kwargs) -> Explorer:
        with mpl.rc_context(_RC):
            return factory(*args, **kwargs)

    return wrapper


def _new_figure(width: float, height: float, ncols: int) -> tuple[Figure, np.ndarray]:
    """A figure with one row of axes and no pyplot state: nothing to close, nothing displayed twice inline."""
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols)


def _no_minor_ticks(*axes) -> None:
    """A log axis draws dozens of minor ticks: about a third of a redraw. The major ticks suffice here."""
    for ax in axes:
        ax.xaxis.set_minor_locator(mpl.ticker.NullLocator())
        ax.yaxis.set_minor_locator(mpl.ticker.NullLocator())


@contextmanager
def _one_thread():
    """torch on one thread while redrawing: the batches are tiny, and a second thread waits for a busy core."""
    n = torch.get_num_threads()
    if n != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if n != 1:
            torch.set_num_threads(n)


def _slot(ax: Axes, boxes: Mapping[Axes, Bbox], figbox: Bbox) -> tuple[float, float]:
    """For axes side by side: the x-range ``ax`` may repaint without touching its neighbours' extents."""
    left = [b.x1 for other, b in boxes.items() if other is not ax and b.x1 <= boxes[ax].x0 + 1e-6]
    right = [b.x0 for other, b in boxes.items() if other is not ax and b.x0 >= boxes[ax].x1 - 1e-6]
    return max(left, default=figbox.x0 - 1) + 1, min(right, default=figbox.x1 + 1) - 1


def _message_html(text: str) -> str:
    return f'<span style="color:#b00020">&#9888; {html.escape(text, quote=False)} (showing the last valid figure)</span>'


class Explorer(W.VBox):
    """Controls, a message line, the figure (PNG in an ``ipywidgets.Image``) and an info line.

    ``update(values)`` updates the explorer's figure for ``{control name: value}`` and returns
    ``(info, keys)``: the info text (HTML) and ``{axes: key}``, a hashable per axes that names what it shows
    apart from the ``animated`` artists (its limits, say), or None. It raises :class:`InvalidInput` with a
    short message for input it cannot draw. Any control change calls it.

    Blitting: text is most of matplotlib's drawing time (every glyph is rasterized again on every draw), so
    the axes, ticks and labels are drawn once and kept as a background. A redraw restores it, draws again only
    the axes whose key changed, then draws the ``animated`` artists (scatters, lines, titles that change) over
    it. ``keys=None`` draws the whole figure.

    Attributes for tests and benchmarks: ``controls`` (name -> widget), ``image`` (the ``ipywidgets.Image``;
    ``png`` is its PNG bytes), ``message`` (HTML, empty when all is well), ``problem`` (its plain text), ``info``,
    ``status`` ("ok", "invalid" or "error"), ``timings_ms`` and ``cpu_ms`` (wall-clock and CPU time of every
    redraw).
    """

    def __init__(self, title: str, controls: dict[str, W.Widget], rows: list[W.Widget], fig: Figure,
                 update: Callable[[dict], tuple[str, AxesKeys]], help_text: str = "", animated: Sequence[Artist] = ()):
        super().__init__()
        self.title, self.controls, self.fig, self._update = title, controls, fig, update
        self._animated, self._background, self._keys = list(animated), None, {}
        self._boxes: dict[Axes, Bbox] = {}
        for artist in self._animated:
            artist.set_animated(True)  # left out of fig.canvas.draw(); drawn by _render
        self.status, self.problem, self._busy, self._laid_out = "ok", "", False, False
        self.timings_ms: list[float] = []  # wall-clock milliseconds of every redraw
        self.cpu_ms: list[float] = []  # CPU milliseconds of this thread: what the redraw costs without contention
        header = W.HTML(f"<b>{html.escape(title)}</b>" + (f" &mdash; {help_text}" if help_text else ""))
        self.message = W.HTML("")
        self.image = W.Image(format="png")
        self.image.add_class("cmlesson-figure")
        self.info = W.HTML("")
        self.children = [header, *rows, self.message, self.image, self.info]
        self.add_class("cmlesson-explorer")
        for control in controls.values():
            control.observe(self._on_change, names="value")
        self.redraw()

    def __repr__(self) -> str:  # the text/plain output: short and stable (nbval compares it)
        return f"{self.title} (an interactive widget: run the notebook in JupyterLab to use it)"

    @property
    def png(self) -> bytes:
        """The figure now shown, as PNG bytes (``image.value`` is a memoryview)."""
        return bytes(self.image.value)

    @property
    def values(self) -> dict:
        return {name: c.value for name, c in self.controls.items()}

    def _on_change(self, change: dict) -> None:
        if not self._busy:
            self.redraw()

    def redraw(self) -> bool:
        """Redraw for the current control values; True if the figure changed. Never raises."""
        self._busy = True
        start, cpu_start = time.perf_counter(), time.thread_time()
        try:
            with _one_thread(), mpl.rc_context(_RC):
                info, key = self._update(self.values)
                png = self._render(key)
        except InvalidInput as err:
            self._show_problem("invalid", str(err))
            return False
        except Exception as err:  # noqa: BLE001 - a widget callback must never show a traceback
            text = f"could not redraw: {type(err).__name__}: {err}"
            self._show_problem("error", text[:200])
            self._background = None  # the canvas may be half drawn: draw it all next time
            return False
        finally:
            self._busy = False
            self.timings_ms.append(1000 * (time.perf_counter() - start))
            self.cpu_ms.append(1000 * (time.thread_time() - cpu_start))
        self.image.value, self.info.value = png, info
        self.status, self.problem, self.message.value = "ok", "", ""
        return True

    def _render(self, keys: AxesKeys) -> bytes:
        canvas, fig = self.fig.canvas, self.fig
        if not self._laid_out:  # constrained layout once, for the first titles and labels; then frozen
            for artist in self._animated:
                artist.set_animated(False)
            fig.set_layout_engine("constrained", w_pad=0.04, h_pad=0.04, wspace=0.04)
            canvas.draw()
            fig.set_layout_engine("none")
            for artist in self._animated:
                artist.set_animated(True)
            self._laid_out = True
        if keys is None or self._background is None:
            canvas.draw()  # everything but the animated artists
            renderer = canvas.get_renderer()
            self._boxes = {ax: ax.get_tightbbox(renderer) for ax in fig.axes}
        else:
            canvas.restore_region(self._background)
            renderer = canvas.get_renderer()
            for ax in fig.axes:
                if keys.get(ax) == self._keys.get(ax):
                    continue
                # This axes' limits changed: blank its old and new extent (up to its neighbours' extents, which
                # stay untouched) and draw it again.
                new_box = ax.get_tightbbox(renderer)
                box = Bbox.union([self._boxes[ax], new_box])
                slot = _slot(ax, self._boxes, fig.bbox)
                x0, x1 = max(box.x0 - 2, slot[0]), min(box.x1 + 2, slot[1])
                blank = Rectangle((x0, box.y0 - 2), x1 - x0, box.height + 4, transform=IdentityTransform(),
                                  facecolor=fig.get_facecolor(), edgecolor="none")
                blank.set_figure(fig)
                fig.draw_artist(blank)
                fig.draw_artist(ax)
                self._boxes[ax] = new_box
        self._keys = dict(keys or {})
        self._background = canvas.copy_from_bbox(fig.bbox) if self._animated else None
        for artist in self._animated:
            fig.draw_artist(artist)
        return _png(fig)

    def _show_problem(self, status: str, text: str) -> None:
        self.status, self.problem, self.message.value = status, text, _message_html(text)


def _slider_layout() -> W.Layout:
    return W.Layout(width="360px")


_STYLE = {"description_width": "110px"}
_TOGGLE_STYLE = {"button_width": "190px"}


def _labelled(label: str, control: W.Widget) -> W.HBox:
    """A control with its label on the same line, right-aligned like a slider's (a ToggleButtons' own
    description sits on a line of its own in JupyterLab)."""
    text = W.HTML(f'<div style="text-align:right; padding-right:8px">{html.escape(label)}</div>',
                  layout=W.Layout(width="118px"))
    return W.HBox([text, control])


# --------------------------------------------------------------------------------------------------
# Models and data, loaded once per kernel.

_MODELS: dict[str, nn.Module] = {}


def _load(name: str) -> nn.Module:
    if name not in _MODELS:
        _MODELS[name] = checkpoints.load(name)
    return _MODELS[name]


def _model_choices(cm: ModelSpec) -> dict[str, Callable[[], nn.Module]]:
    """label -> loader: the shipped CD and CT models by default (loaded when first shown)."""
    if cm is None:
        return {"distilled (CD)": lambda: _load("cd"), "trained from scratch (CT)": lambda: _load("ct")}
    if isinstance(cm, nn.Module):
        return {"consistency model": lambda: cm}
    return {label: (lambda m=m: m) for label, m in cm.items()}


@functools.lru_cache(maxsize=8)
def _reference(dataset: str, n: int) -> torch.Tensor:
    return data.sample(dataset, n, seed=REFERENCE_SEED)


@functools.lru_cache(maxsize=1)
def _training_sigma_data() -> float:
    """sigma_data of the shipped checkpoints' training set (the two moons)."""
    return data.estimate_sigma_data(checkpoints.training_data())


@functools.lru_cache(maxsize=8)
def _noise_floor(dataset: str, n: int) -> float:
    """The course's floor (cmlesson.yardstick's seeds) at the widget's n: what one redraw's W1 is divided by."""
    return metrics.noise_floor(lambda m, s: data.sample(dataset, m, seed=s), n=n)


def _fmt(x: float) -> str:
    return f"{x:.3g}"


# --------------------------------------------------------------------------------------------------
# 1. Schedule explorer (notebook 03)


INDEX_RANGES = (10, 20, 30, 50, 75, 100, 150, 200)  # x-axis ends of the level and gap panels: they move in steps


def _decades(values: np.ndarray) -> tuple[float, float]:
    """Whole decades that hold the positive ``values``: a log axis that moves only when a decade is crossed."""
    v = values[values > 0]
    lo, hi = (float(v.min()), float(v.max())) if v.size else (1e-3, 1.0)
    return 10.0 ** math.floor(math.log10(lo)), 10.0 ** math.ceil(math.log10(hi) + 1e-9)


@_course_style
def schedule_explorer(K: int | None = None) -> Explorer:
    """Schedule family, N, sigma_min, sigma_max and rho -> the levels, their gaps and the CT curriculum N(k).

    Introduced in notebook 03 (schedules and the discretization curriculum). ``K`` is the number of
    training steps on the curriculum's axis (default: the course's consistency-training steps).
    """
    ct_cfg, noise = ConsistencyTrainingConfig(), NoiseConfig()
    K, s0 = K or ct_cfg.steps, ct_cfg.s0
    controls = {
        "family": W.ToggleButtons(options=[("geometric (lesson)", "geometric"), ("Karras", "karras")], value="karras",
                                  style=_TOGGLE_STYLE),
        "N": W.IntSlider(value=DistillConfig().N, min=1, max=200, description="levels N", continuous_update=False,
                         layout=_slider_layout(), style=_STYLE),
        "sigma_min": W.FloatLogSlider(value=noise.sigma_min, base=10, min=-4, max=1, step=0.05, description="σ_min",
                                      readout_format=".3g", continuous_update=False, layout=_slider_layout(), style=_STYLE),
        "sigma_max": W.FloatLogSlider(value=noise.sigma_max, base=10, min=-1, max=3, step=0.05, description="σ_max",
                                      readout_format=".3g", continuous_update=False, layout=_slider_layout(), style=_STYLE),
        "rho": W.FloatSlider(value=noise.rho, min=1.0, max=15.0, step=0.5, description="ρ (Karras)",
                             continuous_update=False, layout=_slider_layout(), style=_STYLE),
    }
    c = controls
    rows = [_labelled("schedule", c["family"]), W.HBox([c["N"], c["rho"]]), W.HBox([c["sigma_min"], c["sigma_max"]])]

    def grey_out_rho(change: dict) -> None:
        c["rho"].disabled = change["new"] != "karras"

    c["family"].observe(grey_out_rho, names="value")

    fig, (ax_lv, ax_gap, ax_cur) = _new_figure(11, 3.4, 3)
    chosen_lv, = ax_lv.plot([], [], "o-", ms=3, color="C0", zorder=3)
    other_lv, = ax_lv.plot([], [], "o-", ms=2, color="C1", alpha=0.35)
    chosen_gap, = ax_gap.plot([], [], "o-", ms=3, color="C0", zorder=3)
    other_gap, = ax_gap.plot([], [], "o-", ms=2, color="C1", alpha=0.35)
    for ax in (ax_lv, ax_gap):
        ax.set_yscale("log")
        _no_minor_ticks(ax)
        ax.grid(alpha=0.3)
    ax_lv.set(xlabel="index i (0 = most noise)", ylabel=r"$\sigma_i$", title="Noise levels (log axis)")
    ax_gap.set(xlabel="index i", ylabel=r"$\sigma_i - \sigma_{i+1}$", title="Gap between adjacent levels (log axis)")
    sigma_data = _training_sigma_data()
    ax_lv.axhline(sigma_data, color="0.5", lw=0.8, ls="--")
    ax_lv.annotate(rf"$\sigma_\mathrm{{data}}$ = {sigma_data:.2f}", (0.98, sigma_data), xycoords=("axes fraction", "data"),
                   xytext=(0, 2), textcoords="offset points", ha="right", fontsize=8, color="0.35")
    lv_legend = ax_lv.legend([chosen_lv, other_lv], ["", ""], loc="lower left")

    ks = np.unique(np.linspace(0, K, 401).round().astype(int))
    ct_mine, = ax_cur.step(ks, np.zeros_like(ks), where="post", color="C0", zorder=3)
    ct_course, = ax_cur.step(ks, [schedules.ct_curriculum(int(k), K, s0, ct_cfg.s1) for k in ks], where="post", color="C2")
    ct_paper, = ax_cur.step(ks, [schedules.ct_curriculum(int(k), K, s0, 150) for k in ks], where="post", color="C4", alpha=0.7)
    lesson, = ax_cur.step(ks, [schedules.lesson_curriculum(int(k), K) for k in ks], where="post", color="C3", ls=":")
    ax_cur.set(xlabel=f"training step k (of K = {K})", ylabel="levels N(k)", title="CT curriculum N(k) (Song et al. 2023)")
    ax_cur.grid(alpha=0.3)
    cur_legend = ax_cur.legend(
        [ct_mine, ct_course, ct_paper, lesson],
        ["", f"course: s1 = {ct_cfg.s1}", "paper: s1 = 150", "lesson text (linear)"], loc="upper left")

    def make(family: str, N: int, sigma_min: float, sigma_max: float, rho: float) -> torch.Tensor:
        if family == "karras":
            return schedules.karras_sigmas(N, sigma_min, sigma_max, rho)
        return schedules.geometric_sigmas(N, sigma_min, sigma_max)

    def label(family: str, rho: float) -> str:
        return f"Karras, ρ = {rho:g}" if family == "karras" else "geometric (lesson)"

    def update(v: dict) -> str:
        family, N, sigma_min, sigma_max, rho = v["family"], v["N"], v["sigma_min"], v["sigma_max"], v["rho"]
        if N < 2:
            raise InvalidInput("N must be at least 2: a schedule needs both ends")
        if sigma_min >= sigma_max:
            raise InvalidInput("sigma_min must be < sigma_max")
        other = "geometric" if family == "karras" else "karras"
        mine, theirs = make(family, N, sigma_min, sigma_max, rho).numpy(), make(other, N, sigma_min, sigma_max, rho).numpy()
        idx, gaps_mine, gaps_theirs = np.arange(N), mine[:-1] - mine[1:], theirs[:-1] - theirs[1:]
        chosen_lv.set_data(idx, mine)
        other_lv.set_data(idx, theirs)
        chosen_gap.set_data(idx[:-1], gaps_mine)
        other_gap.set_data(idx[:-1], gaps_theirs)
        right = _step_up(N - 1, INDEX_RANGES)
        keys = {ax_cur: _step_up(1.05 * max(N, 151), (80, 160, 220))}
        for ax, values in ((ax_lv, np.concatenate([mine, theirs])), (ax_gap, np.concatenate([gaps_mine, gaps_theirs]))):
            lo, hi = _decades(values)
            ax.set_xlim(-0.5 - 0.02 * right, right + 0.5 + 0.02 * right)
            ax.set_ylim(lo, hi)
            keys[ax] = (right, lo, hi)
        ax_cur.set_ylim(0, keys[ax_cur])
        for text, name in zip(lv_legend.get_texts(), (label(family, rho), label(other, rho)), strict=True):
            text.set_text(name)
        if N >= s0 + 1:
            ct_mine.set_data(ks, [schedules.ct_curriculum(int(k), K, s0, N - 1) for k in ks])
            cur_legend.get_texts()[0].set_text(f"yours: s1 = N - 1 = {N - 1}")
        else:
            ct_mine.set_data([], [])
            cur_legend.get_texts()[0].set_text(f"yours: N = {N} < s0 + 1 = {s0 + 1}, no curriculum")
        below = int((mine < sigma_data).sum())
        ratio = float(np.max(mine[:-1] / mine[1:]))
        return (f"{label(family, rho)}: {N} levels from σ_max = {_fmt(sigma_max)} down to σ_min = {_fmt(sigma_min)}; "
                f"{below} of them below σ_data = {sigma_data:.2f} (the spread of the two moons), "
                f"largest ratio between neighbours {ratio:.3g}."), keys

    return Explorer("Schedule explorer", controls, rows, fig, update,
                    "move a control: levels, gaps and the curriculum redraw",
                    animated=[chosen_lv, other_lv, chosen_gap, other_gap, ct_mine, lv_legend, cur_legend])


# --------------------------------------------------------------------------------------------------
# 2. Step-count explorer (notebook 05)


def _parse_levels(text: str) -> list[float]:
    out = []
    for token in (t for t in re.split(r"[,\s;]+", text.strip()) if t):
        try:
            out.append(float(token))
        except ValueError:
            raise InvalidInput(f"could not read {token[:20]!r} as a number; write e.g. 2.0, 0.6") from None
    return out


def step_levels(placement: str, steps: int, hand: str, sigma_min: float, sigma_max: float, sigma_data: float,
                rho: float = NoiseConfig.rho) -> list[float]:
    """The levels a ``steps``-step consistency sampler visits (sigma_max first), or :class:`InvalidInput`."""
    if placement == "hand":
        inner = _parse_levels(hand)
        if len(inner) > 9:
            raise InvalidInput(f"at most 9 intermediate sigmas (10 steps), got {len(inner)}")
        if any(not (sigma_min < s < sigma_max) or not math.isfinite(s) for s in inner):
            raise InvalidInput(f"intermediate sigmas must lie between σ_min = {_fmt(sigma_min)} and σ_max = {_fmt(sigma_max)}")
        if any(b >= a for a, b in zip(inner, inner[1:], strict=False)):
            raise InvalidInput("intermediate sigmas must be decreasing, e.g. 2.0, 0.6")
        return [sigma_max, *inner]
    if not 1 <= steps <= 10:
        raise InvalidInput(f"steps must be between 1 and 10, got {steps}")
    if placement == "course":
        return samplers.multistep_sigmas(steps, sigma_min, sigma_max, sigma_data)
    if steps == 1:
        return [sigma_max]
    if placement == "karras":
        return schedules.karras_sigmas(steps + 1, sigma_min, sigma_max, rho)[:-1].tolist()
    if placement == "geometric":
        return schedules.geometric_sigmas(steps + 1, sigma_min, sigma_max)[:-1].tolist()
    raise InvalidInput(f"unknown placement {placement!r}")


def teacher_levels(steps: int, sigma_min: float, sigma_max: float, rho: float = NoiseConfig.rho) -> torch.Tensor:
    """``steps`` Heun steps of the teacher's ODE: a Karras grid of ``steps`` levels, then 0."""
    if steps == 1:
        return torch.tensor([sigma_max, 0.0])
    return schedules.append_zero(schedules.karras_sigmas(steps, sigma_min, sigma_max, rho))


def _scatter_axes(ax, title: str, color: str):
    art = ax.scatter(np.zeros(0), np.zeros(0), s=3, alpha=0.6, color=color, linewidths=0)
    ax.set_xlim(MOONS_LIMITS[0], MOONS_LIMITS[1])
    ax.set_ylim(MOONS_LIMITS[2], MOONS_LIMITS[3])
    ax.set_aspect("equal")
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title=title)
    return art


@_course_style
def step_explorer(cm: ModelSpec = None, teacher: nn.Module | None = None, dataset: str = "moons") -> Explorer:
    """Number of consistency steps (1-10) and where the intermediate sigmas sit -> samples beside the data.

    Introduced in notebook 05 (Exercise 2, the quality ladder). Shows the consistency model's samples,
    the data, and the teacher's samples with a chosen number of Heun steps, each with its exact 2-D W1
    to the data and the noise floor. ``cm`` (a model or ``{label: model}``) and ``teacher`` default to
    the shipped checkpoints; ``dataset`` is what they were trained on.
    """
    choices = _model_choices(cm)
    get_teacher = (lambda: teacher) if teacher is not None else (lambda: _load("teacher"))
    rho = NoiseConfig().rho
    controls = {
        "model": W.ToggleButtons(options=list(choices), style=_TOGGLE_STYLE),
        "steps": W.IntSlider(value=2, min=1, max=10, description="CM steps", continuous_update=False,
                             layout=_slider_layout(), style=_STYLE),
        "placement": W.Dropdown(options=[("course levels (notebook 05)", "course"), (f"Karras, ρ = {rho:g}", "karras"),
                                         ("geometric", "geometric"), ("by hand ->", "hand")],
                                value="course", description="levels", style=_STYLE, layout=W.Layout(width="360px")),
        "hand": W.Text(value="1.5, 0.5", description="intermediate σ", placeholder="decreasing, e.g. 2.0, 0.6",
                       continuous_update=False, disabled=True, style=_STYLE, layout=W.Layout(width="360px")),
        "teacher_steps": W.IntSlider(value=BenchConfig().teacher_steps, min=1, max=40, description="teacher steps",
                                     continuous_update=False, layout=_slider_layout(), style=_STYLE),
    }
    c = controls
    rows = [_labelled("model", c["model"]), W.HBox([c["steps"], c["teacher_steps"]]), W.HBox([c["placement"], c["hand"]])]

    def toggle_hand(change: dict) -> None:
        c["hand"].disabled = change["new"] != "hand"
        c["steps"].disabled = change["new"] == "hand"

    c["placement"].observe(toggle_hand, names="value")

    reference = _reference(dataset, N_POINTS)
    floor = _noise_floor(dataset, N_POINTS)
    cache: dict[tuple, tuple[np.ndarray, float]] = {}

    fig, axes = _new_figure(11, 3.3, 3)
    data_art = _scatter_axes(axes[0], f"data ({N_POINTS} independent points)", DATA_COLOR)
    data_art.set_offsets(reference.numpy())
    cm_art = _scatter_axes(axes[1], "", "C0")
    teacher_art = _scatter_axes(axes[2], "", "C1")
    suptitle = fig.suptitle("", fontsize=10)

    def cm_samples(label: str, levels: list[float]) -> tuple[np.ndarray, float]:
        key = ("cm", label, tuple(round(s, 9) for s in levels))
        if key not in cache:
            model = choices[label]()
            g = torch.Generator().manual_seed(SEED)
            x = samplers.sample_consistency(model, samplers.noise(N_POINTS, 2, levels[0], g), levels, generator=g)
            cache[key] = (x.numpy(), metrics.wasserstein_2d(x, reference))
        return cache[key]

    def teacher_samples(steps: int) -> tuple[np.ndarray, float]:
        key = ("teacher", steps)
        if key not in cache:
            model = get_teacher()
            g = torch.Generator().manual_seed(SEED)
            levels = teacher_levels(steps, model.sigma_min, model.sigma_max, rho)
            x = samplers.sample_heun(model, samplers.noise(N_POINTS, 2, model.sigma_max, g), levels)
            cache[key] = (x.numpy(), metrics.wasserstein_2d(x, reference))
        return cache[key]

    def update(v: dict) -> tuple[str, Hashable]:
        model = choices[v["model"]]()
        levels = step_levels(v["placement"], v["steps"], v["hand"], model.sigma_min, model.sigma_max, model.sigma_data, rho)
        k, t = len(levels), v["teacher_steps"]
        x_cm, w_cm = cm_samples(v["model"], levels)
        x_t, w_t = teacher_samples(t)
        cm_art.set_offsets(x_cm)
        teacher_art.set_offsets(x_t)
        evals = 2 * t - 1
        axes[1].set_title(f"consistency model, {k} step{'s' * (k > 1)} ({k} evaluation{'s' * (k > 1)})\n"
                          f"W1 = {w_cm:.3f} = {w_cm / floor:.2f} x floor")
        axes[2].set_title(f"teacher, {t} Heun step{'s' * (t > 1)} ({evals} evaluation{'s' * (evals > 1)})\n"
                          f"W1 = {w_t:.3f} = {w_t / floor:.2f} x floor")
        suptitle.set_text(f"{v['model']}: levels σ = " + ", ".join(_fmt(s) for s in levels))
        return (f"Exact 2-D W1 to the data ({N_POINTS} vs {N_POINTS} points): consistency model <b>{w_cm:.4f}</b>, "
                f"teacher <b>{w_t:.4f}</b>; noise floor <b>{floor:.4f}</b> (two independent samples of the data: "
                f"what a perfect generator would score)."), dict.fromkeys(axes, "fixed")  # the axes never change

    return Explorer("Step-count explorer", controls, rows, fig, update,
                    "how many consistency steps, and at which noise levels?",
                    animated=[cm_art, teacher_art, axes[1].title, axes[2].title, suptitle])


# --------------------------------------------------------------------------------------------------
# 3. Trajectory explorer (notebook 01)

# Axis ranges come in steps, so that most changes of sigma keep the axes (and redraw only the data).
WINDOWS = (1.5, 2, 3, 4, 6, 8, 12, 16, 25, 40, 60, 100, 150, 250, 400, 1000)  # half-width of the noisy panel
ERROR_SCALES = (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)  # top of the consistency-error panel


def _step_up(value: float, steps: Sequence[float]) -> float:
    """The smallest of ``steps`` >= value (the largest if none is)."""
    return next((s for s in steps if s >= value), steps[-1])


ODE_LEVELS = 25  # Karras grid the teacher's Heun solver follows from sigma down to sigma_min
MAX_POINTS = 32


def teacher_path(teacher: nn.Module, x: torch.Tensor, sigma: float,
                 rho: float = NoiseConfig.rho) -> tuple[torch.Tensor, torch.Tensor]:
    """The teacher's PF-ODE path from level ``sigma`` to sigma_min: (levels (L,), points (L, n, 2))."""
    grid = schedules.karras_sigmas(ODE_LEVELS, teacher.sigma_min, sigma, rho)
    path = [x]
    samplers.sample_heun(teacher, x, grid, callback=lambda d: path.append(d["x"]))
    return grid, torch.stack(path)


@_course_style
def trajectory_explorer(cm: ModelSpec = None, teacher: nn.Module | None = None, dataset: str = "moons") -> Explorer:
    """Pick a noise level -> noisy points, their teacher ODE paths, and where the consistency function sends them.

    Introduced in notebook 01 (the consistency property): f(x_sigma, sigma) should land where the ODE
    through x_sigma ends, for every sigma on the path. ``cm`` (a model or ``{label: model}``) and
    ``teacher`` default to the shipped checkpoints.
    """
    choices = _model_choices(cm)
    get_teacher = (lambda: teacher) if teacher is not None else (lambda: _load("teacher"))
    sigma_max = choices[next(iter(choices))]().sigma_max
    rho = NoiseConfig().rho
    controls = {
        "sigma": W.FloatLogSlider(value=2.0, base=10, min=-2, max=math.log10(sigma_max), step=0.05, description="noise level σ",
                                  readout_format=".3g", continuous_update=False, layout=_slider_layout(), style=_STYLE),
        "n_points": W.IntSlider(value=12, min=1, max=MAX_POINTS, description="points", continuous_update=False,
                                layout=_slider_layout(), style=_STYLE),
        "model": W.ToggleButtons(options=list(choices), style=_TOGGLE_STYLE),
    }
    c = controls
    rows = [W.HBox([c["sigma"], c["n_points"]]), _labelled("model", c["model"])]

    g = torch.Generator().manual_seed(SEED + 7)
    x0 = data.sample(dataset, MAX_POINTS, seed=SEED + 7)
    z = torch.randn(MAX_POINTS, 2, generator=g)
    background = _reference(dataset, N_POINTS).numpy()
    colors = np.array([mpl.colors.to_rgba(f"C{j % 10}") for j in range(MAX_POINTS)])
    center = (background.max(0) + background.min(0)) / 2
    cache: dict[tuple, tuple] = {}

    fig, (ax_noisy, ax_path, ax_err) = _new_figure(11, 3.6, 3)
    for ax in (ax_noisy, ax_path):
        ax.scatter(background[:, 0], background[:, 1], s=2, color=DATA_COLOR, alpha=0.35, linewidths=0)
        ax.set_aspect("equal")
        ax.set(xlabel="$x_1$", ylabel="$x_2$")
    noisy_art = ax_noisy.scatter(np.zeros(0), np.zeros(0), s=14, linewidths=0)
    ax_path.set_xlim(MOONS_LIMITS[0], MOONS_LIMITS[1])
    ax_path.set_ylim(MOONS_LIMITS[2], MOONS_LIMITS[3])
    ax_path.set_title("teacher ODE paths (lines), their ends (★)\nand the consistency model's f(x, σ) (×)")
    paths_art = LineCollection([], linewidths=1, alpha=0.8)
    ax_path.add_collection(paths_art)
    ends_art = ax_path.scatter(np.zeros(0), np.zeros(0), marker="*", s=70, linewidths=0, zorder=4)
    cm_art = ax_path.scatter(np.zeros(0), np.zeros(0), marker="x", s=30, color="black", linewidths=1.2, zorder=5)
    err_art = LineCollection([], linewidths=1, alpha=0.8)
    ax_err.add_collection(err_art)
    ax_err.set_xscale("log")
    ax_err.set_xlim(sigma_max * 1.5, choices[next(iter(choices))]().sigma_min / 1.5)  # high noise left, as a sampler goes
    _no_minor_ticks(ax_err)
    ax_err.set(xlabel=r"noise level $t$ along the path", ylabel=r"$\|f(x_t, t) - x_{\sigma_\min}\|$",
               title="consistency along each path\n(0 everywhere = the consistency property)")
    ax_err.grid(alpha=0.3)

    def compute(label: str, sigma: float) -> tuple:
        key = (label, round(sigma, 9))
        if key not in cache:
            model, tea = choices[label](), get_teacher()
            x = x0 + sigma * z
            grid, path = teacher_path(tea, x, sigma, rho)
            L, n = path.shape[:2]
            with torch.no_grad():
                f_path = model(path.reshape(L * n, 2), grid.repeat_interleave(n)).reshape(L, n, 2)
            err = (f_path - path[-1]).norm(dim=-1)  # (L, n)
            cache[key] = (x.numpy(), grid.numpy(), path.numpy(), f_path[0].numpy(), err.numpy())
        return cache[key]

    def update(v: dict) -> tuple[str, Hashable]:
        sigma, n, label = v["sigma"], v["n_points"], v["model"]
        model = choices[label]()
        if not model.sigma_min < sigma <= model.sigma_max * (1 + 1e-6):
            raise InvalidInput(f"σ must lie in (σ_min, σ_max] = ({_fmt(model.sigma_min)}, {_fmt(model.sigma_max)}]")
        if not 1 <= n <= MAX_POINTS:
            raise InvalidInput(f"points must be between 1 and {MAX_POINTS}")
        x, grid, path, f_start, err = compute(label, min(sigma, model.sigma_max))
        x, path, f_start, err, col = x[:n], path[:, :n], f_start[:n], err[:, :n], colors[:n]
        noisy_art.set_offsets(x)
        noisy_art.set_facecolor(col)
        half = _step_up(1.1 * float(np.abs(np.concatenate([x, background]) - center).max()), WINDOWS)
        ax_noisy.set_xlim(center[0] - half, center[0] + half)  # a square window: equal aspect, square box
        ax_noisy.set_ylim(center[1] - half, center[1] + half)
        ax_noisy.set_title(f"{n} noisy points $x_0 + \\sigma z$, σ = {_fmt(sigma)}\n(grey: the data)")
        paths_art.set_segments([path[:, j] for j in range(n)])
        paths_art.set_color(col)
        ends_art.set_offsets(path[-1])
        ends_art.set_facecolor(col)
        cm_art.set_offsets(f_start)
        err_art.set_segments([np.stack([grid, err[:, j]], axis=1) for j in range(n)])
        err_art.set_color(col)
        err_top = _step_up(1.1 * float(err.max()), ERROR_SCALES)
        ax_err.set_ylim(0, err_top)
        gap = float(np.linalg.norm(f_start - path[-1], axis=1).mean())
        lo, hi = np.array(MOONS_LIMITS[0::2]), np.array(MOONS_LIMITS[1::2])
        note = "" if bool(np.all((x > lo) & (x < hi))) else " (paths start outside the middle panel: see the left one)"
        return (f"{label} at σ = {_fmt(sigma)}: f(x, σ) lands on average <b>{gap:.3f}</b> from where the teacher's ODE "
                f"through x ends{note}; the data's spread is σ_data = {model.sigma_data:.2f}."), \
            {ax_noisy: half, ax_path: "fixed", ax_err: err_top}

    return Explorer("Trajectory explorer", controls, rows, fig, update,
                    "pick a noise level: does the consistency function jump to the end of each ODE path?",
                    animated=[noisy_art, paths_art, ends_art, cm_art, err_art, ax_noisy.title])


# --------------------------------------------------------------------------------------------------
# 4. Digit explorer (notebook 09)

DIGIT_ROWS, DIGIT_COLS = 4, 8  # tiles in the grid: 32 samples per redraw
DIGIT_STRIP = data.DIGITS_SIDE // 2  # blank pixel rows under each tile for its reading (as plotting.image_grid's)
MAX_DIGITS = DIGIT_ROWS  # several requested digits share the grid, one row each
MAX_STEPS = 4


def parse_digits(text: str) -> list[int]:
    """'7' or '1, 4, 7' -> [7] or [1, 4, 7]; :class:`InvalidInput` with a short message otherwise."""
    parts = [p for p in re.split(r"[\s,;]+", text.strip()) if p]
    if not parts or not all(re.fullmatch(r"\d", p) for p in parts):
        raise InvalidInput(f"digits: type one to {MAX_DIGITS} digits 0-9, e.g. 7 or 1, 4, 7 (got {text.strip()!r})")
    if len(parts) > MAX_DIGITS:
        raise InvalidInput(f"digits: at most {MAX_DIGITS} at once, one row each (got {len(parts)})")
    return [int(p) for p in parts]


def digit_tiles(digits: Sequence[int]) -> torch.Tensor:
    """The requested digit of each of the 32 tiles, row by row: one digit fills the grid, several share its rows."""
    rows = [digits[r * len(digits) // DIGIT_ROWS] for r in range(DIGIT_ROWS)]
    return torch.tensor(rows).repeat_interleave(DIGIT_COLS)


def _mosaic(images: np.ndarray, side: int = data.DIGITS_SIDE) -> np.ndarray:
    """Rows of side*side pixels -> one canvas of DIGIT_ROWS x DIGIT_COLS tiles, -1 between tiles and in a blank strip
    of DIGIT_STRIP rows under each tile, where the explorer writes the classifier's reading (clear of the ink)."""
    pitch = side + 1 + DIGIT_STRIP
    canvas = np.full((DIGIT_ROWS * pitch + 1, DIGIT_COLS * (side + 1) + 1), -1.0)
    for i, img in enumerate(images.reshape(-1, side, side)):
        r, c = divmod(i, DIGIT_COLS)
        canvas[1 + r * pitch: 1 + r * pitch + side, 1 + c * (side + 1): 1 + c * (side + 1) + side] = img
    return canvas


@_course_style
def digit_explorer(cm: nn.Module | None = None, codec: nn.Module | None = None, classifier: nn.Module | None = None) -> Explorer:
    """Digit(s), guidance scale w and 1-4 steps -> 32 fresh samples of the guided latent consistency model, each read
    by the classifier.

    Introduced in notebook 09 (guidance and latent consistency models). ``cm`` (f(x, sigma, label, w)), ``codec``
    (PCA encoder/decoder) and ``classifier`` (p(c | x) of 64-pixel images) default to the shipped checkpoints.
    "new samples" draws fresh noise; the same settings and seed always give the same grid.
    """
    cm = cm if cm is not None else _load("digits_lcm")
    codec = codec if codec is not None else _load("digits_pca")
    classifier = classifier if classifier is not None else _load("digits_classifier")
    w_max = float(getattr(cm.backbone, "max_guidance", 4.0))
    controls = {
        "w": W.FloatSlider(value=2.0, min=0.0, max=w_max, step=0.25, description="guidance w", readout_format=".2f",
                           continuous_update=False, layout=_slider_layout(), style=_STYLE),
        "steps": W.IntSlider(value=2, min=1, max=MAX_STEPS, description="steps", continuous_update=False,
                             layout=_slider_layout(), style=_STYLE),
        "digits": W.Text(value="7", description="digits", placeholder="e.g. 7 or 1, 4, 7", continuous_update=False,
                         style=_STYLE, layout=W.Layout(width="360px")),
        "seed": W.IntText(value=SEED, description="noise seed", style=_STYLE, layout=W.Layout(width="220px")),
    }
    new = W.Button(description="new samples", tooltip="draw fresh noise (noise seed + 1)")
    new.on_click(lambda _: setattr(controls["seed"], "value", controls["seed"].value + 1))
    c = controls
    rows = [W.HBox([c["w"], c["steps"]]), W.HBox([c["digits"], c["seed"], new])]

    fig, ax = _new_figure(7.2, 3.9, 1)
    side = data.DIGITS_SIDE
    image = ax.imshow(_mosaic(np.full((DIGIT_ROWS * DIGIT_COLS, side * side), -1.0), side), cmap="gray_r",
                      vmin=-1, vmax=1, interpolation="nearest")
    ax.set_axis_off()  # no ticks, no frame: the tiles' own borders separate them
    pitch = side + 1 + DIGIT_STRIP
    texts = [ax.text((i % DIGIT_COLS) * (side + 1) + (side + 1) / 2, (i // DIGIT_COLS) * pitch + side + (DIGIT_STRIP + 1) / 2,
                     "", color="C3", fontsize=9, va="center", ha="center") for i in range(DIGIT_ROWS * DIGIT_COLS)]
    ax.set_title(" ")
    cache: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def samples(digits: tuple[int, ...], w: float, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        key = (digits, round(w, 6), steps, seed)
        if key not in cache:
            labels = digit_tiles(digits)
            g = torch.Generator().manual_seed(seed)
            levels = samplers.multistep_sigmas(steps, cm.sigma_min, cm.sigma_max, cm.sigma_data)
            with torch.no_grad():
                z = lcm.sample_guided_consistency(cm, samplers.noise(len(labels), codec.dim, cm.sigma_max, g), levels,
                                                  labels, w, generator=g)
                x = codec.decode(z).clamp(-1, 1)
                p = classifier(x)
            cache[key] = (x.numpy(), p.numpy(), labels.numpy())
        return cache[key]

    def update(v: dict) -> tuple[str, Hashable]:
        digits = tuple(parse_digits(v["digits"]))
        w, steps, seed = float(v["w"]), int(v["steps"]), v["seed"]
        if not 0 <= w <= w_max:
            raise InvalidInput(f"guidance w must lie in [0, {w_max:g}], the range the model was trained on")
        if not 1 <= steps <= MAX_STEPS:
            raise InvalidInput(f"steps must be between 1 and {MAX_STEPS}")
        if not isinstance(seed, int) or seed < 0:
            raise InvalidInput("noise seed must be a whole number >= 0")
        x, p, labels = samples(digits, w, steps, seed)
        image.set_data(_mosaic(x))
        read, conf = p.argmax(1), p.max(1) >= CONFIDENT
        for t, d, ok in zip(texts, read, conf, strict=True):
            t.set_text(str(d) if ok else "?")
        asked = ", ".join(map(str, digits))
        ax.set_title(f"asked for {asked}; w = {w:g}, {steps} step{'s' * (steps > 1)} ({steps} evaluation{'s' * (steps > 1)})\n"
                     f"red, under each tile: the classifier's reading ('?' below confidence {CONFIDENT:g})")
        n, hits = len(read), int((read == labels).sum())
        return (f"<b>{hits} of {n}</b> tiles read as the requested digit, <b>{int(conf.sum())} of {n}</b> with confidence "
                f">= {CONFIDENT:g} (noise seed {seed}). w = 0 ignores the request; w = 1 is plain conditional "
                f"sampling; larger w trades variety for fidelity."), {ax: "fixed"}

    return Explorer("Digit explorer", controls, rows, fig, update,
                    "ask the guided latent consistency model for a digit",
                    animated=[image, *texts, ax.title])


# --------------------------------------------------------------------------------------------------
# Latency benchmark

_CHANGES: dict[str, list[tuple[str, object]]] = {
    "schedule_explorer": [("N", 10), ("N", 40), ("N", 90), ("rho", 3.0), ("rho", 12.0), ("sigma_min", 0.01),
                          ("sigma_max", 20.0), ("family", "geometric")],
    "step_explorer": [("steps", 1), ("steps", 3), ("steps", 5), ("steps", 8), ("placement", "karras"),
                      ("teacher_steps", 10), ("teacher_steps", 30), ("model", "trained from scratch (CT)")],
    "trajectory_explorer": [("sigma", 0.1), ("sigma", 0.5), ("sigma", 5.0), ("sigma", 40.0), ("n_points", 24),
                            ("model", "trained from scratch (CT)")],
    "digit_explorer": [("w", 1.0), ("w", 3.0), ("steps", 1), ("steps", 4), ("digits", "3"), ("digits", "1, 4, 7"),
                       ("seed", 1), ("seed", 2)],
}


def latency_samples(factories: Mapping[str, Callable[[], Explorer]] | None = None, clock: str = "wall") -> dict[str, list[float]]:
    """Build each explorer, make the changes in ``_CHANGES`` (each a first visit, so no cache hit) and return
    the milliseconds of every redraw, from setting the value to the new PNG bytes. ``clock="wall"``: elapsed
    time (what a student waits, inflated when other processes share the CPUs); ``"cpu"``: this thread's CPU
    time (what the redraw costs on an otherwise idle core)."""
    if clock not in ("wall", "cpu"):
        raise ValueError(f"clock must be 'wall' or 'cpu', got {clock!r}")
    factories = factories or {"schedule_explorer": schedule_explorer, "step_explorer": step_explorer,
                              "trajectory_explorer": trajectory_explorer, "digit_explorer": digit_explorer}
    out = {}
    for name, factory in factories.items():
        ex = factory()
        before = len(ex.timings_ms)
        for control, value in _CHANGES[name]:
            if control in ex.controls and value in _options(ex.controls[control], value):
                ex.controls[control].value = value
                if ex.status != "ok":
                    raise RuntimeError(f"{name} failed while being measured: {ex.problem}")
        out[name] = (ex.timings_ms if clock == "wall" else ex.cpu_ms)[before:]
    return out


def _options(control: W.Widget, value: object) -> list:
    labels = getattr(control, "options", None)
    if labels is None:
        return [value]
    return [o[1] if isinstance(o, tuple) else o for o in labels]


def measure_latency(clock: str = "wall") -> dict[str, float]:
    """Median redraw milliseconds per explorer with the shipped checkpoints (``python -m cmlesson bench``).

    The target is 250 ms on a 2-core CPU. ``clock``: "wall" (default) or "cpu", see :func:`latency_samples`.
    """
    return {name: statistics.median(ms) for name, ms in latency_samples(clock=clock).items()}
