"""Notebook 07's Fréchet distance: the right answers (eigenvalues, scipy's sqrtm, torch), every typical mistake named
with its score, the stub, and the judge's reference checked against the package and against the closed form."""

from __future__ import annotations

import re

import numpy as np
import pytest
from grading_fixtures import corpus as C
from grading_fixtures import corpus_frechet_distance as M
from grading_fixtures import named

from cmlesson import checks
from cmlesson.frontier import classifier
from cmlesson.grading.exercises import frechet_distance as ex

EX = "frechet_distance"


def grade_code(source: str) -> checks.Result:
    return C.grade(EX, source)


def test_right_answer_is_the_package_distance():
    fn = C.functions(C.CORRECT[EX])["frechet_distance_student"]
    for a, b in ex.inputs():
        assert fn(a, b) == pytest.approx(classifier.frechet_distance(a, b), rel=1e-12, abs=1e-12)


def test_judge_reference_agrees_with_the_closed_form_and_the_mistakes_differ():
    """Two Gaussians with diagonal covariances: FD = ||mu_a - mu_b||^2 + sum (s_a - s_b)^2 (standard deviations)."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200_000, 3)) * [1.0, 2.0, 0.5]
    b = rng.normal(size=(200_000, 3)) * [1.5, 1.0, 0.5] + [1.0, 0.0, -1.0]
    assert ex._fd(a, b) == pytest.approx(2.0 + 0.25 + 1.0, abs=0.03)
    cases = ex.inputs()
    right = np.asarray([ex._fd(a, b) for a, b in cases])
    assert right[2] == pytest.approx(0.0, abs=1e-9) and right[0] > 1 and right[1] > 1
    variants = [ex._variants(a, b) for a, b in cases]
    for desc in variants[0]:  # every mistake is far from the right answer on the first two pairs
        got = np.nan_to_num([v[desc] for v in variants[:2]])
        assert np.abs(got - right[:2]).max() > 1e-2 * right[:2].max(), desc


@pytest.mark.parametrize("way", list(M.ALSO_CORRECT))
def test_other_right_ways_score_full_marks(way):
    result = grade_code(M.ALSO_CORRECT[way])
    assert (result.status, result.score) == ("ok", 2), result.message


MISTAKES = [  # (mistake, words the diagnosis must contain, score)
    ("elementwise_root", r"^an element-wise square root \(np\.sqrt of the matrix S_a S_b\)", 0),
    ("product_of_roots", r"^the product of two roots, Tr\(S_a\^\(1/2\) S_b\^\(1/2\)\).*only when the two covariances "
     r"commute", 0),
    ("no_root", r"^the square root is missing: the cross term is 2 Tr\(\(S_a S_b\)\^\(1/2\)\)", 0),
    ("diagonal", r"^the features' variances alone \(diagonal covariances\)", 0),
    ("norm_not_squared", r"^the distance between the means is not squared", 0),
    ("no_mean", r"^the mean term is missing", 0),
    ("square_root", r"^the square root of the Fréchet distance", 0),
    ("rowvar", r"^your code raised an error.*\nthe two sets may differ in size.*rowvar=False", 0),
    ("biased", r"^covariances divided by n \(bias=True", 1),
    ("tensor_of_the_wrong_thing", r"^pair 1: yours 2\.\d+, the Fréchet distance 9\.694", 0),
]


test_known_mistakes_are_named, test_every_mistake_of_the_corpus_is_tested = named.mistake_tests(EX, MISTAKES)


def test_stub_is_not_attempted_and_the_package_is_not_an_answer():
    assert grade_code(C.STUBS[EX]).status == "not attempted"
    assert "cmlesson's own" in checks.check_frechet_distance(classifier.frechet_distance).message
    result = checks.check_frechet_distance(lambda a, b: "far")
    assert result.status == "wrong" and "expected a number" in result.message


def test_a_set_against_itself_must_give_zero():
    source = C.CORRECT[EX].replace("return float(", "return 0.5 + float(")
    result = grade_code(source)
    assert result.status == "wrong" and re.search(r"^a set against itself gives 0\.5, not 0", result.message), result.message
