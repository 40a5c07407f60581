"""The class report (``python -m cmlesson grade ... --report class.html``): one self-contained HTML file.

It shows the score distribution of every exercise (matplotlib PNGs, inline as ``data:`` URIs), the most frequent
findings of the checks grouped by kind with their counts (a check's :attr:`Result.kind`, or its reason with the
numbers taken out), the submissions that timed out, failed or were invalid, and the similarity pairs. Nothing is
loaded from anywhere: no script, no external style sheet, no font; every text from a submission is escaped.
"""

from __future__ import annotations

import base64
import html
import io
import re
import time
from collections import Counter, defaultdict

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import exercises
from .similarity import Pair

EXAMPLE_FILES = 6  # files named per mistake
NUMBER = re.compile(r"(?<![\w.^])[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?(?![\w.]|-D\b)", re.I)  # not x^2, 2-D
QUOTED = re.compile(r"'[^']{0,80}'|\"[^\"]{0,80}\"")

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 72em; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.grid { display: flex; flex-wrap: wrap; gap: 0.8em; }
figure { margin: 0; border: 1px solid #e3e3e3; padding: 0.3em; } figcaption { font-size: 0.85em; color: #555; }
.muted { color: #666; } .bad { color: #a40000; } code { font-size: 0.95em; }
"""


def mistake_kind(result) -> str:
    """The kind of a check's finding, the same for every student: its ``kind``, else its reason without numbers."""
    if getattr(result, "kind", ""):
        return result.kind
    return QUOTED.sub("'…'", NUMBER.sub("#", result.reason)).strip() or result.status


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def score_plot(ex_id: str, scores: list[int]) -> str:
    """A bar chart of how many submissions got each score of ``ex_id``, as a data: URI."""
    ex = exercises.EXERCISES[ex_id]
    values = np.arange(ex.points + 1)
    counts = [sum(s == v for s in scores) for v in values]
    fig = Figure(figsize=(3.3, 2.2), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    colors = ["#c44e52" if v == 0 else "#55a868" if v == ex.points else "#dd8452" for v in values]
    ax.bar(values, counts, color=colors, width=0.7)
    ax.set_xticks(values)
    ax.set_xlabel(f"score (of {ex.points})")
    ax.set_ylabel("submissions")
    ax.set_title(ex_id, fontsize=10)
    ax.set_ylim(0, max(counts + [1]) * 1.15)
    for v, c in zip(values, counts, strict=True):
        ax.text(v, c, str(c), ha="center", va="bottom", fontsize=8)
    return _png(fig)


def total_plot(rows) -> str:
    """A histogram of the graded submissions' totals as a share of their maximum, as a data: URI."""
    shares = [r.total / r.max_total for r in rows if r.max_total]
    fig = Figure(figsize=(4.5, 2.4), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.hist(shares, bins=np.linspace(0, 1, 11), color="#4c72b0", edgecolor="white")
    ax.set_xlabel("total score / maximum")
    ax.set_ylabel("submissions")
    ax.set_title("all exercises", fontsize=10)
    return _png(fig)


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td class='n'>{c}</td>" if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def mistakes(rows) -> dict[str, list[tuple[str, int, str, list[str]]]]:
    """{exercise: [(kind, count, an example reason, files)]} of the findings that cost points, most frequent first."""
    found: dict[str, dict[str, list]] = defaultdict(dict)
    for row in rows:
        for ex_id, result in row.results.items():
            if result.score >= result.max_score:
                continue
            kind = mistake_kind(result)
            entry = found[ex_id].setdefault(kind, [0, result.reason, []])
            entry[0] += 1
            entry[2].append(row.file)
    return {ex_id: sorted(((k, n, example, files) for k, (n, example, files) in kinds.items()), key=lambda t: (-t[1], t[0]))
            for ex_id, kinds in found.items()}


def html_report(rows, pairs: list[Pair], seconds: float, threshold: float, title: str = "Class report") -> str:
    """The whole report as one HTML document (UTF-8, no external resource)."""
    counts = Counter(r.status for r in rows)
    graded = [r for r in rows if r.results]
    parts = [f"<h1>{_e(title)}</h1>",
             f"<p class='muted'>{len(rows)} submissions, graded in {seconds:.0f} s; written "
             f"{_e(time.strftime('%Y-%m-%d %H:%M'))} by <code>python -m cmlesson grade</code>.</p>",
             _table(["status", "submissions"], [[_e(s), str(counts.get(s, 0))] for s in ("ok", "timeout", "error", "invalid")],
                    {1})]

    parts.append("<h2>Score distributions</h2>")
    figures = []
    if graded:
        figures.append(f"<figure><img alt='the distribution of the total scores' src='{total_plot(graded)}'>"
                       "<figcaption>total score, as a share of each submission's maximum</figcaption></figure>")
    summary = []
    for ex_id, ex in exercises.EXERCISES.items():
        scores = [r.results[ex_id].score for r in rows if ex_id in r.results]
        if not scores:
            continue
        figures.append(f"<figure><img alt='the scores of {_e(ex_id)}' src='{score_plot(ex_id, scores)}'>"
                       f"<figcaption>{_e(ex.description)} (notebook {_e(ex.notebook)})</figcaption></figure>")
        summary.append([f"<code>{_e(ex_id)}</code>", _e(ex.notebook), str(len(scores)), f"{np.mean(scores):.2f} / {ex.points}",
                        str(sum(s == ex.points for s in scores)), str(sum(s == 0 for s in scores))])
    if figures:
        parts.append("<div class='grid'>" + "".join(figures) + "</div>")
        parts.append(_table(["exercise", "notebook", "graded", "mean", "full marks", "zero"], summary, {2, 3, 4, 5}))
    else:
        parts.append("<p>No submission was graded.</p>")

    parts.append("<h2>Most frequent mistakes</h2>")
    found = mistakes(rows)
    if not found:
        parts.append("<p>No exercise lost points.</p>")
    for ex_id in exercises.EXERCISES:
        if ex_id not in found:
            continue
        parts.append(f"<h3><code>{_e(ex_id)}</code>: {_e(exercises.EXERCISES[ex_id].description)}</h3>")
        table = []
        for kind, n, example, files in found[ex_id]:
            shown = ", ".join(_e(f) for f in files[:EXAMPLE_FILES]) + (f" and {len(files) - EXAMPLE_FILES} more"
                                                                        if len(files) > EXAMPLE_FILES else "")
            table.append([str(n), _e(kind), _e(example), shown])
        parts.append(_table(["count", "kind", "one reason in full", "files"], table, {0}))

    parts.append("<h2>Timeouts, errors and invalid files</h2>")
    trouble = [r for r in rows if r.status != "ok" or r.note]
    if trouble:
        order = {"timeout": 0, "error": 1, "invalid": 2, "ok": 3}
        parts.append(_table(["file", "status", "score", "note"],
                            [[_e(r.file), f"<span class='bad'>{_e(r.status)}</span>" if r.status != "ok" else _e(r.status),
                              f"{r.total}/{r.max_total}", _e(r.note)]
                             for r in sorted(trouble, key=lambda r: (order.get(r.status, 9), r.file))], {2}))
    else:
        parts.append("<p>Every notebook ran to its end without a note.</p>")

    parts.append(f"<h2>Similar code (share of {threshold:.0%} or more)</h2>")
    if pairs:
        parts.append(_table(["exercise", "a", "b", "share", "matched fingerprints"],
                            [[f"<code>{_e(p.exercise)}</code>", _e(p.a), _e(p.b), f"{p.share:.0%}", str(p.matched)]
                             for p in pairs], {3, 4}))
        parts.append("<p class='muted'>b in parentheses is a reference: the package's own answer, or the course's "
                     "solution notebook; there the share is that of the student's code found in it.</p>")
    else:
        parts.append("<p>No pair of submissions, and no submission and reference, share that much of an exercise's code.</p>")
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{STYLE}</style></head>"
            f"<body>\n{body}\n</body></html>\n")
