"""A class for the similarity report: independent right answers written in different styles (which must not be
listed as similar), and planted copies of one of them (which must be)."""

from __future__ import annotations

from grading_fixtures.corpus import CORRECT

# --- independent right answers, two exercises, three styles each ------------------------------------------------

CT_LOSS_STYLES = {
    "ana": CORRECT["ct_loss"],  # the corpus's right answer
    "ben": """\
import torch.nn.functional as F

def ct_loss_student(model, target_model, x0, sigmas, generator):
    \"\"\"Alg. 3 with d = squared L2.\"\"\"
    batch = x0.shape[0]
    index = torch.randint(low=0, high=sigmas.numel() - 1, size=(batch,), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    s_next = sigmas[index + 1].unsqueeze(-1)
    s_now = sigmas[index].unsqueeze(-1)
    prediction = model(x0 + s_now * noise, s_now.squeeze(-1))
    reference = target_model(x0 + s_next * noise, s_next.squeeze(-1)).detach()
    per_point = F.mse_loss(prediction, reference, reduction="none").sum(dim=-1)
    return per_point.mean()
""",
    "cleo": """\
def ct_loss_student(model, target_model, x0, sigmas, generator):
    n = len(x0)
    k = torch.randint(len(sigmas) - 1, (n,), generator=generator)
    eps = torch.randn(x0.shape, generator=generator)
    total = torch.zeros(())
    levels = torch.stack([sigmas[k], sigmas[k + 1]])
    noisy = [x0 + levels[j].reshape(n, 1) * eps for j in range(2)]
    online = model(noisy[0], levels[0])
    with torch.inference_mode(False), torch.no_grad():
        aim = target_model(noisy[1], levels[1])
    diff = online - aim
    total = total + torch.einsum("bd,bd->b", diff, diff).sum()
    return total / n
""",
}

HEUN_STYLES = {
    "ana": """\
def heun_step_student(denoiser, x, sigma, sigma_next):
    s, s_next = (torch.as_tensor(v).reshape(-1, 1) for v in (sigma, sigma_next))
    d = (x - denoiser(x, sigma)) / s
    x_euler = x + (s_next - s) * d
    d_next = (x_euler - denoiser(x_euler, sigma_next)) / s_next
    return x + (s_next - s) * (d + d_next) / 2
""",
    "ben": """\
def _column(level, like):
    level = torch.as_tensor(level, dtype=like.dtype)
    return level.view(-1, 1) if level.ndim else level


def slope(denoiser, point, level):
    return (point - denoiser(point, level)) / _column(level, point)


def heun_step_student(denoiser, x, sigma, sigma_next):
    \"\"\"Karras et al. 2022, Alg. 1, one step.\"\"\"
    h = _column(sigma_next, x) - _column(sigma, x)
    k1 = slope(denoiser, x, sigma)
    k2 = slope(denoiser, x + h * k1, sigma_next)
    return x + 0.5 * h * (k1 + k2)
""",
    "cleo": """\
def heun_step_student(denoiser, x, sigma, sigma_next):
    sig = torch.tensor(sigma, dtype=x.dtype) if not torch.is_tensor(sigma) else sigma.to(x.dtype)
    nxt = torch.tensor(sigma_next, dtype=x.dtype) if not torch.is_tensor(sigma_next) else sigma_next.to(x.dtype)
    if sig.dim() == 1:
        sig, nxt = sig[:, None], nxt[:, None]
    first = torch.div(torch.sub(x, denoiser(x, sigma)), sig)
    guess = torch.addcmul(x, nxt - sig, first)
    second = torch.div(torch.sub(guess, denoiser(guess, sigma_next)), nxt)
    return torch.addcmul(x, (nxt - sig) / 2, first + second)
""",
}

# --- planted copies of ben's answers: renamed variables, reordered independent lines, comments added ---------------

CT_LOSS_COPY = """\
import torch.nn.functional as F

def ct_loss_student(net, ema_net, data, grid, gen):
    # my own implementation of the CT loss!!
    n_points = data.shape[0]
    idx = torch.randint(low=0, high=grid.numel() - 1, size=(n_points,), generator=gen)  # random pairs
    eps = torch.randn(data.shape, generator=gen)
    lower = grid[idx + 1].unsqueeze(-1)   # the cleaner level
    upper = grid[idx].unsqueeze(-1)       # the noisier level
    # the target network gives the reference (no gradient)
    ref = ema_net(data + lower * eps, lower.squeeze(-1)).detach()
    out = net(data + upper * eps, upper.squeeze(-1))
    loss_each = F.mse_loss(out, ref, reduction="none").sum(dim=-1)
    return loss_each.mean()
"""

HEUN_COPY = """\
def heun_step_student(D, y, t, t_next):
    # one step of Heun's method
    dt = as_col(t_next, y) - as_col(t, y)
    first = ode_rhs(D, y, t)
    second = ode_rhs(D, y + dt * first, t_next)
    return y + 0.5 * dt * (first + second)


def ode_rhs(D, y, t):
    return (y - D(y, t)) / as_col(t, y)  # dx/dsigma


def as_col(t, like):
    t = torch.as_tensor(t, dtype=like.dtype)
    return t.view(-1, 1) if t.ndim else t
"""
