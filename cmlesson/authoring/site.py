"""``python -m cmlesson site [--solutions] [--out DIR]``: the course as a static website (``make site``).

The site is built by Sphinx with myst-nb and sphinx-book-theme from ``website/`` (its ``conf.py``, its CSS, its pinned
``requirements.txt``, which ``make site`` installs into ``.venv-site``). This module prepares the pages in
``build/site-src`` (``build/site-src-solutions`` with ``--solutions``), then runs Sphinx once; nothing is executed:

* the course map (``index.md``): the README's title, introduction and notebook table, each row linking its page;
* one page per notebook, in order, from ``solutions/`` with its stored outputs (CI executed them), as the student
  sees it: each exercise's answer is replaced by its stub and every ``# SOLUTIONS ONLY`` cell is left out
  (:mod:`cmlesson.authoring.student` knows which cells are answers). ``--solutions`` (the instructor's site) keeps
  the answers instead, folded under "Show code cell source";
* each check cell's output (its verdict on the worked answer, which describes that answer) is replaced by a note;
* the badge line under each title becomes the page's launch buttons (Colab, Kaggle, Binder; :mod:`.course`'s
  links, as text: the badge images live on other hosts);
* every ipywidgets output becomes a static snapshot of its saved state (sliders at their values, the figure, a
  progress bar at its end), and an explorer is framed by a box saying which notebook runs it live, with links;
* the notation page (``notebooks/00_notation.md``) and the README's "For instructors" section;
* the footer names the course version (``cmlesson.__version__``) and the git commit when there is one.
"""

from __future__ import annotations

import base64
import copy
import html
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from . import course, student

if TYPE_CHECKING:
    import nbformat

ROOT = student.ROOT
WEBSITE = ROOT / "website"  # conf.py, _static/, requirements.txt
NOTATION, INSTRUCTORS = "00_notation", "instructors"
LAUNCH_CLASS, SNAPSHOT_CLASS, LIVE_CLASS, NOTE_CLASS = "cm-launch", "cm-widget-snapshot", "cm-widget-live", "cm-page-note"
WIDGET_VIEW, WIDGET_STATE = "application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json"
COVER = ("01_consistency_property.ipynb", "01-23")  # the first page's figure: this cell's PNG ("One evaluation against 35")
HIDE_INPUT = "hide-input"  # myst-nb folds a cell's code under "Show code cell source"
CHECK_CALL = "checks.check_"  # a check cell calls checks.check_<id>
CHECK_NOTE = ('<p class="cm-check-note">The check prints its verdict on your code here when you run the notebook ("not '
              'attempted" until you replace the stub). Its verdict on the worked answer is not on this site: it would '
              "describe the answer.</p>")


def launch_buttons(name: str) -> str:
    """The launch buttons of student notebook ``name``: :data:`course.BADGE_IMAGES`'s links, as one HTML block."""
    path = f"{course.STUDENT_FOLDER}/{name}"
    links = "\n".join(f'<a class="{LAUNCH_CLASS}-button" data-launch="{alt.split()[-1].lower()}" '
                      f'href="{html.escape(link(path))}" target="_blank" rel="noopener">{html.escape(alt)}</a>'
                      for alt, (_image, link) in course.BADGE_IMAGES.items())
    return f'<div class="{LAUNCH_CLASS}" data-notebook="{html.escape(path)}">\n{links}\n</div>'


def page_note(answers: bool) -> str:
    """What a notebook page shows, under its launch buttons."""
    if answers:
        return (f'<p class="{NOTE_CLASS}">The instructor\'s view: each exercise\'s answer is in its cell, folded '
                "(<em>Show code cell source</em>), with the outputs of a complete run.</p>")
    return (f'<p class="{NOTE_CLASS}">The notebook as a student receives it, shown with the outputs of a complete run, '
            "so every figure is here. The exercises' answers, and the checks' verdicts on them, are not on this site.</p>")


def with_launch_buttons(markdown: str, name: str, answers: bool = False) -> str:
    """``markdown`` with its badge line (course.BADGE_PREFIX) replaced by the launch buttons of notebook ``name``."""
    lines = markdown.split("\n")
    return "\n".join(launch_buttons(name) + "\n\n" + page_note(answers) if line.startswith(course.BADGE_PREFIX) else line
                     for line in lines)


# --- widgets: a static snapshot of the saved state -------------------------------------------------------------------


def _ref(value: Any) -> str | None:
    return value[len("IPY_MODEL_"):] if isinstance(value, str) and value.startswith("IPY_MODEL_") else None


def _number(value: Any, fmt: str) -> str:
    """A slider's readout in its readout_format (d3-format specifiers are Python's for the ones widgets use)."""
    try:
        return format(value, fmt)
    except (TypeError, ValueError):
        return str(value)


def _widget(models: dict, model_id: str, depth: int = 0) -> str:
    """One widget of the saved state as static HTML (its children recursively); unknown kinds show their description."""
    model = models.get(model_id)
    if model is None or depth > 20:
        return ""
    name, s = model["model_name"], model["state"]
    desc = html.escape(str(s.get("description", "") or ""))
    label = f'<span class="cm-w-label">{desc}</span>' if desc else ""
    classes = " ".join(html.escape(c) for c in s.get("_dom_classes", []))
    if name in {"VBoxModel", "HBoxModel", "BoxModel", "GridBoxModel"}:
        kind = "cm-w-hbox" if name == "HBoxModel" else "cm-w-vbox"
        children = "".join(_widget(models, ref, depth + 1) for ref in map(_ref, s.get("children", [])) if ref)
        return f'<div class="{kind} {classes}">{children}</div>'
    if name in {"HTMLModel", "HTMLMathModel"}:
        return f'<div class="cm-w-html">{label}{s.get("value", "")}</div>'
    if name == "LabelModel":
        return f'<div class="cm-w-html">{label}{html.escape(str(s.get("value", "")))}</div>'
    if name == "ImageModel":
        buffer = next((b for b in model.get("buffers", []) if b.get("path") == ["value"]), None)
        if buffer is None:
            return ""
        data = buffer["data"] if buffer.get("encoding") == "base64" else base64.b64encode(bytes.fromhex(buffer["data"])).decode()
        src = f'data:image/{s.get("format", "png")};base64,{data}'
        return f'<img class="cm-w-image {classes}" alt="the explorer\'s figure" src="{src}">'
    if name.endswith("SliderModel") or name.endswith("ProgressModel"):
        value, lo, hi = s.get("value", 0), s.get("min", 0), s.get("max", 1)
        position = math.log(value, s.get("base", 10.0)) if name == "FloatLogSliderModel" and value > 0 else value
        if name.endswith("ProgressModel"):
            return f'<span class="cm-w-progress">{label}<progress value="{value}" max="{hi}"></progress></span>'
        if "Selection" in name:
            options = s.get("_options_labels", [])
            readout = options[s.get("index", 0)] if options else ""
            return f'<span class="cm-w-slider">{label}<span class="cm-w-readout">{html.escape(str(readout))}</span></span>'
        readout = _number(value, s.get("readout_format", ""))
        bar = f'<meter min="{lo}" max="{hi}" value="{position}"></meter>'
        return f'<span class="cm-w-slider">{label}{bar}<span class="cm-w-readout">{html.escape(readout)}</span></span>'
    if name in {"ToggleButtonsModel", "RadioButtonsModel", "DropdownModel", "SelectModel"}:
        index, options = s.get("index"), s.get("_options_labels", [])
        items = "".join(f'<span class="cm-w-option{" cm-w-selected" if i == index else ""}">{html.escape(str(o))}</span>'
                        for i, o in enumerate(options))
        return f'<span class="cm-w-options">{label}{items}</span>'
    if name in {"TextModel", "IntTextModel", "FloatTextModel", "BoundedIntTextModel", "BoundedFloatTextModel", "TextareaModel"}:
        return f'<span class="cm-w-text">{label}<span class="cm-w-value">{html.escape(str(s.get("value", "")))}</span></span>'
    if name == "CheckboxModel":
        return f'<span class="cm-w-text">{label}<span class="cm-w-value">{"☑" if s.get("value") else "☐"}</span></span>'
    if name == "ButtonModel":
        return f'<span class="cm-w-button">{desc}</span>'
    return f'<span class="cm-w-unknown">{label}</span>' if label else ""


def _is_progress_bar(models: dict, model_id: str) -> bool:
    """True for tqdm's notebook bar: an HBox holding a FloatProgress (its final state is all there is to show)."""
    s = models.get(model_id, {}).get("state", {})
    return any(models.get(_ref(c) or "", {}).get("model_name") == "FloatProgressModel" for c in s.get("children", []))


def widget_html(models: dict, model_id: str, name: str, fallback: str = "") -> str:
    """A widget output as static HTML: its saved state, and for an explorer a box naming the notebook that runs it live."""
    number = name[:2]
    if model_id in models and _is_progress_bar(models, model_id):
        return f'<div class="{SNAPSHOT_CLASS} cm-w-bar">{_widget(models, model_id)}</div>'
    path = f"{course.STUDENT_FOLDER}/{name}"
    snapshot = _widget(models, model_id) if model_id in models else ""
    what = "A snapshot of this explorer as the notebook left it." if snapshot else html.escape(fallback)
    return (f'<div class="{LIVE_CLASS}" data-notebook="{html.escape(path)}">'
            f'<p class="cm-live-note"><strong>Interactive:</strong> {what} To move its controls, run notebook {number} '
            f"in JupyterLab (<code>make lab</code>, then <code>{html.escape(path)}</code>), or open it in "
            f'<a href="{html.escape(course.binder_url(path))}">Binder</a> or '
            f'<a href="{html.escape(course.colab_url(path))}">Colab</a>.</p>'
            f'<div class="{SNAPSHOT_CLASS}">{snapshot}</div></div>')


# --- pages ----------------------------------------------------------------------------------------------------------


def page_notebook(solution: nbformat.NotebookNode, name: str, answers: bool = False) -> nbformat.NotebookNode:
    """The page of solution notebook ``name``: the student's code (or, with ``answers``, the solution's code folded),
    the solution's outputs, launch buttons for the badges, static widget snapshots; a new object."""
    import nbformat

    nb = copy.deepcopy(solution)
    models = nb.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    cells = []
    for index, cell in enumerate(nb.cells):
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if cell.cell_type == "markdown":
            cell.source = with_launch_buttons(cell.source, name, answers)
        if cell.cell_type != "code":
            cells.append(cell)
            continue
        is_answer = student.BEGIN in cell.source or cell.source.lstrip().startswith(student.SOLUTIONS_ONLY)
        if is_answer and not answers:
            if cell.source.lstrip().startswith(student.SOLUTIONS_ONLY):
                continue
            cell.source = student.strip_solutions(cell.source, f"{name}, cell {index + 1}")
        if (is_answer and answers) or cell.get("id") == course.SETUP_CELL_ID:
            tags.append(HIDE_INPUT)
        if CHECK_CALL in cell.source and not answers:  # its verdict on the worked answer describes that answer
            cell.outputs = [nbformat.v4.new_output("display_data", {"text/html": CHECK_NOTE})]
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data:
                model_id = data[WIDGET_VIEW].get("model_id", "")
                output["data"] = {"text/html": widget_html(models, model_id, name, data.get("text/plain", ""))}
        cells.append(cell)
    nb.cells = cells
    nbformat.validate(nb)
    return nb


def title(nb: nbformat.NotebookNode) -> str:
    """A notebook's title: the first heading of its first markdown cell."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.split("\n"):
                if line.startswith("# "):
                    return line[2:].strip()
    return "untitled"


def readme_section(text: str, heading: str) -> str:
    """The README section under ``## heading`` (up to the next ``## ``), its headings raised one level."""
    lines, out, inside = text.split("\n"), [], False
    for line in lines:
        if line.startswith("## "):
            if inside:
                break
            inside = line[3:].strip() == heading
        if inside:
            out.append(line[1:] if line.startswith("##") else line)
    if not out:
        raise ValueError(f"README: no section '## {heading}'")
    return "\n".join(out).strip() + "\n"


def cover_png(nb: nbformat.NotebookNode, cell_id: str) -> bytes | None:
    """The first PNG output of cell ``cell_id`` (the first page's figure), or None when there is none."""
    for cell in nb.cells:
        if cell.get("id") == cell_id:
            for output in cell.get("outputs", []):
                if "image/png" in output.get("data", {}):
                    return base64.b64decode(output["data"]["image/png"])
    return None


COVER_TEXT = r"""![Two moons drawn by a diffusion teacher in 35 network evaluations and by a consistency model in one](cover.png)

A consistency model $f_\theta(x_\sigma, \sigma)$ sends a noisy point $x_\sigma = x_0 + \sigma z$ straight to the end of
its probability-flow ODE trajectory: one network evaluation where its diffusion teacher takes thirty-five
([notebook 1](01_consistency_property.ipynb))."""


def index_page(readme: str, titles: dict[str, str], table: str, cover: bool = False) -> str:
    """The first page: the README's title and introduction, the cover figure, then the course map (course.course_map)."""
    lines = readme.split("\n")
    intro = "\n".join(lines[: next(i for i, line in enumerate(lines) if line.startswith("## "))]).strip()
    toc = "\n".join([f"{NOTATION}.md", *titles, f"{INSTRUCTORS}.md"])
    return f"""{intro}

{COVER_TEXT if cover else ""}

## The course map

The core path is the lesson, in {course.SESSIONS} sessions; each lab goes beyond it, after the notebooks it names. Each page
is a notebook as a student opens it, shown with the outputs of a complete run, so every figure is there before anything
is run. The buttons at the top of a page open that notebook in Google Colab, Kaggle or Binder; on your own machine,
`make lab` opens the course in JupyterLab. The [notation](00_notation.md) is one page; instructors find grading in
[For instructors](instructors.md). A student's minutes come from one rule (notebook 1 states it).

{table}

```{{toctree}}
:hidden:
:maxdepth: 1

{toc}
```
"""


def git_commit() -> str | None:
    """The checkout's commit (short hash, ``+`` when the work tree has changes), or None outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                               text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def footer(answers: bool, commit: str | None) -> str:
    """The footer line: the course version, the commit, and whether the exercise answers are on the site."""
    at = f", commit <code>{html.escape(commit)}</code>" if commit else ""
    what = "with the exercise answers (instructor's site)" if answers else "without the exercise answers"
    return f'<p class="cm-version">cmlesson course <span class="cm-version-number">v{__version__}</span>{at}; {what}.</p>'


def prepare(src: Path, answers: bool = False, root: Path = ROOT) -> list[str]:
    """Write the site's source folder ``src`` (website/ and every page); returns the page names in order."""
    import nbformat

    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(root / "website", src, ignore=shutil.ignore_patterns("requirements.txt", "__pycache__"))
    readme = (root / "README.md").read_text(encoding="utf-8")
    titles, cover, cells = {}, None, {}
    for path in sorted((root / "solutions").glob("[0-9][0-9]_*.ipynb")):
        solution = nbformat.read(path, as_version=4)
        cells[path.name] = solution.cells
        cover = cover_png(solution, COVER[1]) if path.name == COVER[0] else cover
        nb = page_notebook(solution, path.name, answers)
        titles[path.name] = title(nb)
        nbformat.write(nb, src / path.name)
    if cover is not None:
        (src / "cover.png").write_bytes(cover)
    shutil.copyfile(root / "notebooks" / f"{NOTATION}.md", src / f"{NOTATION}.md")
    (src / f"{INSTRUCTORS}.md").write_text(readme_section(readme, "For instructors"), encoding="utf-8")
    table = course.course_map(cells, student.load_times(root / "solutions"), lambda name: f"[{titles[name]}]({name})")
    index = index_page(readme, titles, table, cover is not None)
    (src / "index.md").write_text(index, encoding="utf-8")
    site = {"version": __version__, "commit": git_commit(), "answers": answers}
    site["footer"] = footer(answers, site["commit"])
    (src / "_site.json").write_text(json.dumps(site, indent=1) + "\n", encoding="utf-8")
    return ["index", NOTATION, *(n.removesuffix(".ipynb") for n in titles), INSTRUCTORS]


def build(out: Path, answers: bool = False, src: Path | None = None) -> int:
    """Prepare the pages and run Sphinx (it must be installed: ``make site`` uses .venv-site); the exit code."""
    from sphinx.cmd.build import build_main

    src = src or out.parent / (out.name + "-src")
    pages = prepare(src, answers)
    if out.exists():
        shutil.rmtree(out)
    code = build_main(["-b", "html", "-q", "-W", "--keep-going", "-j", "auto", "-d", str(src / ".doctrees"), str(src), str(out)])
    if code == 0:
        print(f"site: {len(pages)} pages in {out} ({'with' if answers else 'without'} the exercise answers); "
              f"open {out / 'index.html'}")
    return code


def main(args) -> int:
    default = "build/site-solutions" if args.solutions else "build/site"
    out = Path(args.out or ROOT / default).resolve()
    try:
        return build(out, answers=args.solutions)
    except ImportError as err:
        print(f"error: {err}: the site's tools are not installed (run `make site`, which installs website/requirements.txt "
              "into .venv-site)", file=sys.stderr)
        return 1
