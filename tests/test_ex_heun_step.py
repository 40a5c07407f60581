"""Notebook 02's Heun step with levels as floats or one per row: the right answer, the mistakes, the stub."""

from __future__ import annotations

import numpy as np
import torch
from grading_fixtures import corpus as C
from grading_fixtures import named

from cmlesson import checks, samplers
from cmlesson.grading.exercises import heun_step
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
    ("wrong_way", r"^a step toward higher noise: the sign of the slope or of the step is flipped"),
    ("slope_sign", r"^a step toward higher noise: the sign of the slope or of the step is flipped"),
    ("second_alone", r"^only the second slope"),
    ("euler_up", r"^the Euler point is a step toward higher noise"),
    ("last_step_up", r"^the last step goes toward higher noise"),
    ("from_euler", r"^the last step starts from the Euler point"),
    ("second_divided_by_sigma", r"^the second slope divided by the wrong level: .* divided by sigma_next"),
    ("second_denoiser_at_sigma", r"^the denoiser called at the wrong level for the second slope"),
    ("second_at_sigma", r"^the second slope taken at the start's level"),
    ("first_divided_by_next", r"^the first slope divided by the wrong level"),
    ("first_denoiser_at_next", r"^the denoiser called at the wrong level for the first slope"),
    ("no_division", r"^the slopes are not divided by the level"),
    ("sigma_squared", r"^the slopes are divided by the level squared"),
]


def test_every_named_mistake_lands_somewhere_else():
    """The check can tell its named mistakes apart: on every case no two land within its tolerance of each other, nor
    of a right Heun step (else a message could name the wrong mistake)."""
    for case in heun_step.inputs():
        named = {"a Heun step": heun_step.np_(samplers.heun_step(GaussianDenoiser(), case["x"], case["sigma"],
                                                                 case["sigma_next"]))}
        named |= heun_step._heun_variants(case)
        points = list(named.items())
        for i, (a, pa) in enumerate(points):
            for b, pb in points[i + 1:]:
                assert not np.allclose(pa, pb, rtol=1e-3, atol=1e-5), (a, b)


test_known_mistakes_are_named, test_every_mistake_of_the_corpus_is_tested = named.mistake_tests(EX, MISTAKES)


def test_stub_is_not_attempted():
    assert grade_code(C.STUBS[EX]).status == "not attempted"


def test_use_falls_back_to_the_package(capsys):
    stub = C.functions(C.STUBS[EX])["heun_step_student"]
    assert checks.check_heun_step(stub).use(stub, samplers.heun_step) is samplers.heun_step
    assert "the package's cmlesson.samplers.heun_step stands in below" in capsys.readouterr().out
