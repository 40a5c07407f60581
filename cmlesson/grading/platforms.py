"""The grader's rows in the formats of autograding platforms: one submission (one student's files) per results.json.

* Gradescope: ``/autograder/results/results.json`` = ``{"score", "execution_time", "output", "tests": [{"name",
  "score", "max_score", "status", "output", "visibility"}]}`` (written always, even partial).
* PrairieLearn external grader: ``/grade/results/results.json`` = ``{"gradable", "score" (0..1), "message",
  "output", "tests": [{"name", "points", "max_points", "message", "output"}]}``, at most 1 MB.
"""

from __future__ import annotations

import json

from . import exercises

FORMATS = ("csv", "gradescope", "prairielearn")
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


def gradescope(rows, seconds: float) -> str:
    """Gradescope's results.json for one student's files."""
    tests = [{**t, "status": "passed" if t["score"] == t["max_score"] else "failed", "visibility": "visible"}
             for t in _tests(rows)]
    return json.dumps({"score": sum(r.total for r in rows), "execution_time": round(seconds, 1),
                       "output": _summary(rows), "tests": tests}, indent=1)


def prairielearn(rows, seconds: float) -> str:
    """PrairieLearn's results.json for one student's files (score as a fraction; outputs cut to fit 1 MB)."""
    total, most = sum(r.total for r in rows), sum(r.max_total for r in rows)
    tests = [{"name": t["name"], "points": t["score"], "max_points": t["max_score"],
              "message": t["output"].split("\n", 1)[0][:MESSAGE_CHARS], "output": t["output"]} for t in _tests(rows)]
    result = {"gradable": bool(most), "score": total / most if most else 0.0, "message": _summary(rows),
              "output": f"graded in {seconds:.0f} s", "tests": tests}
    text = json.dumps(result, indent=1)
    while len(text.encode()) > PRAIRIELEARN_MAX_BYTES and any(len(t["output"]) > 200 for t in tests):
        longest = max(tests, key=lambda t: len(t["output"]))
        longest["output"] = longest["output"][: len(longest["output"]) // 2] + "\n[cut to fit PrairieLearn's 1 MB]"
        text = json.dumps(result, indent=1)
    return text


def failure(fmt: str, message: str) -> str:
    """The results.json of a run in which the grader itself failed: the platform still gets one, saying why."""
    if fmt == "gradescope":
        return json.dumps({"score": 0, "execution_time": 0, "output": f"the grader failed: {message}", "tests": []})
    return json.dumps({"gradable": False, "score": 0.0, "message": f"the grader failed: {message}", "tests": []})


def text(fmt: str, rows, seconds: float, csv_text) -> str:
    """What ``grade --format fmt`` writes."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return csv_text(rows) if fmt == "csv" else (gradescope if fmt == "gradescope" else prairielearn)(rows, seconds)
