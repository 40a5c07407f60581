"""Notebook 01's design exercise: the intermediate level of 2-step sampling, decided by the paired gain over the
course's default and stated with its reason; graded against the evidence the grader measures on its own seeds.

Invalid levels and reasons are judged without sampling; a valid level costs a few exact W1s on 2000 points (slow).
The decision logic is also tested on made-up measurements (fast), including a switch that holds on fresh seeds,
which the shipped model gives no example of.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from grading_fixtures import corpus as C
from grading_fixtures import corpus_two_step

from cmlesson import checks, samplers, yardstick
from cmlesson.grading import exercises
from cmlesson.grading.exercises import two_step

EX = "two_step"


def grade_code(source: str) -> checks.Result:
    return C.grade(EX, source)


def test_the_corpus_answer_is_the_default_level():
    assert corpus_two_step.DEFAULT == two_step.default_tau()


INVALID = [  # (mistake, words the diagnosis must contain); all score 0
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


REASONS = [  # a reason that is not one of the two: named, 0 points, without sampling
    ("other_reason", r"^two_step_reason is 'smallest W1': write one of the two reasons exactly, 'beyond the noise': "),
    ("reason_not_a_string", r"^two_step_reason is True \(bool\): write one of the two reasons"),
    ("reason_capitalised", r"^two_step_reason is 'Within the noise\.' \(mind the spaces, case and final dot\)"),
]


@pytest.mark.parametrize(("mistake", "pattern"), REASONS, ids=[m[0] for m in REASONS])
def test_a_reason_outside_the_two_is_named(mistake, pattern):
    result = grade_code(C.WRONG[EX][mistake])
    assert (result.status, result.score) == ("wrong", 0), result.message
    assert re.search(pattern, result.message), result.message
    assert "'within the noise': no level's paired gain over the default is beyond the noise" in result.message


def test_the_stub_and_a_missing_reason_are_not_attempted():
    result = grade_code(C.STUBS[EX])
    assert (result.status, result.score) == ("not attempted", 0)
    assert "not attempted" in result.reason
    result = grade_code(C.WRONG[EX]["no_reason"])
    assert (result.status, result.reason) == ("not attempted", "two_step_reason is not defined: run the exercise "
                                                                "cell, and keep its name")


def test_the_same_number_written_by_hand_is_not_the_stub():
    outputs = exercises.evaluate_in_kernel(EX, {"two_step_tau": float("1.0"), "two_step_reason": "within the noise"},
                                           {}, 60.0)
    assert outputs == {"tau": 1.0, "reason": "within the noise"}
    checks.not_done(2)  # another stub returned the int 2, a shared object: an int level is still judged
    assert exercises.evaluate_in_kernel(EX, {"two_step_tau": 2, "two_step_reason": "x"}, {}, 60.0)["tau"] == 2.0


def test_use_falls_back_to_the_default_level(capsys):
    default = samplers.multistep_sigmas(2, 0.002, 80.0, 0.7066)[1]
    stub = C.functions(C.STUBS[EX])
    result = checks.check_two_step(stub["two_step_tau"], stub["two_step_reason"])
    assert result.use(stub["two_step_tau"], default, what="level two_step_tau") == default
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == "-> your level two_step_tau not attempted yet: the package's 2.12 stands in below"


# --- the decision against made-up evidence (fast) --------------------------------------------------------------------

BASE = two_step.default_tau()


@pytest.fixture
def evidence(monkeypatch):
    """Made-up measurements: ``set(tau, fresh gain per seed, notebook gain per seed)`` in floor units (floor 1)."""
    fresh: dict[float, tuple] = {BASE: ((1.0,) * two_step.SEEDS, 1.0)}  # (W1 per seed, mean distance moved)
    mine: dict[float, yardstick.Score] = {BASE: yardstick.Score((1.0,) * 5)}

    def put(tau: float, gain_fresh, gain_notebook, moved: float = 1.0) -> None:
        fresh[tau] = (tuple(1.0 - np.asarray(gain_fresh)), moved)
        mine[tau] = yardstick.Score(tuple(1.0 - np.asarray(gain_notebook)))

    monkeypatch.setattr(two_step, "floor", lambda: 1.0)
    monkeypatch.setattr(two_step, "measure", lambda tau: fresh[tau])
    monkeypatch.setattr(two_step, "notebook_score", lambda tau: mine[tau])
    return put


def judge(tau: float, reason: str) -> checks.Result:
    return two_step.judge({"tau": tau, "reason": reason})


BEYOND = [0.10, 0.12, 0.11, 0.09, 0.10, 0.12]  # gains with a small spread: beyond the noise
WITHIN = [0.30, -0.20, 0.25, -0.15, 0.10, -0.05]  # a mean gain smaller than 2 standard errors


def test_a_switch_whose_gain_holds_on_both_seed_sets_scores_full_marks(evidence):
    evidence(0.9, BEYOND, BEYOND[:5])
    result = judge(0.9, "beyond the noise")
    assert (result.status, result.score) == ("ok", 2), result.message
    assert result.reason.startswith("tau = 0.9: its gain over the default is beyond the noise on the grader's fresh "
                                    "seeds too (+0.107x +- 0.005x the floor): the switch is supported, full marks")


def test_a_switch_the_notebook_scan_did_not_support_is_named(evidence):
    evidence(0.9, BEYOND, WITHIN[:5])
    result = judge(0.9, "beyond the noise")
    assert (result.status, result.score, result.kind) == ("wrong", 1, "switched without a gain beyond the noise")
    assert re.match(r"tau = 0\.9: on the notebook's own seeds, where your scan measured it, its gain over the default "
                    r"is \+0\.060x ± 0\.\d+: within the noise .*not its mean W1 or the size of its error bar",
                    result.message), result.message


def test_a_scan_gain_between_two_and_three_standard_errors_is_no_reason_to_switch(evidence):
    """The rule's bar for the best of a scan is SCAN_BAR = 3 standard errors, not the course's usual 2."""
    marginal = [0.12, 0.0, 0.10, 0.01, 0.07]  # mean 0.06, s.e. 0.024: 2.5 standard errors
    t = yardstick.Score(tuple(marginal)).ratio / yardstick.Score(tuple(marginal)).se
    assert 2 < t < two_step.SCAN_BAR == 3
    evidence(0.9, BEYOND, marginal)
    result = judge(0.9, "beyond the noise")
    assert (result.status, result.score, result.kind) == ("wrong", 1, "switched without a gain beyond the noise")
    assert "within the noise (|d| <= 3 s.e.)" in result.message, result.message


def test_a_switch_that_does_not_hold_on_fresh_seeds_is_named(evidence):
    evidence(0.9, WITHIN, BEYOND[:5])
    result = judge(0.9, "beyond the noise")
    assert (result.status, result.score, result.kind) == ("wrong", 1, "a gain that does not hold on fresh seeds")
    assert "is within the noise: the gain your scan saw does not hold on fresh seeds" in result.message
    assert "winner's curse" in result.message


def test_a_level_worse_beyond_the_noise_is_told_too_low_or_too_high(evidence):
    evidence(0.3, [-g for g in BEYOND], [-g for g in BEYOND[:5]])
    evidence(9.0, [-g for g in BEYOND], [-g for g in BEYOND[:5]])
    low, high = judge(0.3, "beyond the noise"), judge(9.0, "within the noise")
    assert (low.score, high.score) == (0, 0)
    assert low.reason.startswith("tau = 0.3 is worse than the default beyond the noise, too low: the noise added")
    assert high.reason.startswith("tau = 9 is worse than the default beyond the noise, too high: the second jump")


def test_keeping_the_reason_of_no_gain_but_switching_is_named(evidence):
    evidence(0.9, BEYOND, BEYOND[:5])
    result = judge(0.9, "within the noise")
    assert (result.status, result.score, result.kind) == ("wrong", 1, "switched for a gain within the noise")
    assert result.reason.startswith("two_step_reason says no gain was beyond the noise, yet two_step_tau = 0.9 is not "
                                    "the default 2.12")


def test_the_default_with_the_reason_of_a_switch_is_named(evidence):
    result = judge(BASE, "beyond the noise")
    assert (result.status, result.score) == ("wrong", 1)
    assert result.reason.startswith("two_step_tau = 2.12 is the course's default, but two_step_reason says you switched")


# --- the shipped model (slow: exact W1s) ----------------------------------------------------------------------------

@pytest.mark.slow
def test_keeping_the_default_scores_full_marks():
    result = grade_code(C.CORRECT[EX])
    assert (result.status, result.score) == ("ok", 2), result.message
    assert result.reason.startswith("tau = 2.12, the course's default, kept because no level's gain over it was "
                                    "beyond the noise")
    assert re.search(r"the course's default tau = 2\.12: \d\.\d{3}x \+- 0\.\d{3}x the floor", result.message)


@pytest.mark.slow
def test_switching_to_the_level_nearest_sigma_data_is_not_supported_by_the_notebook_scan():
    result = grade_code(C.WRONG[EX]["switch_within_noise"])
    assert (result.status, result.score, result.kind) == ("wrong", 1, "switched without a gain beyond the noise")
    assert re.search(r"gain of yours over the default = [+-]0\.\d{3}x \+- 0\.\d{3}x the floor \(paired", result.message)


@pytest.mark.slow
def test_a_level_next_to_sigma_min_is_told_it_changes_nothing():
    result = grade_code(C.WRONG[EX]["near_min"])
    assert (result.status, result.score) == ("wrong", 0), result.message
    assert re.search(r"^tau = 0\.00202 is so close to sigma_min = 0\.002 that the second jump changes nothing: it moved "
                     r"the points by 0\.000\d+ on average", result.message), result.message


@pytest.mark.slow
@pytest.mark.parametrize("mistake", ["near_max", "high"])
def test_a_level_far_above_the_data_scale_is_worse_beyond_the_noise(mistake):
    result = grade_code(C.WRONG[EX][mistake])
    assert (result.status, result.score) == ("wrong", 0), result.message
    assert re.search(r"is worse than the default beyond the noise, too high: .*buried under noise", result.message)
    assert "beyond the noise (2 standard errors)" in result.message
