"""Notebook 10's Lagrangian residual: the right answers, every typical mistake named with its score, the stub, and the
judge's reference checked against the package and against a float64 finite difference of the flow map."""

from __future__ import annotations

import re

import pytest
import torch
from grading_fixtures import corpus as C
from grading_fixtures import corpus_lagrangian_residual as M
from grading_fixtures import named

from cmlesson import checks
from cmlesson.frontier import lsd
from cmlesson.grading.exercises import lagrangian_residual as ex

EX = "lagrangian_residual"


def grade_code(source: str) -> checks.Result:
    return C.grade(EX, source)


def test_right_answer_is_the_package_residual():
    """The corpus answer and lsd.lagrangian_residual give the same numbers and the same gradients."""
    fn = C.functions(C.CORRECT[EX])["lagrangian_residual_student"]
    inp = ex.inputs()
    grads = []
    for f in (fn, lsd.lagrangian_residual):
        model = ex.SpyFlowMapNet(inp["seed"])
        out = f(model, inp["z"], inp["s"], inp["t"])
        out.pow(2).sum().backward()
        grads.append((out.detach(), [p.grad.clone() for p in model.parameters()]))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    for a, b in zip(grads[0][1], grads[1][1], strict=True):
        torch.testing.assert_close(a, b)


def test_judge_reference_agrees_with_a_float64_finite_difference():
    """The judge's d/dt X comes from torch.func.jvp; a central difference of the map in t agrees, and every
    mistake is far from the right answer."""
    inp = ex.inputs()
    net = ex.SpyFlowMapNet(inp["seed"]).double()
    z, s, t = (inp[k].double() for k in ("z", "s", "t"))
    eps = 1e-6
    with torch.no_grad():
        X = lambda t_: z + (t_ - s)[:, None] * net(z, s, s - t_)  # noqa: E731
        dxdt = (X(t + eps) - X(t - eps)) / (2 * eps)
        right = dxdt - net(X(t), t, torch.zeros_like(t))
    cands = ex._candidates(inp)
    torch.testing.assert_close(torch.as_tensor(cands["right"]), right, rtol=1e-7, atol=1e-8)
    scale = abs(cands["right"]).max()
    for key in ex.MISTAKES:
        assert abs(cands[key] - cands["right"]).max() > 1e-2 * scale, key
        assert abs(cands[key] + cands["right"]).max() > 1e-2 * scale, key
    g = ex._gradients(inp)
    assert abs(g["right"] - g["no_stop_gradient"]).max() > 1e-2 * abs(g["right"]).max()


@pytest.mark.parametrize("way", list(M.ALSO_CORRECT))
def test_other_right_answers_score_full_marks(way):
    result = grade_code(M.ALSO_CORRECT[way])
    assert (result.status, result.score) == ("ok", 2), result.message


def test_the_reversed_sign_is_accepted_and_said():
    assert "the sign is reversed" in grade_code(M.ALSO_CORRECT["negated"]).message


MISTAKES = [  # (mistake, words the diagnosis must contain, score)
    ("tangent_on_s", r"^the tangent is on the wrong argument: you differentiated the map in its start time s", 0),
    ("no_stop_gradient", r"^no stop-gradient on the velocity target: the right numbers", 1),
    ("target_at_start", r"^the velocity target is evaluated at the start point z = I_s", 0),
    ("target_at_start_time_s", r"^the velocity target is evaluated at the start, v\(z, s\)", 0),
    ("target_time_s", r"^the velocity target is evaluated at time s", 0),
    ("no_gap", r"^the factor \(t - s\) is missing from the derivative", 0),
    ("no_product", r"^only \(t - s\) du/dt: the product rule's other term is missing", 0),
    ("network_only", r"^the JVP differentiates the network u alone", 0),
    ("h_flipped", r"^the jump's length has the wrong sign", 0),
    ("no_target", r"^returns d/dt X_\{s,t\}\(z\) alone", 0),
    ("no_graph", r"^no gradient reaches the weights: the right numbers", 1),
    ("finite_difference", r"^a finite difference where the JVP is asked: .* the error is 0\.00\d+ of the residual's size", 1),
    ("no_column", r"^your code raised an error.*make it a column, \(t - s\)\[:, None\]", 0),
]


test_known_mistakes_are_named, test_every_mistake_of_the_corpus_is_tested = named.mistake_tests(EX, MISTAKES)


def test_stub_is_not_attempted_and_the_package_is_not_an_answer():
    assert grade_code(C.STUBS[EX]).status == "not attempted"
    assert "cmlesson's own" in checks.check_lagrangian_residual(lsd.lagrangian_residual).message
    result = checks.check_lagrangian_residual(lambda *a: 1.0)
    assert result.status == "wrong" and "expected a tensor of shape (64, 2)" in result.message
    never = checks.check_lagrangian_residual(lambda model, z, s, t: z.clone())
    assert never.status == "wrong" and "never called" in never.message


def test_a_different_formula_says_by_how_much():
    result = grade_code(C.CORRECT[EX].replace("return dxdt - v", "return dxdt - 0.5 * v"))
    assert result.status == "wrong" and re.search(r"differs from d/dt X_\{s,t\}\(z\) - v\(X_\{s,t\}\(z\), t\) by up to",
                                                  result.message), result.message
