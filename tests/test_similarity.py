"""Similarity of the students' code (issue 28, part 3): planted copies are found, independent solutions are not.

No kernel starts: the similarity reads the notebooks' code only (the command-line test replaces the grading)."""

from __future__ import annotations

import csv
import inspect
import io
from pathlib import Path

import pytest
from grading_fixtures import corpus as C
from grading_fixtures import similar as S

from cmlesson import samplers
from cmlesson.__main__ import parser
from cmlesson.grading import grade, similarity

COURSE = grade.SOLUTIONS.parent


def _prints(source: str, ex_id: str):
    return similarity.fingerprints(similarity.exercise_code(C.notebook(source), ex_id))


def class_notebooks() -> dict:
    """Three students who each wrote their own answers (ana, ben, cleo) and one who copied ben's (dan)."""
    nbs = {f"{name}.ipynb": C.notebook(S.CT_LOSS_STYLES[name], S.HEUN_STYLES[name]) for name in ("ana", "ben", "cleo")}
    nbs["dan.ipynb"] = C.notebook(S.HEUN_COPY, "x = 1  # unrelated work", S.CT_LOSS_COPY)
    return nbs


def _compare(nbs: dict, threshold: float = similarity.THRESHOLD) -> list:
    return similarity.compare(nbs, threshold, solutions=grade.SOLUTIONS, stubs=COURSE / "notebooks")


# --- normalisation --------------------------------------------------------------------------------------------------

def test_renaming_comments_docstrings_formatting_and_order_do_not_change_the_fingerprints():
    original = S.CT_LOSS_STYLES["ben"]
    disguised = S.CT_LOSS_COPY  # every variable renamed, independent lines swapped, comments added, the docstring gone
    assert _prints(original, "ct_loss") == _prints(disguised, "ct_loss")
    reformatted = original.replace("(batch,)", "( batch , )").replace("    batch = x0.shape[0]\n",
                                                                         "    batch = (\n        x0.shape[0]\n    )\n")
    assert _prints(reformatted, "ct_loss") == _prints(original, "ct_loss")


def test_a_different_operation_changes_the_fingerprints():
    a = _prints(S.CT_LOSS_STYLES["ben"], "ct_loss")
    b = _prints(S.CT_LOSS_STYLES["ben"].replace(".sum(dim=-1)", ".mean(dim=-1)"), "ct_loss")
    assert a != b and sum((a & b).values()) < sum(a.values())
    assert _prints(C.CORRECT["multistep"].replace("tau**2", "tau**3"), "multistep") != _prints(C.CORRECT["multistep"],
                                                                                               "multistep")


def test_the_exercise_code_is_its_last_definition_with_the_helpers_it_uses():
    nb = C.notebook("def heun_step_student(d, x, s, sn):\n    return x  # a first try\n", S.HEUN_STYLES["ben"],
                    "%timeit 1 + 1\nunrelated = [1, 2, 3]", "def broken(:\n    pass", C.CORRECT["cd_loss"])
    code = similarity.exercise_code(nb, "heun_step")
    assert [getattr(s, "name", None) for s in code] == ["heun_step_student", "_column", "slope"]
    assert "return x  # a first try" not in "\n".join(map(str, code))
    loss = similarity.exercise_code(C.notebook(C.CORRECT["heun_step"], C.CORRECT["cd_loss"].replace(
        "ode_step(teacher", "heun_step_student(teacher")), "cd_loss")
    assert [s.name for s in loss] == ["cd_loss_student"]  # another exercise's answer is not this one's helper


# --- the class ------------------------------------------------------------------------------------------------------

def test_planted_copies_are_found_and_independent_solutions_are_not():
    pairs = _compare(class_notebooks())
    students = [(p.exercise, p.a, p.b) for p in pairs if not p.reference]
    assert students == [("heun_step", "ben.ipynb", "dan.ipynb"), ("ct_loss", "ben.ipynb", "dan.ipynb")]
    for p in pairs:
        if not p.reference:
            assert p.share >= 0.95 and p.matched >= similarity.MIN_MATCHED, p


def test_independent_solutions_stay_apart_far_below_the_threshold():
    nbs = {k: v for k, v in class_notebooks().items() if k != "dan.ipynb"}
    pairs = _compare(nbs, threshold=0.35)
    assert [p for p in pairs if not p.reference] == []


def test_a_copy_with_a_few_changed_lines_is_still_found():
    changed = S.CT_LOSS_COPY.replace("return loss_each.mean()", "loss = loss_each.mean()\n    return loss").replace(
        'reduction="none"', 'reduction="none"').replace("eps = torch.randn", "eps = 1.0 * torch.randn")
    nbs = {"ben.ipynb": C.notebook(S.CT_LOSS_STYLES["ben"]), "eve.ipynb": C.notebook(changed)}
    (pair,) = [p for p in _compare(nbs) if not p.reference]
    assert (pair.exercise, pair.a, pair.b) == ("ct_loss", "ben.ipynb", "eve.ipynb")
    assert 0.7 <= pair.share < 1


def test_a_copy_of_the_packages_source_is_found():
    source = inspect.getsource(samplers.heun_step).replace("def heun_step(", "def heun_step_student(")
    source = source.replace("d_next", "slope_after").replace("x_euler", "guess") + "\n# written by me\n"
    pairs = _compare({"fay.ipynb": C.notebook(source), **class_notebooks()})
    found = [(p.exercise, p.a, p.b) for p in pairs if p.reference]
    assert ("heun_step", "fay.ipynb", similarity.PACKAGE_REFERENCE) in found
    assert all(p.a == "fay.ipynb" for p in pairs if p.reference and p.b == similarity.PACKAGE_REFERENCE)
    assert [p.share for p in pairs if p.a == "fay.ipynb"] == [1.0]


def test_the_same_short_right_formula_is_no_evidence():
    """Two students with the same right one-line coefficients: too little code, and it is the package's answer."""
    nbs = {"a.ipynb": C.notebook(C.CORRECT["coefficients"]), "b.ipynb": C.notebook(C.CORRECT["coefficients"])}
    assert [p for p in _compare(nbs) if not p.reference] == []


def test_unattempted_stubs_are_not_similar():
    stub = C.STUBS["multistep"]
    assert _compare({"a.ipynb": C.notebook(stub), "b.ipynb": C.notebook(stub)}) == []


def test_lines_most_of_a_large_class_shares_are_set_aside():
    """In a class of at least MIN_CLASS, what more than half write (here every line of ben's) is no evidence."""
    nbs = {f"s{i}.ipynb": C.notebook(S.CT_LOSS_STYLES["ben"]) for i in range(similarity.MIN_CLASS)}
    assert [p for p in _compare(nbs) if not p.reference] == []
    nbs = {f"s{i}.ipynb": C.notebook(S.CT_LOSS_STYLES["ben"]) for i in range(2)}
    assert len([p for p in _compare(nbs) if not p.reference]) == 1  # two of them, alone: listed


# --- the command line ------------------------------------------------------------------------------------------------

def test_grade_writes_the_similarity_csv(tmp_path, monkeypatch, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    for name, nb in class_notebooks().items():
        (subs / name).write_text(__import__("nbformat").writes(nb))
    (subs / "link.ipynb").symlink_to(subs / "ben.ipynb")  # not read: it is not a copy
    monkeypatch.setattr(grade, "grade", lambda files, **kw: [grade.invalid_row(grade.Submission(f)) for f in files])
    out, pairs_csv = tmp_path / "grades.csv", tmp_path / "pairs.csv"
    args = parser().parse_args(["grade", str(subs), "--out", str(out), "--sandbox", "none", "--similarity", str(pairs_csv)])
    assert grade.main(args) == 0
    rows = list(csv.DictReader(io.StringIO(pairs_csv.read_text())))
    assert list(rows[0]) == similarity.COLUMNS
    students = [(r["exercise"], r["a"], r["b"]) for r in rows if not r["b"].startswith("(")]
    assert students == [("heun_step", "ben.ipynb", "dan.ipynb"), ("ct_loss", "ben.ipynb", "dan.ipynb")]
    assert float(rows[0]["share"]) >= 0.95
    assert "similarity: " in capsys.readouterr().out


@pytest.mark.parametrize("extra, words", [(["--shard", "0/2"], "run them without --shard"),
                                          (["--similarity-threshold", "1.5"], "expected a share in (0, 1]")])
def test_similarity_options_are_checked(tmp_path, capsys, extra, words):
    args = parser().parse_args(["grade", str(tmp_path), "--similarity", str(tmp_path / "p.csv"), *extra])
    assert grade.main(args) == 2
    assert words in capsys.readouterr().err


def test_summary_says_when_nothing_is_similar():
    assert similarity.summary([], 0.7) == "similarity: no pair shares 70% or more of an exercise's code"
    assert isinstance(Path(similarity.__file__), Path)


def test_right_answers_of_a_few_lines_are_not_listed_against_the_package():
    """The curriculum's formula, the MeanFlow target's JVP, the step's six calls: every right answer writes them."""
    for ex_id in ("curriculum", "meanflow_target", "cd_step", "multistep", "coefficients"):
        pairs = _compare({"a.ipynb": C.notebook(C.CORRECT[ex_id])})
        assert [p for p in pairs if p.b == similarity.PACKAGE_REFERENCE] == [], ex_id
