"""Notebook 03, Exercise 3.1: the consistency-training curriculum N(k) (Song et al. 2023, App. C)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ._judging import Result, fmt, ok, preamble, reported, schedules, wrong
from ._kernel import Exercise, call, name, number, safely

EXERCISE = Exercise("curriculum", 1, "03", "Exercise 3.1: the CT curriculum N(k)", ("ct_curriculum_student",), rank=1,
                    answers=('schedules.ct_curriculum',))


# --- kernel side -----------------------------------------------------------------------------------------------

def inputs() -> list[tuple[int, int, int, int]]:
    """(k, K, s0, s1): the paper's s0 = 2, s1 = 150 across a run, then other s0, s1 (catches hard-coded values)."""
    return ([(k, 1000, 2, 150) for k in (0, 1, 10, 100, 250, 500, 750, 999, 1000)]
            + [(k, 400, 10, 1280) for k in (0, 50, 200, 400)])


def evaluate(fn) -> dict:
    """N(k) for every (k, K, s0, s1) of :func:`curriculum_inputs`."""

    def body() -> dict:
        return {"values": [number(call(fn, *args), name(fn)) for args in inputs()]}

    return safely(EXERCISE, body, fn)


# --- judge side ------------------------------------------------------------------------------------------------

def _level_count(k: int, K: int, s0: int, s1: int) -> float:
    """The real-valued count whose square moves linearly in k from s0^2 to (s1 + 1)^2 (N(k) is it rounded up)."""
    return math.sqrt(k / K * ((s1 + 1) ** 2 - s0**2) + s0**2)


_ROUND_UP = "N counts levels: round the real-valued count up (math.ceil)"
_VARIANTS = {  # name: (N for one (k, K, s0, s1), what is wrong, in words a student can act on); the first that
    #              reproduces every value of the check is named
    "rounded down": (lambda k, K, s0, s1: math.floor(_level_count(k, K, s0, s1)),
                     "rounded down where N must be rounded up (math.ceil): a fractional count of levels needs one more level"),
    "rounded": (lambda k, K, s0, s1: round(_level_count(k, K, s0, s1)),
                "rounded to the nearest integer where N must be rounded up (math.ceil): "
                "a fractional count of levels needs one more level"),
    "linear": (lambda k, K, s0, s1: math.ceil(s0 + k / K * (s1 + 1 - s0)),
               "N(k) itself grows linearly from s0 to s1 + 1: in Song et al.'s curriculum it is N(k)^2 that moves "
               "linearly in k, so N rises fast at first and then slower"),
    "sqrt of k": (lambda k, K, s0, s1: math.ceil(s0 + math.sqrt(k / K) * (s1 + 1 - s0)),
                  "N(k) - s0 grows like sqrt(k/K): close, but it is N(k)^2 that moves linearly in k, "
                  "from s0^2 to (s1 + 1)^2"),
    "square ends at s1^2": (lambda k, K, s0, s1: math.ceil(math.sqrt(k / K * (s1**2 - s0**2) + s0**2)),
                            "the square ends at s1^2 where it must end at (s1 + 1)^2: the final grid has s1 + 1 "
                            "levels (s1 intervals between them)"),
    "plus one": (lambda k, K, s0, s1: math.ceil(_level_count(k, K, s0, s1)) + 1,
                 "one level too many: rounding the count up already gives N(k), so the extra + 1 counts a level twice"),
    "minus one": (lambda k, K, s0, s1: math.ceil(_level_count(k, K, s0, s1) - 1),
                  "one level short: ceil(count - 1) is N(k) - 1 (the paper's ceil(sqrt(...) - 1) + 1 adds the one back)"),
    "int plus one": (lambda k, K, s0, s1: int(_level_count(k, K, s0, s1)) + 1,
                     "int(count) + 1 is not rounding up: a count that is already whole, as at both ends "
                     "(N(0) = s0, N(K) = s1 + 1), gains a level; use math.ceil"),
    "s0 and s1 swapped": (lambda k, K, s0, s1: math.ceil(math.sqrt(k / K * ((s0 + 1) ** 2 - s1**2) + s1**2)),
                          "s0 and s1 swapped (in the formula or in the order of the arguments): the grid must start "
                          "with s0 levels at k = 0 and end with s1 + 1 at k = K, yours shrinks from about s1 to s0 + 1"),
    "K in place of k": (lambda k, K, s0, s1: s1 + 1,
                        "N(k) = s1 + 1 at every step: the square must move with the current step k, not the run's "
                        "length K (k / K goes from 0 at the start to 1 at the end)"),
    "integer division": (lambda k, K, s0, s1: math.ceil(_level_count(k // K, 1, s0, s1)),
                         "N stays at s0 until the last step: k // K is integer division, 0 for every k < K; "
                         "use k / K"),
}
_DIVIDED_BY_K = ("division by zero: at the first step k = 0; the fraction of the run done is k / K "
                 "(0 at the start, 1 at the end), not K / k")


def judge(outputs: dict) -> Result:
    """N(k) = ceil(sqrt(k/K ((s1+1)^2 - s0^2) + s0^2) - 1) + 1 (Song et al. 2023, App. C), integers."""
    if (r := preamble(EXERCISE, outputs)) is not None:
        if "ZeroDivisionError" in outputs.get("error", ""):
            return replace(r, message=f"{r.message}\n{_DIVIDED_BY_K}", kind="divides by k")
        return r
    args = inputs()
    got = np.asarray([float(v) for v in outputs["values"]])
    expected = np.asarray([schedules.ct_curriculum(*a) for a in args], dtype=float)
    if got.shape != expected.shape:
        return wrong(EXERCISE, f"expected {len(expected)} values, got {got.size}")
    non_int = [v for v in got if not float(v).is_integer()]
    if np.array_equal(got, expected):
        return ok(EXERCISE, "correct\nN(k) matches Song et al. 2023 (N(0) = s0 = 2 up to N(K) = s1 + 1 = 151)")
    paper = len([a for a in args if a[2] == 2])  # the first block: s0 = 2, s1 = 150, K = 1000
    g1, e1 = got[:paper], expected[:paper]
    problems = []
    variant = next((v for v, (f, _) in _VARIANTS.items() if np.array_equal(got, [f(*a) for a in args])), None)
    ends = [f"N(0) = {fmt(g1[0])}, expected s0 = {int(e1[0])}" if g1[0] != e1[0] else "",
            f"N(K) = {fmt(g1[-1])}, expected s1 + 1 = {int(e1[-1])}" if g1[-1] != e1[-1] else ""]
    k = int(np.argmax(got != expected))
    k_, K, s0, s1 = args[k]
    first = f"N(k = {k_}, K = {K}, s0 = {s0}, s1 = {s1}) = {fmt(got[k])}, expected {int(expected[k])}"
    if non_int:
        problems.append(f"returns fractions (e.g. {fmt(non_int[0])}): {_ROUND_UP}")
    if variant is not None:
        where = "off by one at the ends: " + "; ".join(e for e in ends if e) if any(ends) else first
        problems.append(f"{_VARIANTS[variant][1]}\n{where}")
    elif np.all(np.diff(g1) <= 0) and g1[0] > g1[-1]:
        problems.append(f"N(k) decreases from {fmt(g1[0])} to {fmt(g1[-1])} (high to low): "
                        "it must grow from s0 at k = 0 to s1 + 1 at k = K")
    elif np.array_equal(g1, [schedules.lesson_curriculum(*a[:2]) for a in args[:paper]]):
        problems.append("linear like the lesson's N = 2 + 148 k/K: Song et al.'s N(k) grows like sqrt(k/K), "
                        f"fast at first (N(100) = {int(e1[3])}, yours {int(g1[3])}), then slower")
    elif np.array_equal(g1, e1):
        problems.append("right for s0 = 2, s1 = 150, wrong for s0 = 10, s1 = 1280: use the arguments s0 and s1")
    elif np.all(np.abs(g1 - e1) <= 1) and any(ends):
        problems.append("off by one at the ends: " + "; ".join(e for e in ends if e))
    elif not non_int:
        problems.append(first)
    return wrong(EXERCISE, "\n".join(problems))


def check(fn) -> Result:
    """Notebook 03, Exercise 3.1: ct_curriculum_student."""
    return reported(EXERCISE, judge(evaluate(fn)))
