"""Notebook 06's pseudo-Huber distance: the right answers (three ways), every typical mistake named with its score,
the stub, and the judge's reference checked against the package and against the formula's two regimes."""

from __future__ import annotations

import math

import pytest
import torch
from grading_fixtures import corpus as C
from grading_fixtures import corpus_pseudo_huber as P
from grading_fixtures import named

from cmlesson import checks, losses
from cmlesson.grading.exercises import pseudo_huber as ex

EX = "pseudo_huber"


def grade_code(source: str) -> checks.Result:
    return C.grade(EX, source)


def test_right_answer_is_the_package_distance():
    """The corpus answer and losses.pseudo_huber_distance give the same numbers, so either can stand in for the other."""
    fn = C.functions(C.CORRECT[EX])["pseudo_huber_student"]
    for a, b in ex.inputs().values():
        torch.testing.assert_close(fn(a, b), losses.pseudo_huber_distance(a, b))


def test_judge_reference_has_both_regimes_and_the_mistakes_differ_from_it():
    """Below c the reference is ||a - b||^2 / 2c, far beyond it ||a - b|| - c; every mistake is far from it on a batch."""
    for a, b in ex.inputs().values():
        cands = ex._candidates(a, b)
        gap = (a.double() - b.double()).flatten(1).norm(dim=1)
        c = 0.00054 * math.sqrt(a[0].numel())
        small, large = gap < c / 10, gap > 100 * c
        assert small.sum() >= 2 and large.sum() >= 2
        torch.testing.assert_close(cands["right"][small], gap[small] ** 2 / (2 * c), rtol=0.06, atol=0)
        torch.testing.assert_close(cands["right"][large], gap[large] - c, rtol=1e-4, atol=0)
    for key in ex.MISTAKES:  # each mistake is told apart on at least one batch, beyond the judge's tolerance
        far = [not torch.allclose(ex._candidates(a, b)[key], ex._candidates(a, b)["right"], rtol=1e-2)
               for a, b in ex.inputs().values()]
        assert any(far), key


@pytest.mark.parametrize("way", list(P.ALSO_CORRECT))
def test_other_right_answers_score_full_marks(way):
    result = grade_code(P.ALSO_CORRECT[way])
    assert (result.status, result.score) == ("ok", 2), result.message


def test_the_right_answer_scores_full_marks():
    result = grade_code(C.CORRECT[EX])
    assert (result.status, result.score) == ("ok", 2), result.message


MISTAKES = [  # (mistake, words the diagnosis must contain, score)
    ("no_minus_c", r"^on 2-D points: c is not subtracted", 0),
    ("c_unscaled", r"^on 2-D points: c is not scaled with the data dimension", 0),
    ("c_cifar", r"^on 2-D points: c is CIFAR-10's 0\.0299 for every input", 0),
    ("c_last_axis", r"^on \(3, 32, 32\) images: d is taken from the last axis", 0),
    ("c_whole_batch", r"^on 2-D points: d counts the whole batch", 0),
    ("c_times_d", r"^on 2-D points: .*your numbers fit sqrt\(\|\|a - b\|\|\^2 \+ c\^2\) - c with c = 0\.00108, but iCT's "
     r"c for d = 2 is 0\.00054 sqrt\(2\) = 0\.0007637", 0),
    ("per_coordinate", r"^on 2-D points: pseudo-Huber of each coordinate, summed", 0),
    ("mean_over_dims", r"^on 2-D points: the mean of the squared coordinates over a sample, not their sum", 0),
    ("squared_inside", r"^on 2-D points: the squared distance squared again", 0),
    ("squared_distance", r"^on 2-D points: this is the squared distance", 0),
    ("length", r"^on 2-D points: the plain length \|\|a - b\|\|: c is missing", 0),
    ("batch_mean", r"^returns one number for a batch of 12 2-D points: one distance per sample", 0),
    ("last_axis_only", r"^returns shape \(8, 3, 32\) for \(3, 32, 32\) images .*flatten each sample", 0),
    ("numpy", r"^the right numbers, but no gradient flows through them", 1),
]


test_known_mistakes_are_named, test_every_mistake_of_the_corpus_is_tested = named.mistake_tests(EX, MISTAKES)


def test_stub_is_not_attempted_and_the_package_is_not_an_answer():
    assert grade_code(C.STUBS[EX]).status == "not attempted"
    assert "cmlesson's own" in checks.check_pseudo_huber(losses.pseudo_huber_distance).message
    result = checks.check_pseudo_huber(lambda a, b: "far")
    assert result.status == "wrong" and "expected a tensor of shape (n,)" in result.message
