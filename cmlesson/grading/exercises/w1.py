"""Notebook 05, Exercise 5.2a: the exact 2-D Wasserstein-1 distance between two point sets, an optimal-transport
problem (the package's ``metrics.wasserstein_2d``)."""

from __future__ import annotations

import math

import numpy as np

from ._judging import Result, close, fmt, metrics, ok, ot, preamble, reported, wrong
from ._kernel import Exercise, call, name, number, safely

EXERCISE = Exercise("w1", 1, "05", "Exercise 5.2a: exact 2-D W1", ("w1_student",), rank=3,
                    answers=('metrics.wasserstein_2d',))


# --- kernel side -----------------------------------------------------------------------------------------------

def inputs() -> list[tuple[np.ndarray, np.ndarray]]:
    """Three pairs: same per-axis marginals but a different 2-D shape; two shifted clouds; a 2-point case."""
    rng = np.random.default_rng(41)
    t = rng.normal(size=300)
    line = np.stack([t, t + 0.1 * rng.normal(size=300)], axis=1)  # points along the diagonal
    shuffled = np.stack([rng.permutation(line[:, 0]), rng.permutation(line[:, 1])], axis=1)  # same marginals
    a, b = rng.normal(size=(250, 2)), rng.normal(size=(250, 2)) * [1.0, 0.5] + [0.8, -0.4]
    return [(line, shuffled), (a, b), (np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 1.0], [1.0, 1.0]]))]


def evaluate(fn) -> dict:
    """The student's W1 on each pair of :func:`w1_inputs`."""

    def body() -> dict:
        return {"values": [number(call(fn, a.copy(), b.copy()), name(fn)) for a, b in inputs()]}

    return safely(EXERCISE, body, fn)


# --- judge side ------------------------------------------------------------------------------------------------

def _w1_variants(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    sq = float(ot.emd2(ot.unif(len(a)), ot.unif(len(b)), ot.dist(a, b), numItermax=10_000_000))
    return {
        "W1 computed per axis, not in 2-D (the lesson's metric, blind to how the coordinates go together)":
            metrics.per_dimension_wasserstein(a, b),
        "the per-axis W1 summed, not the exact 2-D W1": 2 * metrics.per_dimension_wasserstein(a, b),
        "squared Euclidean costs (ot.dist's default metric is 'sqeuclidean'): W1 needs metric='euclidean'": sq,
        "the square root of the squared-cost optimum: that is W2, not W1": math.sqrt(sq),
        "a[i] paired with b[i]: W1 needs the best matching, not the given order":
            float(np.linalg.norm(a - b, axis=1).mean()),
        "the mean of all pairwise distances: that is the cost of the independent coupling (each a_i spread evenly over "
        "every b_j), W1 is the cost of the best one": float(ot.dist(a, b, metric="euclidean").mean()),
        "weights of 1 per point: each cloud must carry a total mass of 1 (1/n per point), or the cost comes out n times "
        "too large": len(a) * metrics.wasserstein_2d(a, b),
        "you returned the total mass of the transport plan (1 for every pair): the plan says how much moves where, "
        "W1 is the cost of the optimal plan, the sum of its entries times the distances": 1.0,
    }


def judge(outputs: dict) -> Result:
    """The exact W1 with Euclidean costs (metrics.wasserstein_2d), on three pairs of point sets."""
    if (r := preamble(EXERCISE, outputs)) is not None:
        return r
    cases = inputs()
    got = np.asarray([float(v) for v in outputs["values"]])
    expected = np.asarray([metrics.wasserstein_2d(a, b) for a, b in cases])
    if close(got, expected, rtol=1e-5, atol=1e-8):
        return ok(EXERCISE, f"correct\nexact 2-D W1 on all {len(cases)} pairs "
                   f"(e.g. {fmt(expected[0])} for two sets with the same per-axis marginals)")
    example = (f"on two sets with the same per-axis marginals but different 2-D shapes yours = {fmt(got[0])}, "
               f"exact W1 = {fmt(expected[0])}")
    variants = [_w1_variants(a, b) for a, b in cases]
    for desc in variants[0]:
        if close(got, np.asarray([v[desc] for v in variants]), rtol=1e-5, atol=1e-8):
            return wrong(EXERCISE, f"{desc}\n{example}")
    k = int(np.argmax(~np.isclose(got, expected, rtol=1e-5, atol=1e-8)))
    return wrong(EXERCISE, f"pair {k + 1}: yours {fmt(got[k])}, exact 2-D W1 = {fmt(expected[k])}\n{example}")


def check(fn) -> Result:
    """Notebook 05, Exercise 5.2a: w1_student."""
    return reported(EXERCISE, judge(evaluate(fn)))
