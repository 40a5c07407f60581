"""Notebook 02's training step: the right answer, every typical mistake named, the stub, the package's stand-in."""

from __future__ import annotations

import torch
from grading_fixtures import corpus as C
from grading_fixtures import named

from cmlesson import checks, training
from cmlesson.ema import EvalEMA, TargetEMA
from cmlesson.grading.exercises.cd_step import StepNet

EX = "cd_step"


def grade_code(source: str) -> checks.Result:
    return C.grade(EX, source)


MISTAKES = [
    ("ema_before_step", r"^the target EMA was updated before the optimizer step"),
    ("no_zero_grad", r"^missing zero_grad: the previous step's gradient \(3 in every entry here\)"),
    ("zero_grad_late", r"^optimizer\.zero_grad\(\) ran between loss\.backward\(\) and optimizer\.step\(\)"),
    ("online_as_target", r"^loss_fn got the online model as the target"),
    ("target_trained", r"^loss_fn got target\.model as the network being trained.*raised RuntimeError"),
    ("target_copied", r"the target EMA was never updated.*target\.model's weights changed other than by target\.update"),
    ("decay_reversed", r"^target\.update got decay 0\.1, not target_decay = 0\.9 \(the wrong way round"),
    ("no_eval_ema", r"^the evaluation EMA was never updated"),
    ("eval_of_target", r"^ema\.update got target\.model"),
    ("returns_tensor", r"^returned the loss tensor, graph and all"),
    ("clipped", r"^the gradient was rescaled before the step \(to norm 1, from \d.*clip_grad_norm_"),
    ("no_optimizer_step", r"^optimizer\.step\(\) was never called: the online model.s weights did not move$"),
    ("no_backward", r"^loss\.backward\(\) did not run before optimizer\.step\(\)"),
    ("eval_ema_before_step", r"^the evaluation EMA was updated before the optimizer step"),
    ("zero_grad_after_step", r"^optimizer\.zero_grad\(\) ran after optimizer\.step\(\), not before loss\.backward"),
    ("fixed_decay", r"^target\.update got decay 0\.95, not target_decay = 0\.9$"),
]


test_known_mistakes_are_named, test_every_mistake_of_the_corpus_is_tested = named.mistake_tests(EX, MISTAKES)


def test_stub_is_not_attempted():
    result = grade_code(C.STUBS[EX])
    assert (result.status, result.score) == ("not attempted", 0)


def test_package_step_is_the_right_answer_on_real_averages():
    """training.distillation_step (the stand-in) and the right answer give the same weights with the package's EMAs."""
    fn = C.functions(C.CORRECT[EX])["cd_step_student"]
    results = []
    for step in (fn, training.distillation_step):
        model = StepNet(5)
        target, ema = TargetEMA(model), EvalEMA(model, 0.999)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        x0 = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))

        def loss_fn(m, t, x):
            with torch.no_grad():
                y = t(x + 0.1)
            return (m(x) - y).pow(2).sum(1).mean()

        losses_seen = [step(model, target, ema, opt, loss_fn, x0, 0.9) for _ in range(3)]
        results.append((losses_seen, [p.clone() for p in (*model.parameters(), *target.model.parameters(),
                                                          *ema.model.parameters())]))
    assert results[0][0] == results[1][0]
    assert all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1], strict=True))
    assert checks.check_cd_step(training.distillation_step).status == "wrong"
