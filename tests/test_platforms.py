"""``grade --format gradescope|prairielearn``: one student's results.json in each platform's format."""

from __future__ import annotations

import json

from grading_fixtures import corpus as C

from cmlesson.__main__ import parser
from cmlesson.grading import exercises, grade, platforms


def rows() -> list[grade.Row]:
    """A student's two files: notebook 01 judged for real (one right, one wrong exercise), and an empty file."""
    results = {"coefficients": C.grade("coefficients", C.CORRECT["coefficients"]),
               "multistep": C.grade("multistep", C.WRONG["multistep"]["sigma_noise"]),
               "two_step": exercises.Result(0, 2, "wrong", "not evaluated: the notebook did not finish")}
    return [grade.Row("ada_01.ipynb", "01", "timeout", "time limit of 300 s reached in cell 7 ('train(...)')", results),
            grade.Row("ada_05.ipynb", "", "invalid", "empty file", {})]


def test_gradescope_results():
    out = json.loads(platforms.gradescope(rows(), 12.34))
    assert (out["score"], out["execution_time"]) == (1, 12.3)
    assert [(t["name"].split(" (")[0], t["score"], t["max_score"], t["status"]) for t in out["tests"]] == [
        ("ada_01.ipynb: coefficients", 1, 1, "passed"), ("ada_01.ipynb: multistep", 0, 1, "failed"),
        ("ada_01.ipynb: two_step", 0, 2, "failed")]
    assert "re-noised with sigma" in out["tests"][1]["output"]  # the whole reason, for the student
    assert "cell 7 ('train(...)')" in out["output"] and "ada_05.ipynb: invalid, 0/0; empty file" in out["output"]
    assert {t["visibility"] for t in out["tests"]} == {"visible"}


def test_prairielearn_results_fit_in_one_megabyte():
    out = json.loads(platforms.prairielearn(rows(), 5.0))
    assert out["gradable"] is True and out["score"] == 1 / 4
    assert [(t["points"], t["max_points"]) for t in out["tests"]] == [(1, 1), (0, 1), (0, 2)]
    assert out["tests"][1]["message"] == out["tests"][1]["output"].split("\n")[0][:platforms.MESSAGE_CHARS]
    huge = rows()
    huge[0].results["two_step"] = exercises.Result(0, 2, "wrong", "x" * 3_000_000)
    text = platforms.prairielearn(huge, 5.0)
    assert len(text.encode()) <= platforms.PRAIRIELEARN_MAX_BYTES and "cut to fit" in text
    assert json.loads(platforms.prairielearn([rows()[1]], 1.0))["gradable"] is False  # nothing gradable: say so


def test_grade_command_writes_results_json_even_when_it_fails(tmp_path, monkeypatch):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "empty.ipynb").write_bytes(b"")
    out = tmp_path / "results.json"
    args = parser().parse_args(["grade", str(subs), "--out", str(out), "--timeout", "10", "--jobs", "1", "--sandbox", "none",
                                "--format", "gradescope"])
    assert grade.main(args) == 0
    assert json.loads(out.read_text())["output"] == "empty.ipynb: invalid, 0/0; empty file"
    monkeypatch.setattr(grade, "grade", lambda *a, **k: 1 / 0)
    args.format = "prairielearn"
    assert grade.main(args) == 1
    failed = json.loads(out.read_text())
    assert failed["gradable"] is False and "ZeroDivisionError" in failed["message"]
