"""Where the course lives, and how a notebook opened anywhere reaches it: the repository, the tag, the badges, the setup cell.

This module is the one place that names the course's repository and the version notebooks install: the setup cell
and the badges of every notebook and of the README are generated from it by ``python -m cmlesson student
--sync-setup`` (:func:`cmlesson.authoring.student.sync_setup`). A fork changes :data:`REPOSITORY`, then runs that command.

The setup cell is plain Python (the notebooks hold no IPython magics) and needs nothing but the standard library:
it runs before cmlesson exists in the kernel.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from .. import __version__
from . import hosted

REPOSITORY = "cmlesson/cmlesson"  # GitHub owner/name of the course
TAG = f"v{__version__}"  # the git tag of this version: badges open it, the setup cell installs it
SOURCE_ENV = "CMLESSON_SOURCE"  # set to a path or URL, it replaces the repository as what the setup cell installs
SETUP_CELL_ID = "cmlesson-setup"  # the setup cell's id in every notebook: how the generator finds it again
STUDENT_FOLDER = "notebooks"  # badges open the student notebooks


def archive_url() -> str:
    """The repository at :data:`TAG` as a zip archive: what pip installs (no git needed on the runtime)."""
    return f"https://github.com/{REPOSITORY}/archive/refs/tags/{TAG}.zip"


def colab_url(path: str) -> str:
    """Open ``path`` (a notebook, relative to the repository root) in Google Colab, at :data:`TAG`."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{TAG}/{path}"


def kaggle_url(path: str) -> str:
    """Open ``path`` in Kaggle: its "welcome" link takes the notebook's raw GitHub URL."""
    return f"https://kaggle.com/kernels/welcome?src=https://raw.githubusercontent.com/{REPOSITORY}/{TAG}/{path}"


def binder_url(path: str) -> str:
    """Open ``path`` in JupyterLab on mybinder.org (built from environment.yml and postBuild at :data:`TAG`)."""
    return f"https://mybinder.org/v2/gh/{REPOSITORY}/{TAG}?labpath={quote(path, safe='')}"


BADGE_IMAGES = {
    "Open In Colab": ("https://colab.research.google.com/assets/colab-badge.svg", colab_url),
    "Open In Kaggle": ("https://kaggle.com/static/images/open-in-kaggle.svg", kaggle_url),
    "Launch Binder": ("https://mybinder.org/badge_logo.svg", binder_url),
}
BADGE_PREFIX = "[![Open In Colab]"  # how a badge line starts: the generator replaces such a line, never adds a second
TIMES_FILE = "solutions/running_times.json"  # relative to the root; written by `make bench-readme` (bench.write_times)


def badges(name: str) -> str:
    """The three badges of the student notebook ``name`` (e.g. ``01_consistency_property.ipynb``), as one Markdown line."""
    path = f"{STUDENT_FOLDER}/{name}"
    return " ".join(f"[![{alt}]({image})]({link(path)})" for alt, (image, link) in BADGE_IMAGES.items())


@dataclass(frozen=True)
class Place:
    """Where a notebook sits in the course: the core path (a session of it) or a lab, and what to do first."""

    kind: str  # "core" (the lesson, in two sessions) or "lab" (optional, after its prerequisites)
    session: int | None  # the core session it belongs to (1 or 2); None for a lab
    after: tuple[str, ...] = ()  # notebooks to do first (their two-digit numbers)


COURSE_MAP = {  # the lesson 11.2 is the core path; everything beyond it is a lab
    "01": Place("core", 1), "02": Place("core", 1, ("01",)),
    "03": Place("core", 2, ("02",)), "04": Place("core", 2, ("02",)), "05": Place("core", 2, ("03", "04")),
    "06": Place("lab", None, ("03", "04")), "07": Place("lab", None, ("02",)),
    "08": Place("lab", None, ("03",)), "09": Place("lab", None, ("07",)),
    "10": Place("lab", None, ("08",)),
    "11": Place("lab", None, ("10",)),
}
SESSIONS = 2  # the core path's sessions
SESSION_MINUTES = 90  # a session's class time at most, by student_minutes' rule (the rest is after the session)
CORE_WORDS = 10_000  # the core path's prose at most (words): two sessions leave room for reading, code and exercises
# One rule for a student's minutes, calibrated on students' times for notebooks 01-05 (60-75, 80-100, 25-30, 20-25 and
# 50-70 minutes, done in full): prose read closely (math, figures), code read, each graded exercise and each
# prediction, and the notebook's own running time.
READING_WPM = 120  # words of prose a minute
CODE_LINES_PER_MINUTE = 30  # lines of code read a minute
EXERCISE_MINUTES = 8  # a graded exercise: write, check, fix once
PREDICT_MINUTES = 1  # a "Predict" prompt: think, write one line
PREDICTION_CELL = "**Your prediction:**"  # how the cell under each Predict prompt starts: the student writes, not reads
# A session is the class's time. What a teacher sets as homework is counted after it: the stretch exercises (cells
# tagged AFTER_TAG: the course's own additions beyond the lesson, e.g. 1.3's design study and 5.2a's exact W1; a
# skipped one falls back to the package) and the review at each notebook's end.
AFTER_TAG = "after-session"  # a cell's tag: done after the session (a stretch exercise and what leads to it)
AFTER_HEADINGS = ("## Check yourself", "## Further reading")  # review sections, done after the session
HEADER_PREFIXES = ("*Core", "*Lab", "*Running time:")  # how the line under the badges starts (older lines included)
MAP_CELL_ID = "course-map"  # the course map's cell in the first notebook, right after the setup cell
MAP_MARKERS = ("<!-- course-map:start -->", "<!-- course-map:end -->")  # where the README holds it
_CHECK = re.compile(r"\bchecks\.check_(\w+)\(")


def place(name: str) -> Place:
    """The course map's entry for notebook ``name`` (``01_consistency_property.ipynb``: its first two characters)."""
    try:
        return COURSE_MAP[name[:2]]
    except KeyError:
        raise ValueError(f"notebook {name!r} is not on the course map (COURSE_MAP: {sorted(COURSE_MAP)})") from None


def _lesson(cells: list[dict]) -> list[dict]:
    """A notebook's cells without the generated ones (the setup cell, the course map): what the lesson holds."""
    return [c for c in cells if c.get("id") not in (SETUP_CELL_ID, MAP_CELL_ID)]


def _prose(cells: list[dict]) -> str:
    """The markdown of ``cells`` a student reads, without the badge and header lines and the prediction cells (a
    student writes there; PREDICT_MINUTES counts that)."""
    return " ".join(line for c in cells if c["cell_type"] == "markdown"
                    and not "".join(c["source"]).startswith(PREDICTION_CELL)
                    for line in "".join(c["source"]).splitlines() if not line.startswith((BADGE_PREFIX, *HEADER_PREFIXES)))


def prose_words(cells: list[dict]) -> int:
    """The words of prose in a notebook's ``cells`` (generated cells, badges and header left out), as student_minutes
    counts them; the core path holds at most CORE_WORDS of them."""
    return len(_prose(_lesson(cells)).split())


def after_session(cell: dict) -> bool:
    """Whether ``cell`` is done after its session: tagged AFTER_TAG (a stretch exercise and what leads to it) or a
    review section (AFTER_HEADINGS). It still runs with the notebook; only the clock puts it after the session."""
    first = "".join(cell["source"]).lstrip().split("\n", 1)[0]
    return AFTER_TAG in cell.get("metadata", {}).get("tags", []) or (
        cell["cell_type"] == "markdown" and first.startswith(AFTER_HEADINGS))


def _raw_minutes(cells: list[dict], cpu_s: float) -> float:
    prose = _prose(cells)
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    exercises = {m for text in code for m in _CHECK.findall(text)}
    return (len(prose.split()) / READING_WPM + sum(len(t.splitlines()) for t in code) / CODE_LINES_PER_MINUTE
            + EXERCISE_MINUTES * len(exercises) + PREDICT_MINUTES * prose.count("**Predict") + cpu_s / 60)


def _to_grid(minutes: float) -> int:
    return 5 * max(1, math.ceil(minutes / 5))


def student_minutes(cells: list[dict], cpu_s: float) -> int:
    """A student's minutes for a notebook's ``cells``: prose / READING_WPM + code / CODE_LINES_PER_MINUTE
    + EXERCISE_MINUTES per graded exercise + PREDICT_MINUTES per Predict prompt + the running time, to 5 minutes.
    Cells done after the session (after_session) count in after_minutes instead."""
    return _to_grid(_raw_minutes([c for c in _lesson(cells) if not after_session(c)], cpu_s))


def after_minutes(cells: list[dict]) -> int:
    """The minutes of a notebook's cells done after its session (after_session), by student_minutes' rule; 0 if none."""
    after = [c for c in _lesson(cells) if after_session(c)]
    return _to_grid(_raw_minutes(after, 0)) if after else 0


def minutes_of(name: str, cells: list[dict], cpu_s: float) -> tuple[int, int]:
    """Notebook ``name``'s minutes for a student: (in its session, after it) for the core path; a lab has no session,
    so all of its minutes come first and none after."""
    if place(name).kind == "core":
        return student_minutes(cells, cpu_s), after_minutes(cells)
    return _to_grid(_raw_minutes(_lesson(cells), cpu_s)), 0


def _cpu_seconds(name: str, times: dict | None) -> dict | None:
    return None if times is None else times.get("notebooks", {}).get(name)


def header(name: str, cells: list[dict], times: dict | None) -> str:
    """The line under notebook ``name``'s badges: core or lab, a student's minutes, and its measured running time."""
    where, t = place(name), _cpu_seconds(name, times)
    kind = (f"Core path, session {where.session} of {SESSIONS}" if where.kind == "core"
            else f"Lab, after notebook{'s' * (len(where.after) > 1)} {' and '.join(where.after)}")
    minutes, after = minutes_of(name, cells, t["solution_s"] if t else 0)
    line = f"*{kind} · about {minutes} minutes for a student" + (f" in the session, and {after} after it" if after else "")
    if t is None:
        return line + ".*"
    ran = (f"{t['solution_s']} s with every exercise solved, {t['student_s']} s as handed out" if "student_s" in t
           else f"{t['solution_s']} s")
    return f"{line} · runs in {ran}, on {times['cpus']} CPU cores.*"  # measured by `make bench-readme`


def course_map(notebooks: dict[str, list[dict]], times: dict | None,
               label: Callable[[str], str] = lambda name: f"`{name}`") -> str:
    """The course map as a Markdown table: each notebook's place, prerequisites and minutes, and each session's total.

    ``label(name)`` writes a notebook's cell of the table (its file name; the website links its page).
    """
    rows = ["| part | notebook | after | minutes for a student | more after the session |", "|---|---|---|---|---|"]
    totals: dict[int, list[float]] = {}
    for name in sorted(notebooks):
        where, cells = place(name), notebooks[name]
        t = _cpu_seconds(name, times)
        minutes, after = minutes_of(name, cells, t["solution_s"] if t else 0)
        part = f"core, session {where.session}" if where.kind == "core" else "lab"
        if where.kind == "core":
            total = totals.setdefault(where.session, [0.0, 0.0])
            total[0] += _raw_minutes([c for c in _lesson(cells) if not after_session(c)], t["solution_s"] if t else 0)
            total[1] += _raw_minutes([c for c in _lesson(cells) if after_session(c)], 0)
        rows.append(f"| {part} | {label(name)} | {', '.join(where.after) or '—'} | {minutes} | {after or '—'} |")
    rows += [f"| **core, session {s}** | | | **{_to_grid(m)}** | **{_to_grid(a) if a else '—'}** |"
             for s, (m, a) in sorted(totals.items())]
    return "\n".join(rows)


def map_cell_source(table: str) -> str:
    """The course map's cell at the top of the first notebook."""
    return (f"**The course map.** The core path is the lesson, in {SESSIONS} sessions; the labs go beyond it, each after "
            "the notebooks it names. Minutes for a student come from one rule (`cmlesson.authoring.course.student_minutes`: "
            f"prose at {READING_WPM} words a minute, code at {CODE_LINES_PER_MINUTE} lines a minute, {EXERCISE_MINUTES} "
            f"minutes per graded exercise, {PREDICT_MINUTES} per prediction, plus the running time). A session's total is "
            "the class's time; the stretch exercises and notebook 02's pitfalls (marked *after the session*) and each "
            "notebook's review are homework, counted in the last column; their cells still run with the notebook in "
            "class. Each row is rounded up to 5 minutes; a session's total is rounded once, from the unrounded minutes."
            f"\n\n{table}")


SETUP_SOURCE = '''\
# Setup, run first: installs cmlesson {tag} on Colab or Kaggle; does nothing under `make lab`.
import importlib.util, os, subprocess, sys
source = os.environ.get("{env}", "{archive}")
if fresh := importlib.util.find_spec("cmlesson") is None:  # cmlesson alone, then what it needs
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", source]
    subprocess.run(pip, capture_output=True), importlib.invalidate_caches()
try: from cmlesson.authoring.hosted import setup; setup(source, fresh)
except ImportError: print(f"could not install cmlesson from {{source}} ({offline})")'''
SETUP_LINES = 8  # the setup cell's most lines: the rest lives in cmlesson.authoring.hosted


def setup_source() -> str:
    """The source of the setup cell, the first code cell of every notebook."""
    return SETUP_SOURCE.format(tag=TAG, env=SOURCE_ENV, archive=archive_url(), offline=hosted.OFFLINE_HINT)
