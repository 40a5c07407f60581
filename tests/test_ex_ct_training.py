"""Exercise 5.1b: the grader samples the student's model (``ex1_model``) itself and scores it with the yardstick.

A right model scores by its W1; a model that is not a function of its input noise, data passed off as a model, the
samples the exercise used to grade and a model of the wrong interface score 0, each with the reason. The checks run
the kernel side (``evaluate_in_kernel``) and the judge, the path of the grader and of nbgrader's grade cells; the
sandboxed grader (``python -m cmlesson grade``) runs the same code in a kernel (tests/test_grade.py, full_marks).
"""

from __future__ import annotations

import pytest
import torch
from grading_fixtures import corpus as C
from torch import nn

from cmlesson import checkpoints, checks, samplers
from cmlesson.config import ScoreConfig
from cmlesson.grading import exercises
from cmlesson.grading.exercises import ct_training as CT

EX = "ct_training"


def grade_source(source: str):
    assets = exercises.grader_assets([EX])
    outputs = exercises.evaluate_in_kernel(EX, C.functions(source), exercises.kernel_arrays(assets), 60.0)
    return exercises.judge(EX, outputs, assets[EX])


class Base(nn.Module):
    """The course's noise levels, as ex1_model carries them; forward is each test's mistake."""

    def __init__(self):
        super().__init__()
        self.sigma_min, self.sigma_max, self.sigma_data = CT.grader_assets().noise


class Constant(Base):
    def forward(self, x, sigma):
        return torch.full_like(x, 0.3)


class DrawsData(Base):
    """Returns fresh data points it draws itself: the 'model' ignores its input."""

    def forward(self, x, sigma):
        return torch.from_numpy(__import__("sklearn.datasets").datasets.make_moons(len(x), noise=0.05)[0]).float()


class FixedData(Base):
    """The same data points for every input."""

    def forward(self, x, sigma):
        g = torch.Generator().manual_seed(0)
        return torch.randn(len(x), 2, generator=g) * 0.5


class LookUp(Base):
    """Data points looked up by a hash of each input point: deterministic, different for different noise."""

    def forward(self, x, sigma):
        pool = checkpoints.training_data()
        return pool[(x[:, 0] * 1e6).long().abs() % len(pool)]


class BatchSeeded(Base):
    """Data points drawn from a generator seeded by the whole batch."""

    def forward(self, x, sigma):
        g = torch.Generator().manual_seed(int(x.abs().sum() * 1000) % 2**31)
        return checkpoints.training_data()[torch.randint(0, 100_000, (len(x),), generator=g)]


class Wrapped(Base):
    """A right model with other noise levels: starts from noise of std 1."""

    def __init__(self, model, **levels):
        super().__init__()
        self.model = model
        for k, v in levels.items():
            setattr(self, k, v)

    def forward(self, x, sigma):
        return self.model(x, sigma)


def test_the_grader_samples_with_the_course_sampler():
    ct = checkpoints.load("ct")
    levels, noise, seeds = CT.kernel_args(CT.grader_assets().kernel_arrays())
    assert levels == samplers.multistep_sigmas(CT.EX1_STEPS, ct.sigma_min, ct.sigma_max, ct.sigma_data)
    assert tuple(noise) == (ct.sigma_min, ct.sigma_max, ct.sigma_data)
    assert len(seeds) == ScoreConfig.seeds and not set(seeds) & set(range(ScoreConfig.seeds))  # not the notebook's
    for seed in seeds[:2]:
        expected = samplers.consistency_sampler(ct, CT.CT_SAMPLES, CT.EX1_STEPS)(torch.Generator().manual_seed(seed))
        assert torch.equal(CT._sample(ct, levels, ct.sigma_min, seed), expected)


@pytest.mark.parametrize(("model", "reason", "kind"), [
    (Constant(), "ex1_model gives the same output for every input noise: it ignores its noise", "ignores its noise"),
    (DrawsData(), "ex1_model returns different outputs for the same input: it draws its own randomness",
     "draws its own randomness"),
    (FixedData(), "ex1_model gives the same output for every input noise: it ignores its noise", "ignores its noise"),
    (LookUp(), "moves ex1_model's output by", "not continuous in its noise"),
    (BatchSeeded(), "ex1_model's output for a point changes when other points of the batch change", "mixes the batch"),
])
def test_a_model_that_is_not_a_function_of_its_noise_scores_0(model, reason, kind):
    result = checks.check_ct_training(model)
    assert (result.status, result.score, result.kind) == ("wrong", 0, kind), result.message
    assert reason in result.reason


def test_other_noise_levels_and_other_interfaces_score_0():
    ct = checkpoints.load("ct")
    one = checks.check_ct_training(Wrapped(ct, sigma_max=1.0))
    assert one.score == 0 and one.reason.startswith("ex1_model.sigma_max = 1, the course's is 80")
    samples = checks.check_ct_training(torch.randn(2000, 2))
    assert samples.score == 0 and "grades the model you trained" in samples.reason
    assert "no number sigma_min" in checks.check_ct_training(lambda x, sigma: x).reason
    assert "expected the consistency model you trained" in checks.check_ct_training("model").reason
    short = checks.check_ct_training(Wrapped(lambda x, sigma: x[:10]))
    assert short.kind == "wrong interface" and "returned shape (10, 2) for x of shape (2000, 2)" in short.reason
    nan = checks.check_ct_training(Wrapped(lambda x, sigma: x * float("nan")))
    assert nan.kind == "not finite" and "NaN or inf for 2000 of 2000 points at sigma = 80" in nan.reason
    raises = checks.check_ct_training(Wrapped(lambda x, sigma: 1 / 0))
    assert raises.score == 0 and "ZeroDivisionError" in raises.reason


def test_samples_in_place_of_the_model_say_what_the_exercise_grades():
    result = grade_source('ex1_samples = data.sample("moons", 2000, seed=7)\n')
    assert (result.score, result.kind) == (0, "samples handed in, not the model")
    assert result.reason.startswith("ex1_model is not defined, ex1_samples is: Exercise 5.1b now grades the model")
    assert grade_source("x = 1\n").reason.startswith("ex1_model is not defined: run the exercise cell")
    assert grade_source("ex1_model = not_done(torch.nn.Identity())\n").status == "not attempted"


@pytest.mark.slow
def test_the_right_model_scores_full_marks_in_the_check_and_in_the_kernel():
    result = grade_source(C.CORRECT[EX])
    assert (result.status, result.score) == ("ok", 2), result.message
    assert result.reason.startswith("W1 / noise floor = 1.") and "over 5 sampling seeds of the grader" in result.reason
    again = checks.check_ct_training(checkpoints.load("ct"))
    assert again.message == result.message  # the notebook's check and the grader's path agree


@pytest.mark.slow
def test_a_blurred_model_gets_half_marks_and_untrained_gets_0():
    ct = checkpoints.load("ct")
    shifted = checks.check_ct_training(Wrapped(lambda x, sigma: ct(x, sigma) + torch.tensor([0.12, 0.0])))
    assert (shifted.status, shifted.score) == ("wrong", 1), shifted.message
    untrained = checks.check_ct_training(Wrapped(lambda x, sigma: 0.02 * x))
    assert (untrained.score, untrained.kind) == (0, "too far from the data"), untrained.message
    assert "spread" in untrained.message
