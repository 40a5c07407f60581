"""Guided consistency distillation: the skipping pairs, the LCM target against plain CD, the boundary condition."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cmlesson import losses, samplers, schedules
from cmlesson.config import GuidedTeacherConfig, LCMConfig, NetworkConfig
from cmlesson.frontier import guidance, lcm
from cmlesson.frontier.guidance import ConditionedMLP
from cmlesson.parameterization import ConsistencyFunction, EDMDenoiser

TINY = NetworkConfig(hidden=16, depth=2)
SIGMAS = schedules.karras_sigmas(10, 0.002, 80.0, 7.0)


class IgnoresConditions(nn.Module):
    """A conditional wrapper around an unconditional model: it drops the label (and w)."""

    def __init__(self, model):
        super().__init__()
        self.model, self.sigma_data, self.sigma_min, self.sigma_max = model, model.sigma_data, model.sigma_min, model.sigma_max

    def forward(self, x, sigma, label, w=None):
        return self.model(x, sigma)


def test_skipping_pairs_are_k_levels_apart_and_cover_every_start():
    hi, lo = lcm.skipping_pairs(SIGMAS, 5000, 3, torch.Generator().manual_seed(0))
    index = {float(s): i for i, s in enumerate(SIGMAS)}
    i_hi = torch.tensor([index[float(s)] for s in hi])
    i_lo = torch.tensor([index[float(s)] for s in lo])
    assert torch.equal(i_lo - i_hi, torch.full_like(i_hi, 3))
    assert set(i_hi.tolist()) == set(range(len(SIGMAS) - 3))
    with pytest.raises(ValueError, match="below the grid"):
        lcm.skipping_pairs(SIGMAS, 4, len(SIGMAS))


def test_skip_1_draws_the_same_pairs_as_plain_cd():
    hi, lo = lcm.skipping_pairs(SIGMAS, 100, 1, torch.Generator().manual_seed(3))
    i = losses.uniform_levels(SIGMAS, 100, torch.Generator().manual_seed(3))
    assert torch.equal(hi, SIGMAS[i]) and torch.equal(lo, SIGMAS[i + 1])


def test_lcm_loss_at_k1_and_w1_equals_the_plain_cd_loss(make_backbone):
    """With label-blind networks, w = 1 and k = 1, LCM's loss is Song et al.'s CD loss on the same draws."""
    teacher = EDMDenoiser(make_backbone(1, out_std=0.3), 0.5, 0.002, 80.0).eval()
    model = ConsistencyFunction(make_backbone(2, out_std=0.3), 0.5, 0.002, 80.0)
    target = ConsistencyFunction(make_backbone(3, out_std=0.3), 0.5, 0.002, 80.0).eval()
    x0 = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    labels = torch.zeros(64, dtype=torch.long)
    cd = losses.consistency_distillation_loss(model, target, teacher, x0, SIGMAS, generator=torch.Generator().manual_seed(5))
    ours = lcm.lcm_loss(IgnoresConditions(model), IgnoresConditions(target), IgnoresConditions(teacher), x0, labels, SIGMAS,
                        skip=1, w_min=1.0, w_max=1.0, generator=torch.Generator().manual_seed(5))
    assert ours.item() == pytest.approx(cd.item(), rel=1e-5)
    assert ours.item() > 0


@torch.no_grad()
def test_lcm_target_is_the_target_net_after_one_guided_heun_step():
    torch.manual_seed(0)
    teacher = EDMDenoiser(ConditionedMLP(3, TINY), 0.5, 0.002, 80.0).eval()
    nn.init.normal_(teacher.backbone.out.weight, std=0.5)
    nn.init.normal_(teacher.backbone.label.weight)
    target = lcm.consistency_model_from(teacher, 4.0)
    nn.init.normal_(target.backbone.guidance[1].weight)
    x, y, w = torch.randn(5, 3), torch.tensor([0, 1, 2, 3, 4]), torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0])
    hi, lo = torch.full((5,), 2.0), torch.full((5,), 0.7)
    # by hand: Heun with D_w = D_u + w (D_c - D_u)
    def d_w(x_, s):
        return teacher(x_, s, torch.full_like(y, 10)) + w[:, None] * (teacher(x_, s, y) - teacher(x_, s, torch.full_like(y, 10)))
    slope = (x - d_w(x, hi)) / 2.0
    x_e = x + (0.7 - 2.0) * slope
    x_lo = x + (0.7 - 2.0) * (slope + (x_e - d_w(x_e, lo)) / 0.7) / 2
    expected = target(x_lo, lo, y, w)
    assert torch.allclose(lcm.lcm_target(target, teacher, x, hi, lo, y, w), expected, atol=1e-5)


@torch.no_grad()
def test_cm_starts_as_a_consistency_function_of_the_teachers_backbone_whatever_w():
    torch.manual_seed(0)
    teacher = EDMDenoiser(ConditionedMLP(3, TINY), 0.5, 0.002, 80.0).eval()
    nn.init.normal_(teacher.backbone.out.weight, std=0.5)
    cm = lcm.consistency_model_from(teacher, 4.0)
    x, y = torch.randn(4, 3), torch.tensor([1, 2, 3, 4])
    s = torch.full((4,), 1.5)
    assert torch.equal(cm(x, s, y, 0.0), cm(x, s, y, 3.0))  # the w embedding starts at zero
    assert torch.equal(cm(x, 0.002, y, 2.0), x)  # the boundary condition f(x, sigma_min) = x, exactly


def test_bound_model_runs_in_the_course_sampler():
    torch.manual_seed(0)
    teacher = EDMDenoiser(ConditionedMLP(3, TINY), 0.5, 0.002, 80.0).eval()
    cm = lcm.consistency_model_from(teacher, 4.0).eval()
    x = samplers.noise(6, 3, 80.0, torch.Generator().manual_seed(0))
    out = lcm.sample_guided_consistency(cm, x, [80.0, 1.0], 3, 2.0, generator=torch.Generator().manual_seed(1))
    assert out.shape == (6, 3) and torch.isfinite(out).all()


def test_lcm_loss_rejects_bad_guidance_range():
    with pytest.raises(ValueError, match="w_min"):
        lcm.lcm_loss(None, None, None, torch.zeros(2, 2), torch.zeros(2, dtype=torch.long), SIGMAS, skip=1, w_min=2.0, w_max=1.0)


@pytest.mark.slow
def test_train_lcm_reduces_its_loss_and_keeps_the_class():
    """Two classes at two points: after a short run, one guided consistency step lands nearer its own class's point."""
    means = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])
    y = torch.arange(2).repeat(200)
    x = means[y] + 0.05 * torch.randn(400, 2, generator=torch.Generator().manual_seed(0))
    net = NetworkConfig(hidden=32, depth=2)
    teacher = guidance.train_conditional_teacher(x, y, GuidedTeacherConfig(steps=300, batch=128, warmup=10), net=net,
                                                 progress=False)
    seen = []
    cm = lcm.train_lcm(teacher.model, x, y, LCMConfig(steps=400, batch=128, warmup=10, N=40, skip=4), progress=False,
                       callback=lambda step, model: seen.append((step, model)))
    assert len(cm.history) == 400 and cm.history[-1] < cm.history[0]
    assert [s for s, _ in seen] == list(range(1, 401)) and seen[-1][1] is cm.model  # the evaluation EMA, every step
    z = samplers.noise(200, 2, 80.0, torch.Generator().manual_seed(1))
    labels = torch.arange(2).repeat(100)
    out = lcm.sample_guided_consistency(cm.model, z, [80.0], labels, 2.0)
    nearer_own = (out - means[labels]).norm(dim=1) < (out - means[1 - labels]).norm(dim=1)
    assert nearer_own.float().mean() > 0.9
