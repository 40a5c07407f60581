"""Notebook 11's drift field: the right answer, every typical mistake named with its score, the stub, and the judge's
reference checked against the package's drift and against the drift's defining properties."""

from __future__ import annotations

import torch
from grading_fixtures import corpus as C
from grading_fixtures import named

from cmlesson import checks, data
from cmlesson.frontier import drifting
from cmlesson.grading.exercises import drift_field as ex

EX = "drift_field"


def grade_code(source: str) -> checks.Result:
    return C.grade(EX, source)


def test_right_answer_is_the_package_drift_and_the_judge_reference():
    fn = C.functions(C.CORRECT[EX])["drift_student"]
    inp = ex.inputs()
    torch.testing.assert_close(fn(inp["y"], inp["x"], ex.TEMPERATURE), drifting.drift(inp["y"], inp["x"], ex.TEMPERATURE))
    torch.testing.assert_close(ex.field(inp["y"], inp["x"], ex.TEMPERATURE).float(),
                               drifting.drift(inp["y"], inp["x"], ex.TEMPERATURE), rtol=1e-5, atol=1e-6)


def test_every_mistake_is_far_from_the_right_answer_and_from_each_other():
    inp = ex.inputs()
    fields = {"right": ex.field(inp["y"], inp["x"], ex.TEMPERATURE)}
    fields.update({k: ex.field(inp["y"], inp["x"], ex.TEMPERATURE, **kw) for k, (kw, _) in ex.MISTAKES.items()})
    scale = fields["right"].abs().max()
    keys = list(fields)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            assert (fields[a] - fields[b]).abs().max() > 1e-2 * scale, (a, b)


def test_the_drift_is_small_between_samples_of_one_distribution_and_points_towards_the_data():
    x, y = data.sample("moons", 1000, seed=3), data.sample("moons", 1000, seed=4)
    same = drifting.drift(y, x, 0.05).norm(dim=1).mean()
    shifted = drifting.drift(y + torch.tensor([0.3, 0.0]), x, 0.05)
    assert shifted.norm(dim=1).mean() > 3 * same  # near equilibrium attraction and repulsion almost cancel
    assert shifted[:, 0].mean() < -0.01  # shifted to the right: the drift points back, to the left


def test_drift_carries_no_gradient():
    y = torch.randn(20, 2, requires_grad=True)
    assert not drifting.drift(y, torch.randn(30, 2), 0.1).requires_grad


def test_right_answer_scores_full_marks():
    result = grade_code(C.CORRECT[EX])
    assert (result.status, result.score) == ("ok", 2), result.message


MISTAKES = [  # (mistake, words the diagnosis must contain, score)
    ("self_pair", r"^the self-pair is not excluded", 0),
    ("repulsion_sign", r"^the repulsion has the wrong sign", 0),
    ("no_repulsion", r"^the repulsion is missing", 0),
    ("rows_only", r"^the kernel is normalised over one axis only .*rows AND columns", 0),
    ("columns_only", r"^the kernel is normalised over the wrong axis only", 0),
    ("unnormalised", r"^the kernel is not normalised", 0),
    ("squared", r"^the squared distance in the kernel", 0),
    ("no_stop_gradient", r"^no stop-gradient: the right numbers", 1),
    ("nan_mask", r"^V holds NaN or inf", 0),
    ("other", r"^V differs from the paper's drift by up to", 0),
]


test_known_mistakes_are_named, test_every_mistake_of_the_corpus_is_tested = named.mistake_tests(EX, MISTAKES)


def test_stub_is_not_attempted_and_the_package_is_not_an_answer():
    assert grade_code(C.STUBS[EX]).status == "not attempted"
    assert "cmlesson's own" in checks.check_drift_field(drifting.drift).message
    result = checks.check_drift_field(lambda *a: 1.0)
    assert result.status == "wrong" and "expected a tensor of shape (48, 2)" in result.message
