"""Exponential moving averages: the update's arithmetic, the decay schedules, and the frozen copies."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cmlesson.ema import EvalEMA, TargetEMA, ct_target_decay, ema_update_, frozen_copy, no_target_decay, ramped_decay
from cmlesson.networks import NoiseConditionedMLP


def linear_with(value: float) -> nn.Linear:
    layer = nn.Linear(3, 2)
    with torch.no_grad():
        for p in layer.parameters():
            p.fill_(value)
    return layer


def random_linear(seed: int) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(3, 2)


# --- ema_update_ ------------------------------------------------------------------------------------


def test_ema_update_on_known_numbers():
    """decay 0.9: 0.9 * 2 + 0.1 * 5 = 2.3 in every parameter."""
    ema, model = linear_with(2.0), linear_with(5.0)
    ema_update_(ema, model, 0.9)
    for p in ema.parameters():
        torch.testing.assert_close(p, torch.full_like(p, 2.3))


def test_ema_update_on_random_weights():
    """decay * ema + (1 - decay) * model, against the formula evaluated on copies of the old weights."""
    ema, model = random_linear(0), random_linear(1)
    old = [p.detach().clone() for p in ema.parameters()]
    ema_update_(ema, model, 0.9)
    for new, a, b in zip(ema.parameters(), old, model.parameters(), strict=True):
        torch.testing.assert_close(new, 0.9 * a + 0.1 * b)


def test_ema_update_refuses_models_that_are_not_copies():
    """An average of two different architectures is meaningless: a clear error, not a silent partial update."""
    with pytest.raises(ValueError, match="ema_model has 4 parameters, model has 2: not copies"):
        ema_update_(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)), torch.nn.Linear(2, 2), 0.9)


def test_ema_update_leaves_the_model_alone():
    """The online model's weights are not touched by the update."""
    ema, model = random_linear(0), random_linear(1)
    before = [p.detach().clone() for p in model.parameters()]
    ema_update_(ema, model, 0.5)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_decay_one_keeps_and_decay_zero_copies():
    """decay 1.0 leaves the average bit-for-bit unchanged; decay 0.0 makes it an exact copy of the model."""
    ema, model = random_linear(0), random_linear(1)
    before = [p.detach().clone() for p in ema.parameters()]
    ema_update_(ema, model, 1.0)
    assert all(torch.equal(a, b) for a, b in zip(before, ema.parameters(), strict=True))
    ema_update_(ema, model, 0.0)
    assert all(torch.equal(a, b) for a, b in zip(ema.parameters(), model.parameters(), strict=True))


def test_buffers_are_copied_not_averaged():
    """Buffers (here the Fourier frequencies) are copied from the model whatever the decay."""
    ema, model = NoiseConditionedMLP(), NoiseConditionedMLP()
    with torch.no_grad():
        model.embed[0].freqs.mul_(3.0)
    ema_update_(ema, model, 0.99)
    assert torch.equal(ema.embed[0].freqs, model.embed[0].freqs)


@pytest.mark.parametrize("decay", [-0.1, 1.5, float("nan")])
def test_ema_update_rejects_bad_decay(decay):
    """A decay outside [0, 1] raises ValueError naming decay."""
    with pytest.raises(ValueError, match="decay must be in"):
        ema_update_(random_linear(0), random_linear(1), decay)


# --- decay schedules ---------------------------------------------------------------------------------


def test_ramped_decay_values():
    """min(max_decay, (1 + step)/(10 + step)): 0.1 at step 0, 0.5 at step 8, capped, non-decreasing."""
    assert ramped_decay(0, 0.999) == pytest.approx(0.1)
    assert ramped_decay(8, 0.999) == pytest.approx(0.5)
    assert ramped_decay(10**6, 0.999) == 0.999
    values = [ramped_decay(k, 0.99) for k in range(2000)]
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    assert all(v == min(0.99, (1 + k) / (10 + k)) for k, v in enumerate(values))


def test_ct_target_decay():
    """mu(N) = exp(s0 ln(mu0) / N): equals mu0 when N = s0, rises towards 1 as N grows; 0 when mu0 = 0."""
    assert ct_target_decay(2, s0=2, mu0=0.9) == pytest.approx(0.9, rel=1e-15)
    values = [ct_target_decay(N, 2, 0.9) for N in range(2, 152)]
    assert all(b > a for a, b in zip(values, values[1:], strict=False))
    assert values[-1] == pytest.approx(math.exp(2 * math.log(0.9) / 151), rel=1e-15)
    assert 0.99 < values[-1] < 1
    assert ct_target_decay(10, 2, 0.0) == 0.0
    assert no_target_decay(10, 2, 0.9) == 0.0


@pytest.mark.parametrize("mu0", [-0.5, float("nan"), 1.0, 1.5])
def test_ct_target_decay_rejects_invalid_mu0(mu0):
    """mu0 must be in [0, 1): anything else raises ValueError naming mu0 (not a silent decay of 0)."""
    with pytest.raises(ValueError, match="mu0"):
        ct_target_decay(10, 2, mu0)


# --- frozen copies -----------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [frozen_copy, lambda m: TargetEMA(m).model, lambda m: EvalEMA(m, 0.999).model])
def test_copies_are_frozen_and_separate(make):
    """The target and evaluation copies need no gradient, are in eval mode and share no storage with the model."""
    model = NoiseConditionedMLP()
    copy = make(model)
    assert copy is not model
    assert all(not p.requires_grad for p in copy.parameters())
    assert all(p.requires_grad for p in model.parameters())
    assert not copy.training
    model_ptrs = {p.data_ptr() for p in model.parameters()}
    assert not model_ptrs & {p.data_ptr() for p in copy.parameters()}
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    assert not torch.equal(next(model.parameters()), next(copy.parameters()))


def test_target_ema_update_uses_the_given_decay():
    """TargetEMA.update(model, mu) is ema_update_ with that mu."""
    a, b = random_linear(0), random_linear(1)
    target = TargetEMA(a)
    old = [p.detach().clone() for p in target.model.parameters()]
    target.update(b, 0.95)
    for new, x, y in zip(target.model.parameters(), old, b.parameters(), strict=True):
        torch.testing.assert_close(new, 0.95 * x + 0.05 * y)


def test_eval_ema_follows_the_ramp():
    """EvalEMA's k-th update uses ramped_decay(k, max_decay): the first keeps only 10% of the start."""
    a, b = random_linear(0), random_linear(1)
    ema = EvalEMA(a, 0.999)
    start = [p.detach().clone() for p in ema.model.parameters()]
    ema.update(b)
    assert ema.step == 1
    for new, x, y in zip(ema.model.parameters(), start, b.parameters(), strict=True):
        torch.testing.assert_close(new, 0.1 * x + 0.9 * y)
    after_one = [p.detach().clone() for p in ema.model.parameters()]
    ema.update(b)
    for new, x, y in zip(ema.model.parameters(), after_one, b.parameters(), strict=True):
        torch.testing.assert_close(new, 2 / 11 * x + 9 / 11 * y)


def test_eval_ema_rejects_bad_max_decay():
    """max_decay must be in [0, 1)."""
    with pytest.raises(ValueError, match="max_decay"):
        EvalEMA(random_linear(0), 1.0)
