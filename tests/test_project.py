"""The project's own wiring: environment.yml matches pyproject, the README markers, the benchmark helpers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import tomllib
import torch

from cmlesson import cpus, data, metrics, yardstick
from cmlesson.authoring import bench, bench_frontier

ROOT = Path(__file__).resolve().parents[1]
# PyPI name -> conda-forge name, where they differ
CONDA_NAMES = {"torch": "pytorch-cpu", "pot": "pot"}


def _pyproject_deps() -> set[str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {re.split(r"[<>=!~ ;\[]", d, maxsplit=1)[0].lower() for d in deps}


def _conda_deps(text: str | None = None) -> set[str]:
    """The package names in environment.yml's ``dependencies:`` list (``text``: the file's text)."""
    names, inside = set(), False
    for line in (text if text is not None else (ROOT / "environment.yml").read_text()).splitlines():
        if re.match(r"[A-Za-z_]+:", line):
            inside = line.startswith("dependencies:")
        m = re.match(r"\s+-\s+([A-Za-z0-9_.\-]+)", line)
        if inside and m:
            names.add(m.group(1).lower())
    return names


def _binder_mismatch(conda_text: str | None = None) -> tuple[list[str], list[str]]:
    """(packages only in environment.yml, packages only in pyproject's runtime set), by conda-forge name."""
    conda = _conda_deps(conda_text) - {"python", "pip"}
    runtime = {CONDA_NAMES.get(d, d) for d in _pyproject_deps()}
    return sorted(conda - runtime), sorted(runtime - conda)


def test_environment_yml_names_the_runtime_set():
    """Binder gets what pip gets: environment.yml names the same packages as pyproject's runtime set (conda-forge names,
    torch as CPU-only), besides python and pip themselves."""
    assert _binder_mismatch() == ([], []), "environment.yml and pyproject's dependencies differ: (only conda, only pip)"
    conda = _conda_deps()
    assert "pytorch" not in conda and "torch" not in conda, "use conda-forge's pytorch-cpu, not a CUDA build"


def test_binder_comparison_sees_a_missing_or_extra_package():
    text = (ROOT / "environment.yml").read_text()
    assert "  - pot>=0.9\n" in text and "conda-forge" in text  # a channel is not a package
    assert _binder_mismatch(text.replace("  - pot>=0.9\n", "")) == ([], ["pot"])
    assert _binder_mismatch(text + "  - jupyterlab>=4.0\n") == (["jupyterlab"], [])


def test_makefile_pins_cpu_torch_before_the_rest():
    make = (ROOT / "Makefile").read_text()
    assert "torch==2.13.0" in make
    assert make.index("$(TORCH)") < make.index("-e '.[")


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


def test_retiming_some_notebooks_keeps_the_others_times_and_rows(tmp_path, monkeypatch):
    """--retime 04: notebook 04's seconds (both folders) replace the old ones; every other notebook's stay as they were."""
    times = tmp_path / "running_times.json"
    old = [{"notebook": "solutions/01_a.ipynb", "seconds": 78.0, "kernel_peak_mb": 639.0},
           {"notebook": "solutions/04_b.ipynb", "seconds": 102.0, "kernel_peak_mb": 877.0},
           {"notebook": "notebooks/04_b.ipynb", "seconds": 86.0, "kernel_peak_mb": 874.0}]
    new = [{"notebook": "solutions/04_b.ipynb", "seconds": 61.6, "kernel_peak_mb": 800.0},
           {"notebook": "notebooks/04_b.ipynb", "seconds": 44.4, "kernel_peak_mb": 790.0}]
    bench.write_times(old, times)
    bench.write_times(new, times, keep=True)
    assert json.loads(times.read_text())["notebooks"] == {"01_a.ipynb": {"solution_s": 78},
                                                          "04_b.ipynb": {"solution_s": 62, "student_s": 44}}
    merged = bench.merge_rows(bench.notebook_table(old), new + [{"notebook": "solutions/09_c.ipynb", "seconds": 9.0,
                                                                  "kernel_peak_mb": 1.0}])
    assert [(r["notebook"], round(r["seconds"])) for r in merged] == [
        ("solutions/01_a.ipynb", 78), ("solutions/04_b.ipynb", 62), ("notebooks/04_b.ipynb", 44), ("solutions/09_c.ipynb", 9)]
    assert "| **all 4 notebooks** | **193** (3.2 min) | max 800 MB |" in bench.notebook_table(merged)
    readme = tmp_path / "README.md"
    readme.write_text("top\n<!-- notebooks:start -->\n" + bench.notebook_table(old) + "\n<!-- notebooks:end -->\nend\n")
    monkeypatch.setattr(bench, "time_notebooks",
                        lambda only, inplace=True: [r for r in new if Path(r["notebook"]).name.startswith(tuple(only))])
    monkeypatch.setattr(bench.course, "TIMES_FILE", str(times))
    assert bench.retime(["04"], str(readme)) == 0
    expected = bench.notebook_table(bench.merge_rows(bench.notebook_table(old), new))
    assert bench.read_section(readme, "notebooks").strip() == expected
    assert readme.read_text().startswith("top\n") and readme.read_text().endswith("end\n")
    before = (readme.read_text(), times.read_text())
    assert bench.retime(["99"], str(readme)) == 2  # nothing to time: a clear error, nothing written
    assert (readme.read_text(), times.read_text()) == before


def test_reference_for_file_keeps_train_and_reference_disjoint():
    pts = torch.arange(200, dtype=torch.float32).reshape(100, 2)
    train, ref, floor_once = bench.reference_for_file(pts)
    held = ref(1000, 0)
    as_set = lambda t: {tuple(r) for r in t.tolist()}
    assert len(train) == 50 and len(held) == 50
    assert not as_set(train) & as_set(held)
    assert floor_once(10, 0) > 0


def test_w1_is_zero_for_a_perfect_copy():
    pts = torch.from_numpy(np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32))
    assert yardstick.w1_per_seed(lambda g: pts, lambda n, s: pts, 64, 2) == pytest.approx([0.0, 0.0], abs=1e-6)


@pytest.mark.slow
def test_bench_run_reports_every_key(monkeypatch):
    """The benchmark end to end, with tiny training budgets: every documented key, finite and positive."""
    from dataclasses import replace

    from cmlesson import config

    monkeypatch.setattr(bench, "TeacherConfig", lambda: replace(config.TeacherConfig(), steps=30, batch=128))
    monkeypatch.setattr(bench, "DistillConfig", lambda: replace(config.DistillConfig(), steps=20, batch=128))
    ct = replace(config.ConsistencyTrainingConfig(), steps=20, batch=128)
    monkeypatch.setattr(bench, "ConsistencyTrainingConfig", lambda: ct)

    tiny = {"steps": 20, "batch": 128}
    monkeypatch.setattr(bench_frontier, "SCTConfig", lambda: replace(config.SCTConfig(), **tiny))
    monkeypatch.setattr(bench_frontier, "ShortcutConfig", lambda: replace(config.ShortcutConfig(), **tiny))
    monkeypatch.setattr(bench_frontier, "MeanFlowConfig", lambda: replace(config.MeanFlowConfig(), **tiny))
    monkeypatch.setattr(bench_frontier, "LSDConfig", lambda: replace(config.LSDConfig(), **tiny))
    r = bench.run("moons", cfg=config.BenchConfig(score=config.ScoreConfig(n=200, seeds=2)), progress=False)
    keys = ["floor_w1", "teacher_heun18_w1", "cd_1step_w1", "cd_2step_w1", "cd_3step_w1", "ct_1step_w1", "ct_2step_w1",
            "teacher_train_s", "cd_train_s", "ct_train_s", "cm_1step_sample_ms", "teacher_heun18_sample_ms",
            "sct_1step_w1", "shortcut_1step_w1", "meanflow_1step_w1", "sct_train_s", "shortcut_train_s", "meanflow_train_s",
            "lsd_1step_w1", "lsd_2step_w1", "lsd_4step_w1", "lsd_train_s", "lsd_1step_w1_se", "lsd_4step_w1_se",
            "shipped_teacher_heun18_w1", "shipped_cd_1step_w1",
            *(f"ct_step_ms_b{b}_{n}" for b in (ct.batch // 2, ct.batch) for n in ("train_threads", "all_cpus"))]
    assert bench.thread_batches() == (ct.batch // 2, ct.batch)
    for key in keys:
        assert np.isfinite(r[key]) and r[key] > 0, key
    for key in ("teacher_heun18", "cd_1step", "shortcut_1step"):  # the yardstick's ratio, a mean of per-seed ratios
        assert r[f"{key}_ratio"] > 0 and r[f"{key}_ratio_se"] > 0, key
    assert r["seeds"] == 2 and r["n"] == 200
    assert "| CD, 3 steps |" in bench.table(r)
    for b in (ct.batch // 2, ct.batch):  # the notebooks' batch (half the default) and the default
        assert f"| CT training step, batch {b}: {cpus.TRAIN_THREADS} torch thread (the course's) / 2 threads | " in bench.table(
            {**r, "threads": 2})


class _Shrink(torch.nn.Module):
    """A 'consistency model' x -> x / (1 + sigma) that records the inputs of every call."""

    sigma_data, sigma_min, sigma_max = 0.5, 0.002, 80.0

    def __init__(self):
        super().__init__()
        self.calls: list[torch.Tensor] = []

    def forward(self, x, sigma):
        self.calls.append(x.clone())
        return x / (1 + torch.as_tensor(sigma))


def test_quality_ladder_restarts_from_the_same_noise_for_every_rung():
    """Each rung seeds a fresh generator: the first call of every k sees the same start sigma_max z."""
    model, reference = _Shrink(), data.sample("moons", 50, seed=0)
    ladder = bench.quality_ladder(model, [1, 3, 2], reference, seed=5)
    assert list(ladder) == [1, 3, 2]
    starts = [model.calls[i] for i in (0, 1, 4)]  # rungs of 1, 3 and 2 calls
    assert len(model.calls) == 6
    for start in starts:
        assert torch.equal(start, starts[0])
    z = torch.randn(50, 2, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(starts[0], 80.0 * z)
    one_step = metrics.wasserstein_2d(80.0 * z / 81.0, reference)  # Algorithm 1 with one step: f(sigma_max z, sigma_max)
    assert ladder[1] == pytest.approx(one_step, rel=1e-6)


def test_quality_ladder_takes_a_metric_and_levels():
    model, reference = _Shrink(), data.sample("moons", 50, seed=0)
    per_axis = bench.quality_ladder(model, [2], reference, seed=5, metric=metrics.per_dimension_wasserstein,
                                    levels=lambda k: [80.0, 1.0])
    g = torch.Generator().manual_seed(5)
    x = 80.0 * torch.randn(50, 2, generator=g) / 81.0
    x = (x + (1.0 - 0.002**2) ** 0.5 * torch.randn(50, 2, generator=g)) / 2.0
    assert per_axis[2] == pytest.approx(metrics.per_dimension_wasserstein(x, reference), rel=1e-6)


def test_mean_ladder_is_the_mean_of_seeded_ladders():
    """Two ways: mean_ladder against the seeds' own ladders, and its one-step rung against the yardstick's W1s."""
    model = _Shrink()

    def ref(n, seed):
        return data.sample("moons", n, seed=seed)

    mean = bench.mean_ladder(model, [1, 2], ref, 40, 3)
    each = [bench.quality_ladder(model, [1, 2], ref(40, bench.REF_SEED + s), s) for s in range(3)]
    assert mean[2] == pytest.approx(np.mean([ladder[2] for ladder in each]), rel=1e-12)
    one_step = np.mean(yardstick.w1_per_seed(lambda g: 80.0 * torch.randn(40, 2, generator=g) / 81.0, ref, 40, 3))
    assert mean[1] == pytest.approx(one_step, rel=1e-6)


def test_readme_exercise_table_is_the_registry():
    """The instructors' table in the README lists every exercise of cmlesson.grading.exercises, in order, with its points."""
    from cmlesson.grading.exercises import EXERCISES

    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| (\d\d)[^|]*\|[^|]*\| (\d+) \|$", text, re.M)
    assert rows == [(e.id, e.notebook, str(e.points)) for e in EXERCISES.values()]


def test_the_lesson_map_points_at_headings_the_core_notebooks_have():
    """Every section of lesson 11.2 and both exercises map to one place: a heading that the named notebook has."""
    import nbformat

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- lesson-map:start -->")[1].split("<!-- lesson-map:end -->")[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in block.strip().splitlines()[2:]]
    assert len(rows) >= 12 and {r[1] for r in rows} == {"01", "02", "03", "04", "05"}
    assert any(r[0].startswith("Exercise 1") for r in rows) and any(r[0].startswith("Exercise 2") for r in rows)
    for lesson, number, headings in rows:
        path = next((ROOT / "solutions").glob(f"{number}_*.ipynb"))
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
        have = {line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")}
        for heading in headings.split("; "):
            assert heading in have, f"{lesson}: {path.name} has no heading {heading!r}"


def test_timing_a_solution_notebook_writes_its_outputs_back(tmp_path, monkeypatch):
    """The seconds a solution notebook prints and the running time its header states come from one run: timing
    executes a solution in place (a student notebook, handed out without outputs, is run from its file untouched)."""
    calls = []

    def run(cmd, **kwargs):
        calls.append(cmd[3:])
        return type("Done", (), {"returncode": 0, "stdout": '{"seconds": 1.0, "kernel_peak_mb": 2.0}', "stderr": ""})()

    for folder, code in (("solutions", "x = 1  ### SOLUTION\n"), ("notebooks", "x = ...\n")):
        (tmp_path / folder).mkdir()
        nb = {"cells": [{"cell_type": "code", "source": code, "metadata": {}, "outputs": [], "execution_count": None}],
              "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        (tmp_path / folder / "04_b.ipynb").write_text(json.dumps(nb))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench, "same_code_as_solution", lambda text: False)
    monkeypatch.setattr(bench.subprocess, "run", run)
    rows = bench.time_notebooks(only=["04"])
    assert [r["notebook"] for r in rows] == ["solutions/04_b.ipynb", "notebooks/04_b.ipynb"]
    assert calls == [["solutions/04_b.ipynb", "--inplace"], ["notebooks/04_b.ipynb"]]


def test_bench_takes_20_seeds_by_default_and_fewer_on_request(monkeypatch):
    """The benchmark resolves what five seeds cannot (BenchConfig: 20); --seeds N asks for N, at least 2."""
    from cmlesson import __main__ as cli
    from cmlesson import config

    assert config.BenchConfig().score.seeds == 20 and config.ScoreConfig().seeds == 5  # the notebooks keep theirs
    seen = []
    monkeypatch.setattr(bench, "run", lambda dataset, data, cfg, progress: seen.append(cfg.score.seeds) or {})
    monkeypatch.setattr(bench, "table", lambda r: "")
    monkeypatch.setattr("cmlesson.widgets.measure_latency", lambda: {})  # the widgets' timing: not this test's
    for argv, expected in ((["bench", "--json"], 20), (["bench", "--json", "--seeds", "3"], 3)):
        bench.main(cli.parser().parse_args(argv))
        assert seen[-1] == expected
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["bench", "--seeds", "1"])


def test_the_benchmark_table_times_every_method_it_trained():
    """bench.table writes a training-time row for each method whose seconds the results hold: LSD and the drifting
    model too (bench_frontier.per_seed returns lsd_train_s and drift_train_s), and no row for a method not run."""
    r = {"dataset": "moons", "threads": 2, "seeds": 2, "n": 200, "floor_w1": 0.05, "floor_w1_se": 0.001,
         "teacher_heun18_sample_ms": 40.0, "cm_1step_sample_ms": 1.0, "teacher_train_s": 41.0, "cd_train_s": 42.0,
         "ct_train_s": 43.0, "sct_train_s": 44.0, "shortcut_train_s": 45.0, "meanflow_train_s": 46.0}
    text = bench.table({**r, "lsd_train_s": 47.0, "drift_train_s": 48.5})
    for row in ("| sct training | 44.0 s |", "| shortcut training | 45.0 s |", "| meanflow training | 46.0 s |",
                "| LSD training | 47.0 s |", "| drifting training | 48.5 s |"):
        assert row in text, row
    assert "LSD training" not in bench.table(r) and "drifting training" not in bench.table(r)
