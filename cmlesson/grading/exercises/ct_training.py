"""Notebook 05, Exercise 5.1b: the samples of the student's teacher-free model (consistency training, Song et al. 2023,
Alg. 3), scored by exact W1 to fresh data as a multiple of the noise floor (:func:`cmlesson.metrics.noise_floor`)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ._judging import Result, arr, data, metrics, not_attempted, np_, ok, preamble, reported, wrong
from ._kernel import Exercise, StudentError, floats, is_placeholder, safely

EXERCISE = Exercise("ct_training", 2, "05", "Exercise 5.1b: samples of your teacher-free model", ("ex1_samples",), rank=2)
CT_SAMPLES = 2000  # rows of ex1_samples


# --- kernel side -----------------------------------------------------------------------------------------------

def evaluate(samples) -> dict:
    """ex1_samples as floats (the grader computes W1 itself)."""

    def body() -> dict:
        if is_placeholder(samples):
            return {"stub": True}
        if isinstance(samples, (torch.Tensor, np.ndarray)) and np.prod(samples.shape) > 100 * CT_SAMPLES:
            raise StudentError(f"ex1_samples has shape {tuple(samples.shape)}, expected ({CT_SAMPLES}, 2)")
        return {"samples": floats(samples, "ex1_samples")}

    return safely(EXERCISE, body)


# --- judge side ------------------------------------------------------------------------------------------------

CT_DATASET, CT_REFERENCE_SEED = "moons", 20_231
CT_PASS, CT_PARTIAL = 3.0, 6.0  # W1 as a multiple of the noise floor: full marks, half marks


@lru_cache(maxsize=1)
def ct_reference() -> tuple[torch.Tensor, float]:
    """A fresh two-moons reference sample (2000 points) and the noise floor (mean W1 of independent pairs)."""
    ref = data.sample(CT_DATASET, CT_SAMPLES, seed=CT_REFERENCE_SEED)
    floor = metrics.noise_floor(lambda n, seed: data.sample(CT_DATASET, n, seed=seed), CT_SAMPLES)
    return ref, floor


def judge(outputs: dict) -> Result:
    """W1(ex1_samples, fresh data) as a multiple of the noise floor: full marks at <= 3x."""
    if (r := preamble(EXERCISE, outputs)) is not None:
        return r
    x = arr(outputs["samples"])
    if x.shape != (CT_SAMPLES, 2):
        return wrong(EXERCISE, f"ex1_samples has shape {tuple(x.shape)}, expected ({CT_SAMPLES}, 2)")
    if not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).any(axis=1).sum())
        return wrong(EXERCISE, f"ex1_samples has NaN or inf in {bad} rows: training diverged (lower the learning rate)")
    if not x.any():
        return not_attempted(EXERCISE, "not attempted: ex1_samples is all zeros (the stub's placeholder)")
    ref, floor = ct_reference()
    w1 = metrics.wasserstein_2d(x, ref)
    ratio = w1 / floor
    head = (f"W1 = {w1:.4f} = {ratio:.2f}x the noise floor ({floor:.4f}); "
            f"full marks at <= {CT_PASS:g}x, half marks at <= {CT_PARTIAL:g}x")
    if ratio <= CT_PASS:
        return ok(EXERCISE, head)
    r = np_(ref)
    spread = float(x.std(axis=0).mean() / r.std(axis=0).mean())
    shift = float(np.linalg.norm(x.mean(axis=0) - r.mean(axis=0)))
    hint = (f"samples spread {spread:.2f}x as wide as the data, mean off by {shift:.3f}: train longer, check the "
            "loss (online on the higher level) and sample with the EMA model")
    return wrong(EXERCISE, f"{head}\n{hint}", 1 if ratio <= CT_PARTIAL else 0)


def check(samples) -> Result:
    """Notebook 05, Exercise 5.1b: ex1_samples."""
    return reported(EXERCISE, judge(evaluate(samples)))
