"""Notebook 08's claims about its own running: what it trains on screen, what it only measures (the shipped runs),
its ratios' standard errors, and the prose's reading of the results table and of the student's short run.

Read from the executed solution notebook's outputs (the claims of the results table itself are in
tests/test_claims_labs.py). The slow test reproduces the table's rows from the shipped weights.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import nbformat
import pytest

from cmlesson import checkpoints
from cmlesson.config import MeanFlowConfig, SCTConfig, ShortcutConfig

ROOT = Path(__file__).resolve().parent.parent
SCORE = r"(\d+\.\d+)x ± (\d+\.\d+)"
DIFF = r"([+-]\d+\.\d+)x ± (\d+\.\d+), (beyond|within) the noise"
SHIPPED = {  # the table's row: (checkpoint, the cell that measures it, its config's steps)
    "iCT + half uniform (notebook 6)": ("ict", "b078440b", checkpoints.ICT_BUDGET.steps),
    "sCT (Lu & Song 2024)": ("sct", "5d644fed", SCTConfig.steps),
    "sCT without adaptive weighting": ("sct_prior", "a8d571ab", SCTConfig.steps),
    "shortcut model (Frans et al. 2024)": ("shortcut_seed0", "84c378f7", ShortcutConfig.steps),
    "MeanFlow (Geng et al. 2025)": ("meanflow_seed0", "a5b124fd", MeanFlowConfig.steps),
}
TRAINERS = re.compile(r"\b(train_scm|train_shortcut|train_meanflow|train_consistency|train_teacher|"
                      r"train_distillation|fit)\(")


@cache
def _cells() -> dict:
    (path,) = (ROOT / "solutions").glob("08_*.ipynb")
    return {c.get("id"): c for c in nbformat.read(path, as_version=4).cells}


def printed(cell_id: str) -> str:
    cell = _cells()[cell_id]
    text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    assert text, f"cell {cell_id} printed nothing: execute the solution notebook"
    return text


def code_without_comments(source: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in source.splitlines())


def test_one_short_run_is_trained_on_screen_and_it_uses_the_students_target():
    """The notebook trains one run (MeanFlow with Exercise 8.1's function, a fifth of the budget); every run it
    only measures is loaded ("# made by:" comments say how it was trained)."""
    calls = {cid: TRAINERS.findall(code_without_comments(c.source)) for cid, c in _cells().items()
             if c.cell_type == "code"}
    calls = {cid: found for cid, found in calls.items() if found}
    assert calls == {"08-mf-quick": ["train_meanflow"]}, calls
    source = _cells()["08-mf-quick"].source
    assert "target=meanflow_target" in source and "MeanFlowConfig.steps // 5" in source
    steps = int(re.search(r"MeanFlow with your target, ([\d,]+) steps", printed("08-mf-quick")).group(1).replace(",", ""))
    assert steps == MeanFlowConfig.steps // 5


@pytest.mark.parametrize("row", list(SHIPPED))
def test_each_measured_run_is_its_shipped_checkpoint_with_its_recorded_steps_and_seconds(row):
    name, cell_id, steps = SHIPPED[row]
    assert f'"{name}"' in _cells()[cell_id].source and "measure_shipped(" in _cells()[cell_id].source
    m = re.search(re.escape(row) + r": 1 step .*\(W1 / floor; ([\d,]+) steps, \d+ ms each, (\d+) s\)", printed(cell_id))
    assert m, printed(cell_id)
    meta = checkpoints.info(name)
    assert int(m.group(1).replace(",", "")) == meta["steps"] == steps
    assert int(m.group(2)) == round(meta["train_seconds"])
    assert meta["seed"] == checkpoints.SEED


def test_every_ratio_the_notebook_prints_has_its_standard_error():
    """A score or a difference ("1.61x") is printed with " ± its s.e."; a bound ("<= 1.3x") is no measurement."""
    bare = [(cid, m.group(0)) for cid, c in _cells().items() if c.cell_type == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "stream"
            for m in re.finditer(r"(?<!<= )(?<![\d.])[+-]?\d+\.\d+x(?! ± )", o["text"])]
    assert not bare, bare


def _more_steps() -> dict[str, tuple[float, float, bool]]:
    found = {m.group(1): (float(m.group(2)), float(m.group(3)), m.group(4) == "beyond")
             for m in re.finditer(r"^(.+?): 4 steps minus 1 step " + DIFF, printed("ff8fca21"), flags=re.M)}
    assert set(found) == set(SHIPPED), found
    return found


def test_more_steps_as_the_prose_reads_them():
    """The text: four shortcut jumps beat one beyond the noise; sCT's four steps minus its one is within the noise;
    MeanFlow is the one method whose four steps score above its one, within the noise."""
    d = _more_steps()
    assert d["shortcut model (Frans et al. 2024)"][0] < 0 and d["shortcut model (Frans et al. 2024)"][2]
    assert not d["sCT (Lu & Song 2024)"][2]
    assert [name for name, (value, _, _) in d.items() if value > 0] == ["MeanFlow (Geng et al. 2025)"]
    assert not d["MeanFlow (Geng et al. 2025)"][2]


def test_the_students_short_run_is_behind_the_full_budget_beyond_the_noise():
    """The text: a fifth of the budget with the student's target scores worse at one step than the full run, paired."""
    m = re.search(r"your short run minus the full budget, 1 step: " + DIFF, printed("a5b124fd"))
    assert m and float(m.group(1)) > 0 and m.group(3) == "beyond", printed("a5b124fd")


def test_sct_against_notebook_6s_recipe_is_printed_paired():
    m = re.search(r"^sCT \(Lu & Song 2024\) - iCT \+ half uniform \(notebook 6\), 1 step: " + DIFF,
                  printed("ff8fca21"), flags=re.M)
    assert m and m.group(3) == "within", "the text: one training run does not rank sCT against notebook 6's recipe"


@pytest.mark.slow  # three five-seed scores at three step counts: `make test` runs it
def test_the_shipped_frontier_runs_reproduce_the_tables_rows():
    """The table's sCT, shortcut and MeanFlow rows are what the shipped float16 weights score (regression guard)."""
    from cmlesson import data, yardstick
    from cmlesson.frontier import flowmap, trigflow

    def reference(n, seed):
        return data.sample("moons", n, seed=seed)

    def sampler(name, model, k):
        if name == "sct":
            times = trigflow.multistep_times(k, model)
            return lambda g: trigflow.sample_trigflow(model, trigflow.noise(model, 2000, g), times, generator=g)
        return lambda g: flowmap.sample_flowmap(model, flowmap.noise(model, 2000, g), flowmap.uniform_times(k))

    table = printed("ff8fca21")
    for row, (name, _, _) in SHIPPED.items():
        if name not in checkpoints.FRONTIER_RUNS:
            continue
        model = checkpoints.load(name)
        cells = "".join(f" {format(yardstick.score(sampler(name, model, k), reference)):>13s}" for k in (1, 2, 4))
        assert f"{row:<38s}{cells}" in table, (row, cells)
