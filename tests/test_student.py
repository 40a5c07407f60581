"""The student-notebook generator (cmlesson.authoring.student): deterministic, strips solutions, stubs live, safe to run."""

from __future__ import annotations

import ast
import copy
import io
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cmlesson import __main__ as cli
from cmlesson.authoring import student
from cmlesson.authoring.course import (
    AFTER_TAG,
    MAP_MARKERS,
    PREDICTION_CELL,
    SETUP_CELL_ID,
    after_minutes,
    after_session,
    badges,
    course_map,
    header,
    setup_source,
    student_minutes,
)

ROOT = Path(__file__).resolve().parent.parent

EXERCISE = '''def square_student(x):
    """Return x squared."""
    ### BEGIN SOLUTION
    ### HINT: multiply x by itself
    secret_value = x * x
    return secret_value
    ### END SOLUTION
    ### STUB: return not_done(0)'''

TOP_LEVEL = '''data = [1, 2, 3]
### BEGIN SOLUTION
total = sum(v * 10 for v in data)
### END SOLUTION
### STUB: total = not_done(0)
print(total)'''


def solution_notebook(extra_source: str = "") -> nbformat.NotebookNode:
    """A small executed solution notebook: outputs, execution counts, run-dependent metadata."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python", "version": "3.11.2", "codemirror_mode": {"name": "ipython"}}}
    cells = [nbformat.v4.new_markdown_cell("# Title\nSome **prose**."),
             nbformat.v4.new_code_cell("def not_done(x):\n    return x"),
             nbformat.v4.new_code_cell(EXERCISE),
             nbformat.v4.new_code_cell("check(square_student)" + extra_source),
             nbformat.v4.new_code_cell(TOP_LEVEL),
             nbformat.v4.new_code_cell("# SOLUTIONS ONLY: quality asserted in CI\nassert square_student(3) == 9")]
    for i, cell in enumerate(cells):
        cell.id = f"cell-{i}"
        if cell.cell_type == "code":
            cell.execution_count = i
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"output {i}\n")]
            cell.metadata = {"execution": {"iopub.execute_input": "2025-01-01T00:00:00Z"}, "tags": ["keep"] if i == 2 else []}
            if i != 2:
                del cell.metadata["tags"]
    nb.cells = cells
    return nb


@pytest.fixture
def course(tmp_path):
    """A solutions/ folder with two notebooks and an empty notebooks/ folder."""
    sol, stu = tmp_path / "solutions", tmp_path / "notebooks"
    sol.mkdir()
    stu.mkdir()
    nbformat.write(solution_notebook(), sol / "01_a.ipynb")
    nbformat.write(solution_notebook("  # second"), sol / "02_b.ipynb")
    return sol, stu


def run(sol: Path, stu: Path, check: bool = False) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = student.generate(sol, stu, check=check, out=out, err=err)
    return rc, out.getvalue() + err.getvalue()


def code_cells(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_generation_is_deterministic(course, tmp_path):
    sol, stu = course
    assert run(sol, stu)[0] == 0
    first = {p.name: p.read_bytes() for p in stu.glob("*.ipynb")}
    other = tmp_path / "again"
    assert run(sol, other)[0] == 0
    assert first == {p.name: p.read_bytes() for p in other.glob("*.ipynb")}
    assert sorted(first) == ["01_a.ipynb", "02_b.ipynb"]
    assert run(sol, stu) == (0, "2 unchanged, 0 written\n")  # a second run writes nothing


def test_solutions_are_stripped_and_stubs_are_live(course):
    sol, stu = course
    run(sol, stu)
    text = (stu / "01_a.ipynb").read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "### STUB", "### HINT", "secret_value", "v * 10", "SOLUTIONS ONLY"):
        assert marker not in text
    cells = code_cells(stu / "01_a.ipynb")
    assert len(cells) == 4  # the SOLUTIONS ONLY cell is gone
    assert cells[1] == ('def square_student(x):\n    """Return x squared."""\n    # YOUR CODE HERE\n'
                        "    # Hint: multiply x by itself\n    return not_done(0)")
    assert cells[3] == "data = [1, 2, 3]\n# YOUR CODE HERE\ntotal = not_done(0)\nprint(total)"
    namespace: dict = {}
    exec(cells[0], namespace)  # noqa: S102 - our own fixture
    exec(cells[1], namespace)  # noqa: S102
    fn = namespace["square_student"]
    assert fn(3) == 0 and "not_done" in fn.__code__.co_names  # the stub runs and is recognisable as a stub
    exec(cells[3], namespace)  # noqa: S102
    assert namespace["total"] == 0


def test_outputs_counts_and_run_metadata_are_removed(course):
    sol, stu = course
    run(sol, stu)
    nb = nbformat.read(stu / "01_a.ipynb", as_version=4)
    assert nb.metadata == {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                           "language_info": {"name": "python"}}
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
        assert set(cell.metadata) <= {"tags"}
    assert nb.cells[2].metadata == {"tags": ["keep"]}
    assert [c.id for c in nb.cells] == [f"cell-{i}" for i in range(5)]
    assert not student.has_work(stu / "01_a.ipynb")


def test_rerunning_a_solution_does_not_change_its_student_notebook(course):
    sol, stu = course
    run(sol, stu)
    before = (stu / "01_a.ipynb").read_bytes()
    nb = nbformat.read(sol / "01_a.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.execution_count = (cell.execution_count or 0) + 7
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="different\n")]
            cell.metadata["execution"] = {"iopub.execute_input": "2030-01-01T00:00:00Z"}
    nb.metadata["language_info"]["version"] = "3.12.0"
    nbformat.write(nb, sol / "01_a.ipynb")
    assert student.render(sol / "01_a.ipynb") == before.decode()


def test_check_detects_a_stale_notebook_and_modifies_nothing(course):
    sol, stu = course
    assert run(sol, stu, check=True)[0] == 1  # nothing generated yet: both missing
    assert list(stu.iterdir()) == []
    run(sol, stu)
    assert run(sol, stu, check=True) == (0, f"2 student notebooks in {stu} are up to date\n")
    nb = nbformat.read(sol / "02_b.ipynb", as_version=4)
    nb.cells[0].source += "\nA new sentence."
    nbformat.write(nb, sol / "02_b.ipynb")
    target = stu / "02_b.ipynb"
    before, mtime = target.read_bytes(), target.stat().st_mtime_ns
    rc, message = run(sol, stu, check=True)
    assert rc == 1
    assert "02_b.ipynb" in message and "01_a.ipynb" not in message
    assert target.read_bytes() == before and target.stat().st_mtime_ns == mtime
    assert run(sol, stu)[0] == 0 and run(sol, stu, check=True)[0] == 0


def test_refuses_to_overwrite_an_executed_notebook(course):
    sol, stu = course
    run(sol, stu)
    worked = stu / "01_a.ipynb"
    nb = nbformat.read(worked, as_version=4)
    nb.cells[2].execution_count = 1  # a student ran the exercise cell
    nbformat.write(nb, worked)
    before = worked.read_bytes()
    stale = stu / "02_b.ipynb"
    stale.write_text(stale.read_text().replace("Some **prose**", "Old prose"))
    stale_before = stale.read_bytes()
    rc, message = run(sol, stu)
    assert rc == 1
    assert "01_a.ipynb" in message and "move" in message
    assert worked.read_bytes() == before
    assert stale.read_bytes() == stale_before  # nothing at all is written when one file is refused


def test_write_atomic_replaces_the_whole_file_or_nothing(tmp_path, monkeypatch):
    """The one writer of the student notebooks and the grader's files: a failure mid-write or at the rename leaves
    the old file as it was and no temporary file behind (a plain ``open(path, "w")`` would have emptied it)."""
    out = tmp_path / "new folder" / "grades.csv"
    student.write_atomic(out, "first\r\nline\n")
    assert out.read_bytes() == b"first\r\nline\n"  # the folder made, the text written as given
    with pytest.raises(UnicodeEncodeError):
        student.write_atomic(out, "second, half-" + "\ud800" + " written")  # fails while writing
    assert out.read_bytes() == b"first\r\nline\n"

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(student.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        student.write_atomic(out, "third\n")
    assert out.read_bytes() == b"first\r\nline\n"
    assert [p.name for p in out.parent.iterdir()] == ["grades.csv"]


@pytest.mark.parametrize("source, problem", [
    ("### BEGIN SOLUTION\nx = 1", "without a matching"),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\nx = 2", "must be followed by"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n### STUB: x = 0", "inside a solution block"),
    ("x = 1\n### END SOLUTION", "outside a solution block"),
    ("### STUB: x = 0", "outside a solution block"),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n### STUB:", "empty"),
])
def test_malformed_markers_are_reported(source, problem):
    with pytest.raises(student.MarkerError, match=problem):
        student.strip_solutions(source, "nb, cell 3")


def test_malformed_markers_fail_the_command_without_writing(course):
    sol, stu = course
    nb = nbformat.read(sol / "02_b.ipynb", as_version=4)
    nb.cells[2].source = nb.cells[2].source.replace("    ### STUB: return not_done(0)", "")
    nbformat.write(nb, sol / "02_b.ipynb")
    rc, message = run(sol, stu)
    assert rc == 1 and "02_b.ipynb, cell 3" in message
    assert list(stu.iterdir()) == []


# --- the course's own notebooks --------------------------------------------------------------------------------

COURSE = sorted((ROOT / "solutions").glob("*.ipynb"))


def _blocks(source: str) -> tuple[set[str], set[str]]:
    """(lines inside solution blocks, lines outside them), stripped, non-blank."""
    inside, outside, in_block = set(), set(), False
    for line in source.split("\n"):
        text = line.strip()
        if text == student.BEGIN:
            in_block = True
        elif text == student.END:
            in_block = False
        elif text:
            (inside if in_block else outside).add(text)
    return inside, outside


@pytest.mark.skipif(not COURSE, reason="no solution notebooks yet")
@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_course_notebook_has_no_solution_left_and_compiles(path):
    solution = nbformat.read(path, as_version=4)
    generated = nbformat.reads(student.render(path), as_version=4)
    kept = [c for c in solution.cells if not (c.cell_type == "code" and c.source.lstrip().startswith(student.SOLUTIONS_ONLY))]
    assert [c.get("id") for c in generated.cells] == [c.get("id") for c in kept]
    n_stubs = 0
    for sol_cell, stu_cell in zip(kept, generated.cells, strict=True):
        if sol_cell.cell_type != "code":
            assert stu_cell.source == sol_cell.source
            continue
        inside, outside = _blocks(sol_cell.source)
        leaked = (inside - outside) & {line.strip() for line in stu_cell.source.split("\n")}
        assert not leaked, f"solution lines left in {path.name}: {leaked}"
        ast.parse(stu_cell.source)  # valid Python (no IPython magics in the course)
        n_stubs += stu_cell.source.count(student.PLACEHOLDER)
        if student.PLACEHOLDER in stu_cell.source:
            assert "not_done(" in stu_cell.source.split(student.PLACEHOLDER, 1)[1]
    assert n_stubs == sum(c.source.count(student.BEGIN) for c in kept if c.cell_type == "code")


@pytest.mark.skipif(not COURSE, reason="no solution notebooks yet")
def test_course_notebooks_are_up_to_date():
    done = subprocess.run([sys.executable, "-m", "cmlesson", "student", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(not COURSE, reason="no solution notebooks yet")
@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_notebooks_without_exercises_have_the_solution_code(path):
    """nbval (conftest.py) and the benchmark run only the solution of such a notebook: its student code must be identical."""
    if not student.same_code_as_solution(path.read_text(encoding="utf-8")):
        pytest.skip("has exercises: both versions run under nbval")
    solution = nbformat.read(path, as_version=4)
    generated = nbformat.reads(student.render(path), as_version=4)
    assert [c.source for c in generated.cells if c.cell_type == "code"] == \
        [c.source for c in solution.cells if c.cell_type == "code"]


def test_same_code_as_solution_sees_blocks_and_solution_only_cells():
    assert not student.same_code_as_solution(nbformat.writes(solution_notebook()))
    plain = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    assert student.same_code_as_solution(nbformat.writes(plain))
    plain.cells.append(nbformat.v4.new_code_cell("# SOLUTIONS ONLY\nassert x == 1"))
    assert not student.same_code_as_solution(nbformat.writes(plain))


# --- the setup cell and the badges (python -m cmlesson student --sync-setup) -----------------------------------


def test_with_setup_puts_the_setup_cell_after_the_title_and_the_badges_under_it():
    nb = student.with_setup(solution_notebook(), "01_a.ipynb")
    assert [c.get("id") for c in nb.cells[:3]] == ["cell-0", SETUP_CELL_ID, "cell-1"]
    assert nb.cells[1].source == setup_source() and nb.cells[1].outputs == []
    line = header("01_a.ipynb", nb.cells, None)  # core or lab and a student's minutes; no running time without times
    assert nb.cells[0].source == f"# Title\n\n{badges('01_a.ipynb')}\n\n{line}\n\nSome **prose**."  # paragraphs of their own
    assert "notebooks/01_a.ipynb" in badges("01_a.ipynb")
    assert [c.source for c in nb.cells[2:]] == [c.source for c in solution_notebook().cells[1:]]  # nothing else changed


def test_with_setup_is_idempotent_and_replaces_old_versions():
    once = student.with_setup(solution_notebook(), "01_a.ipynb")
    once.cells[1].execution_count, once.cells[1].outputs = 3, [nbformat.v4.new_output("stream", name="stdout", text="x")]
    twice = student.with_setup(once, "01_a.ipynb")
    assert twice == once  # an unchanged setup cell keeps its run; nothing moves, no second badge line
    old = copy.deepcopy(once)
    old.cells[1].source = "# an older setup cell"
    old.cells[0].source = old.cells[0].source.replace("v", "w")  # an older badge line (another tag)
    old.cells.insert(3, old.cells.pop(1))  # and moved down
    again = student.with_setup(old, "01_a.ipynb")
    assert again.cells[0].source == once.cells[0].source
    assert again.cells[1].source == setup_source() and again.cells[1].outputs == []  # a changed cell loses its run
    assert [c.get("id") for c in again.cells] == [c.get("id") for c in once.cells]
    assert sum(c.get("id") == SETUP_CELL_ID for c in again.cells) == 1


TIMES = {"cpus": 2, "notebooks": {"01_a.ipynb": {"solution_s": 77, "student_s": 54}, "06_b.ipynb": {"solution_s": 300}}}


def test_the_header_goes_under_the_badges_and_is_replaced_not_repeated():
    nb = student.with_setup(solution_notebook(), "01_a.ipynb", TIMES)
    line = header("01_a.ipynb", nb.cells, TIMES)
    assert line.startswith("*Core path, session 1 of 2 · about ") and "minutes for a student" in line
    assert "77 s with every exercise solved, 54 s as handed out" in line and "2 CPU cores" in line
    assert nb.cells[0].source == f"# Title\n\n{badges('01_a.ipynb')}\n\n{line}\n\nSome **prose**."
    assert student.with_setup(nb, "01_a.ipynb", TIMES) == nb  # idempotent
    slower = {"cpus": 2, "notebooks": {"01_a.ipynb": {"solution_s": 90, "student_s": 60}}}
    again = student.with_setup(nb, "01_a.ipynb", slower)
    assert again.cells[0].source.count("*Core") == 1 and "90 s" in again.cells[0].source
    lab = header("06_b.ipynb", [], TIMES)
    assert lab.startswith("*Lab, after notebooks 03 and 04 · ") and "as handed out" not in lab  # no exercises: one time
    untimed = student.with_setup(nb, "01_a.ipynb", {"cpus": 2, "notebooks": {}})
    assert untimed.cells[0].source.count("*Core") == 1 and "runs in" not in untimed.cells[0].source
    legacy = copy.deepcopy(nb)  # the line older versions wrote is replaced, not kept beside the new one
    legacy.cells[0].source = legacy.cells[0].source.replace(line, "*Running time: about 9 s, on 2 CPU cores.*")
    assert student.with_setup(legacy, "01_a.ipynb", TIMES) == nb


def _cells(prose_words: int, code_lines: int, checks: list[str], predicts: int) -> list[dict]:
    prose = " ".join(["word"] * prose_words) + " **Predict** ." * predicts
    code = "\n".join(["x = 1"] * code_lines) + "".join(f"\nchecks.check_{c}(f)" for c in checks)
    return [{"cell_type": "markdown", "source": prose}, {"cell_type": "code", "source": code}]


def test_student_minutes_follow_the_one_rule():
    """prose / 120 wpm + code / 30 lines a minute + 8 per graded exercise + 1 per prediction + running time, to 5."""
    # 240 words (2 min; each Predict adds 2 words), 58 + 2 check lines (2 min), 2 exercises (16), 2 predictions (2),
    # 120 s (2): 24 minutes, 25 on the 5-minute grid
    cells = _cells(236, 58, ["a", "b"], 2)
    assert student_minutes(cells, 120) == 25
    assert student_minutes(cells + _cells(0, 0, ["c"], 0), 120) == 35  # a third exercise: 8 more
    assert student_minutes(cells + _cells(0, 0, ["a"], 0), 120) == 25  # checked twice, still one exercise
    assert student_minutes(cells, 120 + 60 * 7) == 35  # seven more minutes of running
    generated = [{"cell_type": "code", "id": SETUP_CELL_ID, "source": "\n".join(["setup"] * 300)},
                 {"cell_type": "markdown", "source": f"{badges('01_a.ipynb')}\n*Core path, " + "w " * 600}]
    assert student_minutes(generated + cells, 120) == 25  # the setup cell, badges and header are not the lesson
    assert student_minutes([], 0) == 5


def _after(cells: list[dict]) -> list[dict]:
    return [{**c, "metadata": {"tags": [AFTER_TAG]}} for c in cells]


def test_cells_after_the_session_count_apart_and_still_belong_to_the_notebook():
    """A stretch exercise (tagged) and the review sections count after the session; a prediction cell is not prose."""
    cells = _cells(1200, 0, ["a"], 1)  # 10 + 8 + 1 minutes
    assert student_minutes(cells, 0) == 20 and after_minutes(cells) == 0
    stretch = _after(_cells(0, 0, ["b"], 0))
    assert student_minutes(cells + stretch, 0) == 20 and after_minutes(cells + stretch) == 10  # 8 on the grid
    review = [{"cell_type": "markdown", "source": "## Check yourself\n" + "w " * 1200},
              {"cell_type": "markdown", "source": "## Further reading\n* a paper"}]
    assert student_minutes(cells + review, 0) == 20 and after_minutes(cells + review) == 15
    mentioned = [{"cell_type": "markdown", "source": "See the check yourself questions below. " + "w " * 1200}]
    assert student_minutes(cells + mentioned, 0) == 30  # only a section that starts with the heading counts after
    prediction = [{"cell_type": "markdown", "source": PREDICTION_CELL + " " + "w " * 1200}]
    assert student_minutes(cells + prediction, 0) == 20  # the student writes there; the prompt's minute covers it
    assert after_session({"cell_type": "code", "source": "x = 1", "metadata": {"tags": [AFTER_TAG]}})
    assert not after_session({"cell_type": "code", "source": "## Check yourself"})  # a code comment is not a section


def test_the_course_map_totals_each_core_session():
    cells = _cells(1200, 0, [], 0)  # 10 minutes each
    table = course_map({"01_a.ipynb": cells, "02_b.ipynb": cells, "03_c.ipynb": cells, "07_d.ipynb": cells}, None)
    assert "| core, session 1 | `02_b.ipynb` | 01 | 10 | — |" in table and "| lab | `07_d.ipynb` | 02 | 10 | — |" in table
    assert "| **core, session 1** | | | **20** | **—** |" in table and "| **core, session 2** | | | **10** | **—** |" in table
    # 7 minutes each: a session adds before it rounds (15), its notebooks each round up (10 + 10)
    seven = _cells(840, 0, [], 0)
    assert "| **core, session 1** | | | **15** |" in course_map({"01_a.ipynb": seven, "02_b.ipynb": seven}, None)
    homework = cells + _after(_cells(600, 0, ["x"], 0))  # 5 minutes of prose and an exercise after the session
    table = course_map({"01_a.ipynb": homework, "07_d.ipynb": homework}, None)
    assert "| core, session 1 | `01_a.ipynb` | — | 10 | 15 |" in table  # 13 minutes after it, on the grid
    assert "| lab | `07_d.ipynb` | 02 | 25 | — |" in table  # a lab has no session: all of it counts
    assert "| **core, session 1** | | | **10** | **15** |" in table
    with pytest.raises(ValueError, match="not on the course map"):
        course_map({"99_new.ipynb": cells}, None)
    readme = f"top\n{MAP_MARKERS[0]}\nold\n{MAP_MARKERS[1]}\nbottom"
    assert student.readme_with_map(readme, table) == f"top\n{MAP_MARKERS[0]}\n{table}\n{MAP_MARKERS[1]}\nbottom"
    with pytest.raises(ValueError, match="course map markers"):
        student.readme_with_map("no markers", table)


def test_badges_go_first_when_the_notebook_has_no_title():
    assert student.with_badges("Some prose.", "x.ipynb") == f"{badges('x.ipynb')}\n\nSome prose."
    assert student.with_badges(student.with_badges("Some prose.", "x.ipynb"), "x.ipynb") == \
        f"{badges('x.ipynb')}\n\nSome prose."


README = """# Course

<!-- course-map:start -->
<!-- course-map:end -->
| # | notebook | what you learn |
|---|---|---|
| 01 | `01_a.ipynb` | the first thing |
| 02 | `02_b.ipynb` | the second | with a bar |

| other | table |
|---|---|
| 01 | `01_a.ipynb` |
"""


def test_readme_gets_a_badge_column_once():
    text = student.readme_with_badges(README)
    lines = text.split("\n")
    assert lines[4] == "| # | notebook | open in | what you learn |" and lines[5] == "|---|---|---|---|"
    assert lines[6] == f"| 01 | `01_a.ipynb` | {badges('01_a.ipynb')} | the first thing |"
    assert lines[7] == f"| 02 | `02_b.ipynb` | {badges('02_b.ipynb')} | the second | with a bar |"
    assert lines[8:] == README.split("\n")[8:]  # the other table is left alone
    assert student.readme_with_badges(text) == text
    with pytest.raises(ValueError, match="no notebook table"):
        student.readme_with_badges("# nothing here\n")


def test_sync_setup_writes_solutions_readme_and_notebooks_then_nothing(course, tmp_path):
    sol, stu = course
    readme = tmp_path / "README.md"
    readme.write_text(README)
    before = {p: p.read_text() for p in sol.glob("*.ipynb")}
    out, err = io.StringIO(), io.StringIO()
    assert student.sync_setup(sol, stu, readme, out=out, err=err) == 0, err.getvalue()
    assert out.getvalue().endswith("0 unchanged, 5 written\n")  # 2 solutions, the README, 2 student notebooks
    expected, table = student.with_course({p.name: nbformat.reads(t, as_version=4) for p, t in before.items()}, None)
    for path in before:
        nb = nbformat.read(path, as_version=4)
        assert nb == expected[path.name]
        assert [c for c in nb.cells if c.cell_type == "code"][1].outputs  # the solution's outputs are kept
    first = nbformat.read(sol / "01_a.ipynb", as_version=4)
    assert first.cells[2].id == "course-map" and table in first.cells[2].source  # the map opens the first notebook
    assert table in readme.read_text() and "| **core, session 1** | | | **" in table
    assert code_cells(stu / "01_a.ipynb")[0] == setup_source()
    assert badges("01_a.ipynb") in readme.read_text()
    assert run(sol, stu, check=True)[0] == 0
    snapshot = {p: p.read_bytes() for p in [*sol.iterdir(), *stu.iterdir(), readme]}
    out = io.StringIO()
    assert student.sync_setup(sol, stu, readme, out=out) == 0
    assert out.getvalue() == "5 unchanged, 0 written\n"
    assert snapshot == {p: p.read_bytes() for p in [*sol.iterdir(), *stu.iterdir(), readme]}


def test_sync_setup_refuses_to_overwrite_an_executed_student_notebook(course, tmp_path):
    sol, stu = course
    readme = tmp_path / "README.md"
    readme.write_text(README)
    run(sol, stu)
    nb = nbformat.read(stu / "01_a.ipynb", as_version=4)
    nb.cells[1].execution_count = 1
    nbformat.write(nb, stu / "01_a.ipynb")
    snapshot = {p: p.read_bytes() for p in [*sol.iterdir(), *stu.iterdir(), readme]}
    err = io.StringIO()
    assert student.sync_setup(sol, stu, readme, out=io.StringIO(), err=err) == 1
    assert "01_a.ipynb" in err.getvalue() and "nothing was written" in err.getvalue()
    assert snapshot == {p: p.read_bytes() for p in [*sol.iterdir(), *stu.iterdir(), readme]}


def test_sync_setup_is_on_the_command_line(monkeypatch):
    """`python -m cmlesson student --sync-setup` (what the lead runs) reaches sync_setup with the course's folders."""
    calls = []
    monkeypatch.setattr(student, "sync_setup", lambda *a: calls.append(a) or 0)
    monkeypatch.setattr(student, "generate", lambda *a, **k: pytest.fail("generate called"))
    assert cli.main(["student", "--sync-setup"]) == 0
    assert calls == [(ROOT / "solutions", ROOT / "notebooks", ROOT / "README.md")]
    parse = cli.parser().parse_args
    assert parse(["student"]).sync_setup is False and parse(["student", "--check"]).check is True
    with pytest.raises(SystemExit):
        parse(["student", "--check", "--sync-setup"])
