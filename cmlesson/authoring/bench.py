"""`python -m cmlesson bench`: train the course's pipeline with its defaults and measure it.

Quality is the exact 2-D W1 on 2,000 vs 2,000 points, averaged over sampling seeds, each against
its own independent reference sample, and reported as a multiple of the noise floor (the W1 of two
independent samples of the data). Speed is wall-clock time on this machine's available CPUs.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .. import checkpoints, cpus, data, ema, losses, metrics, samplers, schedules, training, yardstick
from ..config import BenchConfig, ConsistencyTrainingConfig, DistillConfig, NetworkConfig, NoiseConfig, TeacherConfig
from ..networks import NoiseConditionedMLP
from ..parameterization import ConsistencyFunction
from . import bench_frontier, course
from .student import same_code_as_solution

RefSampler = Callable[[int, int], torch.Tensor]  # (n, seed) -> (n, 2) reference points


def reference_for_file(points: torch.Tensor) -> tuple[torch.Tensor, RefSampler, Callable[[int, int], float]]:
    """Split a user's file in two halves: train on one, draw reference sets from the other."""
    perm = torch.randperm(len(points), generator=torch.Generator().manual_seed(0))
    train, held = points[perm[: len(points) // 2]], points[perm[len(points) // 2 :]]

    def ref(n: int, seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return held[torch.randperm(len(held), generator=g)[: min(n, len(held))]]

    def floor_once(n: int, seed: int) -> float:  # two disjoint halves of the held-out set
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(held), generator=g)
        m = min(n, len(held) // 2)
        return metrics.wasserstein_2d(held[idx[:m]], held[idx[m : 2 * m]])

    return train, ref, floor_once


REF_SEED = yardstick.REF_SEED  # reference set of sampling seed s: ref(n, REF_SEED + s)


def quality_ladder(
    model, steps_list: Sequence[int], reference: torch.Tensor, seed: int,
    metric: Callable[..., float] = metrics.wasserstein_2d, levels: Callable[[int], Sequence[float]] | None = None,
) -> dict[int, float]:
    """Exercise 2's ladder (notebook 05): {k: metric(samples with k consistency steps, reference)} for k in steps_list.

    Each k starts from a fresh generator seeded with ``seed``: start noise sigma_max z, then Algorithm 1 at
    ``levels(k)`` (default samplers.multistep_sigmas with the model's sigma_min, sigma_max and sigma_data).
    """
    if levels is None:
        def levels(k: int) -> list[float]:
            return samplers.multistep_sigmas(k, model.sigma_min, model.sigma_max, model.sigma_data)
    ladder = {}
    for k in steps_list:
        g = torch.Generator().manual_seed(seed)
        x = samplers.noise(len(reference), reference.shape[1], model.sigma_max, g)
        ladder[int(k)] = metric(samplers.sample_consistency(model, x, levels(k), generator=g), reference)
    return ladder


def mean_ladder(
    model, steps_list: Sequence[int], ref: RefSampler, n: int, seeds: int,
    metric: Callable[..., float] = metrics.wasserstein_2d, levels: Callable[[int], Sequence[float]] | None = None,
) -> dict[int, float]:
    """quality_ladder averaged over seeds s = 0..seeds-1, seed s against its own reference ref(n, REF_SEED + s)."""
    ladders = [quality_ladder(model, steps_list, ref(n, REF_SEED + s), s, metric, levels) for s in range(seeds)]
    return {int(k): float(np.mean([ladder[k] for ladder in ladders])) for k in steps_list}


def time_ms(fn: Callable[[], object], repeats: int = 5) -> float:
    """Median wall-clock milliseconds of ``fn()`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def ct_step_ms(train: torch.Tensor, noise: NoiseConfig, threads: int, batch: int, steps: int = 100) -> float:
    """Median milliseconds of one consistency-training step (Alg. 3: loss, backward, Adam) on ``threads`` torch threads.

    The course's network at ``batch`` pairs a step; what ``cpus.TRAIN_THREADS`` is chosen by.
    """
    torch.manual_seed(0)
    model = ConsistencyFunction(NoiseConditionedMLP(train.shape[1], NetworkConfig()), noise.sigma_data, noise.sigma_min,
                                noise.sigma_max)
    target, opt, pool = ema.frozen_copy(model), torch.optim.Adam(model.parameters(), foreach=True), data.Pool(train)
    sigmas = schedules.karras_sigmas(ConsistencyTrainingConfig().s1 + 1, noise.sigma_min, noise.sigma_max, noise.rho)
    g = torch.Generator().manual_seed(1)

    def step() -> None:
        loss = losses.consistency_training_loss(model, target, pool.batch(batch), sigmas, generator=g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    with cpus.torch_threads(threads):
        return time_ms(step, repeats=steps)


def thread_batches() -> tuple[int, int]:
    """The batches the thread timings use: the notebooks' (half the default: notebooks 03, 05) and the default."""
    return ConsistencyTrainingConfig().batch // 2, ConsistencyTrainingConfig().batch


def thread_timings(train: torch.Tensor, noise: NoiseConfig, threads: int) -> dict[str, float]:
    """ct_step_ms at each of :func:`thread_batches` on cpus.TRAIN_THREADS and on ``threads``, each measured twice in
    the order A B B A (the mean), so that neither gains from going first."""
    r = {}
    for batch in thread_batches():
        times: dict[str, list[float]] = {"train_threads": [], "all_cpus": []}
        for name in ("train_threads", "all_cpus", "all_cpus", "train_threads"):
            times[name].append(ct_step_ms(train, noise, cpus.TRAIN_THREADS if name == "train_threads" else threads, batch))
        r.update({f"ct_step_ms_b{batch}_{name}": float(np.mean(v)) for name, v in times.items()})
    return r


def run(dataset: str = "moons", data_file: str | None = None, cfg: BenchConfig = BenchConfig(),
        progress: bool = True) -> dict:
    """Train teacher, CD and CT with the course defaults on one data set; return the measured figures."""
    threads = training.use_available_cpus()  # for sampling; each training run takes cpus.TRAIN_THREADS of them
    if data_file is not None:
        train, ref, floor_once = reference_for_file(data.load_points(data_file))
        floors = [floor_once(cfg.score.n, s) for s in range(cfg.score.seeds)]  # disjoint halves: no shared points
    else:
        train = data.sample(dataset, 100_000, seed=0)

        def ref(n: int, seed: int) -> torch.Tensor:
            return data.sample(dataset, n, seed=seed)

        floors = yardstick.floor_per_seed(ref, cfg.score.n, cfg.score.seeds)
    noise = training.noise_config_for(train, NoiseConfig())
    n, dim, seeds = cfg.score.n, train.shape[1], cfg.score.seeds

    teacher = training.train_teacher(train, TeacherConfig(), noise=noise, progress=progress)
    cd = training.train_distillation(teacher.model, train, DistillConfig(), rho=noise.rho, progress=progress)
    ct = training.train_consistency(train, ConsistencyTrainingConfig(), noise=noise, progress=progress)

    heun = schedules.append_zero(schedules.karras_sigmas(cfg.teacher_steps, noise.sigma_min, noise.sigma_max, noise.rho))

    def start(g: torch.Generator) -> torch.Tensor:
        return samplers.noise(n, dim, noise.sigma_max, g)

    def teacher_sample(g):
        return samplers.sample_heun(teacher.model, start(g), heun)

    def w1(sample):
        return yardstick.w1_per_seed(sample, ref, n, seeds)

    per_seed = {"floor_w1": floors, "teacher_heun18_w1": w1(teacher_sample)}
    for k in (1, 2, 3):
        per_seed[f"cd_{k}step_w1"] = w1(samplers.consistency_sampler(cd.model, n, k, dim=dim))
    for k in (1, 2):
        per_seed[f"ct_{k}step_w1"] = w1(samplers.consistency_sampler(ct.model, n, k, dim=dim))
    if data_file is None and dataset == "moons":  # the shipped checkpoints, scored exactly as notebook 01 scores them
        shipped_teacher, shipped_cd = checkpoints.load("teacher", progress=False), checkpoints.load("cd", progress=False)
        per_seed["shipped_teacher_heun18_w1"] = w1(lambda g: samplers.sample_heun(shipped_teacher, start(g), heun))
        per_seed["shipped_cd_1step_w1"] = w1(samplers.consistency_sampler(shipped_cd, n, 1, dim=dim))
    frontier_w1, frontier_s = bench_frontier.per_seed(
        train, lambda s, m, k: yardstick.w1_per_seed(s, ref, m, k), n, seeds, progress)
    per_seed.update(frontier_w1)  # notebook 08's methods: sCT, the shortcut model, MeanFlow
    r = {"dataset": data_file or dataset, "threads": threads, "seeds": seeds, "n": n}
    for key, values in per_seed.items():
        r[key] = float(np.mean(values))
        r[key + "_se"] = yardstick.Score(tuple(values)).se  # in data units
        score = yardstick.Score(tuple(w / f for w, f in zip(values, floors, strict=True)))  # seed by seed, as the notebooks
        r[key.replace("_w1", "_ratio")], r[key.replace("_w1", "_ratio_se")] = score.ratio, score.se
    r.update(teacher_train_s=teacher.seconds, cd_train_s=cd.seconds, ct_train_s=ct.seconds, **frontier_s)
    r.update(thread_timings(train, noise, threads))
    g = torch.Generator().manual_seed(0)
    r["cm_1step_sample_ms"] = time_ms(lambda: samplers.consistency_sampler(cd.model, n, 1, dim=dim)(g))
    r["teacher_heun18_sample_ms"] = time_ms(lambda: teacher_sample(g))
    return r


TARGETS = {  # key: bound on its W1 / floor score (the yardstick's ratio); from the package issue
    "teacher_heun18_w1": 1.25, "cd_1step_w1": 1.6, "cd_3step_w1": 1.5, "ct_2step_w1": 3.0,
    "shortcut_1step_w1": 1.5,  # issue 13: the best from-scratch method of notebook 08, at one step
    "shortcut_renoise_2step_w1": 1.3,  # and at two (its better two-call sampler, notebook 08 §9)
}


def table(r: dict) -> str:
    """A Markdown table of the results with ratios to the floor and the targets."""
    floor = r["floor_w1"]
    lines = [f"Data: {r['dataset']}, {r['threads']} CPU threads (training: {cpus.TRAIN_THREADS} torch thread per run), "
             f"{r['seeds']} sampling seeds (± one standard error)", "",
             "| figure | W1 | W1 / floor | target |", "|---|---|---|---|",
             f"| noise floor (two independent data samples) | {floor:.4f} ± {r['floor_w1_se']:.4f} | 1 | |"]
    names = {"teacher_heun18_w1": "teacher, Heun 18 steps", "cd_1step_w1": "CD, 1 step", "cd_2step_w1": "CD, 2 steps",
             "cd_3step_w1": "CD, 3 steps", "ct_1step_w1": "CT from scratch, 1 step", "ct_2step_w1": "CT from scratch, 2 steps",
             "shipped_teacher_heun18_w1": "shipped teacher checkpoint, Heun 18 steps (notebook 01)",
             "shipped_cd_1step_w1": "shipped CD checkpoint, 1 step (notebook 01)", **bench_frontier.NAMES}
    for key, name in ((k, v) for k, v in names.items() if k in r):
        target = f"<= {TARGETS[key]}x" if key in TARGETS else ""
        ratio, ratio_se = r[key.replace("_w1", "_ratio")], r[key.replace("_w1", "_ratio_se")]
        lines.append(f"| {name} | {r[key]:.4f} ± {r[key + '_se']:.4f} | {ratio:.2f} ± {ratio_se:.2f} | {target} |")
    speedup = r["teacher_heun18_sample_ms"] / r["cm_1step_sample_ms"]
    lines += ["", "| timing | value |", "|---|---|",
              f"| teacher training | {r['teacher_train_s']:.1f} s |", f"| CD training | {r['cd_train_s']:.1f} s |",
              f"| CT training | {r['ct_train_s']:.1f} s |",
              *(f"| {m} training | {r[f'{m}_train_s']:.1f} s |" for m in ("sct", "shortcut", "meanflow")),
              *(f"| {m} training | {r[f'{k}_train_s']:.1f} s |" for k, m in (("lsd", "LSD"), ("drift", "drifting"))
                if f"{k}_train_s" in r),
              *(f"| CT training step, batch {b}: {cpus.TRAIN_THREADS} torch thread (the course's) / {r['threads']} threads | "
                f"{r[f'ct_step_ms_b{b}_train_threads']:.1f} ms / {r[f'ct_step_ms_b{b}_all_cpus']:.1f} ms |"
                for b in thread_batches() if f"ct_step_ms_b{b}_all_cpus" in r),
              f"| CM 1-step sampling, {r['n']} points | {r['cm_1step_sample_ms']:.2f} ms |",
              f"| teacher Heun-18 sampling, {r['n']} points | {r['teacher_heun18_sample_ms']:.1f} ms |",
              f"| 1-step speed-up over Heun-18 | {speedup:.0f}x (target >= 20x) |"]
    return "\n".join(lines)


def time_notebooks(folders: tuple[str, ...] = ("solutions", "notebooks"), only: Sequence[str] = (),
                   inplace: bool = True) -> list[dict]:
    """Execute every notebook in ``folders`` in its own fresh kernel; wall seconds and the kernel's peak memory.

    A student notebook whose code is its solution's (no exercises) is not run twice. ``only``: the notebooks whose
    names start with one of these (``("04", "08")``), in both folders; all when empty. ``inplace``: a solution
    notebook's executed outputs are written back, so that the seconds its cells print and the running time its
    header states come from one run (student notebooks are handed out without outputs).
    """
    rows = []
    for folder in folders:
        for path in sorted(Path(folder).glob("*.ipynb")):
            if only and not path.name.startswith(tuple(only)):
                continue
            solution = Path("solutions") / path.name
            if folder != "solutions" and solution.exists() and same_code_as_solution(solution.read_text(encoding="utf-8")):
                continue  # the same code as its solution notebook, timed above
            cmd = [sys.executable, "-m", "cmlesson.authoring.nbrun", str(path),
                   *(["--inplace"] if inplace and folder == "solutions" else [])]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise RuntimeError(f"{path} failed to execute:\n{out.stderr[-2000:]}")
            rows.append({"notebook": str(path), **json.loads(out.stdout.strip().splitlines()[-1])})
    return rows


def write_times(rows: list[dict], path: Path, keep: bool = False) -> None:
    """Save :func:`time_notebooks`' seconds by notebook name, for ``--sync-setup`` to show at each notebook's top.

    ``keep``: update the notebooks of ``rows`` in the file's times and keep the others' (``--retime``).
    """
    old = json.loads(path.read_text(encoding="utf-8"))["notebooks"] if keep and path.exists() else {}
    retimed = {Path(r["notebook"]).name for r in rows}
    notebooks: dict[str, dict[str, int]] = {name: t for name, t in old.items() if name not in retimed}
    for r in rows:
        where = Path(r["notebook"])
        key = "solution_s" if where.parent.name == "solutions" else "student_s"
        notebooks.setdefault(where.name, {})[key] = round(r["seconds"])
    times = {"cpus": cpus.available_cpus(), "machine": platform.machine(), "torch": torch.__version__, "notebooks": notebooks}
    path.write_text(json.dumps(times, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def notebook_table(rows: list[dict]) -> str:
    """Markdown table of notebook running times and peak kernel memory."""
    lines = ["| notebook | seconds | kernel peak memory |", "|---|---|---|"]
    lines += [f"| `{r['notebook']}` | {r['seconds']:.0f} | {r['kernel_peak_mb']:.0f} MB |" for r in rows]
    total = sum(r["seconds"] for r in rows)
    peak = max(r["kernel_peak_mb"] for r in rows)
    lines.append(f"| **all {len(rows)} notebooks** | **{total:.0f}** ({total / 60:.1f} min) | max {peak:.0f} MB |")
    return "\n".join(lines)


TABLE_ROW = re.compile(r"^\| `(?P<notebook>[^`]+)` \| (?P<seconds>\d+) \| (?P<mb>\d+) MB \|$", re.M)


def merge_rows(table: str, rows: list[dict]) -> list[dict]:
    """The rows of a :func:`notebook_table` with ``rows`` put in place of the same notebooks' (new ones at the end)."""
    new = {r["notebook"]: r for r in rows}
    old = [{"notebook": m["notebook"], "seconds": float(m["seconds"]), "kernel_peak_mb": float(m["mb"])}
           for m in TABLE_ROW.finditer(table)]
    return [new.pop(r["notebook"], r) for r in old] + list(new.values())


def _split(path: Path, name: str) -> tuple[str, str, str]:
    text = path.read_text()
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        raise ValueError(f"{path} has no {start} ... {end} markers")
    head, rest = text.split(start, 1)
    body, tail = rest.split(end, 1)
    return head + start, body, end + tail


def read_section(path: Path, name: str) -> str:
    """The text between ``<!-- name:start -->`` and ``<!-- name:end -->`` in ``path``."""
    return _split(path, name)[1]


def replace_section(path: Path, name: str, body: str) -> None:
    """Rewrite the text between ``<!-- name:start -->`` and ``<!-- name:end -->`` in ``path``."""
    head, _, tail = _split(path, name)
    path.write_text(head + "\n" + body + "\n" + tail)


def retime(only: Sequence[str], readme: str | None) -> int:
    """Time only the notebooks named by ``only`` and update their seconds in the times file (and README's table)."""
    rows = time_notebooks(only=only)
    if not rows:
        print(f"error: --retime {' '.join(only)}: no notebook starts with that; e.g. --retime 04 08", file=sys.stderr)
        return 2
    print(notebook_table(rows))
    write_times(rows, Path(course.TIMES_FILE), keep=True)
    if readme:
        replace_section(Path(readme), "notebooks", notebook_table(merge_rows(read_section(Path(readme), "notebooks"), rows)))
    return 0


def main(args) -> int:
    if args.retime:
        return retime(args.retime, args.readme)
    cfg = BenchConfig() if args.seeds is None else replace(BenchConfig(), score=replace(BenchConfig().score,
                                                                                      seeds=args.seeds))
    r = run(args.dataset, args.data, cfg, progress=not args.json)
    try:
        from ..widgets import measure_latency
    except ImportError:
        measure_latency = None
    if measure_latency is not None and args.data is None and args.dataset == "moons":
        r.update({f"widget_{k}_ms": v for k, v in measure_latency().items()})
    text = table(r)
    if any(k.startswith("widget_") for k in r):
        text += "\n\n| widget redraw (median) | ms |\n|---|---|\n" + "\n".join(
            f"| {k[7:-3]} | {v:.0f} |" for k, v in r.items() if k.startswith("widget_"))
    print(json.dumps(r) if args.json else text)
    if args.readme:
        header = (f"Measured by `make bench-readme` on {platform.machine()} with {r['threads']} CPU threads, "
                  f"torch {torch.__version__}:")
        replace_section(Path(args.readme), "bench", f"{header}\n\n{text}")
    if args.notebooks:
        rows = time_notebooks()
        print(notebook_table(rows))
        write_times(rows, Path(course.TIMES_FILE))
        if args.readme:
            replace_section(Path(args.readme), "notebooks", notebook_table(rows))
    return 0
