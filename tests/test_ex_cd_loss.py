"""Notebook 02's consistency distillation loss: the right answer, every typical mistake named with its score, the stub."""

from __future__ import annotations

import torch
from grading_fixtures import corpus as C
from grading_fixtures import named

from cmlesson import checks, losses, samplers
from cmlesson.grading.exercises._fixtures import GaussianDenoiser, SpyNet

EX = "cd_loss"


def grade_code(source: str) -> checks.Result:
    return C.grade(EX, source)


def test_right_answer_is_the_package_loss():
    """Same signature and the same number as losses.consistency_distillation_loss, so either can stand in."""
    fn = C.functions(C.CORRECT[EX])["cd_loss_student"]
    x0, sigmas = torch.randn(100, 2), torch.tensor([80.0, 10.0, 1.0, 0.1, 0.002])
    args = (SpyNet(1), SpyNet(2), GaussianDenoiser(), x0, sigmas)
    mine = fn(*args, ode_step=samplers.heun_step, generator=torch.Generator().manual_seed(3))
    theirs = losses.consistency_distillation_loss(*args, ode_step=samplers.heun_step, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(mine, theirs)


MISTAKES = [  # (mistake, words the diagnosis must contain, score)
    ("reversed", r"^pair reversed: the target network is on the noisier point", 0),
    ("grad_to_target", r"^gradient reaches the target network", 0),
    ("euler", r"^an Euler step where Heun is asked.*\(0\.\d+ from the Heun step\)", 0),
    ("wrong_way", r"^the teacher stepped the wrong way: from sigma_lo up to sigma_hi", 0),
    ("fresh_noise", r"^fresh noise where the teacher's point is needed.*correlation -?0\.\d\d", 0),
    ("same_noise", r"^the target's point is x0 \+ sigma_lo z with the same z.*consistency training's pair", 0),
    ("mean", r"^a mean where the paper's distance is a sum: loss = 0\.4349, expected 0\.8699", 1),
    ("batch_sum", r"summed over the batch instead of averaging", 1),
    ("vs_x0", r"not 0, when the online and target networks coincide", 0),
    ("noise_first", r"^levels not drawn as in the contract", 0),
    ("online_as_target", r"^the target comes from the online model \(called 2 times\), not from target_model, "
     r"the slow average theta\^-$", 0),
    ("online_as_target_with_grad", r"^the target comes from the online model.*ran with gradients on", 0),
    ("lesson", r"^pair reversed.*\nthis is the lesson text's reversed loss: noise added at the lower level", 0),
    ("reversed_with_grad", r"^gradient reaches the target network.*\npair reversed", 0),
    ("target_on_x_hi", r"^the target network got x_hi itself", 0),
    ("step_from_x0", r"^the teacher stepped from the clean x0", 0),
    ("not_squared", r"^the distance is not squared: .* loss = 0\.6767, expected 0\.8699", 0),
    ("l1", r"^the distance is the L1 norm", 0),
]


test_known_mistakes_are_named, test_every_mistake_of_the_corpus_is_tested = named.mistake_tests(EX, MISTAKES)


def test_stub_is_not_attempted():
    result = grade_code(C.STUBS[EX])
    assert (result.status, result.score) == ("not attempted", 0)


def test_package_loss_is_not_an_answer_and_a_float_is_explained():
    assert "cmlesson's own" in checks.check_cd_loss(losses.consistency_distillation_loss).message
    result = checks.check_cd_loss(lambda *a, **k: 1.0)
    assert result.status == "wrong" and "expected a scalar tensor" in result.message
