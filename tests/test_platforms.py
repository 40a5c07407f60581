"""``grade --format gradescope|prairielearn|canvas``: one student's results.json in each platform's format, or the
class as a Canvas gradebook CSV."""

from __future__ import annotations

import csv
import io
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


# --- issue 28, part 6: visibility, gradable, Canvas ----------------------------------------------------------------

def test_gradescope_visibility_holds_reasons_back():
    for visibility in platforms.VISIBILITIES:
        out = json.loads(platforms.gradescope(rows(), 1.0, visibility))
        assert out["visibility"] == visibility and {t["visibility"] for t in out["tests"]} == {visibility}
    try:
        platforms.gradescope(rows(), 1.0, "later")
    except ValueError as err:
        assert "after_published" in str(err)
    else:
        raise AssertionError("an unknown visibility was accepted")


def test_grade_command_passes_the_visibility(tmp_path, monkeypatch):
    monkeypatch.setattr(grade, "grade", lambda *a, **k: rows())
    subs = tmp_path / "subs"
    subs.mkdir()
    out = tmp_path / "results.json"
    args = parser().parse_args(["grade", str(subs), "--out", str(out), "--format", "gradescope",
                                "--gradescope-visibility", "after_published"])
    assert grade.main(args) == 0
    assert {t["visibility"] for t in json.loads(out.read_text())["tests"]} == {"after_published"}


def test_prairielearn_is_not_gradable_without_a_gradable_file():
    invalid = grade.Row("notes.txt", "", "invalid", "not a notebook: the file is not JSON", {})
    failed = grade.Row("ada_02.ipynb", "02", "error", "the grader failed on this file: OSError: disk full",
                       {"heun_step": exercises.Result(0, 1, "wrong", "not evaluated: the notebook did not finish")})
    for files in ([invalid], [invalid, failed]):
        out = json.loads(platforms.prairielearn(files, 1.0))
        assert (out["gradable"], out["score"], out["tests"]) == (False, 0.0, [])
        assert out["message"].startswith("not gradable: no file of this submission is a notebook of the course")
        assert "notes.txt: invalid, 0/0; not a notebook: the file is not JSON" in out["message"]
    mixed = json.loads(platforms.prairielearn([*rows(), failed], 1.0))  # a graded notebook beside them: graded
    assert mixed["gradable"] is True and mixed["score"] == 1 / 4 and len(mixed["tests"]) == 3
    died = grade.Row("bo_01.ipynb", "01", "error", "the kernel died in cell 5 ('import os')", rows()[0].results)
    assert json.loads(platforms.prairielearn([died], 1.0))["gradable"] is True  # the student's own doing: a grade


def _class_rows() -> list[grade.Row]:
    r = rows()[0]
    return [grade.Row("smithada_12345_99001_01_consistency_property.ipynb", "01", "ok", "", r.results),
            grade.Row("smithada_LATE_12345_99002_05_exercises.ipynb", "05", "ok", "",
                      {"w1": exercises.Result(1, 1, "ok", "correct")}),
            grade.Row("jonesbo_777_99003_01.ipynb", "01", "ok", "", {"coefficients": exercises.Result(0, 1, "wrong", "x")}),
            grade.Row("carol.ipynb", "01", "ok", "", {"coefficients": exercises.Result(1, 1, "ok", "correct")}),
            grade.Row("dan.ipynb", "", "invalid", "empty file", {})]


def test_canvas_gradebook_from_canvas_download_names():
    text, unknown = platforms.canvas(_class_rows(), "Consistency models (4321)")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Consistency models (4321)"]
    assert table[1] == ["    Points Possible", "", "", "", "", "5"]  # Ada's two files: 4 + 1
    by_student = {t[0]: t for t in table[2:]}
    assert by_student["smithada"][1:] == ["12345", "", "", "", "2"]  # 1 (notebook 01) + 1 (w1, late)
    assert by_student["jonesbo"][1:] == ["777", "", "", "", "0"]
    assert by_student["carol.ipynb"][1:] == ["", "", "", "", "1"] and by_student["dan.ipynb"][-1] == "0"
    assert unknown == ["carol.ipynb", "dan.ipynb"]


def test_canvas_gradebook_with_the_instructors_map(tmp_path, monkeypatch, capsys):
    ids = platforms.canvas_ids("file,SIS User ID,Student\ncarol.ipynb,s-0042,Carol King\n")
    table = list(csv.reader(io.StringIO(platforms.canvas(_class_rows(), "A", ids)[0])))
    assert ["Carol King", "", "s-0042", "", "", "1"] in table
    for bad in ("name,ID\nx,1\n", "file,email\nx,y\n", ""):
        try:
            platforms.canvas_ids(bad)
        except ValueError as err:
            assert "needs a CSV with a 'file' column" in str(err)
        else:
            raise AssertionError(bad)
    monkeypatch.setattr(grade, "grade", lambda *a, **k: _class_rows())
    subs = tmp_path / "subs"
    subs.mkdir()
    (tmp_path / "ids.csv").write_text("file,ID\ncarol.ipynb,555\n")
    out = tmp_path / "canvas.csv"
    args = parser().parse_args(["grade", str(subs), "--out", str(out), "--format", "canvas", "--canvas-ids",
                                str(tmp_path / "ids.csv"), "--canvas-assignment", "CM (1)"])
    assert grade.main(args) == 0
    assert "carol.ipynb,555,,,,1" in out.read_text()
    assert "warning: no Canvas student for 1 files" in capsys.readouterr().err  # dan.ipynb
    args.canvas_ids = str(tmp_path / "missing.csv")
    assert grade.main(args) == 2
    args.canvas_ids, args.shard = None, "0/2"
    assert grade.main(args) == 2
