"""Classifier-free guidance: the guided denoiser's formula, label dropout and the conditional teacher."""

from __future__ import annotations

import pytest
import torch

from cmlesson import samplers
from cmlesson.config import GuidedTeacherConfig, NetworkConfig
from cmlesson.frontier import guidance
from cmlesson.frontier.guidance import NULL_LABEL, ConditionedMLP, Guided
from cmlesson.networks import NoiseConditionedMLP, ResidualMLP
from cmlesson.parameterization import EDMDenoiser

TINY = NetworkConfig(hidden=16, depth=2)


def random_denoiser(seed: int = 0, dim: int = 3) -> EDMDenoiser:
    torch.manual_seed(seed)
    net = ConditionedMLP(dim, TINY)
    torch.nn.init.normal_(net.out.weight, std=0.5)
    torch.nn.init.normal_(net.label.weight, std=1.0)
    return EDMDenoiser(net, 0.5, 0.002, 80.0).eval()


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(6, 3, generator=g), torch.tensor([0.3, 1.0, 2.0, 0.5, 5.0, 0.05]), torch.tensor([0, 1, 2, 3, 9, 4])


def test_guided_is_the_linear_mix_computed_by_hand():
    u, c = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, -2.0]])
    assert torch.equal(guidance.guided(u, c, 0.5), torch.tensor([[2.0, 0.0]]))
    assert torch.equal(guidance.guided(u, c, 2.0), torch.tensor([[5.0, -6.0]]))  # w > 1 extrapolates past D_cond
    per_row = guidance.guided(torch.zeros(2, 2), torch.ones(2, 2), torch.tensor([0.0, 3.0]))
    assert torch.equal(per_row, torch.tensor([[0.0, 0.0], [3.0, 3.0]]))


@torch.no_grad()
def test_w0_is_the_unconditional_and_w1_the_conditional_denoiser(batch):
    x, sigma, y = batch
    d = random_denoiser()
    uncond, cond = d(x, sigma, torch.full_like(y, NULL_LABEL)), d(x, sigma, y)
    assert not torch.allclose(uncond, cond, atol=1e-3)  # the label matters, so the test can tell them apart
    assert torch.allclose(Guided(d, y, 0.0)(x, sigma), uncond, atol=1e-6)
    assert torch.allclose(Guided(d, y, 1.0)(x, sigma), cond, atol=1e-6)
    w = 2.5
    assert torch.allclose(Guided(d, y, w)(x, sigma), uncond + w * (cond - uncond), atol=1e-5)


@torch.no_grad()
def test_guided_runs_in_the_course_samplers(batch):
    d = random_denoiser()
    x = samplers.noise(10, 3, 80.0, torch.Generator().manual_seed(0))
    out = samplers.sample_heun(Guided(d, 7, 2.0), x, [80.0, 1.0, 0.0])
    assert out.shape == (10, 3) and torch.isfinite(out).all()


def test_drop_labels_replaces_about_the_share_and_nothing_else():
    y = torch.arange(10).repeat(1000)
    out = guidance.drop_labels(y, 0.2, torch.Generator().manual_seed(0))
    dropped = out == NULL_LABEL
    assert 0.18 < dropped.float().mean() < 0.22
    assert torch.equal(out[~dropped], y[~dropped])
    assert torch.equal(guidance.drop_labels(y, 0.0), y)
    assert (guidance.drop_labels(y, 1.0) == NULL_LABEL).all()
    with pytest.raises(ValueError):
        guidance.drop_labels(y, 1.5)


def test_conditional_edm_loss_is_zero_for_the_exact_denoiser_of_a_point_mass():
    """Data all at one point m: D(x, s) = m is exact, so the loss vanishes; a wrong constant does not."""
    m = torch.tensor([0.2, -0.1, 0.4])

    class Const(torch.nn.Module):
        sigma_data = 0.5

        def __init__(self, value):
            super().__init__()
            self.value = value

        def forward(self, x, sigma, label):
            return self.value.expand_as(x)

    x0, y = m.expand(64, 3), torch.zeros(64, dtype=torch.long)
    assert guidance.conditional_edm_loss(Const(m), x0, y, -1.2, 1.2) == 0
    assert guidance.conditional_edm_loss(Const(m + 0.1), x0, y, -1.2, 1.2) > 0


def test_labelled_pool_keeps_each_image_with_its_label():
    x, y = torch.randn(50, 4), torch.arange(50) % 10
    pool = guidance.labelled_pool(x, y, seed=0)
    bx, by = guidance.split_batch(pool.batch(200))
    rows = (bx[:, None, :] == x[None]).all(-1).float().argmax(1)
    assert torch.equal(by, y[rows])
    with pytest.raises(ValueError, match="labels must have shape"):
        guidance.labelled_pool(x, y[:10], seed=0)


def test_conditioned_mlp_is_the_course_residual_mlp_with_label_and_w_embeddings():
    """ConditionedMLP is networks.ResidualMLP with e = e_noise + e_label (+ e_w), its state-dict keys those of the
    shipped digits checkpoint; with a zero label embedding and no w it is NoiseConditionedMLP with the same weights."""
    net = ConditionedMLP(3, TINY, guidance_embedding=True)
    assert isinstance(net, ResidualMLP)
    assert list(net.state_dict())[:7] == ["embed.0.freqs", "embed.1.weight", "embed.1.bias", "label.weight",
                                          "guidance.0.freqs", "guidance.1.weight", "guidance.1.bias"]
    plain, cond = NoiseConditionedMLP(3, TINY), ConditionedMLP(3, TINY)
    torch.nn.init.normal_(plain.out.weight)
    cond.load_state_dict({**plain.state_dict(), "label.weight": torch.zeros(11, TINY.hidden)})
    x, c = torch.randn(4, 3), torch.randn(4)
    assert torch.equal(cond(x, c, torch.arange(4)), plain(x, c))


def test_guidance_backbone_refuses_a_missing_w():
    net = ConditionedMLP(3, TINY, guidance_embedding=True)
    with pytest.raises(ValueError, match="pass w"):
        net(torch.zeros(2, 3), torch.zeros(2), torch.zeros(2, dtype=torch.long))


def test_conditional_teacher_learns_the_class_means():
    """Two classes at two points: the conditional denoiser at low noise returns each class's point."""
    means = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])
    y = torch.arange(2).repeat(200)
    x = means[y] + 0.01 * torch.randn(400, 2, generator=torch.Generator().manual_seed(0))
    cfg = GuidedTeacherConfig(steps=60, batch=64, lr=3e-3, warmup=10)
    trained = guidance.train_conditional_teacher(x, y, cfg, net=NetworkConfig(hidden=32, depth=2), progress=False)
    assert len(trained.history) == 60 and trained.history[-1] < trained.history[0]
    with torch.no_grad():
        out = Guided(trained.model, torch.tensor([0, 1]), 1.0)(torch.zeros(2, 2), 3.0)
    assert (out[0] > 0).all() and (out[1] < 0).all()  # from the same noisy point, each label pulls to its class
