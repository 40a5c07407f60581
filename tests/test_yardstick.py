"""The course's one yardstick: W1 / noise floor over sampling seeds, with its standard error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cmlesson import data, metrics, yardstick
from cmlesson.config import ScoreConfig

N, SEEDS = 300, 8


def ref(n, seed):
    return data.sample("moons", n, seed=seed)


def perfect(g):  # more i.i.d. data, from seeds no reference uses
    return data.sample("moons", N, seed=70_000 + g.initial_seed())


def widened(g):  # the data, 30% too wide
    return 1.3 * perfect(g)


def test_the_score_is_the_mean_of_per_seed_ratios_computed_by_hand():
    w1 = [metrics.wasserstein_2d(perfect(torch.Generator().manual_seed(s)), ref(N, yardstick.REF_SEED + s)) for s in range(SEEDS)]
    floor = [metrics.wasserstein_2d(ref(N, yardstick.REF_SEED + s), ref(N, yardstick.OTHER_SEED + s)) for s in range(SEEDS)]
    r = np.array(w1) / np.array(floor)
    s = yardstick.score(perfect, ref, N, SEEDS)
    assert s.ratio == pytest.approx(r.mean(), rel=1e-12)
    assert s.se == pytest.approx(r.std(ddof=1) / np.sqrt(SEEDS), rel=1e-12)
    assert yardstick.w1_per_seed(perfect, ref, N, SEEDS) == pytest.approx(w1, rel=1e-12)  # threads change nothing


def test_the_floor_is_metrics_noise_floor_seed_by_seed():
    assert np.mean(yardstick.floor_per_seed(ref, N, SEEDS)) == pytest.approx(metrics.noise_floor(ref, N, SEEDS), rel=1e-12)


def test_the_floor_of_another_metric_uses_the_same_pairs():
    per_axis = metrics.per_dimension_wasserstein
    by_hand = [per_axis(ref(N, yardstick.REF_SEED + s), ref(N, yardstick.OTHER_SEED + s)) for s in range(SEEDS)]
    assert yardstick.floor_per_seed(ref, N, SEEDS, per_axis) == pytest.approx(by_hand, rel=1e-12)
    assert yardstick.floor_per_seed(ref, N, SEEDS, per_axis) != pytest.approx(yardstick.floor_per_seed(ref, N, SEEDS))


def test_a_perfect_generator_scores_one_within_its_error_bar_and_a_copy_of_the_reference_zero():
    s = yardstick.score(perfect, ref, N, SEEDS)
    assert abs(s.ratio - 1.0) < 3 * s.se and 0 < s.se < 0.2
    copy = yardstick.score(lambda g: ref(N, yardstick.REF_SEED + g.initial_seed()), ref, N, SEEDS)
    assert copy.ratio == pytest.approx(0.0, abs=1e-9)


def test_a_worse_generator_is_told_apart_beyond_the_noise_and_the_same_one_is_not():
    worse, good = yardstick.score(widened, ref, N, SEEDS), yardstick.score(perfect, ref, N, SEEDS)
    d = worse - good
    assert d.ratio > 0 and d.beyond_noise() and d.verdict().startswith("beyond")
    same = good - yardstick.score(perfect, ref, N, SEEDS)
    assert same.ratio == 0.0 and not same.beyond_noise() and same.verdict().startswith("within")


def test_pairing_needs_the_same_seeds_and_one_seed_has_no_error_bar():
    with pytest.raises(ValueError, match="same seeds"):
        yardstick.Score((1.0, 2.0)) - yardstick.Score((1.0,))
    assert yardstick.Score((1.3,)).se == 0.0
    assert f"{yardstick.Score((1.0, 1.2)):.1f}" == "1.1x ± 0.1"
    with pytest.raises(ValueError, match="seeds"):
        yardstick.score(perfect, ref, N, 0)


def test_one_default_for_notebooks_benchmark_and_widgets():
    from cmlesson.config import BenchConfig

    bench = BenchConfig().score  # the notebooks' yardstick with more seeds: seed s against reference s, as theirs, so
    assert bench.n == ScoreConfig.n and bench.seeds == 20 > ScoreConfig.seeds  # its first five are the notebooks' five
    assert yardstick.score.__defaults__ == (ScoreConfig.n, ScoreConfig.seeds)
    assert metrics.noise_floor.__defaults__[:2] == (ScoreConfig.n, ScoreConfig.seeds)


@pytest.mark.slow  # a full five-seed score: `make test` runs it, `make check` stays under a minute
def test_notebook_01_and_the_benchmark_score_the_shipped_model_alike():
    """The same function, seeds and references: notebook 01's printed score of the shipped CD model is the yardstick's."""
    from pathlib import Path

    import nbformat

    from cmlesson import checkpoints, samplers

    cd = checkpoints.load("cd", progress=False)
    levels = samplers.multistep_sigmas(1, cd.sigma_min, cd.sigma_max, cd.sigma_data)
    def one_step(g):
        return samplers.sample_consistency(cd, samplers.noise(2000, 2, cd.sigma_max, g), levels, generator=g)

    score = yardstick.score(one_step, ref)
    nb = nbformat.read(Path(__file__).resolve().parent.parent / "solutions" / "01_consistency_property.ipynb", as_version=4)
    printed = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert f"consistency model, 1 step    W1 / floor = {score}" in printed
