"""Notebook 02's Heun step with levels as floats or one per row: the right answer, the mistakes, the stub."""

from __future__ import annotations

import re

import pytest
import torch
from grading_fixtures import corpus as C

from cmlesson import checks, samplers
from cmlesson.grading.exercises._fixtures import GaussianDenoiser

EX = "heun_step"


def grade_code(source: str) -> checks.Result:
    return C.grade(EX, source)


def test_right_answer_scores_full_marks_and_handles_rows():
    result = grade_code(C.CORRECT[EX])
    assert (result.status, result.score) == ("ok", 1), result.message
    fn = C.functions(C.CORRECT[EX])["heun_step_student"]
    x, sigma = torch.randn(30, 2), torch.tensor([2.0, 0.5, 0.1]).repeat(10)
    expected = samplers.heun_step(GaussianDenoiser(), x, sigma, sigma / 2)
    assert torch.allclose(fn(GaussianDenoiser(), x, sigma, sigma / 2), expected)


MISTAKES = [
    ("euler", r"^an Euler step: no correction"),
    ("no_half", r"^the sum of the two slopes not halved"),
    ("floats_only", r"^right with float levels, but with one level per row.*raised RuntimeError.*make the levels a column"),
    ("slope_at_start", r"^the second slope taken at x instead of at the Euler point"),
    ("wrong_way", r"^a step toward higher noise"),
]


@pytest.mark.parametrize(("mistake", "pattern"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_known_mistakes_are_named(mistake, pattern):
    result = grade_code(C.WRONG[EX][mistake])
    assert (result.status, result.score) == ("wrong", 0)
    assert re.search(pattern, result.message, re.S), result.message


def test_stub_is_not_attempted():
    assert grade_code(C.STUBS[EX]).status == "not attempted"


def test_use_falls_back_to_the_package(capsys):
    stub = C.functions(C.STUBS[EX])["heun_step_student"]
    assert checks.check_heun_step(stub).use(stub, samplers.heun_step) is samplers.heun_step
    assert "the package's cmlesson.samplers.heun_step stands in below" in capsys.readouterr().out
