"""The recipe-ablation tool (cmlesson.authoring.ablate): runs are saved, compared paired, and reproducible."""

from __future__ import annotations

import json

import pytest

from cmlesson.authoring import ablate
from cmlesson.config import DistillConfig


def test_parse_sets_types_the_values_and_names_a_field_that_does_not_exist():
    assert ablate.parse_sets(["N=36", "lr=5e-3"], DistillConfig) == {"N": 36, "lr": 0.005}
    with pytest.raises(SystemExit, match="DistillConfig has no field 'n'"):
        ablate.parse_sets(["n=36"], DistillConfig)


def test_a_rerun_reproduces_its_base_exactly_and_a_change_is_compared_paired(tmp_path, capsys):
    store, report = tmp_path / "store", tmp_path / "report.md"
    tiny = ["--seeds", "2", "--store", str(store), "--report", str(report)]
    assert ablate.main(["teacher", "--name", "base", "--set", "steps=4", "--heun", "4", *tiny]) == 0
    assert ablate.main(["cd", "--name", "cd-a", "--set", "steps=3", *tiny]) == 0
    assert ablate.main(["cd", "--name", "cd-b", "--set", "steps=3", "--vs", "cd-a", *tiny]) == 0
    out = capsys.readouterr().out
    assert "cd1: " in out and "vs cd-a: +0.000 ± 0.000" in out  # same recipe, same seed: the same model, bit for bit
    runs = json.loads((store / "runs.json").read_text())
    assert runs["cd-a"]["per_seed"] == runs["cd-b"]["per_seed"] and len(runs["cd-a"]["per_seed"]["cd3"]) == 2
    assert ablate.main(["cd", "--name", "cd-c", "--set", "steps=3", "--set", "N=4", "--vs", "cd-a", *tiny]) == 0
    rows = report.read_text().splitlines()
    assert len(rows) == 1 + 3 * 3 and "| cd-a |" in rows[-1]
    assert rows[-1].startswith("| cd-c | cd cd3 | steps=3 N=4 (seed 0, teacher base) |")
    assert runs["cd-a"]["per_seed"]["cd1"] != json.loads((store / "runs.json").read_text())["cd-c"]["per_seed"]["cd1"]
