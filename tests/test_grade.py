"""``python -m cmlesson grade``: a corpus of synthetic submissions, friendly and hostile, graded to exact rows.

The corpus is generated here from the student code in ``grading_fixtures`` (the course notebooks take about a
minute each to run, these a few seconds). The ladder exercise is measured on a tiny random model instead of
the shipped CD checkpoint. Tests that start kernels are marked slow.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import re
import shutil
from pathlib import Path

import nbformat
import pytest
import torch
from grading_fixtures import corpus as C
from torch import nn

from cmlesson import checks, data, parameterization
from cmlesson.__main__ import parser
from cmlesson.authoring import student
from cmlesson.config import NetworkConfig
from cmlesson.grading import grade
from cmlesson.grading.exercises import ladder as ladder_exercise
from cmlesson.networks import NoiseConditionedMLP

CHEAT = """\
import cmlesson.checks as checks, cmlesson.grading.exercises as ex, cmlesson.metrics as metrics, cmlesson.parameterization as P
full = checks.Result(2, 2, "ok", "correct")
for name in list(ex.EXERCISES):
    ex.module(name).judge = lambda *args, **kwargs: full
    ex.module(name).evaluate = lambda *args, **kwargs: {}
ex.judge = lambda *args, **kwargs: full
ex.kernel_sources = lambda: {}
ex.EXERCISES.clear()
checks.not_done.calls = -1000
metrics.wasserstein_2d = lambda a, b: 0.0
P.c_skip = lambda sigma, sigma_data, sigma_min: sigma_min**2 / (sigma**2 + sigma_min**2)
"""

SABOTAGE_RESULTS = """\
import os
_replace = os.replace
def replace(src, dst):  # every JSON file renamed into place gets garbled: the grader's results file
    _replace(src, dst)
    if str(dst).endswith(".json"):
        with open(dst, "w") as f:
            f.write("{'exercises': not json")
os.replace = replace
"""

BREAK_KERNEL_JSON = """\
import json
json.dumps = lambda *args, **kwargs: "{'exercises': not json"
"""

DIES_IN_FUNCTION = """\
def multistep_student(model, x, sigmas, generator):
    import os
    os._exit(1)
"""

HANGS_IN_FUNCTION = """\
def multistep_student(model, x, sigmas, generator):
    while True:
        pass
"""

ONE = C.NOTEBOOK_01
ALL_BUT_W1 = [C.CORRECT[e] for e in C.ALL if e != "w1"]


def build_corpus(folder: Path) -> None:
    """The submissions of the hostile-corpus test, one file per imagined student."""
    folder.mkdir()
    C.write(folder / "full_marks.ipynb", *[C.CORRECT[e] for e in C.ALL])
    C.write(folder / "wrong_w1.ipynb", *ALL_BUT_W1, C.WRONG["w1"]["per_axis"])
    C.write(folder / "unattempted.ipynb", *[C.STUBS[e] for e in ONE])
    C.write(folder / "raising.ipynb", C.CORRECT["coefficients"], "1 / 0", C.WRONG["multistep"]["raises"])
    C.write(folder / "sys_exit.ipynb", *[C.CORRECT[e] for e in ONE], "import sys\nsys.exit(3)")
    C.write(folder / "kernel_death.ipynb", *[C.CORRECT[e] for e in ONE], "import os\nos._exit(1)")
    C.write(folder / "dies_in_function.ipynb", C.CORRECT["coefficients"], DIES_IN_FUNCTION)
    C.write(folder / "huge_output.ipynb", *[C.CORRECT[e] for e in ONE], "for _ in range(50):\n    print('x' * 100_000)")
    C.write(folder / "malformed_results.ipynb", *[C.CORRECT[e] for e in ONE], SABOTAGE_RESULTS)
    C.write(folder / "breaks_json.ipynb", *[C.CORRECT[e] for e in ONE], BREAK_KERNEL_JSON)
    C.write(folder / "cheat.ipynb", CHEAT, C.WRONG["coefficients"]["lesson"], C.STUBS["multistep"])
    C.write(folder / "missing_cell.ipynb", C.CORRECT["coefficients"])
    C.write(folder / "no_exercises.ipynb", "print('hello')")
    (folder / "empty.ipynb").write_bytes(b"")
    (folder / "carol.txt").write_text("my answers are in the email")
    (folder / "not_json.ipynb").write_text('{"cells": [')


FULL = {e: checks.EXERCISES[e].points for e in C.ALL}

# file -> (status, {exercise: score}, words in the note, {exercise: words in the reason})
EXPECTED = {
    "breaks_json.ipynb": ("error", {"coefficients": 0, "multistep": 0, "two_step": 0},
                          "could not run the notebook: the kernel's messages are unreadable", {}),
    "carol.txt": ("invalid", {}, "not a notebook: the file is not JSON", {}),
    "cheat.ipynb": ("ok", {"coefficients": 0, "multistep": 0, "two_step": 0}, "",
                    {"coefficients": "boundary condition fails: c_skip(sigma_min) = 0.5", "multistep": "not attempted"}),
    "dies_in_function.ipynb": ("error", {"coefficients": 1, "multistep": 0, "two_step": 0}, "kernel died in the grader's cell",
                               {"multistep": "was running when the notebook was stopped"}),
    "empty.ipynb": ("invalid", {}, "empty file", {}),
    "full_marks.ipynb": ("ok", FULL, "", {e: "" for e in C.ALL}),
    "huge_output.ipynb": ("ok", {"coefficients": 1, "multistep": 1, "two_step": 0}, "printed 5.0 MB of output", {}),
    "kernel_death.ipynb": ("error", {"coefficients": 0, "multistep": 0, "two_step": 0}, "kernel died in cell 5 ('import os')",
                           {"coefficients": "not evaluated"}),
    "malformed_results.ipynb": ("invalid", {"coefficients": 0, "multistep": 0, "two_step": 0}, "results file is malformed", {}),
    "missing_cell.ipynb": ("ok", {"coefficients": 1, "multistep": 0, "two_step": 0}, "",
                           {"multistep": "multistep_student is not defined"}),
    "no_exercises.ipynb": ("invalid", {}, "no exercise of the course found", {}),
    "not_json.ipynb": ("invalid", {}, "not a notebook", {}),
    "raising.ipynb": ("ok", {"coefficients": 1, "multistep": 0, "two_step": 0}, "cell 4 ('1 / 0') raised ZeroDivisionError",
                      {"multistep": "multistep_student raised ValueError"}),
    "sys_exit.ipynb": ("ok", {"coefficients": 1, "multistep": 1, "two_step": 0}, "raised SystemExit: 3", {}),
    "unattempted.ipynb": ("ok", {"coefficients": 0, "multistep": 0, "two_step": 0}, "",
                          {"coefficients": "not attempted", "multistep": "not attempted"}),
    "wrong_w1.ipynb": ("ok", {**FULL, "w1": 0}, "", {"w1": "W1 computed per axis, not in 2-D"}),
}


@pytest.fixture
def tiny_ladder(monkeypatch) -> ladder_exercise.LadderAssets:
    """The ladder measured on a tiny random consistency model instead of the shipped checkpoint."""
    torch.manual_seed(0)
    backbone = NoiseConditionedMLP(2, NetworkConfig(hidden=16, depth=2))
    nn.init.normal_(backbone.out.weight, std=0.3)
    model = parameterization.ConsistencyFunction(backbone, 0.5, 0.002, 80.0).eval().requires_grad_(False)
    assets = ladder_exercise.LadderAssets(model, data.sample("moons", 2000, seed=5))
    monkeypatch.setattr(ladder_exercise, "grader_assets", lambda: assets)
    return assets


def hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def args(folder: Path | None, out: Path, timeout: float = 120, solutions: bool = False,
         sandbox: str = "auto") -> argparse.Namespace:
    """The parsed command line ``grade [FOLDER] --out OUT ...``, by the command's own parser (its defaults)."""
    argv = ["grade", *([str(folder)] if folder else []), "--out", str(out), "--timeout", str(timeout), "--jobs", "2",
            "--sandbox", sandbox, *(["--solutions"] if solutions else [])]
    return parser().parse_args(argv)


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as f:
        return {row["file"]: row for row in csv.DictReader(f)}


def assert_row(row: dict[str, str], status: str, scores: dict[str, int], note: str, reasons: dict[str, str]) -> None:
    assert row["status"] == status, row
    assert note in row["note"], row["note"]
    for ex_id in checks.EXERCISES:
        expected = str(scores[ex_id]) if ex_id in scores else ""
        assert row[f"{ex_id}_score"] == expected, (ex_id, row)
    for ex_id, words in reasons.items():
        assert words in row[f"{ex_id}_reason"], (ex_id, row[f"{ex_id}_reason"])
    assert row["total"] == str(sum(scores.values()))
    assert row["max_total"] == str(sum(checks.EXERCISES[e].points for e in scores))


@pytest.mark.slow
def test_hostile_corpus_gets_exact_rows(tmp_path, tiny_ladder, capsys):
    subs = tmp_path / "submissions"
    build_corpus(subs)
    before = hashes(subs)
    out = tmp_path / "grades.csv"
    out.write_text("the previous grades\n")
    assert grade.main(args(subs, out)) == 0
    assert hashes(subs) == before, "the grader modified SUBMISSIONS_DIR"
    rows = read_csv(out)
    assert sorted(rows) == sorted(EXPECTED)
    for name, expected in EXPECTED.items():
        assert_row(rows[name], *expected)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".grades")] == []  # no temporary file left
    printed = capsys.readouterr().out
    assert "16 submissions graded" in printed and "8 ok, 3 error, 5 invalid" in printed


IGNORES_ALARM = """\
def multistep_student(model, x, sigmas, generator):
    import signal
    signal.signal(signal.SIGALRM, signal.SIG_IGN)  # the grader's per-function limit no longer fires
    while True:
        pass
"""

IGNORES_INTERRUPT = """\
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    pass
"""


@pytest.mark.slow
def test_hanging_notebooks_time_out(tmp_path, monkeypatch):
    """Partial credit: a cell past the time limit is interrupted and what was defined before it is still evaluated;
    a function past its own limit scores 0 with the reason; the grader's cell has a limit of its own; a kernel that
    ignores the interrupt keeps nothing. Light notebooks (no imports cell): on a busy machine the time goes to the
    hang, not to importing."""
    monkeypatch.setattr(grade, "GRADER_SLACK_S", 20.0)
    subs = tmp_path / "submissions"
    subs.mkdir()
    C.write(subs / "hangs_in_cell.ipynb", C.CORRECT["coefficients"], "while True:\n    pass", C.CORRECT["two_step"],
            imports=False)
    C.write(subs / "hangs_in_function.ipynb", C.CORRECT["coefficients"], HANGS_IN_FUNCTION, C.CORRECT["two_step"],
            imports=False)
    C.write(subs / "ignores_alarm.ipynb", C.CORRECT["coefficients"], IGNORES_ALARM, imports=False)
    C.write(subs / "ignores_interrupt.ipynb", C.CORRECT["coefficients"], IGNORES_INTERRUPT, imports=False)
    before = hashes(subs)
    rows = {r.file: r for r in grade.grade(grade.find_submissions(subs), timeout=15, jobs=2, progress=False,
                                           exercise_timeout=3)}
    cell, function, alarm, interrupt = (rows[f"{n}.ipynb"] for n in ("hangs_in_cell", "hangs_in_function",
                                                                    "ignores_alarm", "ignores_interrupt"))
    notebook_01 = sum(ex.points for ex in checks.EXERCISES.values() if ex.notebook == "01")
    assert (cell.status, cell.total, cell.max_total) == ("timeout", 1, notebook_01)  # coefficients kept; two_step never ran
    assert cell.note == ("time limit of 15 s reached in cell 3 ('while True:'): interrupted, then the exercises it had "
                         "defined were evaluated")
    assert "two_step_tau, two_step_reason is not defined" in cell.results["two_step"].reason
    assert (function.status, function.note, function.total) == ("ok", "", 3)
    assert function.results["multistep"].reason.endswith("multistep_student raised TimeoutError: still running after 3 s")
    assert (alarm.status, alarm.total) == ("timeout", 1)
    assert alarm.note == f"time limit of {3 * 3 + 20:g} s reached in the grader's cell, while it ran your functions"
    assert "was running when the notebook was stopped" in alarm.results["multistep"].reason
    assert (interrupt.status, interrupt.total) == ("timeout", 0)
    assert interrupt.note == ("time limit of 15 s reached in cell 3 ('import signal'): it did not stop when interrupted, "
                              "so nothing was evaluated")
    assert hashes(subs) == before


GRADED_WHOLE = "0[1-5]_*.ipynb"  # the lesson's notebooks graded whole below; nbval skips their student versions


def test_nbval_skips_exactly_the_student_notebooks_graded_whole():
    import importlib.util

    spec = importlib.util.spec_from_file_location("root_conftest", Path(grade.SOLUTIONS.parent, "conftest.py"))
    root = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root)
    assert root.GRADED_WHOLE == GRADED_WHOLE
    notebooks = sorted((grade.SOLUTIONS.parent / "notebooks").glob("*.ipynb"))
    skipped = [p.name[:2] for p in notebooks if root.pytest_ignore_collect(p, None)]
    assert skipped == ["01", "02", "03", "04", "05"]  # every lab holds an exercise: nbval runs its student version


def _grade_lesson_notebooks(folder: Path, tmp_path: Path) -> list:
    """Grade copies of the lesson's notebooks 01-05 of ``folder``; every row ran cleanly, in order.

    The root conftest.py lets nbval skip the student notebooks this runs whole (its ``GRADED_WHOLE``, this glob)."""
    subs = tmp_path / "submissions"
    subs.mkdir()
    for path in sorted(folder.glob(GRADED_WHOLE)):
        shutil.copy(path, subs / path.name)
    rows = grade.grade(grade.find_submissions(subs), timeout=600, jobs=2, progress=False)
    assert [r.file[:2] for r in rows] == ["01", "02", "03", "04", "05"]
    for row in rows:
        assert (row.status, row.note) == ("ok", ""), row
    return rows


@pytest.mark.slow
def test_untouched_student_notebooks_are_not_attempted(tmp_path):
    """Every stub of every student notebook, as generated, grades to "not attempted" (and no cell raises)."""
    rows = _grade_lesson_notebooks(grade.SOLUTIONS.parent / "notebooks", tmp_path)
    for row in rows:
        for ex_id, result in row.results.items():
            assert (result.status, result.score) == ("not attempted", 0), (row.file, ex_id, result.message)
        assert set(row.results) == {e for e, ex in checks.EXERCISES.items() if ex.notebook == row.file[:2]}


# --- without kernels -------------------------------------------------------------------------------------------


def test_files_that_are_not_notebooks_are_invalid(tmp_path):
    cases = {"empty.ipynb": b"", "text.ipynb": b"hello", "list.ipynb": b"[]", "v4_missing_keys.ipynb": b'{"nbformat": 4}'}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        sub = grade.load_submission(tmp_path / name)
        assert sub.nb is None and sub.problem, name
    assert grade.load_submission(tmp_path / "empty.ipynb").problem == "empty file"


def test_which_exercises_a_notebook_must_hold():
    nb = C.notebook(C.CORRECT["ct_loss"])
    assert grade.exercises_in(nb) == ["ct_loss", "ct_training", "w1", "ladder"]  # a deleted cell still counts
    check_cell_only = C.notebook("checks.check_heun_step(heun_step_student)")
    assert grade.exercises_in(check_cell_only) == [e for e, ex in checks.EXERCISES.items() if ex.notebook == "02"]
    assert grade.exercises_in(C.notebook("c_skip_studentx = 1")) == []
    assert grade.exercises_in(C.notebook(*C.CORRECT.values())) == list(checks.EXERCISES)


def test_csv_columns_and_blank_cells():
    row = grade.Row("a.ipynb", "03", "ok", "", {"curriculum": checks.Result(1, 1, "ok", "correct\nmore")})
    text = grade.csv_text([row])
    header, line = text.splitlines()
    assert header.split(",")[:4] == ["file", "notebook", "status", "note"]
    columns = header.split(",")
    assert columns[-4:] == [f"{list(checks.EXERCISES)[-1]}_score", f"{list(checks.EXERCISES)[-1]}_reason", "total", "max_total"]
    cells = dict(zip(columns, line.split(","), strict=True))
    filled = {k: v for k, v in cells.items() if v}
    assert filled == {"file": "a.ipynb", "notebook": "03", "status": "ok", "curriculum_score": "1",
                      "curriculum_reason": "correct", "total": "1", "max_total": "1"}


def test_the_grader_writes_with_the_one_atomic_writer():
    assert grade.write_atomic is student.write_atomic  # tested in test_student.py


def test_command_line_errors(tmp_path, capsys):
    assert grade.main(args(None, tmp_path / "g.csv")) == 2
    assert grade.main(args(tmp_path / "nowhere", tmp_path / "g.csv")) == 2
    assert "not a folder" in capsys.readouterr().err
    assert not (tmp_path / "g.csv").exists()


def test_invalid_files_only_need_no_kernel(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "empty.ipynb").write_bytes(b"")
    (subs / ".hidden").write_text("ignored")
    assert grade.main(args(subs, tmp_path / "g.csv")) == 0
    rows = read_csv(tmp_path / "g.csv")
    assert list(rows) == ["empty.ipynb"]
    assert (rows["empty.ipynb"]["status"], rows["empty.ipynb"]["max_total"]) == ("invalid", "0")


def test_grader_cell_is_valid_python(tmp_path):
    code = grade.grader_cell(tmp_path / "r.json", None, ["w1"])
    compile(code, "<cell>", "exec")
    assert not re.search(r"(import|from)\s+cmlesson", code)
    nbformat.validate(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)]))


def test_a_grader_failure_on_one_file_only_fails_its_row(tmp_path, monkeypatch):
    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(grade, "run_notebook", broken)
    C.write(tmp_path / "a.ipynb", C.CORRECT["curriculum"])
    (row,) = grade.grade([tmp_path / "a.ipynb"], jobs=1, progress=False)
    assert (row.status, row.total, row.max_total) == ("error", 0, 1)
    assert row.note == "the grader failed on this file: OSError: disk full"


def test_unreadable_kernel_messages_get_one_note_whichever_symptom_comes_first():
    """A kernel whose json.dumps was replaced fails with either symptom, by timing; the note says the same."""
    import json as _json

    for err in (_json.JSONDecodeError("Expecting value", "{'exercises'", 0), ValueError("Duplicate Signature: b'5896'")):
        assert grade._unreadable(err) == "the kernel's messages are unreadable; "
    assert grade._unreadable(ValueError("some other problem")) is None
    assert grade._unreadable(RuntimeError("Duplicate Signature")) is None
