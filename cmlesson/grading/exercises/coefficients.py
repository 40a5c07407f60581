"""Notebook 01, Exercise 1.1 (derive): the skip coefficients c_skip and c_out (Song et al. 2023, App. C).

The student starts from EDM's c_skip and c_out (Karras et al. 2022) and the boundary condition f(x, sigma_min) = x,
and returns coefficients that satisfy it. The judge tests the properties first (the boundary, the limit at large
sigma, how they scale with the units of x), then the paper's exact form.
"""

from __future__ import annotations

import torch

from ._judging import Result, arr, close, first_difference, np_, ok, parameterization, preamble, reported, wrong
from ._kernel import Exercise, call, floats, name, safely

EXERCISE = Exercise("coefficients", 1, "01", "Exercise 1.1: c_skip and c_out from the boundary condition",
                    ("c_skip_student", "c_out_student"), rank=1,
                    answers=('parameterization.c_skip', 'parameterization.c_out'))
SETTINGS = ((0.5, 0.002), (1.3, 0.05), (1.0, 0.004))  # (sigma_data, sigma_min); the third is the first in units x2
LEVELS = (0.3, 1.0, 3.0, 10.0, 80.0, 1e4)  # above the boundary; 1e4 probes the limit at large sigma
# (sigma_data, sigma_min) at which the boundary must give exactly 1 and 0, in float32 and float64: the first is the
# course's two moons; sigma_data^2 / ((sigma - sigma_min)^2 + sigma_data^2) misses 1 by a rounding error at the first
# two in float32 and at the third in float64 (torch's number / tensor multiplies by a rounded reciprocal)
EXACT = ((0.7065698407031273, 0.002), (1.3, 0.05), (0.3, 0.002))
DTYPES = {"float32": torch.float32, "float64": torch.float64}


# --- kernel side -----------------------------------------------------------------------------------------------


def inputs() -> list[dict]:
    """Three (sigma_data, sigma_min) settings; each sigma vector starts exactly at sigma_min (the boundary).
    The third setting is the first with every length doubled (the same problem in other units)."""
    cases = []
    for k, (sigma_data, sigma_min) in enumerate(SETTINGS):
        near = torch.tensor([1.0, 2.0, 5.0], dtype=torch.float64) * sigma_min
        far = torch.tensor(LEVELS, dtype=torch.float64) * (2.0 if k == 2 else 1.0)
        cases.append({"sigma": torch.cat([near, far]), "sigma_data": sigma_data, "sigma_min": sigma_min})
    return cases


def evaluate(c_skip_fn, c_out_fn) -> dict:
    """c_skip and c_out at every level of :func:`inputs`."""

    def body() -> dict:
        cases = []
        for case in inputs():
            args = (case["sigma"].clone(), case["sigma_data"], case["sigma_min"])
            cases.append({"c_skip": floats(call(c_skip_fn, *args), name(c_skip_fn)),
                          "c_out": floats(call(c_out_fn, *args), name(c_out_fn))})
        boundary = []  # c_skip and c_out at sigma = sigma_min exactly, as the dtype holds them
        for sigma_data, sigma_min in EXACT:
            for dtype, kind in DTYPES.items():
                args = (torch.tensor([sigma_min], dtype=kind), sigma_data, sigma_min)
                boundary.append({"sigma_data": sigma_data, "dtype": dtype,
                                 "c_skip": floats(call(c_skip_fn, *args), name(c_skip_fn))["values"],
                                 "c_out": floats(call(c_out_fn, *args), name(c_out_fn))["values"]})
        return {"cases": cases, "boundary": boundary}

    return safely(EXERCISE, body, c_skip_fn, c_out_fn)


# --- judge side ------------------------------------------------------------------------------------------------


def _property_problems(got: dict[str, list], cases: list[dict]) -> list[str]:
    """The boundary, the limit at large sigma and the units, tested on the student's numbers alone."""
    problems = []
    skip0, out0 = float(got["c_skip"][0][0]), float(got["c_out"][0][0])
    if abs(skip0 - 1) > 1e-6 or abs(out0) > 1e-9:
        problems.append(f"boundary condition fails: c_skip(sigma_min) = {skip0:.7g} and c_out(sigma_min) = {out0:.4g}; "
                        "f(x, sigma_min) = c_skip x + c_out F equals x for every network output F only if they are "
                        "exactly 1 and 0")
    for k in (0, 1):
        sd, skip_far, out_far = cases[k]["sigma_data"], float(got["c_skip"][k][-1]), float(got["c_out"][k][-1])
        if abs(skip_far) > 1e-3 or abs(out_far / sd - 1) > 1e-2:
            problems.append(f"wrong limit at large sigma (sigma_data = {sd:g}): at sigma = {LEVELS[-1]:g} c_skip = "
                            f"{skip_far:.3g} and c_out = {out_far:.4g}; there x is almost pure noise, so the output must "
                            f"come from the network (c_skip -> 0) sized like the data (c_out -> sigma_data = {sd:g})")
            break
    same_skip = close(got["c_skip"][2], got["c_skip"][0], rtol=1e-5, atol=1e-9)
    double_out = close(got["c_out"][2], 2 * got["c_out"][0], rtol=1e-5, atol=1e-9)
    if not (same_skip and double_out):
        yours = f"c_skip {'stays' if same_skip else 'changes'}, c_out {'doubles' if double_out else 'does not double'}"
        problems.append("wrong units: with every length doubled (sigma, sigma_data, sigma_min) c_skip must stay the same "
                        f"(it is a ratio) and c_out must double (it carries the units of x); yours: {yours}")
    return problems


def _variants(cases: list[dict]) -> dict[str, dict[str, list]]:
    P, s = parameterization, [c["sigma"] for c in cases]
    each = list(zip(s, cases, strict=True))
    return {
        "c_skip": {"the lesson's sigma_min^2 / (sigma^2 + sigma_min^2): sigma_min written where sigma_data belongs":
                   [P.lesson_c_skip(x, c["sigma_min"]) for x, c in each],
                   "EDM's c_skip without the shift sigma -> sigma - sigma_min":
                   [P.edm_c_skip(x, c["sigma_data"]) for x, c in each]},
        "c_out": {"the lesson's sigma sigma_min / sqrt(sigma^2 + sigma_min^2): sigma_min written where sigma_data belongs":
                  [P.lesson_c_out(x, c["sigma_min"]) for x, c in each],
                  "EDM's c_out without the shift sigma -> sigma - sigma_min in the numerator":
                  [P.edm_c_out(x, c["sigma_data"]) for x, c in each],
                  "shifted inside the square root too: Song et al. keep sqrt(sigma^2 + sigma_data^2), c_in's "
                  "normaliser, and shift only the factor that must vanish at sigma_min":
                  [c["sigma_data"] * (x - c["sigma_min"]) / ((x - c["sigma_min"]) ** 2 + c["sigma_data"] ** 2).sqrt()
                   for x, c in each]},
    }


def _inexact(boundary: list[dict]) -> str | None:
    """What misses the boundary by a rounding error (c_skip(sigma_min) != 1.0 or c_out(sigma_min) != 0.0), or None."""
    for b in boundary:
        skip, out = b["c_skip"], b["c_out"]
        if skip != [1.0] or out != [0.0]:
            miss = skip[0] - 1
            which = (f"c_skip(sigma_min) = 1 {'-' if miss < 0 else '+'} {abs(miss):.2g}" if skip != [1.0] else
                     f"c_out(sigma_min) = {out[0]:.2g}")
            return (f"the right formulas, but the boundary holds only to rounding: in {b['dtype']} with sigma_data = "
                    f"{b['sigma_data']:.4g}, {which}, so f(x, sigma_min) = x misses x by a rounding error (the "
                    "notebook's model gives exactly x). In torch a number divided by a tensor is the number times the "
                    "tensor's rounded reciprocal: write c_skip so that at sigma_min it is 1 / 1, e.g. "
                    "1 / (1 + ((sigma - sigma_min) / sigma_data) ** 2), and c_out with the factor (sigma - sigma_min), "
                    "which is exactly 0 there")
    return None


def judge(outputs: dict) -> Result:
    """c_skip(sigma_min) = 1, c_out(sigma_min) = 0, the right limits and units, and Song et al.'s form at every level."""
    if (r := preamble(EXERCISE, outputs)) is not None:
        return r
    cases = inputs()
    got = {k: [arr(c[k]) for c in outputs["cases"]] for k in ("c_skip", "c_out")}
    canon = {"c_skip": parameterization.c_skip, "c_out": parameterization.c_out}
    expected = {k: [np_(canon[k](c["sigma"], c["sigma_data"], c["sigma_min"])) for c in cases] for k in canon}
    for k in canon:
        for a, e in zip(got[k], expected[k], strict=True):
            if a.shape != e.shape:
                return wrong(EXERCISE, f"{k} returned shape {tuple(a.shape)} for sigma of shape {tuple(e.shape)}: "
                             "compute it elementwise")
    right = {k: all(close(a, e, rtol=1e-5, atol=1e-9) for a, e in zip(got[k], expected[k], strict=True)) for k in canon}
    if all(right.values()):
        if (inexact := _inexact(outputs.get("boundary", []))) is not None:
            return wrong(EXERCISE, inexact, kind="c_skip(sigma_min) 1 only to rounding")
        return ok(EXERCISE, "correct\nc_skip and c_out match Song et al. 2023 at every level: exactly 1 and 0 at "
                  "sigma_min in float32 and float64, 0 and sigma_data at large sigma, and the right units")
    problems = _property_problems(got, cases)
    variants = _variants(cases)
    for k in (k for k in canon if not right[k]):
        desc = next((d for d, v in variants[k].items()
                     if all(close(a, np_(b), rtol=1e-5, atol=1e-9) for a, b in zip(got[k], v, strict=True))), None)
        if desc is not None:
            problems.append(f"{k} is {desc}")
        elif close(got[k][0], expected[k][0], rtol=1e-5, atol=1e-9):
            c = cases[1]
            problems.append(f"{k} is right for sigma_data = 0.5, sigma_min = 0.002 but not for sigma_data = "
                            f"{c['sigma_data']}, sigma_min = {c['sigma_min']}: use the arguments, do not hard-code them")
        elif not problems:
            problems.append(f"{k} satisfies the boundary, the limit and the units, but is not Song et al.'s choice: "
                            + first_difference(got[k][0], expected[k][0], np_(cases[0]["sigma"]), "sigma")
                            + "; keep EDM's form and shift sigma only where the boundary needs it")
    return wrong(EXERCISE, "\n".join(problems))


def check(c_skip_fn, c_out_fn) -> Result:
    """Notebook 01, Exercise 1.1: c_skip_student and c_out_student."""
    return reported(EXERCISE, judge(evaluate(c_skip_fn, c_out_fn)))
