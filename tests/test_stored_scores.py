"""Scores of shipped models, stored when they shipped (yardstick.shipped_score, checkpoints/scores.json)."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from cmlesson import checkpoints, data, samplers, yardstick

N, SEEDS = 300, 4
ROOT = Path(__file__).resolve().parent.parent


def ref(n, seed):
    return data.sample("moons", n, seed=seed)


@pytest.fixture
def store(tmp_path, monkeypatch):
    path = tmp_path / "scores.json"
    monkeypatch.setattr(yardstick, "STORE", path)
    yardstick.forget_floors()
    yield path
    yardstick.forget_floors()


@pytest.fixture
def model():
    torch.manual_seed(0)
    return torch.nn.Linear(2, 2)


def widened_by(model):
    def sample(g):  # depends on the weights: another model, another score
        with torch.no_grad():
            return model(data.sample("moons", N, seed=70_000 + g.initial_seed()))
    return sample


def counting(sample):
    calls = []

    def counted(g):
        calls.append(g.initial_seed())
        return sample(g)
    return counted, calls


def test_store_writes_what_it_measured_and_stored_reads_it_back_without_sampling(store, model, monkeypatch):
    monkeypatch.setenv("CMLESSON_SCORES", "store")
    measured = yardstick.shipped_score(model, "linear", widened_by(model), ref, N, SEEDS)
    assert measured.per_seed == yardstick.score(widened_by(model), ref, N, SEEDS).per_seed
    monkeypatch.setenv("CMLESSON_SCORES", "stored")
    sample, calls = counting(widened_by(model))
    assert yardstick.shipped_score(model, "linear", sample, ref, N, SEEDS).per_seed == measured.per_seed
    assert calls == []  # read back, not measured
    entries = json.loads(store.read_text())
    assert [f"{yardstick.weights_id(model)} linear n={N} seeds={SEEDS}"] == [k for k in entries if not k.startswith("floor")]
    assert sum(k.startswith("floor") for k in entries) == SEEDS  # each seed's floor pair, stored too


def test_without_an_entry_for_these_weights_label_n_or_seeds_it_measures(store, model, monkeypatch):
    monkeypatch.setenv("CMLESSON_SCORES", "store")
    yardstick.shipped_score(model, "linear", widened_by(model), ref, N, SEEDS)
    monkeypatch.setenv("CMLESSON_SCORES", "stored")
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.weight[0, 0] += 1e-3
    for m, label, seeds in ((other, "linear", SEEDS), (model, "another sampler", SEEDS), (model, "linear", SEEDS - 1)):
        sample, calls = counting(widened_by(m))
        got = yardstick.shipped_score(m, label, sample, ref, N, seeds)
        assert calls == list(range(seeds)), (label, seeds)
        assert got.per_seed == yardstick.score(widened_by(m), ref, N, seeds).per_seed


def test_measure_never_reads_the_store(store, model, monkeypatch):
    key = f"{yardstick.weights_id(model)} linear n={N} seeds={SEEDS}"
    store.write_text(json.dumps({key: [9.0] * SEEDS}))
    monkeypatch.setenv("CMLESSON_SCORES", "measure")
    got = yardstick.shipped_score(model, "linear", widened_by(model), ref, N, SEEDS)
    assert got.per_seed == yardstick.score(widened_by(model), ref, N, SEEDS).per_seed != (9.0,) * SEEDS
    assert json.loads(store.read_text()) == {key: [9.0] * SEEDS}  # and never writes it


def test_verify_names_a_stored_score_that_differs_and_one_that_is_missing(store, model, monkeypatch):
    monkeypatch.setenv("CMLESSON_SCORES", "store")
    good = yardstick.shipped_score(model, "linear", widened_by(model), ref, N, SEEDS)
    monkeypatch.setenv("CMLESSON_SCORES", "verify")
    assert yardstick.shipped_score(model, "linear", widened_by(model), ref, N, SEEDS).per_seed == good.per_seed
    key = f"{yardstick.weights_id(model)} linear n={N} seeds={SEEDS}"
    entries = json.loads(store.read_text())
    entries[key] = [v * 1.001 for v in entries[key]]  # a sampler changed since it was stored
    store.write_text(json.dumps(entries))
    with pytest.raises(AssertionError, match="the score stored for .*linear.* measured now"):
        yardstick.shipped_score(model, "linear", widened_by(model), ref, N, SEEDS)
    with pytest.raises(AssertionError, match="no score stored for .*unstored"):
        yardstick.shipped_score(model, "unstored", widened_by(model), ref, N, SEEDS)


def test_verify_measures_the_floor_again_and_names_a_stored_floor_that_differs(store, monkeypatch):
    monkeypatch.setenv("CMLESSON_SCORES", "store")
    floors = yardstick.floor_per_seed(ref, N, SEEDS)
    entries = json.loads(store.read_text())
    first = next(k for k in entries if k.startswith("floor"))
    entries[first] = [entries[first][0] * 2]
    store.write_text(json.dumps(entries))
    yardstick.forget_floors()
    monkeypatch.setenv("CMLESSON_SCORES", "stored")
    assert sorted(yardstick.floor_per_seed(ref, N, SEEDS)) != sorted(floors)  # stored mode believes the store
    yardstick.forget_floors()
    monkeypatch.setenv("CMLESSON_SCORES", "verify")
    with pytest.raises(AssertionError, match=f"the score stored for '{first}'"):
        yardstick.floor_per_seed(ref, N, SEEDS)


def test_a_mode_outside_the_four_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("CMLESSON_SCORES", "fast")
    with pytest.raises(ValueError, match="CMLESSON_SCORES must be one of"):
        yardstick.mode()


def test_weights_id_follows_the_weights_and_the_noise_levels_not_the_object(model):
    twin = copy.deepcopy(model)
    assert yardstick.weights_id(twin) == yardstick.weights_id(model)
    with torch.no_grad():
        twin.bias[1] = twin.bias[1].nextafter(torch.tensor(1e9))  # one float, one ulp
    assert yardstick.weights_id(twin) != yardstick.weights_id(model)
    cd = checkpoints.load("cd")
    other = copy.deepcopy(cd)
    other.sigma_min = 0.02  # the same weights around another boundary: another model
    assert yardstick.weights_id(other) != yardstick.weights_id(cd) == yardstick.weights_id(copy.deepcopy(cd))


@pytest.mark.slow
def test_the_shipped_store_holds_what_the_yardstick_measures_for_a_shipped_model(monkeypatch):
    """Two ways: a stored score of the shipped iCT run, read back, and measured again here, floors included."""
    monkeypatch.setenv("CMLESSON_SCORES", "measure")  # the floors too: measured, not read from the store
    ict = checkpoints.load("ict")
    key = f"{yardstick.weights_id(ict)} consistency_sampler(k=1) n=2000 seeds=5"
    stored = json.loads(yardstick.STORE.read_text())
    assert key in stored, "the store lacks notebook 8's iCT entry: python -m cmlesson.authoring.scores 08"
    measured = yardstick.score(samplers.consistency_sampler(ict, 2000, 1), ref, 2000, 5)
    assert measured.per_seed == pytest.approx(stored[key], rel=1e-6)


def test_solution_notebooks_run_under_verify_and_every_other_test_reads_the_store(monkeypatch):
    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    root = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root)

    class Item:
        def __init__(self, path):
            self.path = path

    monkeypatch.delenv("CMLESSON_SCORES", raising=False)
    monkeypatch.setattr(root, "_CALLER", None)
    solution = Item(ROOT / "solutions" / "10_flow_maps.ipynb")
    root.pytest_runtest_setup(solution)
    assert yardstick.mode() == "verify"
    root.pytest_runtest_teardown(solution)
    assert yardstick.mode() == "stored"  # nothing outlives the notebook's test
    for other in (Item(ROOT / "notebooks" / "10_flow_maps.ipynb"), Item(ROOT / "tests" / "test_yardstick.py")):
        root.pytest_runtest_setup(other)
        assert yardstick.mode() == "stored"
    monkeypatch.setattr(root, "_CALLER", "measure")  # a developer's choice is kept for everything else
    root.pytest_runtest_teardown(solution)
    assert yardstick.mode() == "measure"


def test_verify_measures_a_floor_the_store_lacks_and_requires_only_shipped_scores(store, monkeypatch):
    """Any n, seeds and reference sampler has a floor: one missing from the store is measured, not a failure."""
    monkeypatch.setenv("CMLESSON_SCORES", "measure")
    expected = yardstick.floor_per_seed(ref, N, SEEDS)
    yardstick.forget_floors()
    monkeypatch.setenv("CMLESSON_SCORES", "verify")
    assert yardstick.floor_per_seed(ref, N, SEEDS) == expected
    assert not store.exists()  # verify never writes


def test_the_floors_cache_follows_the_mode(store, monkeypatch):
    """Floors measured under one mode are not what another mode returns: the mode is part of the cache's key."""
    monkeypatch.setenv("CMLESSON_SCORES", "store")
    measured = yardstick.floor_per_seed(ref, N, SEEDS)
    entries = json.loads(store.read_text())
    store.write_text(json.dumps({k: [v[0] * 2] for k, v in entries.items()}))  # no forget_floors() on purpose
    monkeypatch.setenv("CMLESSON_SCORES", "stored")
    assert yardstick.floor_per_seed(ref, N, SEEDS) == [2 * f for f in measured]
    monkeypatch.setenv("CMLESSON_SCORES", "verify")
    with pytest.raises(AssertionError, match="the score stored for 'floor "):
        yardstick.floor_per_seed(ref, N, SEEDS)
