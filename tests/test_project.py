"""The project's own wiring: environment.yml matches pyproject, the README markers, the benchmark helpers."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tomllib
import torch

from cmlesson import bench

ROOT = Path(__file__).resolve().parents[1]
# PyPI name -> conda-forge name, where they differ
CONDA_NAMES = {"torch": "pytorch-cpu", "pot": "pot"}


def _pyproject_deps() -> set[str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {re.split(r"[<>=!~ ;\[]", d, maxsplit=1)[0].lower() for d in deps}


def _conda_deps() -> set[str]:
    names = set()
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"\s+-\s+([A-Za-z0-9_.\-]+)", line)
        if m:
            names.add(m.group(1).lower())
    return names


def test_environment_yml_has_every_runtime_dependency():
    """Binder gets what pip gets: every pyproject dependency has its conda-forge package, torch as CPU-only."""
    conda = _conda_deps()
    missing = [d for d in _pyproject_deps() if CONDA_NAMES.get(d, d) not in conda]
    assert not missing, f"environment.yml lacks {missing}"
    assert "pytorch" not in conda and "torch" not in conda, "use conda-forge's pytorch-cpu, not a CUDA build"


def test_makefile_pins_cpu_torch_before_the_rest():
    make = (ROOT / "Makefile").read_text()
    assert "torch==2.13.0" in make
    assert make.index("$(TORCH)") < make.index("-e '.[test]'")


def test_postbuild_installs_the_package():
    assert "pip install --no-deps -e ." in (ROOT / "postBuild").read_text()


def test_readme_has_generated_sections_and_the_two_commands():
    text = (ROOT / "README.md").read_text()
    for name in ("bench", "notebooks"):
        assert f"<!-- {name}:start -->" in text and f"<!-- {name}:end -->" in text
    assert text.index("make lab") < text.index("make test") < 1200, "the README opens with the two commands"


def test_replace_section_rewrites_only_between_markers(tmp_path):
    p = tmp_path / "R.md"
    p.write_text("head\n<!-- x:start -->\nold\n<!-- x:end -->\ntail\n")
    bench.replace_section(p, "x", "new")
    assert p.read_text() == "head\n<!-- x:start -->\nnew\n<!-- x:end -->\ntail\n"
    with pytest.raises(ValueError, match="markers"):
        bench.replace_section(p, "y", "new")


def test_reference_for_file_keeps_train_and_reference_disjoint():
    pts = torch.arange(200, dtype=torch.float32).reshape(100, 2)
    train, ref, floor_once = bench.reference_for_file(pts)
    held = ref(1000, 0)
    as_set = lambda t: {tuple(r) for r in t.tolist()}
    assert len(train) == 50 and len(held) == 50
    assert not as_set(train) & as_set(held)
    assert floor_once(10, 0) > 0


def test_mean_w1_is_zero_for_a_perfect_copy():
    pts = torch.from_numpy(np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32))
    assert bench.mean_w1(lambda g: pts, lambda n, s: pts, 64, 2) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.slow
def test_bench_run_reports_every_key(monkeypatch):
    """The benchmark end to end, with tiny training budgets: every documented key, finite and positive."""
    from dataclasses import replace

    from cmlesson import config

    monkeypatch.setattr(bench, "TeacherConfig", lambda: replace(config.TeacherConfig(), steps=30, batch=128))
    monkeypatch.setattr(bench, "DistillConfig", lambda: replace(config.DistillConfig(), steps=20, batch=128))
    ct = replace(config.ConsistencyTrainingConfig(), steps=20, batch=128)
    monkeypatch.setattr(bench, "ConsistencyTrainingConfig", lambda: ct)
    r = bench.run("moons", cfg=config.BenchConfig(n_samples=200, n_seeds=2), progress=False)
    keys = ["floor_w1", "teacher_heun18_w1", "cd_1step_w1", "cd_2step_w1", "cd_3step_w1", "ct_1step_w1", "ct_2step_w1",
            "teacher_train_s", "cd_train_s", "ct_train_s", "cm_1step_sample_ms", "teacher_heun18_sample_ms"]
    for key in keys:
        assert np.isfinite(r[key]) and r[key] > 0, key
    assert "| CD, 3 steps |" in bench.table(r)
