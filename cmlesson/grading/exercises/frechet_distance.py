"""Notebook 07, Exercise 7.1: the Fréchet distance between Gaussians fitted to two sets of classifier features, the
figure by which the notebook ranks its digit generators (the package's ``frontier.classifier.frechet_distance``)."""

from __future__ import annotations

import math

import numpy as np

from ._judging import Result, close, fmt, ok, preamble, reported, wrong
from ._kernel import Exercise, call, name, number, safely

EXERCISE = Exercise("frechet_distance", 2, "07", "Exercise 7.1: the Fréchet distance", ("frechet_distance_student",),
                    rank=1, answers=("frontier.classifier.frechet_distance",))


# --- kernel side -----------------------------------------------------------------------------------------------

def _gaussian(rng: np.random.Generator, n: int, d: int, mean: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """n points whose covariance has the given principal scales along random (so non-aligned) directions."""
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return mean + (rng.normal(size=(n, d)) * scales) @ q.T


def inputs() -> list[tuple[np.ndarray, np.ndarray]]:
    """Three pairs of feature sets (rows are images): equal sizes with correlated, non-commuting covariances and
    shifted means; unequal sizes (as 1,000 samples against 359 held-out digits); a set against itself (FD 0)."""
    rng = np.random.default_rng(71)
    d = 6
    a = _gaussian(rng, 400, d, np.zeros(d), np.array([3.0, 2.0, 1.5, 1.0, 0.6, 0.3]))
    b = _gaussian(rng, 400, d, np.full(d, 0.5), np.array([2.5, 2.2, 1.0, 0.8, 0.5, 0.2]))
    c = np.abs(_gaussian(rng, 500, 8, np.full(8, 1.0), np.linspace(2.0, 0.2, 8)))  # ReLU-like features
    e = np.abs(_gaussian(rng, 180, 8, np.full(8, 1.4), np.linspace(1.5, 0.4, 8)))
    return [(a, b), (c, e), (e, e.copy())]


def evaluate(fn) -> dict:
    """The student's FD on each pair of :func:`inputs`."""

    def body() -> dict:
        return {"values": [number(call(fn, a.copy(), b.copy()), name(fn)) for a, b in inputs()]}

    return safely(EXERCISE, body, fn)


# --- judge side ------------------------------------------------------------------------------------------------

def _root(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _trace_root(s_a: np.ndarray, s_b: np.ndarray) -> float:
    """Tr((S_a S_b)^(1/2)), from the eigenvalues of the symmetric S_a^(1/2) S_b S_a^(1/2)."""
    r = _root(s_a)
    return float(np.sqrt(np.clip(np.linalg.eigvalsh(r @ s_b @ r), 0, None)).sum())


def _fd(a: np.ndarray, b: np.ndarray, ddof: int = 1) -> float:
    s_a, s_b = np.cov(a, rowvar=False, ddof=ddof), np.cov(b, rowvar=False, ddof=ddof)
    mean = float(((a.mean(0) - b.mean(0)) ** 2).sum())
    return mean + float(np.trace(s_a) + np.trace(s_b)) - 2 * _trace_root(s_a, s_b)


def _variants(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """What the typical mistakes return on one pair, each with the words that name it."""
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    mean2 = float(((a.mean(0) - b.mean(0)) ** 2).sum())
    traces = float(np.trace(s_a) + np.trace(s_b))
    right = mean2 + traces - 2 * _trace_root(s_a, s_b)
    with np.errstate(invalid="ignore"):
        elementwise = float(np.trace(np.sqrt(s_a @ s_b)))
    var_a, var_b = np.diag(s_a), np.diag(s_b)
    return {
        "an element-wise square root (np.sqrt of the matrix S_a S_b): the cross term needs the matrix square root, the "
        "matrix R with R R = S_a S_b (scipy.linalg.sqrtm, or the eigenvalues)": mean2 + traces - 2 * elementwise,
        "the product of two roots, Tr(S_a^(1/2) S_b^(1/2)): that equals Tr((S_a S_b)^(1/2)) only when the two "
        "covariances commute, and feature covariances do not":
            mean2 + traces - 2 * float(np.trace(_root(s_a) @ _root(s_b))),
        "the square root is missing: the cross term is 2 Tr((S_a S_b)^(1/2)), not 2 Tr(S_a S_b)":
            mean2 + traces - 2 * float(np.trace(s_a @ s_b)),
        "the features' variances alone (diagonal covariances): the Gaussians are fitted with their full covariance "
        "matrices, so correlated features count":
            mean2 + float(((np.sqrt(var_a) - np.sqrt(var_b)) ** 2).sum()),
        "the distance between the means is not squared: the first term is ||mu_a - mu_b||^2":
            math.sqrt(mean2) + right - mean2,
        "the mean term is missing: two sets with the same covariance but different means must be far apart; add "
        "||mu_a - mu_b||^2": right - mean2,
        "the square root of the Fréchet distance: the FD of the Gaussians is the squared 2-Wasserstein distance "
        "between them, returned as it is": math.sqrt(right) if right >= 0 else math.nan,
    }


PARTIAL = ("covariances divided by n (bias=True, or torch's var(unbiased=False)): the right formula, but the "
           "convention, np.cov's default, divides by n - 1")


def judge(outputs: dict) -> Result:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) on three pairs of feature sets."""
    if (r := preamble(EXERCISE, outputs)) is not None:
        if r.status == "wrong" and outputs.get("error") and any(
                w in outputs["error"] for w in ("matmul", "not aligned", "shapes", "broadcast", "size")):
            r.message += ("\nthe two sets may differ in size (1,000 samples against 359 held-out digits): the "
                          "covariance of the features is d x d whatever the number of rows; np.cov treats rows as "
                          "variables unless rowvar=False")
        return r
    cases = inputs()
    got = np.asarray([float(v) for v in outputs["values"]])
    expected = np.asarray([_fd(a, b) for a, b in cases])
    example = f"on the first pair yours = {fmt(got[0])}, expected {fmt(expected[0])}"
    if close(got, expected, rtol=1e-5, atol=1e-7):
        return ok(EXERCISE, f"correct\nthe Fréchet distance on all {len(cases)} pairs (e.g. {fmt(expected[0])} for two "
                  "sets with different, correlated covariances; 0 for a set against itself)")
    variants = [_variants(a, b) for a, b in cases]
    for desc in variants[0]:  # a root of a negative number is nan on both sides
        if close(np.nan_to_num(got), np.nan_to_num([v[desc] for v in variants]), rtol=1e-5, atol=1e-7):
            return wrong(EXERCISE, f"{desc}\n{example}")
    if close(got, np.asarray([_fd(a, b, ddof=0) for a, b in cases]), rtol=1e-5, atol=1e-7):
        return wrong(EXERCISE, f"{PARTIAL}\n{example}", 1)
    if abs(got[2]) > 1e-6 * max(1.0, abs(expected[0])):
        return wrong(EXERCISE, f"a set against itself gives {fmt(got[2])}, not 0: two identical Gaussians are at "
                     f"distance 0\n{example}")
    k = int(np.argmax(~np.isclose(got, expected, rtol=1e-5, atol=1e-7)))
    return wrong(EXERCISE, f"pair {k + 1}: yours {fmt(got[k])}, the Fréchet distance {fmt(expected[k])}\n{example}")


def check(fn) -> Result:
    """Notebook 07, Exercise 7.1: frechet_distance_student."""
    return reported(EXERCISE, judge(evaluate(fn)))
