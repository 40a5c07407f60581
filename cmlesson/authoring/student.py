"""``python -m cmlesson student [--check]``: generate the student notebooks in ``notebooks/`` from ``solutions/``.

``solutions/*.ipynb`` is the single source of the course. Each student notebook is its solution notebook with
the solutions taken out, following these conventions in code cells:

* ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` (nbgrader's markers, each alone on its line) enclose the
  code a student writes. The block is removed and replaced, at the indentation of the ``BEGIN`` line, by
  ``# YOUR CODE HERE``, then one ``# Hint: ...`` line per ``### HINT: ...`` line found inside the block,
  then the stub.
* ``### STUB: <statement>`` is required as the first non-blank line after ``### END SOLUTION``. In the
  solution it is a comment; in the student notebook ``<statement>`` becomes live code, so that the notebook
  still runs top to bottom before the exercise is done. By the course's contract a stub returns a
  placeholder of the right shape wrapped in ``not_done(...)`` (from :mod:`cmlesson.checks`), e.g.
  ``### STUB: return not_done(torch.zeros_like(sigma))``; its check then reports "not attempted".
* A code cell whose first line starts with ``# SOLUTIONS ONLY`` is left out of the student notebook (for
  assertions on the solution's own results, e.g. the quality of a model the student trains).
* Markdown cells and all other code are copied unchanged.

Every output and execution count is removed, cell metadata is cleared (except ``tags``), and the notebook
metadata is reduced to the kernelspec and the language name, so that running a solution notebook again
does not change its student notebook. Cell ids are kept. The JSON is written by ``nbformat.writes`` (sorted
keys, one-space indent) with a final newline: the same solutions always give byte-identical notebooks.

``--check`` writes nothing; it exits 1 and names every notebook in ``notebooks/`` that is missing or differs
from what would be generated. Without ``--check``, notebooks are (re)written; a notebook in ``notebooks/``
that holds outputs or execution counts is someone's work, so nothing is written and the command exits 1,
asking for that file to be moved first.

``python -m cmlesson student --sync-setup`` puts what :mod:`cmlesson.authoring.course` generates into the course: in every
``solutions/*.ipynb`` the setup cell (the first code cell, right after the title cell; found again by its id) and
the "Open in Colab / Kaggle / Binder" badges (one line under the title of the first markdown cell), the header line
under them (core path or lab, a student's minutes, the running time ``make bench-readme`` measured in
``solutions/running_times.json``), the course map in the first notebook (after its setup cell) and in the README
between its markers, and a badge column in the README's notebook table; then it regenerates ``notebooks/``, where
they arrive like any other cell. It changes nothing else, and running it again writes nothing.
"""

from __future__ import annotations

import copy
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from . import course

if TYPE_CHECKING:  # nbformat is imported where it is used: `import cmlesson.authoring.bench` (notebooks do) must not need it
    import nbformat

ROOT = Path(__file__).resolve().parents[2]
BEGIN, END, STUB, HINT = "### BEGIN SOLUTION", "### END SOLUTION", "### STUB:", "### HINT:"
SOLUTIONS_ONLY = "# SOLUTIONS ONLY"
PLACEHOLDER = "# YOUR CODE HERE"


class MarkerError(ValueError):
    """A solution notebook's markers are malformed; the message names the notebook, the cell and the line."""


def strip_solutions(source: str, where: str = "cell") -> str:
    """The student version of one code cell's source: every solution block replaced by its stub."""
    lines = source.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line, text = lines[i], lines[i].strip()
        if text == BEGIN:
            indent = line[: len(line) - len(line.lstrip())]
            hints, j = [], i + 1
            while j < len(lines) and lines[j].strip() != END:
                inner = lines[j].strip()
                if inner == BEGIN or inner.startswith(STUB):
                    raise MarkerError(f"{where}, line {j + 1}: {inner.split(':')[0]!r} inside a solution block "
                                      f"(opened on line {i + 1}) before its {END!r}")
                if inner.startswith(HINT):
                    hints.append(inner[len(HINT):].strip())
                j += 1
            if j == len(lines):
                raise MarkerError(f"{where}, line {i + 1}: {BEGIN!r} without a matching {END!r}")
            k = j + 1
            while k < len(lines) and not lines[k].strip():
                k += 1
            if k == len(lines) or not lines[k].strip().startswith(STUB):
                raise MarkerError(f"{where}, line {j + 1}: {END!r} must be followed by a {STUB!r} line "
                                  "(the placeholder the student notebook runs)")
            stub = lines[k].strip()[len(STUB):].strip()
            if not stub:
                raise MarkerError(f"{where}, line {k + 1}: empty {STUB!r} line")
            out.append(indent + PLACEHOLDER)
            out.extend(indent + "# Hint: " + hint for hint in hints)
            out.append(indent + stub)
            i = k + 1
            continue
        for marker in (END, STUB, HINT):
            if text.startswith(marker):
                raise MarkerError(f"{where}, line {i + 1}: {marker!r} outside a solution block")
        out.append(line)
        i += 1
    return "\n".join(out)


def student_notebook(solution: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The student version of a solution notebook (a new object; ``solution`` is not modified)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.nbformat, nb.nbformat_minor = solution.nbformat, solution.nbformat_minor
    meta = solution.get("metadata", {})
    if "kernelspec" in meta:
        nb.metadata["kernelspec"] = dict(meta["kernelspec"])
    if "name" in meta.get("language_info", {}):
        nb.metadata["language_info"] = {"name": meta["language_info"]["name"]}
    for index, cell in enumerate(solution.cells):
        where = f"{name}, cell {index + 1}"
        tags = list(cell.get("metadata", {}).get("tags", []))
        if cell.cell_type == "code":
            if cell.source.lstrip().startswith(SOLUTIONS_ONLY):
                continue
            new = nbformat.v4.new_code_cell(strip_solutions(cell.source, where))
        elif cell.cell_type == "markdown":
            if BEGIN in cell.source or STUB in cell.source:
                raise MarkerError(f"{where}: solution markers in a markdown cell")
            new = nbformat.v4.new_markdown_cell(cell.source)
        else:
            new = nbformat.v4.new_raw_cell(cell.source)
        if "id" in cell:
            new.id = cell.id
        if tags:
            new.metadata["tags"] = tags
        nb.cells.append(new)
    nbformat.validate(nb)
    return nb


def _text(nb: nbformat.NotebookNode) -> str:
    """A notebook's file text: nbformat's JSON (sorted keys, one-space indent) and a final newline."""
    import nbformat

    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def render(path: Path) -> str:
    """The exact text of the student notebook generated from the solution notebook at ``path``."""
    import nbformat

    return _text(student_notebook(nbformat.read(path, as_version=4), path.name))


# --- the setup cell and the badges (cmlesson.authoring.course) -----------------------------------------------------------


def with_badges(markdown: str, name: str) -> str:
    """``markdown`` with the badges of notebook ``name`` on one line under its title (an old badge line replaced)."""
    lines = markdown.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(course.BADGE_PREFIX):  # remove it with the blank line that set it apart
            del lines[i]
            blank = i - 1 if i > 0 else 0
            if blank < len(lines) and not lines[blank].strip():
                del lines[blank]
            break
    if lines and lines[0].startswith("#"):
        lines[1:1] = ["", course.badges(name)] + ([""] if len(lines) > 1 and lines[1].strip() else [])
    else:
        lines[0:0] = [course.badges(name), ""]
    return "\n".join(lines)


def with_header(markdown: str, line: str | None) -> str:
    """``markdown`` with ``line`` (course.header's) after its badge line, an old one replaced; None removes it."""
    lines = markdown.split("\n")
    for i, old in enumerate(lines):
        if old.startswith(course.HEADER_PREFIXES):  # remove it with the blank line that set it apart
            del lines[i]
            if i > 0 and not lines[i - 1].strip():
                del lines[i - 1]
            break
    if line is not None:
        at = next((i for i, text in enumerate(lines) if text.startswith(course.BADGE_PREFIX)), 0)
        lines[at + 1:at + 1] = ["", line]
    return "\n".join(lines)


def load_times(solutions: Path) -> dict | None:
    """The benchmark's running times (course.TIMES_FILE, beside the solution notebooks), or None before a first run."""
    import json

    path = solutions / Path(course.TIMES_FILE).name
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def with_setup(nb: nbformat.NotebookNode, name: str, times: dict | None = None,
               course_map: str | None = None) -> nbformat.NotebookNode:
    """A copy of notebook ``name`` with the current setup cell first among its code cells, right after its title cell,
    the badges in its first markdown cell and the header line under them (core or lab, minutes, the benchmark's
    ``times``), and, given ``course_map``, the course map's cell after the setup cell (any old one replaced).
    An unchanged setup cell keeps its outputs; a changed one loses them."""
    import nbformat

    nb = copy.deepcopy(nb)
    setup = next((c for c in nb.cells if c.get("id") == course.SETUP_CELL_ID), None)
    if setup is None:
        setup = nbformat.v4.new_code_cell(course.setup_source())
        setup.id = course.SETUP_CELL_ID
    else:
        nb.cells.remove(setup)
        if setup.cell_type != "code" or setup.source != course.setup_source():
            setup = nbformat.v4.new_code_cell(course.setup_source())
            setup.id = course.SETUP_CELL_ID
    first_md = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if first_md is None:
        first_md = nbformat.v4.new_markdown_cell("")
        nb.cells.insert(0, first_md)
    first_md.source = with_badges(first_md.source, name)
    first_md.source = with_header(first_md.source, course.header(name, nb.cells, times))
    at = 1 if nb.cells[0].cell_type == "markdown" else 0
    nb.cells.insert(at, setup)
    nb.cells = [c for c in nb.cells if c.get("id") != course.MAP_CELL_ID]
    if course_map is not None:
        cell = nbformat.v4.new_markdown_cell(course.map_cell_source(course_map))
        cell.id = course.MAP_CELL_ID
        nb.cells.insert(at + 1, cell)
    nbformat.validate(nb)
    return nb


README_TABLE = "| # | notebook |"  # how the README's notebook table starts
BADGE_COLUMN = "open in"
_ROW = re.compile(r"^\| (\d\d) \| `(\d\d_\w+\.ipynb)` \| (.*)$")


def readme_with_badges(text: str) -> str:
    """The README ``text`` with a badge column in its notebook table, one cell of badges per notebook row."""
    lines = text.split("\n")
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith(README_TABLE))
    except StopIteration:
        raise ValueError(f"README: no notebook table (a line starting with {README_TABLE!r})") from None
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    has_column = BADGE_COLUMN in header
    if not has_column:
        header.insert(2, BADGE_COLUMN)
        lines[start] = "| " + " | ".join(header) + " |"
        lines[start + 1] = "|" + "---|" * len(header)
    i = start + 2
    while i < len(lines) and lines[i].startswith("|"):
        match = _ROW.match(lines[i])
        if match:
            number, name, rest = match.groups()
            if has_column:
                rest = rest.split(" | ", 1)[1]
            lines[i] = f"| {number} | `{name}` | {course.badges(name)} | {rest}"
        i += 1
    return "\n".join(lines)


def with_course(notebooks: dict[str, nbformat.NotebookNode],
                times: dict | None) -> tuple[dict[str, nbformat.NotebookNode], str]:
    """Every notebook (by name) :func:`with_setup`, the first one with the course map; and the map's table."""
    new = {name: with_setup(nb, name, times) for name, nb in notebooks.items()}
    table = course.course_map({name: nb.cells for name, nb in new.items()}, times)
    first = min(new)
    new[first] = with_setup(new[first], first, times, course_map=table)
    return new, table


def readme_with_map(text: str, table: str) -> str:
    """The README ``text`` with ``table`` (course.course_map's) between its course-map markers."""
    start, end = course.MAP_MARKERS
    if start not in text or end not in text:
        raise ValueError(f"README: no course map markers ({start} ... {end})")
    head, rest = text.split(start, 1)
    return f"{head}{start}\n{table}\n{end}{rest.split(end, 1)[1]}"


def _write_all(texts: dict[Path, str], stale: list[Path], blocked: list[Path], notebooks: Path, out, err) -> int:
    """Write every stale file, or nothing when a student notebook to be replaced holds someone's work; the exit code."""
    if blocked:
        for path in blocked:
            print(f"error: {path} holds outputs or execution counts (someone's work); not overwriting it", file=err)
        print("move those notebooks out of the way (e.g. rename them), then run the command again; nothing was written",
              file=err)
        return 1
    for path in stale:
        write_atomic(path, texts[path])
        print(f"wrote {path}", file=out)
    print(f"{len(texts) - len(stale)} unchanged, {len(stale)} written", file=out)
    return 0


def sync_setup(solutions: Path, notebooks: Path, readme: Path, out=sys.stdout, err=sys.stderr) -> int:
    """Write the setup cell and the badges into ``solutions/`` and ``readme``, then regenerate ``notebooks/``."""
    import nbformat

    sources = sorted(solutions.glob("*.ipynb"))
    if not sources:
        print(f"error: no solution notebooks in {solutions}", file=err)
        return 1
    try:
        synced, table = with_course({src.name: nbformat.read(src, as_version=4) for src in sources}, load_times(solutions))
        new = {solutions / name: nb for name, nb in synced.items()}
        writes = {src: _text(nb) for src, nb in new.items()}
        students = {notebooks / src.name: _text(student_notebook(nb, src.name)) for src, nb in new.items()}
        writes[readme] = readme_with_map(readme_with_badges(readme.read_text(encoding="utf-8")), table)
    except (MarkerError, nbformat.ValidationError, ValueError, OSError) as e:
        print(f"error: {e}", file=err)
        return 1
    writes.update(students)
    stale = [p for p, text in writes.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    blocked = [p for p in stale if p in students and p.exists() and has_work(p)]
    return _write_all(writes, stale, blocked, notebooks, out, err)


def same_code_as_solution(solution_json: str) -> bool:
    """True when generating the student notebook changes no code (no solution block, no SOLUTIONS ONLY cell):
    notebooks 06 and 07. Their student version need not be executed separately (nbval, the benchmark)."""
    return BEGIN not in solution_json and SOLUTIONS_ONLY not in solution_json


def has_work(path: Path) -> bool:
    """True if the notebook at ``path`` holds outputs or execution counts (someone ran it), or cannot be read."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable file is not ours to overwrite either
        return True
    return any(c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None) for c in nb.cells)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) to a temporary file in ``path``'s folder, flush it to disk, then rename
    it over ``path``: a reader sees the old file or the new one, never half of one. The student notebooks and the
    grader's CSV and results files are written this way."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def generate(solutions: Path, notebooks: Path, check: bool = False, out=sys.stdout, err=sys.stderr) -> int:
    """Generate (or with ``check``, verify) ``notebooks/*.ipynb`` from ``solutions/*.ipynb``; returns the exit code."""
    import nbformat

    sources = sorted(solutions.glob("*.ipynb"))
    if not sources:
        print(f"error: no solution notebooks in {solutions}", file=err)
        return 1
    try:
        expected = {notebooks / src.name: render(src) for src in sources}
    except (MarkerError, nbformat.ValidationError, ValueError) as e:
        print(f"error: {e}", file=err)
        return 1
    current = {path: path.read_text(encoding="utf-8") if path.exists() else None for path in expected}
    stale = [path for path, text in expected.items() if current[path] != text]

    if check:
        if not stale:
            print(f"{len(expected)} student notebooks in {notebooks} are up to date", file=out)
            return 0
        for path in stale:
            what = "missing" if current[path] is None else "differs from what its solution notebook generates"
            print(f"stale: {path} {what}", file=err)
        print("run `python -m cmlesson student` to regenerate notebooks/ from solutions/", file=err)
        return 1

    blocked = [path for path in stale if current[path] is not None and has_work(path)]
    return _write_all(expected, stale, blocked, notebooks, out, err)


def main(args) -> int:
    if getattr(args, "sync_setup", False):
        return sync_setup(ROOT / "solutions", ROOT / "notebooks", ROOT / "README.md")
    return generate(ROOT / "solutions", ROOT / "notebooks", check=getattr(args, "check", False))
