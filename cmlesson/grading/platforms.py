"""The grader's rows in the formats of grading platforms: one submission (one student's files) per results.json, or
a whole class as a gradebook CSV.

* Gradescope: ``/autograder/results/results.json`` = ``{"score", "execution_time", "output", "visibility", "tests":
  [{"name", "score", "max_score", "status", "output", "visibility"}]}`` (written always, even partial). Every
  test's visibility is ``--gradescope-visibility``: ``after_published`` holds scores and reasons back until the
  instructor publishes the grades.
* PrairieLearn external grader: ``/grade/results/results.json`` = ``{"gradable", "score" (0..1), "message",
  "output", "tests": [{"name", "points", "max_points", "message", "output"}]}``, at most 1 MB. ``gradable`` is false
  when no file could be graded (none is a notebook of the course, or the grader itself failed on it): PrairieLearn
  then does not count the submission, and the message says why.
* Canvas: a gradebook CSV to import (Grades > Import): ``Student, ID, SIS User ID, SIS Login ID, Section`` and one
  column for the assignment, the score of each student (the sum over their files), under a ``Points Possible`` row.
  A file is the student's whose Canvas user ID its name carries, as Canvas names the files of "Download
  Submissions" (``name_[LATE_]<user id>_<file id>_<original name>``), or whom the instructor's ``--canvas-ids`` CSV
  maps it to (columns ``file`` and ``ID``, ``SIS User ID`` or ``SIS Login ID``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict

from . import exercises

FORMATS = ("csv", "gradescope", "prairielearn", "canvas")
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")  # Gradescope's words
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_KEYS = ("ID", "SIS User ID", "SIS Login ID")
CANVAS_DOWNLOAD = re.compile(r"^(?P<name>[^_]+)_(?:LATE_)?(?P<id>\d+)_\d+_.+$")  # Canvas's "Download Submissions" names
GRADER_FAILED = "the grader failed on this file"
PRAIRIELEARN_MAX_BYTES = 1_000_000
MESSAGE_CHARS = 500  # a test's one-line message; the whole reason is in its output


def _tests(rows) -> list[dict]:
    """One entry per expected exercise of every file: name, score, maximum, and the whole reason."""
    found = []
    for row in rows:
        for ex_id, result in row.results.items():
            ex = exercises.EXERCISES[ex_id]
            found.append({"name": f"{row.file}: {ex_id} (notebook {ex.notebook}, {ex.description})",
                          "score": result.score, "max_score": result.max_score, "output": result.message})
    return found


def _summary(rows) -> str:
    """One line per file: its status and note (why a file is invalid, which cell ran out of time)."""
    return "\n".join(f"{r.file}: {r.status}, {r.total}/{r.max_total}" + (f"; {r.note}" if r.note else "") for r in rows)


def gradescope(rows, seconds: float, visibility: str = "visible") -> str:
    """Gradescope's results.json for one student's files; every test (its score and reason) has ``visibility``."""
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}, got {visibility!r}")
    tests = [{**t, "status": "passed" if t["score"] == t["max_score"] else "failed", "visibility": visibility}
             for t in _tests(rows)]
    return json.dumps({"score": sum(r.total for r in rows), "execution_time": round(seconds, 1),
                       "output": _summary(rows), "visibility": visibility, "tests": tests}, indent=1)


def gradable(row) -> bool:
    """Whether a row is a grade: a notebook of the course was run, whatever its score (not a file that is no notebook
    of the course, nor one the grader itself failed on)."""
    return bool(row.results) and not row.note.startswith(GRADER_FAILED)


def prairielearn(rows, seconds: float) -> str:
    """PrairieLearn's results.json for one student's files (score as a fraction; outputs cut to fit 1 MB)."""
    graded = [r for r in rows if gradable(r)]
    total, most = sum(r.total for r in graded), sum(r.max_total for r in graded)
    tests = [{"name": t["name"], "points": t["score"], "max_points": t["max_score"],
              "message": t["output"].split("\n", 1)[0][:MESSAGE_CHARS], "output": t["output"]} for t in _tests(graded)]
    message = _summary(rows)
    if not graded:
        message = "not gradable: no file of this submission is a notebook of the course that could be graded\n" + message
    result = {"gradable": bool(graded), "score": total / most if most else 0.0, "message": message,
              "output": f"graded in {seconds:.0f} s", "tests": tests}
    text = json.dumps(result, indent=1)
    while len(text.encode()) > PRAIRIELEARN_MAX_BYTES and any(len(t["output"]) > 200 for t in tests):
        longest = max(tests, key=lambda t: len(t["output"]))
        longest["output"] = longest["output"][: len(longest["output"]) // 2] + "\n[cut to fit PrairieLearn's 1 MB]"
        text = json.dumps(result, indent=1)
    return text


def failure(fmt: str, message: str) -> str:
    """The results.json of a run in which the grader itself failed: the platform still gets one, saying why (not for
    Canvas: a gradebook CSV is imported by hand, and none is better than a wrong one)."""
    if fmt == "gradescope":
        return json.dumps({"score": 0, "execution_time": 0, "output": f"the grader failed: {message}", "tests": []})
    return json.dumps({"gradable": False, "score": 0.0, "message": f"the grader failed: {message}", "tests": []})


def canvas_ids(text: str) -> dict[str, dict[str, str]]:
    """The instructor's map of files to Canvas students: a CSV with a ``file`` column and at least one of ``ID``,
    ``SIS User ID``, ``SIS Login ID`` (``Student`` and ``Section`` kept if there). ValueError if it is not one."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if "file" not in header or not any(k in header for k in CANVAS_KEYS):
        raise ValueError(f"--canvas-ids needs a CSV with a 'file' column and one of {', '.join(CANVAS_KEYS)}; "
                         f"its header is {', '.join(header) or 'empty'}")
    return {r["file"]: {k: (r.get(k) or "").strip() for k in CANVAS_COLUMNS} for r in reader if r.get("file")}


def canvas_student(file: str, ids: dict[str, dict[str, str]] | None) -> dict[str, str] | None:
    """The Canvas columns of the student a file is from (by the instructor's map, else its Canvas download name)."""
    if ids and file in ids and any(ids[file].get(k) for k in CANVAS_KEYS):
        return {**{k: ids[file].get(k, "") for k in CANVAS_COLUMNS}, "Student": ids[file].get("Student") or file}
    m = CANVAS_DOWNLOAD.match(file)
    if m:
        return {"Student": m["name"], "ID": m["id"], "SIS User ID": "", "SIS Login ID": "", "Section": ""}
    return None


def canvas(rows, assignment: str = "cmlesson", ids: dict[str, dict[str, str]] | None = None) -> tuple[str, list[str]]:
    """Canvas's gradebook CSV (each student's files summed) and the files no student could be found for (they get a
    row keyed by the file's name, with no ID: Canvas reports them as unknown, for the instructor to map)."""
    scores: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    people: dict[tuple, dict[str, str]] = {}
    unknown = []
    for row in rows:
        who = canvas_student(row.file, ids)
        if who is None:
            unknown.append(row.file)
            who = {"Student": row.file, "ID": "", "SIS User ID": "", "SIS Login ID": "", "Section": ""}
        key = tuple(who[k] for k in CANVAS_KEYS) if any(who[k] for k in CANVAS_KEYS) else ("file", row.file)
        people.setdefault(key, who)
        scores[key][0] += row.total
        scores[key][1] += row.max_total
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*CANVAS_COLUMNS, assignment])
    writer.writerow(["    Points Possible", "", "", "", "", max([m for _, m in scores.values()] or [0])])
    for key in sorted(people, key=lambda k: (people[k]["Student"].lower(), k)):
        writer.writerow([*(people[key][c] for c in CANVAS_COLUMNS), scores[key][0]])
    return buf.getvalue(), unknown


def text(fmt: str, rows, seconds: float, csv_text, *, visibility: str = "visible", assignment: str = "cmlesson",
         ids: dict[str, dict[str, str]] | None = None) -> str:
    """What ``grade --format fmt`` writes."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "csv":
        return csv_text(rows)
    if fmt == "gradescope":
        return gradescope(rows, seconds, visibility)
    if fmt == "canvas":
        return canvas(rows, assignment, ids)[0]
    return prairielearn(rows, seconds)
