"""``python -m cmlesson nbgrader OUT``: the graded notebooks as an nbgrader course, checked by the real nbgrader.

The slow test runs nbgrader's own ``generate_assignment`` on every assignment and ``autograde`` on notebook 01, as
handed in twice: the solution (full marks) and the untouched release (zero).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from cmlesson.authoring.student import MarkerError
from cmlesson.grading import exercises, nbgrader_course

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def cells(nb: dict, kind: str = "code") -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == kind]


def test_return_stub_goes_after_the_region_and_is_unreachable():
    source = ("def f(x):\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y\n    ### END SOLUTION\n"
              "    ### STUB: return not_done(x)")
    assert nbgrader_course.nbgrader_source(source).split("\n")[-2:] == ["    ### END SOLUTION", "    return not_done(x)"]
    falls_off = "def f(x):\n    ### BEGIN SOLUTION\n    x.add_(1)\n    ### END SOLUTION\n    ### STUB: return not_done(None)"
    out = nbgrader_course.nbgrader_source(falls_off).split("\n")
    assert out[3].strip().startswith("return None") and out[4].strip() == "### END SOLUTION"
    namespace: dict = {"not_done": lambda v: "stub"}
    exec(nbgrader_course.nbgrader_source(source) + "\n" + nbgrader_course.nbgrader_source(falls_off).replace("f(", "g("),
         namespace)
    assert namespace["f"](1) == 2 and namespace["g"](type("T", (), {"add_": lambda self, n: None})()) is None


def test_value_stub_goes_before_the_region_so_the_solution_overwrites_it():
    source = "### BEGIN SOLUTION\ntau = 0.1\n### END SOLUTION\n### STUB: tau = not_done(1.0)  # why"
    out = nbgrader_course.nbgrader_source(source)
    assert out.split("\n")[0] == "tau = not_done(1.0)  # why"
    namespace: dict = {"not_done": lambda v: v}
    exec(out, namespace)
    assert namespace["tau"] == 0.1


def test_malformed_markers_are_named():
    with pytest.raises(MarkerError, match="without a matching"):
        nbgrader_course.nbgrader_source("### BEGIN SOLUTION\nx = 1\n")
    with pytest.raises(MarkerError, match="must be followed by"):
        nbgrader_course.nbgrader_source("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\nx = 2")


def test_every_exercise_gets_one_locked_grade_cell_worth_its_points():
    files = nbgrader_course.course_files()
    notebooks = {name: json.loads(text) for name, text in files.items() if name.endswith(".ipynb")}
    assert {Path(n).name[:2] for n in notebooks} == {ex.notebook for ex in exercises.EXERCISES.values()}
    graded = {}
    for name, nb in notebooks.items():
        ids = Counter()
        for cell in nb["cells"]:
            meta = cell["metadata"].get("nbgrader")
            assert cell.get("outputs", []) == [] and "SOLUTIONS ONLY" not in cell["source"]
            if meta is None:
                assert "### BEGIN SOLUTION" not in cell["source"], (name, cell["source"][:80])
                continue
            ids[meta["grade_id"]] += 1
            assert meta["schema_version"] == 3 and meta["solution"] == ("### BEGIN SOLUTION" in cell["source"])
            if meta["grade"]:
                ex_id = meta["grade_id"].removeprefix("grade-")
                assert meta["locked"] and meta["points"] == exercises.EXERCISES[ex_id].points
                assert cell["source"].rstrip().endswith(f"cmlesson.checks.score({ex_id!r}, globals())")
                graded[ex_id] = name
        assert max(ids.values()) == 1, f"{name}: grade_id used twice"
    assert sorted(graded) == sorted(exercises.EXERCISES)
    assert f"c.Execute.timeout = {nbgrader_course.CELL_TIMEOUT_S}" in files["nbgrader_config.py"]


def test_nothing_in_out_is_overwritten(tmp_path, capsys):
    from cmlesson.__main__ import main

    assert main(["nbgrader", str(tmp_path)]) == 0
    config = tmp_path / "nbgrader_config.py"
    config.write_text(config.read_text() + "c.Exchange.root = '/srv/exchange'  # the instructor's own line\n")
    mine = config.read_text()
    assert main(["nbgrader", str(tmp_path)]) == 1
    assert "nbgrader_config.py" in capsys.readouterr().err and config.read_text() == mine


def test_score_is_the_checks_verdict_with_nothing_on_stderr(capsys):
    from grading_fixtures import corpus as C

    from cmlesson import checks

    assert checks.score("coefficients", C.functions(C.CORRECT["coefficients"])) == 1
    assert checks.score("coefficients", C.functions(C.WRONG["coefficients"]["lesson"])) == 0
    assert checks.score("coefficients", C.functions(C.STUBS["coefficients"])) == 0
    assert checks.score("coefficients", {}) == 0
    out, err = capsys.readouterr()
    assert "1/1. correct" in out and "not attempted" in out and "is not defined" in out and err == ""
    with pytest.raises(ValueError, match="ex_id='nope'"):
        checks.score("nope", {})


def nbgrader(course: Path, *argv: str) -> None:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}  # autograde needs alembic on PATH
    done = subprocess.run([str(BIN / "nbgrader"), *argv], cwd=course, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


def code_lines(nb: dict) -> list[Counter]:
    text = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells(nb)
            if not c["id"].startswith("grade-")]
    return [Counter(t.split("\n")) for t in text]


@pytest.mark.slow
def test_nbgrader_round_trip(tmp_path):
    course = tmp_path / "course"
    assert nbgrader_course.write_course(course)
    nbgrader(course, "generate_assignment", "*", "--force")
    for source in sorted((course / "source").glob("*/*.ipynb")):
        release = json.loads((course / "release" / source.parent.name / source.name).read_text())
        student = json.loads((ROOT / "notebooks" / source.name).read_text())
        # the release holds the student notebook's code (the stubs of values one line earlier) plus the grade cells
        assert code_lines(release) == code_lines(student), source.name

    name = "01_consistency_property"
    for who, path in (("solution", course / "source" / name), ("untouched", course / "release" / name)):
        shutil.copytree(path, course / "submitted" / who / name)
    nbgrader(course, "autograde", name, "--force")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:  # nbgrader's own reading of its grades
        scores = {who: gradebook.find_submission(name, who).score for who in ("solution", "untouched")}
    full = sum(ex.points for ex in exercises.EXERCISES.values() if ex.notebook == "01")
    assert scores == {"solution": full, "untouched": 0}
