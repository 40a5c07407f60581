"""Every stub of every student notebook, untouched, is "not attempted" by its check in the notebook's process.

The exercise cells of ``notebooks/`` (as generated) run after the notebook's first code cell (its imports) in a
fresh namespace; each exercise's check then gets the names it reads. ``tests/test_grade.py`` checks the same
through the grader (its CSV), and ``test_solution_exercise_cells_pass`` the other way round: the solution's cells
score full marks, decorated or not.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from cmlesson import checks
from cmlesson.grading import exercises

ROOT = Path(__file__).resolve().parent.parent


def _cells(folder: str, notebook: str) -> list[str]:
    (path,) = sorted((ROOT / folder).glob(f"{notebook}_*.ipynb"))
    return [c.source for c in nbformat.read(path, as_version=4).cells
            if c.cell_type == "code" and c.get("id") != "cmlesson-setup"]  # the setup cell (authoring.course) comes first


def _defines(source: str, names: tuple[str, ...]) -> bool:
    """True if a cell's top level defines one of ``names`` (a def, or an assignment, a tuple's included)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython syntax (a magic): not an exercise cell
        return False
    targets = {t.id for node in tree.body if isinstance(node, ast.Assign) for target in node.targets
               for t in ast.walk(target) if isinstance(t, ast.Name)}
    targets |= {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    return bool(targets & set(names))


def _trained_run():
    """What notebook 05's training cell leaves in ``ex1_run`` (its stub picks a network from it): the shipped CT model
    stands in for the student's, so that the stub's test needs no training."""
    from types import SimpleNamespace

    from cmlesson import checkpoints

    return SimpleNamespace(online=checkpoints.load("ct", progress=False), model=checkpoints.load("ct", progress=False))


STAND_INS = {"ex1_run": _trained_run}  # names a defining cell reads that an earlier, slow cell makes


def _namespace(folder: str, ex_id: str) -> dict:
    """The notebook's imports cell, then every cell that defines one of the exercise's names."""
    ex = checks.EXERCISES[ex_id]
    cells = _cells(folder, ex.notebook)
    namespace: dict = {"__name__": "__main__"}
    exec(compile(cells[0], "<imports>", "exec"), namespace)
    defining = [c for c in cells[1:] if _defines(c, ex.names)]
    assert defining, f"no cell of notebook {ex.notebook} defines {ex.names}"
    for source in defining:
        for name, make in STAND_INS.items():
            if re.search(rf"\b{name}\b", source) and name not in namespace:
                namespace[name] = make()
        exec(compile(source, f"<{ex_id}>", "exec"), namespace)
    return namespace


@pytest.mark.slow
@pytest.mark.parametrize("ex_id", list(checks.EXERCISES))
def test_untouched_stub_is_not_attempted(ex_id, capsys):
    namespace = _namespace("notebooks", ex_id)
    capsys.readouterr()
    result = getattr(checks, f"check_{ex_id}")(*[namespace[n] for n in checks.EXERCISES[ex_id].names])
    assert (result.status, result.score) == ("not attempted", 0), result.message
    assert capsys.readouterr().out.startswith("[TODO]")


@pytest.mark.slow
@pytest.mark.parametrize("ex_id", [e for e in checks.EXERCISES if exercises.module(e).EXERCISE.names[0].endswith("_student")])
def test_solution_exercise_cells_pass(ex_id):
    namespace = _namespace("solutions", ex_id)
    result = getattr(checks, f"check_{ex_id}")(*[namespace[n] for n in checks.EXERCISES[ex_id].names])
    assert (result.status, result.score, result.max_score) == ("ok", result.max_score, checks.EXERCISES[ex_id].points), (
        result.message)


def test_a_stub_value_stays_known_after_many_calls_of_stub_functions():
    """An untouched notebook 01 sets ``two_step_tau = not_done(1.0)`` at a cell's top level, and the grader then
    calls the stub c_skip hundreds of times before it reads two_step_tau: the value is still the stub's."""
    from cmlesson.grading.exercises import _kernel

    marker = _kernel.NotDone()
    namespace = {"not_done": marker}
    exec("tau = not_done(1.0)\ndef c_skip(s):\n    return not_done([s])", namespace)  # noqa: S102 - a cell's code
    for s in range(5 * marker.KEEP):
        namespace["c_skip"](s)
    assert marker.returned(namespace["tau"])
    assert not marker.returned(1.0 + 0.0 * len(namespace))  # an equal float made elsewhere is not the stub's
    assert marker.returned(namespace["c_skip"](0)) and not marker.returned([0])
