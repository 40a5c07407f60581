"""``python -m cmlesson nbgrader OUT``: the course's graded notebooks as an nbgrader course (nbgrader 0.9, schema 3).

For every solution notebook that holds exercises, ``OUT/source/<stem>/<stem>.ipynb`` (one assignment per notebook),
and ``OUT/nbgrader_config.py``. ``nbgrader generate_assignment <stem>`` then writes the release; ``nbgrader
autograde <stem>`` grades what students hand in. How the course's markers become nbgrader's:

* A code cell with ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` becomes a solution cell. nbgrader replaces each
  region by ``# YOUR CODE HERE`` (``ClearSolutions.code_stub``, set in the config), so the course's stub, the
  ``### STUB:`` comment, is made live code here: after the region when it is a ``return`` (unreachable in the
  solution: a region that falls off its end gets a ``return None``), before it otherwise (the solution overwrites
  it). The release then runs top to bottom, and an untouched exercise is "not attempted" (stub detection happens at run time).
* After each exercise's check cell (the one that calls ``checks.check_<id>``) comes a locked grade cell worth the
  exercise's points, whose value is :func:`cmlesson.checks.score`: the same evaluation and judge as ``python -m
  cmlesson grade``, but run **inside the student's kernel** (nbgrader has no sandbox: a student's code can change
  what the grade cell computes; use ``python -m cmlesson grade`` for submissions you do not trust).
* ``# SOLUTIONS ONLY`` cells are left out; outputs and execution counts are removed.

Nothing already in OUT is overwritten: a file that exists with other content stops the export, named.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..authoring.student import BEGIN, END, HINT, SOLUTIONS_ONLY, STUB, MarkerError
from . import exercises

SOLUTIONS = Path(__file__).resolve().parents[2] / "solutions"
SCHEMA = 3
CELL_TIMEOUT_S = 900  # nbgrader's Execute.timeout, per cell: its default of 30 s stops the notebooks' training cells
CONFIG = f'''\
# nbgrader configuration for the cmlesson course, written by `python -m cmlesson nbgrader`.
c = get_config()  # noqa: F821 (nbgrader defines it)
c.CourseDirectory.course_id = "cmlesson"
# One cell may train a model for a few minutes on a student's laptop; nbgrader's default of 30 s is far too short.
c.Execute.timeout = {CELL_TIMEOUT_S}
# The course's stubs are live code after (or before) each solution region: the region itself becomes a comment only,
# so that a released notebook runs top to bottom and an unfinished exercise is reported, not raised.
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE"}}
c.ClearSolutions.enforce_metadata = True
'''


def nbgrader_source(source: str, where: str = "cell") -> str:
    """One solution cell's code for nbgrader: each ``### STUB:`` comment made live, before or after its region."""
    lines, out, i = source.split("\n"), [], 0
    while i < len(lines):
        line = lines[i]
        if line.strip() != BEGIN:
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        j = next((k for k in range(i + 1, len(lines)) if lines[k].strip() == END), None)
        if j is None:
            raise MarkerError(f"{where}, line {i + 1}: {BEGIN!r} without a matching {END!r}")
        k = next((k for k in range(j + 1, len(lines)) if lines[k].strip()), len(lines))
        if k == len(lines) or not lines[k].strip().startswith(STUB):
            raise MarkerError(f"{where}, line {j + 1}: {END!r} must be followed by a {STUB!r} line")
        stub = indent + lines[k].strip()[len(STUB):].strip()
        region = [ln for ln in lines[i + 1:j] if not ln.strip().startswith(HINT)]
        hints = [indent + "# Hint: " + ln.strip()[len(HINT):].strip() for ln in lines[i + 1:j] if ln.strip().startswith(HINT)]
        if stub.strip().startswith("return"):
            code = [ln for ln in region if ln.strip() and not ln.strip().startswith("#")]
            if not code or not code[-1].startswith(indent + "return"):  # it returned None by falling off the end
                region.append(indent + "return None  # so that the live stub below is never reached in the solution")
            out += hints + [line, *region, lines[j], stub]
        else:
            out += hints + [stub, line, *region, lines[j]]
        i = k + 1
    return "\n".join(out)


def _meta(grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False,
          points: int | None = None) -> dict:
    meta = {"schema_version": SCHEMA, "grade": grade, "solution": solution, "locked": locked, "grade_id": grade_id}
    if grade:
        meta["points"] = points
    return meta


def grade_cell_source(ex_id: str) -> str:
    ex = exercises.EXERCISES[ex_id]
    points = f"{ex.points} point" + ("s" if ex.points != 1 else "")
    return (f"# Grade cell of {ex.description.split(':')[0]} ({points}; locked). Its value is your score: the check\n"
            "# runs here, in your own kernel, with the course's judge.\n"
            "import cmlesson.checks\n"
            f"cmlesson.checks.score({ex_id!r}, globals())")


def course_notebook(solution: dict, stem: str) -> dict:
    """The nbgrader source notebook (nbformat 4 JSON) of the solution notebook ``stem``."""
    ids = [e for e, ex in exercises.EXERCISES.items() if ex.notebook == stem[:2]]
    nb = {"cells": [], "metadata": {k: v for k, v in solution.get("metadata", {}).items()
                                    if k in ("kernelspec", "language_info")},
          "nbformat": solution["nbformat"], "nbformat_minor": solution["nbformat_minor"]}
    placed: set[str] = set()
    for index, cell in enumerate(solution["cells"]):
        where = f"{stem}, cell {index + 1}"
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        new = {"cell_type": cell["cell_type"], "id": cell.get("id", f"cell-{index}"), "metadata": {}, "source": source}
        if cell["cell_type"] == "code":
            if source.lstrip().startswith(SOLUTIONS_ONLY):
                continue
            new.update(execution_count=None, outputs=[])
            if BEGIN in source:
                new["source"] = nbgrader_source(source, where)
                new["metadata"]["nbgrader"] = _meta(f"solution-{new['id']}", solution=True)
        nb["cells"].append(new)
        for ex_id in ids:
            if cell["cell_type"] == "code" and f"check_{ex_id}(" in source and ex_id not in placed:
                placed.add(ex_id)
                nb["cells"].append({"cell_type": "code", "id": f"grade-{ex_id}"[:64], "execution_count": None,
                                    "outputs": [], "source": grade_cell_source(ex_id),
                                    "metadata": {"nbgrader": _meta(f"grade-{ex_id}", grade=True, locked=True,
                                                                   points=exercises.EXERCISES[ex_id].points)}})
    missing = [e for e in ids if e not in placed]
    if missing:
        raise MarkerError(f"{stem}: no cell calls checks.check_<id>( for {', '.join(missing)}")
    return nb


def course_files(solutions: Path = SOLUTIONS) -> dict[str, str]:
    """{path relative to OUT: text} of the whole nbgrader course."""
    files = {"nbgrader_config.py": CONFIG}
    with_exercises = sorted({ex.notebook for ex in exercises.EXERCISES.values()})
    for path in sorted(solutions.glob("*.ipynb")):
        if path.name[:2] in with_exercises:
            nb = course_notebook(json.loads(path.read_text(encoding="utf-8")), path.stem)
            files[f"source/{path.stem}/{path.name}"] = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    return files


def write_course(out: Path, solutions: Path = SOLUTIONS) -> list[Path]:
    """Write the course into ``out``; refuse, writing nothing, if a file there holds something else."""
    files = course_files(solutions)
    clash = [name for name, text in files.items()
             if (out / name).exists() and (out / name).read_text(encoding="utf-8") != text]
    if clash:
        raise FileExistsError(f"{out} already holds other versions of: {', '.join(clash)} (move them away first; "
                              "nothing was written)")
    written = []
    for name, text in files.items():
        path = out / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def main(args) -> int:
    out = Path(args.out)
    try:
        written = write_course(out)
    except (FileExistsError, MarkerError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    assignments = sorted(p.parent.name for p in written if p.suffix == ".ipynb")
    print(f"wrote {len(written)} files into {out} ({', '.join(assignments) or 'all were already up to date'})")
    print(f"next: cd {out} && nbgrader generate_assignment --force <assignment>; students' work goes to "
          "submitted/<student>/<assignment>/, then nbgrader autograde <assignment>")
    return 0
