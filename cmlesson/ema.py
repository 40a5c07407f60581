"""Exponential moving averages: the slow *target* network and the *evaluation* average (notebook 04).

They are different things. The target EMA theta- feeds the consistency loss its targets; its decay
mu is part of the method (Song et al. 2023: 0.95 for CD on ImageNet, mu(k) for CT; Song & Dhariwal
2023: 0, a plain stop-gradient). The evaluation EMA only smooths the weights that generate samples
and never touches training.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from . import validate


@torch.no_grad()
def ema_update_(ema_model: nn.Module, model: nn.Module, decay: float) -> None:
    """theta_ema <- decay theta_ema + (1 - decay) theta for every parameter; buffers are copied."""
    decay = validate.fraction("decay", decay, closed_right=True)
    ema_params, params = list(ema_model.parameters()), list(model.parameters())
    if len(ema_params) != len(params):
        raise ValueError(f"ema_model has {len(ema_params)} parameters, model has {len(params)}: not copies")
    torch._foreach_lerp_(ema_params, params, 1.0 - decay)  # one fused call; the same numbers as a lerp_ per tensor
    for b_ema, b in zip(ema_model.buffers(), model.buffers(), strict=True):
        b_ema.copy_(b)


def ct_target_decay(N: int, s0: int = 2, mu0: float = 0.9) -> float:
    """Song et al. 2023, App. C: mu(k) = exp(s0 ln(mu0) / N(k)): slower targets as the grid gets finer."""
    N = validate.int_at_least("N", N, 1)
    mu0 = validate.fraction("mu0", mu0)
    return math.exp(s0 * math.log(mu0) / N) if mu0 > 0 else 0.0


def no_target_decay(N: int, s0: int = 2, mu0: float = 0.9) -> float:
    """Song & Dhariwal 2023: mu = 0, the target is the online network under stop-gradient."""
    return 0.0


def ramped_decay(step: int, max_decay: float) -> float:
    """min(max_decay, (1 + step) / (10 + step)): an evaluation EMA that forgets its random start quickly."""
    return min(max_decay, (1 + step) / (10 + step))


def frozen_copy(model: nn.Module) -> nn.Module:
    """A deep copy with gradients off, in eval mode: the starting point of either average."""
    ema = copy.deepcopy(model).eval()
    ema.requires_grad_(False)
    return ema


class TargetEMA:
    """theta- of the consistency loss; ``update(model, mu)`` after every optimizer step."""

    def __init__(self, model: nn.Module):
        self.model = frozen_copy(model)

    def update(self, model: nn.Module, decay: float) -> None:
        ema_update_(self.model, model, decay)


class EvalEMA:
    """The averaged weights used for sampling, with a ramped decay up to ``max_decay``."""

    def __init__(self, model: nn.Module, max_decay: float):
        self.model = frozen_copy(model)
        self.max_decay = validate.fraction("max_decay", max_decay)
        self.step = 0

    def update(self, model: nn.Module) -> None:
        ema_update_(self.model, model, ramped_decay(self.step, self.max_decay))
        self.step += 1
