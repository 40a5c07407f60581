"""Notebook 01's design exercise: the intermediate level of 2-step sampling, scored by paired W1 against the default.

Invalid levels are judged without sampling; every valid level costs a few exact W1s on 2000 points (slow).
"""

from __future__ import annotations

import re

import pytest
from grading_fixtures import corpus as C

from cmlesson import checks, samplers
from cmlesson.grading import exercises
from cmlesson.grading.exercises import two_step

EX = "two_step"


def grade_code(source: str) -> checks.Result:
    return C.grade(EX, source)


INVALID = [  # (mistake, words the diagnosis must contain); all score 0 and name the allowed range
    ("tensor", r"^two_step_tau is a Tensor \(1\), not a float: write a plain Python number"),
    ("array", r"^two_step_tau is a ndarray of shape \(2,\): the exercise asks for one level"),
    ("levels_list", r"^two_step_tau is a list of 2 items: give only the intermediate level"),
    ("string", r"^two_step_tau is '1\.0' \(str\)"),
    ("below_min", r"^two_step_tau = 0\.001 is at or below sigma_min: .*needs tau > sigma_min"),
    ("at_min", r"^two_step_tau = 0\.002 is at or below sigma_min"),
    ("above_max", r"^two_step_tau = 100 is at or above sigma_max"),
    ("at_max", r"^two_step_tau = 80 is at or above sigma_max"),
    ("nan", r"^two_step_tau = nan is not a finite number"),
]


@pytest.mark.parametrize(("mistake", "pattern"), INVALID, ids=[m[0] for m in INVALID])
def test_invalid_levels_score_zero_and_name_the_range(mistake, pattern):
    result = grade_code(C.WRONG[EX][mistake])
    assert (result.status, result.score, result.max_score) == ("wrong", 0, 2), result.message
    assert re.search(pattern, result.message, re.S), result.message
    assert "strictly between sigma_min = 0.002 and sigma_max = 80" in result.message


def test_the_stub_is_not_attempted():
    result = grade_code(C.STUBS[EX])
    assert (result.status, result.score) == ("not attempted", 0)
    assert "not attempted" in result.reason


def test_the_same_number_written_by_hand_is_not_the_stub():
    outputs = exercises.evaluate_in_kernel(EX, {"two_step_tau": float("1.0")}, {}, 60.0)
    assert outputs == {"tau": 1.0}
    checks.not_done(2)  # another stub returned the int 2, a shared object: an int level is still judged
    assert exercises.evaluate_in_kernel(EX, {"two_step_tau": 2}, {}, 60.0) == {"tau": 2.0}


def test_use_falls_back_to_the_default_level(capsys):
    default = samplers.multistep_sigmas(2, 0.002, 80.0, 0.7066)[1]
    stub = C.functions(C.STUBS[EX])["two_step_tau"]
    assert checks.check_two_step(stub).use(stub, default, what="level two_step_tau") == default
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == "-> your level two_step_tau not attempted yet: the package's 2.12 stands in below"


@pytest.mark.slow
def test_the_default_level_scores_full_marks():
    result = grade_code(f"two_step_tau = {two_step.default_tau()!r}\n")
    assert (result.status, result.score) == ("ok", 2), result.message
    assert result.reason.startswith("tau = 2.12 is the course's default level: full marks")


@pytest.mark.slow
def test_a_level_of_the_data_scale_scores_full_marks_with_both_w1s():
    result = grade_code(C.CORRECT[EX])
    assert (result.status, result.score) == ("ok", 2), result.message
    assert re.search(r"your tau = 1: \d\.\d{3}x \+- 0\.\d{3}x the floor\n +the course's default tau = 2\.12: \d\.\d{3}x \+- "
                     r"0\.\d{3}x\n +yours - default = [+-]0\.\d{3}x \+- 0\.\d{3}x the floor \(paired.*(beyond|within) the noise",
                     result.message), result.message


@pytest.mark.slow
def test_a_level_next_to_sigma_min_is_told_it_changes_nothing():
    result = grade_code(C.WRONG[EX]["near_min"])
    assert (result.status, result.score) == ("wrong", 1), result.message
    assert re.search(r"^tau = 0\.00202 is so close to sigma_min = 0\.002 that the second jump changes nothing: it moved "
                     r"the points by 0\.000\d+ on average", result.message), result.message


@pytest.mark.slow
@pytest.mark.parametrize("mistake", ["near_max", "high"])
def test_a_level_far_above_the_data_scale_scores_lower(mistake):
    result = grade_code(C.WRONG[EX][mistake])
    assert (result.status, result.score) == ("wrong", 1), result.message
    pattern = r"is worse than the default beyond the noise, too high: .*buried under noise"
    assert re.search(pattern, result.message), result.message
    assert "beyond the noise (2 standard errors)" in result.message
