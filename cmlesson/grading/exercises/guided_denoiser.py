"""Notebook 09, Exercise 9.1: the guided denoiser D_w = D(x, sigma | no label) + w (D(x, sigma | c) - D(x, sigma | no
label)), classifier-free guidance in the notebook's convention (Ho & Salimans 2022, Eq. 6, with their w' = w - 1)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._judging import Result, arr, close, fmt, np_, ok, preamble, reported, wrong
from ._kernel import Exercise, StudentError, call, floats, gen, name, safely

EXERCISE = Exercise("guided_denoiser", 2, "09", "Exercise 9.1: the guided denoiser", ("guided_denoiser_student",),
                    rank=1, answers=("frontier.guidance.guided_denoise", "frontier.guidance.guided"))

NULL = 10  # the "no label" token (cmlesson.frontier.guidance.NULL_LABEL): index 10 of the label embedding
W = 2.5  # the guidance scale the check asks for: neither 0 nor 1, where mistakes cancel


# --- kernel side -----------------------------------------------------------------------------------------------

class SpyConditionalDenoiser(nn.Module):
    """D(x, sigma, label) = x / (1 + sigma^2) + tanh(x W + log(sigma) a + E[label]) V: smooth, different for every
    label (the ten digits and the "no label" token 10), like the notebook's teacher; records the labels it sees."""

    def __init__(self, seed: int, dim: int = 4):
        super().__init__()
        g = gen(seed)
        self.W = nn.Parameter(torch.randn(dim, 8, generator=g) / 2)
        self.a = nn.Parameter(torch.randn(8, generator=g))
        self.E = nn.Parameter(2 * torch.randn(NULL + 1, 8, generator=g))
        self.V = nn.Parameter(torch.randn(8, dim, generator=g))
        self.labels_seen: set[int] = set()

    def forward(self, x: torch.Tensor, sigma, label) -> torch.Tensor:
        n = x.shape[0]
        s = torch.as_tensor(sigma, dtype=x.dtype)
        s = s.expand(n) if s.ndim == 0 else s
        lab = torch.as_tensor(label)
        if lab.is_floating_point() or lab.dtype == torch.bool:
            raise StudentError(f"the denoiser got labels of dtype {lab.dtype}: labels are integers (torch.long)")
        lab = lab.expand(n) if lab.ndim == 0 else lab
        if s.shape != (n,) or lab.shape != (n,):
            raise StudentError(f"the denoiser got x of shape {tuple(x.shape)} with sigma of shape {tuple(s.shape)} and "
                               f"labels of shape {tuple(lab.shape)}: one level and one label per row of x")
        bad = sorted({int(v) for v in lab.tolist() if not 0 <= int(v) <= NULL})
        if bad:
            raise StudentError(f"the denoiser got label {bad[0]}, which is no label: the digits are 0-9 and the "
                               f"\"no label\" token is NULL_LABEL = {NULL}")
        self.labels_seen.update(int(v) for v in lab.unique().tolist())
        dtype = x.dtype
        h = torch.tanh(x @ self.W.to(dtype) + s.log()[:, None] * self.a.to(dtype) + self.E.to(dtype)[lab.long()])
        return x / (1 + s[:, None] ** 2) + h @ self.V.to(dtype)


def inputs() -> dict:
    """24 noisy points x in 4 dimensions, one level sigma and one digit label per row; float32."""
    g = gen(91)
    return {"seed": 92, "x": 2 * torch.randn(24, 4, generator=g), "sigma": 0.2 + 3 * torch.rand(24, generator=g),
            "label": torch.randint(0, NULL, (24,), generator=g), "w": W}


def evaluate(fn) -> dict:
    """The guided denoiser on the spy at w = W, and the labels the spy was called with."""

    def body() -> dict:
        inp = inputs()
        d = SpyConditionalDenoiser(inp["seed"])
        with torch.no_grad():
            out = call(fn, d, inp["x"].clone(), inp["sigma"].clone(), inp["label"].clone(), inp["w"])
        if not isinstance(out, torch.Tensor):
            raise StudentError(f"{name(fn)} returned {type(out).__name__}, expected a tensor of shape (24, 4)")
        return {"denoised": floats(out, name(fn)), "labels_seen": sorted(d.labels_seen)}

    return safely(EXERCISE, body, fn)


# --- judge side ------------------------------------------------------------------------------------------------

def _candidates(inp: dict) -> dict[str, np.ndarray]:
    """The right D_w and the typical mistakes, in float64 on the spy."""
    d = SpyConditionalDenoiser(inp["seed"]).double()
    x, s, lab, w = inp["x"].double(), inp["sigma"].double(), inp["label"], inp["w"]
    with torch.no_grad():
        cond, uncond = d(x, s, lab), d(x, s, torch.full_like(lab, NULL))
        digit_zero = d(x, s, torch.zeros_like(lab))
    return {k: np_(v) for k, v in {
        "right": uncond + w * (cond - uncond),
        "swapped": cond + w * (uncond - cond),
        "ho_salimans": uncond + (w + 1) * (cond - uncond),
        "minus_one": uncond + (w - 1) * (cond - uncond),
        "noisy_x": x + w * (cond - x),
        "noisy_x_shift": x + w * (cond - uncond),
        "label_zero": digit_zero + w * (cond - digit_zero),
        "cond_only": cond,
        "uncond_only": uncond,
    }.items()}


MISTAKES = {  # candidate: message (each scores 0)
    "swapped": "conditional and unconditional swapped (w and 1 - w swapped): you return D_cond + w (D_uncond - D_cond) "
               "= (1 - w) D_cond + w D_uncond, which moves away from the requested digit as w grows; D_w = D_uncond + "
               "w (D_cond - D_uncond), so that w = 0 is the unconditional model and w = 1 the conditional one",
    "ho_salimans": "Ho & Salimans' offset: (1 + w) D_cond - w D_uncond is their Eq. 6 with their w' = w - 1; in this "
                   "notebook's convention w itself multiplies (D_cond - D_uncond), and w = 1 is the conditional model",
    "minus_one": "w shifted by one: you used w - 1 where the notebook's w multiplies (D_cond - D_uncond) as it is; "
                 "Ho & Salimans' w' = w - 1 is already accounted for in the notebook's formula",
    "noisy_x": "guidance applied to the noisy x: you mix x and D(x, sigma | c), x + w (D_cond - x); guidance mixes two "
               "denoised outputs, D_uncond + w (D_cond - D_uncond), both from the same x",
    "noisy_x_shift": "guidance applied to the noisy x: you add w (D_cond - D_uncond) to x instead of to the "
                     "unconditional denoiser's output D_uncond",
    "label_zero": "the unconditional label is wrong: you used the digit 0 where the \"no label\" token belongs; "
                  "D_uncond = D(x, sigma | NULL_LABEL), NULL_LABEL = 10",
    "cond_only": "returns the conditional denoiser D(x, sigma | c) alone: w is not applied (that is D_w at w = 1 only)",
    "uncond_only": "returns the unconditional denoiser D(x, sigma | no label) alone: the request c and w are not "
                   "applied (that is D_w at w = 0 only)",
}


def judge(outputs: dict) -> Result:
    """Ho & Salimans 2022, Eq. 6, in the notebook's w: D_uncond + w (D_cond - D_uncond), D_uncond at NULL_LABEL."""
    shape_hint = "sigma and label have shape (n,) and the outputs (n, 4): mix the two denoised outputs row by row"
    if (r := preamble(EXERCISE, outputs, shape_hint)) is not None:
        return r
    got = arr(outputs["denoised"])
    cands = _candidates(inputs())
    right = cands["right"]
    if got.shape != right.shape:
        return wrong(EXERCISE, f"returns shape {tuple(got.shape)}; expected {tuple(right.shape)}, one denoised point "
                     "per row of x")
    scale = float(np.abs(right).max())
    err = float(np.abs(got - right).max()) / scale
    seen = outputs.get("labels_seen", [])
    if err < 1e-4:
        return ok(EXERCISE, f"correct\nD_w = D_uncond + w (D_cond - D_uncond) at w = {W:g} to {fmt(err)} of its size; "
                  f"the unconditional term at the \"no label\" token {NULL}")
    for key, message in MISTAKES.items():
        if close(got, cands[key], rtol=1e-4, atol=1e-4 * scale):
            return wrong(EXERCISE, message)
    if NULL not in seen:
        used = ", ".join(str(v) for v in seen) or "none"
        return wrong(EXERCISE, f"the unconditional label is wrong: the \"no label\" token {NULL} never reached the "
                     f"denoiser (it saw the labels {used}); D_uncond = D(x, sigma | NULL_LABEL), NULL_LABEL = {NULL}")
    return wrong(EXERCISE, f"D_w differs from D_uncond + w (D_cond - D_uncond) by up to {fmt(err)} of its size, at "
                 f"w = {W:g}")


def check(fn) -> Result:
    """Notebook 09, Exercise 9.1: guided_denoiser_student."""
    return reported(EXERCISE, judge(evaluate(fn)))
