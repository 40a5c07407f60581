"""Notebook 08's MeanFlow target: the right answers (three ways to take a JVP), every typical mistake named with its
score, the stub, and the judge's reference checked against the package and against the exact MeanFlow identity."""

from __future__ import annotations

import re

import pytest
import torch
from grading_fixtures import corpus as C
from grading_fixtures import corpus_meanflow_target as M
from grading_fixtures import named

from cmlesson import checks
from cmlesson.frontier import meanflow
from cmlesson.grading.exercises import meanflow_target as ex

EX = "meanflow_target"


def grade_code(source: str) -> checks.Result:
    return C.grade(EX, source)


def test_right_answer_is_the_package_target():
    """The corpus answer and meanflow.meanflow_target give the same numbers, so either can stand in for the other."""
    fn = C.functions(C.CORRECT[EX])["meanflow_target_student"]
    inp = ex.inputs()
    u = ex.SpyAverageVelocity(inp["seed"])
    args = (u, inp["z"], inp["r"], inp["t"], inp["v"])
    torch.testing.assert_close(fn(*args), meanflow.meanflow_target(*args))


def test_judge_reference_agrees_with_a_float64_finite_difference():
    """The judge's candidates come from torch.func.jvp; a central difference of the spy along (v, 0, 1) agrees."""
    inp = ex.inputs()
    u = ex.SpyAverageVelocity(inp["seed"]).double()
    z, r, t, v = (inp[k].double() for k in ("z", "r", "t", "v"))
    eps = 1e-6
    with torch.no_grad():
        dudt = (u(z + eps * v, r, t + eps) - u(z - eps * v, r, t - eps)) / (2 * eps)
    torch.testing.assert_close(ex._candidates(inp)["right"], v - (t - r)[:, None] * dudt, rtol=1e-7, atol=1e-8)
    cands = ex._candidates(inp)
    scale = cands["right"].abs().max()
    for key in ex.MISTAKES:  # every mistake is far from the right answer, and from each other mistake
        assert (cands[key] - cands["right"]).abs().max() > 1e-2 * scale, key


@pytest.mark.parametrize("way", list(M.ALSO_CORRECT))
def test_other_jvps_score_full_marks(way):
    result = grade_code(M.ALSO_CORRECT[way])
    assert (result.status, result.score) == ("ok", 2), result.message


MISTAKES = [  # (mistake, words the diagnosis must contain, score)
    ("sign", r"^sign of the tangent term: v \+ \(t - r\) du/dt", 0),
    ("gap_reversed", r"^sign of the tangent term", 0),
    ("grad_through", r"^the derivative flows through the target: the right numbers", 1),
    ("finite_difference", r"^a finite difference where the JVP is asked: u was called 2 times on plain tensors, at inputs "
     r"moved by up to 0\.00\d+.*the error is 0\.00\d+ of the target's size", 1),
    ("finite_difference_float64", r"^a finite difference where the JVP is asked: u was called 2 times", 1),
    ("along_r", r"^r and t swapped in the tangent: you differentiated along r", 0),
    ("args_swapped", r"^r and t swapped in the call: u takes \(z, r, t\)", 0),
    ("no_v", r"^only the partial derivative in t", 0),
    ("z_ones", r"^the tangent's z part is ones: .*z's tangent is v", 0),
    ("both_ends", r"^r moves with t: tangent \(v, 1, 1\)", 0),
    ("no_time", r"^the time direction is missing", 0),
    ("no_gap", r"^the factor \(t - r\) is missing", 0),
    ("no_column", r"^your code raised an error.*\n\(t - r\)\[:, None\]|make it a column, \(t - r\)\[:, None\]", 0),
    ("u_itself", r"^returns u\(z, r, t\) itself", 0),
]


test_known_mistakes_are_named, test_every_mistake_of_the_corpus_is_tested = named.mistake_tests(EX, MISTAKES)


def test_stub_is_not_attempted_and_the_package_is_not_an_answer():
    assert grade_code(C.STUBS[EX]).status == "not attempted"
    assert "cmlesson's own" in checks.check_meanflow_target(meanflow.meanflow_target).message
    result = checks.check_meanflow_target(lambda *a: 1.0)
    assert result.status == "wrong" and "expected a tensor of shape (64, 2)" in result.message
    never = checks.check_meanflow_target(lambda u, z, r, t, v: v.clone())
    assert never.status == "wrong" and "u was never called" in never.message


def test_a_different_formula_says_which_rows_are_right():
    source = C.CORRECT[EX].replace("return v - (t - r)[:, None] * dudt", "return v - 0.5 * (t - r)[:, None] * dudt")
    result = grade_code(source)
    assert result.status == "wrong" and re.search(r"differs from v - \(t - r\) du/dt by up to .*rows with r = t are right",
                                                  result.message), result.message
