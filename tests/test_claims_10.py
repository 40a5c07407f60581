"""Notebook 10's claims, read from the executed solution notebook: what its prose says is what its cells printed."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from cmlesson import checkpoints
from cmlesson.config import LSDConfig

ROOT = Path(__file__).resolve().parent.parent
NB = ROOT / "solutions" / "10_flow_maps.ipynb"


@pytest.fixture(scope="module")
def nb10():
    nb = nbformat.read(NB, as_version=4)
    cells = {c.get("id"): c for c in nb.cells}
    out = {i: "".join(o.get("text", "") for o in c.get("outputs", []) if o.get("output_type") == "stream")
           for i, c in cells.items() if c.cell_type == "code"}
    return cells, out


def test_the_flow_map_properties_are_printed_and_the_boundary_is_exact(nb10):
    _, out = nb10
    rows = re.findall(r"(\w+): boundary (\S+),  semigroup gap (\S+),  one jump vs its diagonal's path (\S+)",
                      out["10-load"])
    assert {r[0] for r in rows} == {"LSD", "shortcut", "MeanFlow"}
    assert all(float(r[1]) == 0.0 for r in rows)  # X_{s,s}(z) = z for every network


def test_the_exercise_passes_and_trains_the_watched_run(nb10):
    _, out = nb10
    assert "-> from here on the notebook uses your lagrangian_residual_student" in out["10-check"]
    assert re.search(r"^\d+ steps in \d+ s; W1 / floor", out["10-watch-run"], re.M)


def test_the_table_has_every_method_and_step_count(nb10):
    _, out = nb10
    for name in ("LSD", "shortcut", "MeanFlow"):
        assert re.search(rf"^{name}\s+[\d,]+(\s+\d+\.\d\dx ± \d\.\d\d){{3}}$", out["10-table"], re.M), name
    assert f"{LSDConfig().steps:,}" in out["10-table"]


def test_the_seed_by_seed_comparison_covers_both_methods_at_every_step_count(nb10):
    _, out = nb10
    lines = re.findall(r"^LSD - (\w+)\s+(\d) steps?: .* LSD better beyond the noise in (\d) of 3 seeds, worse in (\d)$",
                       out["10-paired-run"], re.M)
    assert {(m, k) for m, k, _, _ in lines} == {(m, k) for m in ("shortcut", "MeanFlow") for k in "124"}


def test_every_compared_run_ships_with_its_seed_and_the_lsd_budget():
    for name, (_method, seed) in checkpoints.FLOWMAP_RUNS.items():
        meta = checkpoints.info(name)
        kind = "drifting" if name.startswith("drifting") else "flowmap"  # notebook 11 shares the seeded runs
        assert meta["kind"] == kind and meta["seed"] == seed, name
        assert checkpoints.path(name).stat().st_size < 300_000, name
    assert checkpoints.info("lsd_seed0")["steps"] == LSDConfig().steps
