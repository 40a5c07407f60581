"""Notebook 02, Exercise 2.1: the consistency function f(x, sigma) around a backbone F (Song et al. 2023, Eq. 5, App. C).

The student wraps a backbone ``F(x_in, c_noise)`` with the course's c_skip and c_out (the notebook binds them from
cmlesson.parameterization: the functions the student wrote in notebook 01). The check hands the student's code a
fake backbone that records what it was called with, so the judge can tell the network's inputs (c_in x, c_noise)
apart from the coefficients around its output, and test the boundary f(x, sigma_min) = x exactly.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ._judging import Result, arr, close, fmt, np_, ok, parameterization, preamble, reported, wrong
from ._kernel import Exercise, StudentError, call, floats, gen, name, safely

EXERCISE = Exercise("consistency_function", 1, "02", "Exercise 2.1: the consistency function around the backbone",
                    ("consistency_function_student",), rank=1,
                    answers=('parameterization.consistency_function', 'parameterization.Preconditioner.forward'))
SETTINGS = ((0.5, 0.002), (1.3, 0.05))  # (sigma_data, sigma_min): the course's, then other units
ROWS = 32  # rows per case; the first BOUNDARY_ROWS sit exactly at sigma_min
BOUNDARY_ROWS = 4
BACKBONE_SEED = 51


# --- kernel side -----------------------------------------------------------------------------------------------


class RecordingBackbone(nn.Module):
    """A fixed F(x_in, c_noise): (batch, 2) x (batch,) -> (batch, 2), never zero; records every call's inputs."""

    def __init__(self, seed: int = BACKBONE_SEED):
        super().__init__()
        g = gen(seed)
        self.w, self.v = 0.8 * torch.randn(2, 2, generator=g), torch.randn(2, generator=g)
        self.b = 0.3 * torch.randn(2, generator=g)
        self.calls: list[dict] = []

    @staticmethod
    def respond(w, v, b, x_in: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        dt = x_in.dtype
        return 1.5 * torch.tanh(x_in @ w.to(dt) + c_noise.reshape(-1, 1).to(dt) * v.to(dt) + b.to(dt))

    def forward(self, x_in: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        if not isinstance(x_in, torch.Tensor) or not isinstance(c_noise, torch.Tensor):
            raise StudentError("the backbone takes two tensors: backbone(x_in, c_noise)")
        if x_in.ndim != 2 or x_in.shape[1] != 2:
            raise StudentError(f"the backbone got x_in of shape {tuple(x_in.shape)}; it takes (batch, 2), like x")
        if c_noise.numel() != x_in.shape[0]:
            raise StudentError(f"the backbone got c_noise of shape {tuple(c_noise.shape)} for {x_in.shape[0]} rows; "
                               f"it takes one number per row, shape ({x_in.shape[0]},)")
        self.calls.append({"x_in": floats(x_in, "x_in"), "c_noise": floats(c_noise, "c_noise")})
        return self.respond(self.w, self.v, self.b, x_in, c_noise)


def inputs() -> list[dict]:
    """Two settings; each has 32 rows, the first 4 exactly at sigma_min, the rest from 1.5 sigma_min to 80, and x at
    each row's noise scale."""
    cases = []
    for k, (sigma_data, sigma_min) in enumerate(SETTINGS):
        g = gen(52 + k)
        far = torch.logspace(math.log10(1.5 * sigma_min), math.log10(80.0), ROWS - BOUNDARY_ROWS)
        sigma = torch.cat([torch.full((BOUNDARY_ROWS,), sigma_min), far]).float()
        x = torch.randn(ROWS, 2, generator=g) * (sigma**2 + sigma_data**2).sqrt()[:, None]
        cases.append({"x": x, "sigma": sigma, "sigma_data": sigma_data, "sigma_min": sigma_min})
    return cases


def evaluate(fn) -> dict:
    """The student's f on each case, and what the backbone was called with."""

    def body() -> dict:
        cases = []
        for case in inputs():
            backbone = RecordingBackbone()
            out = call(fn, backbone, case["x"].clone(), case["sigma"].clone(), case["sigma_data"], case["sigma_min"])
            cases.append({"result": floats(out, name(fn)), "calls": backbone.calls})
        return {"cases": cases}

    return safely(EXERCISE, body, fn)


# --- judge side ------------------------------------------------------------------------------------------------


def _col(v) -> np.ndarray:
    return np.asarray(v, dtype=np.float64).reshape(-1, 1)


def _backbone_output(x_in: np.ndarray, c_noise: np.ndarray) -> np.ndarray:
    bb = RecordingBackbone()
    return np_(RecordingBackbone.respond(bb.w, bb.v, bb.b, torch.as_tensor(x_in), torch.as_tensor(c_noise)))


def _row(values: np.ndarray, expected: np.ndarray, sigma: np.ndarray) -> str:
    """ "at sigma = 80: yours 0.71, expected 0.0088" for the row that differs most."""
    gap = np.abs(values.reshape(len(sigma), -1) - expected.reshape(len(sigma), -1)).max(axis=1)
    i = int(np.argmax(gap))
    return (f"at sigma = {fmt(sigma[i])}: yours {fmt(values.reshape(len(sigma), -1)[i, 0])}, "
            f"expected {fmt(expected.reshape(len(sigma), -1)[i, 0])}")


def _input_problems(x: np.ndarray, s: np.ndarray, sd: float, smin: float, x_in: np.ndarray,
                    c_noise: np.ndarray) -> list[str]:
    """What the backbone was fed, against c_in(sigma) x and c_noise(sigma) = ln(sigma) / 4."""
    problems = []
    c_in = 1 / np.sqrt(s**2 + sd**2)
    if x_in.shape != x.shape:
        problems.append(f"the backbone got x_in of shape {tuple(x_in.shape)}, expected {tuple(x.shape)} (like x)")
    elif not close(x_in, _col(c_in) * x, rtol=1e-4, atol=1e-6):
        if close(x_in, x, rtol=1e-4, atol=1e-6):
            problems.append(f"no input scaling: the backbone got x itself; at sigma = {fmt(s[-1])} that is a point of "
                            f"spread ~{fmt(math.sqrt(s[-1] ** 2 + sd**2))}, while the network was built for inputs of unit "
                            "scale: scale x by c_in(sigma) before the backbone")
        elif close(x_in, _col(1 / np.sqrt(s**2 + 0.25)) * x, rtol=1e-4, atol=1e-6):
            problems.append(f"c_in uses sigma_data = 0.5, not the argument sigma_data = {sd:g}")
        elif close(x_in, _col(c_in**2) * x, rtol=1e-4, atol=1e-6):
            problems.append("the backbone's input is x / (sigma^2 + sigma_data^2): c_in is one over the square root")
        elif close(x_in, _col(1 / c_in) * x, rtol=1e-4, atol=1e-6):
            problems.append("the backbone's input is x times sqrt(sigma^2 + sigma_data^2): c_in divides by it, so that "
                            "the input has unit scale")
        elif close(x_in, _col(1 / np.sqrt((s - smin) ** 2 + sd**2)) * x, rtol=1e-5, atol=1e-7):
            problems.append("c_in has c_skip's sigma_min shift: c_in(sigma) = 1 / sqrt(sigma^2 + sigma_data^2), "
                            "unshifted (only c_skip and c_out move the boundary to sigma_min)")
        else:
            problems.append("the backbone's input is not c_in(sigma) x: " + _row(x_in, _col(c_in) * x, s))
    expected = np.log(s) / 4
    c_noise = c_noise.reshape(-1)
    if c_noise.shape != expected.shape:
        return problems  # the backbone refused it (a StudentError names the shape)
    if not close(c_noise, expected, rtol=1e-4, atol=1e-6):
        variants = {"c_noise is sigma itself: the backbone's noise input is ln(sigma) / 4, a number of order 1 "
                    "at every level (sigma itself spans 0.002 to 80)": s,
                    "c_noise is ln(sigma), not ln(sigma) / 4": np.log(s),
                    "c_noise is log10(sigma) / 4: the course's logarithm is the natural one": np.log10(s) / 4,
                    "c_noise is c_in(sigma): the noise input is ln(sigma) / 4": c_in}
        shifted = np_((torch.as_tensor(s, dtype=torch.float32) - smin).log() / 4)  # as float32 code computes it
        variants["c_noise is ln(sigma - sigma_min) / 4, -inf at sigma_min: the noise input is ln(sigma) / 4, "
                 "without c_skip's shift"] = shifted
        desc = next((d for d, v in variants.items() if close(c_noise, v, rtol=1e-4, atol=1e-6)), None)
        problems.append(desc or "c_noise is not ln(sigma) / 4: " + _row(c_noise, expected, s))
    return problems


def _output_problems(x: np.ndarray, s: np.ndarray, sd: float, smin: float, x_in: np.ndarray, F: np.ndarray,
                     got: np.ndarray) -> list[str]:
    """How the student combined x and the backbone's output F (the F of their own inputs)."""
    P = parameterization
    skip, out = _col(np_(P.c_skip(torch.as_tensor(s), sd, smin))), _col(np_(P.c_out(torch.as_tensor(s), sd, smin)))
    if close(got, skip * x + out * F, rtol=1e-4, atol=1e-6):
        return []
    edm_skip, edm_out = _col(np_(P.edm_c_skip(torch.as_tensor(s), sd))), _col(np_(P.edm_c_out(torch.as_tensor(s), sd)))
    variants = {
        "c_skip and c_out swapped: c_skip weighs the skip path x, c_out the network's output F": out * x + skip * F,
        "c_skip multiplies the scaled input c_in x: the skip path carries x itself": skip * x_in + out * F,
        "the EDM teacher's coefficients (no sigma_min shift): use the course's c_skip and c_out, whose boundary "
        "values are exactly 1 and 0": edm_skip * x + edm_out * F,
        "the network's output is added without c_out: at sigma_min it must be switched off": skip * x + F,
        "no skip path: f must be c_skip x plus the scaled network output": out * F,
        "c_out F subtracted: f = c_skip x + c_out F": skip * x - out * F,
        "the lesson text's coefficients (sigma_min where sigma_data belongs, no shift: c_skip(sigma_min) = 1/2): use "
        "the course's c_skip and c_out of notebook 1": _col(np_(P.lesson_c_skip(torch.as_tensor(s), smin))) * x
        + _col(np_(P.lesson_c_out(torch.as_tensor(s), smin))) * F,
    }
    for wrong_call, (a, b) in {"sigma_data and sigma_min in the wrong order: their arguments are (sigma, sigma_data, "
                               "sigma_min)": (smin, sd),
                               f"sigma_data = {SETTINGS[0][0]}, not the argument sigma_data": (SETTINGS[0][0], smin),
                               f"sigma_min = {SETTINGS[0][1]}, not the argument sigma_min": (sd, SETTINGS[0][1])}.items():
        if (a, b) != (sd, smin):
            variants["c_skip and c_out called with " + wrong_call] = (
                _col(np_(P.c_skip(torch.as_tensor(s), a, b))) * x + _col(np_(P.c_out(torch.as_tensor(s), a, b))) * F)
    desc = next((d for d, v in variants.items() if close(got, v, rtol=1e-4, atol=1e-6)), None)
    return [desc or "f is not c_skip x + c_out F (F: the backbone's output): " + _row(got, skip * x + out * F, s)]


def _c_noise_shape_problem(calls: list[dict], n: int) -> str | None:
    shape = tuple(calls[0]["c_noise"]["shape"]) if calls else (n,)
    if shape == (n,):
        return None
    return (f"c_noise has shape {shape}: the backbone takes one number per row, shape ({n},) (the real backbone "
            f"would broadcast {shape} against its (batch, hidden) features into a wrong-shaped tensor)")


def _boundary_problem(x: np.ndarray, got: np.ndarray) -> str | None:
    gap = float(np.abs(got[:BOUNDARY_ROWS] - x[:BOUNDARY_ROWS]).max())
    if gap == 0.0:
        return None
    return (f"boundary not exact: f(x, sigma_min) differs from x by up to {gap:.3g}; it must equal x exactly, "
            "whatever the network outputs (c_skip(sigma_min) = 1 and c_out(sigma_min) = 0 make it so)")


def judge(outputs: dict) -> Result:
    """f = c_skip x + c_out F(c_in x, ln(sigma) / 4) on both settings, exactly x at sigma_min."""
    if (r := preamble(EXERCISE, outputs)) is not None:
        return r
    for k, (case, out) in enumerate(zip(inputs(), outputs["cases"], strict=True)):
        x, s, sd, smin = np_(case["x"]), np_(case["sigma"]), case["sigma_data"], case["sigma_min"]
        got = arr(out["result"])
        if got.shape != x.shape:
            return wrong(EXERCISE, f"returned shape {tuple(got.shape)}, expected {tuple(x.shape)} (like x)")
        if not np.isfinite(got).all():
            return wrong(EXERCISE, f"returned NaN or inf in {int((~np.isfinite(got)).any(axis=1).sum())} rows "
                         "(the rows at sigma_min? ln(sigma - sigma_min) is -inf there)")
        expected = np_(parameterization.consistency_function(RecordingBackbone(), case["x"], case["sigma"], sd, smin))
        boundary = _boundary_problem(x, got)
        shape = _c_noise_shape_problem(out["calls"], len(s))
        if close(got, expected, rtol=1e-5, atol=1e-6) and boundary is None and shape is None:
            continue
        where = "" if k == 0 else (f"right for sigma_data = {SETTINGS[0][0]}, sigma_min = {SETTINGS[0][1]}, but for "
                                   f"sigma_data = {sd}, sigma_min = {smin}: ")
        if not out["calls"]:
            return wrong(EXERCISE, where + "the backbone was never called: f needs the network's output F(c_in x, c_noise)")
        first = out["calls"][0]
        x_in, c_noise = arr(first["x_in"]), arr(first["c_noise"])
        problems = ([shape] if shape else []) + _input_problems(x, s, sd, smin, x_in, c_noise)
        if x_in.shape == x.shape and c_noise.size == len(s):
            problems += _output_problems(x, s, sd, smin, x_in, _backbone_output(x_in, c_noise.reshape(-1)), got)
        if boundary is not None:
            problems.append(boundary)
        if len(out["calls"]) > 1:
            problems.append(f"(the backbone was called {len(out['calls'])} times for one f; once is enough)")
        if not problems:
            problems.append("differs from c_skip x + c_out F(c_in x, c_noise): " + _row(got, expected, s))
        return wrong(EXERCISE, where + "\n".join(problems))
    return ok(EXERCISE, "correct\nthe backbone gets c_in(sigma) x and c_noise = ln(sigma) / 4; f = c_skip x + c_out F, "
              "exactly x at sigma_min")


def check(fn) -> Result:
    """Notebook 02, Exercise 2.1: consistency_function_student."""
    return reported(EXERCISE, judge(evaluate(fn)))
