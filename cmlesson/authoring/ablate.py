"""One recipe change at a time, scored paired against a base run on sampling seeds the benchmark does not use.

``python -m cmlesson.authoring.ablate teacher --name lr2e-3 --set lr=2e-3 --vs base``
``python -m cmlesson.authoring.ablate cd --name cd-mu0.9 --teacher base --set target_decay=0.9 --vs cd-base``

A run trains the course's teacher (:func:`cmlesson.training.train_teacher`) or consistency distillation
(:func:`cmlesson.training.train_distillation`, from a teacher run saved earlier) with the config defaults
changed by ``--set field=value`` (``TeacherConfig`` / ``DistillConfig``) and ``--net field=value``
(``NetworkConfig``, teacher only), on the benchmark's training set (two moons, 100,000 points, seed 0) and
one torch thread. It is scored with the course's yardstick on sampling seeds ``OFFSET + s`` against
references ``REF_SEED + OFFSET + s`` (the benchmark uses s = 0 .. 19 without the offset): the teacher at
Heun 18 levels (``bench.BenchConfig.teacher_steps``), CD at 1, 2 and 3 steps. Each run's per-seed ratios
and training seconds are saved under its ``--name`` in ``--store``; ``--vs NAME`` prints the paired
difference against that saved run (``yardstick.Score`` difference and its ``verdict``) and ``--report``
appends one Markdown row per scored key.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from .. import data, losses, samplers, schedules, training, yardstick
from ..config import BenchConfig, DistillConfig, NetworkConfig, NoiseConfig, ScoreConfig, TeacherConfig

OFFSET = 100  # sampling seeds 100 .. 100 + seeds - 1: disjoint from the benchmark's 0 .. 19
STORE = Path("build/ablate")  # saved runs (per-seed ratios, weights), relative to where it runs; build/ is ignored
DATASET, TRAIN_N, TRAIN_SEED = "moons", 100_000, 0  # bench.run's training set
CD_STEPS = (1, 2, 3)


def ref(n: int, seed: int) -> torch.Tensor:
    """The benchmark's moons reference (bench.run's ``ref``), drawn at seed + OFFSET."""
    return data.sample(DATASET, n, seed=seed + OFFSET)


def shifted(sample: yardstick.Sampler) -> yardstick.Sampler:
    """The sampler that the yardstick's seed s runs with a generator seeded OFFSET + s."""
    return lambda g: sample(torch.Generator().manual_seed(g.initial_seed() + OFFSET))


def score(sample: yardstick.Sampler, cfg: ScoreConfig) -> yardstick.Score:
    return yardstick.score(shifted(sample), ref, cfg.n, cfg.seeds)


def parse_sets(pairs: list[str], cls) -> dict:
    """``["lr=2e-3", "steps=4000"]`` -> typed kwargs for the dataclass ``cls``."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in fields:
            raise SystemExit(f"{cls.__name__} has no field {key!r}; fields: {', '.join(fields)}")
        default = getattr(cls(), key)
        out[key] = type(default)(value) if default is not None else float(value)
    return out


def train_set() -> torch.Tensor:
    return data.sample(DATASET, TRAIN_N, seed=TRAIN_SEED)


def teacher_run(sets: dict, net: dict, seed: int) -> training.Trained:
    train = train_set()
    noise = training.noise_config_for(train, NoiseConfig())
    return training.train_teacher(train, dataclasses.replace(TeacherConfig(), **sets), noise=noise,
                                  net=dataclasses.replace(NetworkConfig(), **net), seed=seed, progress=False)


def score_teacher(model, cfg: ScoreConfig, steps: int, grid: dict | None = None) -> yardstick.Score:
    """Heun over ``steps`` Karras levels of NoiseConfig (fields changed by ``grid``: rho, sigma_min, sigma_max)."""
    noise = training.noise_config_for(train_set(), dataclasses.replace(NoiseConfig(), **(grid or {})))
    heun = schedules.append_zero(schedules.karras_sigmas(steps, noise.sigma_min, noise.sigma_max, noise.rho))
    return score(lambda g: samplers.sample_heun(model, samplers.noise(cfg.n, 2, noise.sigma_max, g), heun), cfg)


def renoised_sampler(model, n: int, steps: int, renoise: tuple[float, float] | None) -> yardstick.Sampler:
    """samplers.consistency_sampler, or with the multistep levels geometric from HI to LO sigma_data instead."""
    if renoise is None or steps == 1:
        return samplers.consistency_sampler(model, n, steps)
    hi, lo = renoise[0] * model.sigma_data, renoise[1] * model.sigma_data
    sigmas = [model.sigma_max] + [hi * (lo / hi) ** (i / max(1, steps - 2)) for i in range(steps - 1)]
    return lambda g: samplers.sample_consistency(model, samplers.noise(n, 2, model.sigma_max, g), sigmas, generator=g)


def load_store(store: Path) -> dict:
    path = store / "runs.json"
    return json.loads(path.read_text()) if path.exists() else {}


def save_run(store: Path, name: str, record: dict) -> None:
    runs = load_store(store)
    runs[name] = record
    (store / "runs.json").write_text(json.dumps(runs, indent=1))


def main(argv: list[str] | None = None) -> int:
    global OFFSET
    p = argparse.ArgumentParser(prog="python -m cmlesson.authoring.ablate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", choices=("teacher", "cd"))
    p.add_argument("--name", required=True, help="saved under this name (a teacher's weights too, for cd --teacher)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="TeacherConfig / DistillConfig")
    p.add_argument("--net", action="append", default=[], metavar="FIELD=VALUE", help="NetworkConfig (teacher only)")
    p.add_argument("--grid", action="append", default=[], metavar="FIELD=VALUE",
                   help="NoiseConfig fields (rho, sigma_min, sigma_max): teacher: of the Heun sampler's grid only; "
                        "cd: of the whole run (the distillation grid, the student's boundary, its sampler)")
    p.add_argument("--load", default=None, help="score this saved run (teacher or cd) instead of training one")
    p.add_argument("--renoise", type=float, nargs=2, default=None, metavar=("HI", "LO"),
                   help="cd --load: re-noise between HI and LO sigma_data (samplers.multistep_sigmas: 3, 0.7)")
    p.add_argument("--teacher", default=None, help="cd: the saved teacher run to distil (default: its --name 'base')")
    p.add_argument("--distance", choices=("l2", "pseudo_huber"), default="l2", help="cd: the loss's distance")
    p.add_argument("--ode", choices=("heun", "euler"), default="heun", help="cd: the teacher's solver step")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--seeds", type=int, default=BenchConfig().score.seeds, help="sampling seeds")
    p.add_argument("--heun", type=int, nargs="+", default=[BenchConfig().teacher_steps],
                   help="teacher: Heun levels to score (the first is the one compared)")
    p.add_argument("--offset", type=int, default=OFFSET,
                   help="sampling seeds offset + s (0: the benchmark's own seeds, to calibrate; not for choosing)")
    p.add_argument("--vs", default=None, help="a saved run: paired differences against it")
    p.add_argument("--store", type=Path, default=STORE)
    p.add_argument("--report", type=Path, default=None, help="append a Markdown row per key to this file")
    p.add_argument("--note", default="", help="the change, in words, for the report")
    a = p.parse_args(argv)
    OFFSET = a.offset
    torch.set_num_threads(1)
    a.store.mkdir(parents=True, exist_ok=True)
    cfg = dataclasses.replace(BenchConfig().score, seeds=a.seeds)
    sets = parse_sets(a.set, TeacherConfig if a.model == "teacher" else DistillConfig)
    scores: dict[str, yardstick.Score] = {}
    t0 = time.perf_counter()
    if a.model == "teacher":
        if a.load:
            model = torch.load(a.store / f"teacher-{a.load}.pt", weights_only=False)
            run = training.Trained(model, model, seconds=load_store(a.store)[a.load]["train_s"])
        else:
            run = teacher_run(sets, parse_sets(a.net, NetworkConfig), a.seed)
            torch.save(run.model, a.store / f"teacher-{a.name}.pt")
        grid = parse_sets(a.grid, NoiseConfig)
        for k in a.heun:
            scores[f"heun{k}"] = score_teacher(run.model, cfg, k, grid)
    elif a.load:  # a saved CD run, sampled at other re-noising levels
        model = torch.load(a.store / f"cd-{a.load}.pt", weights_only=False)
        run = training.Trained(model, model, seconds=load_store(a.store)[a.load]["train_s"])
        for k in CD_STEPS:
            scores[f"cd{k}"] = score(renoised_sampler(model, cfg.n, k, a.renoise), cfg)
    else:
        teacher = torch.load(a.store / f"teacher-{a.teacher or 'base'}.pt", weights_only=False)
        # NoiseConfig changed for the whole pipeline: the teacher's weights do not depend on sigma_min, sigma_max or
        # rho (the EDM loss draws its levels from P_mean, P_std), so setting them on it is training it with them
        noise = dataclasses.replace(NoiseConfig(sigma_min=teacher.sigma_min, sigma_max=teacher.sigma_max),
                                    **parse_sets(a.grid, NoiseConfig))
        teacher.sigma_min, teacher.sigma_max = noise.sigma_min, noise.sigma_max
        ode = samplers.heun_step if a.ode == "heun" else samplers.euler_step
        run = training.train_distillation(teacher, train_set(), dataclasses.replace(DistillConfig(), **sets),
                                          rho=noise.rho, ode_step=ode, seed=a.seed, progress=False,
                                          distance=getattr(losses, f"{a.distance}_distance"))
        torch.save(run.model, a.store / f"cd-{a.name}.pt")
        for k in CD_STEPS:
            scores[f"cd{k}"] = score(samplers.consistency_sampler(run.model, cfg.n, k), cfg)
    total = time.perf_counter() - t0
    record = {"model": a.model, "offset": a.offset, "set": a.set, "net": a.net, "grid": a.grid, "load": a.load,
              "renoise": a.renoise, "teacher": a.teacher, "ode": a.ode, "distance": a.distance, "seed": a.seed,
              "note": a.note, "train_s": run.seconds, "per_seed": {k: list(s.per_seed) for k, s in scores.items()}}
    save_run(a.store, a.name, record)
    base = load_store(a.store).get(a.vs) if a.vs else None
    print(f"{a.name} ({a.model}, seed {a.seed}, {' '.join(a.set + a.net + a.grid) or 'defaults'}): "
          f"trained in {run.seconds:.1f} s on one thread ({total:.0f} s with scoring), {a.seeds} sampling seeds")
    change = a.note or " ".join(a.set + a.net + a.grid) or "defaults"
    how = [f"seed {a.seed}"] + ([a.ode] if a.ode != "heun" else []) + ([a.distance] if a.distance != "l2" else [])
    how += [f"teacher {a.teacher or 'base'}"] if a.model == "cd" and not a.load else []
    rows = []
    for key, s in scores.items():
        line = f"  {key}: {s:.3f}"
        diff_text, verdict = "", ""
        if base is not None and key in base["per_seed"]:
            d = s - yardstick.Score(tuple(base["per_seed"][key]))
            diff_text, verdict = f"{d.ratio:+.3f} ± {d.se:.3f}", d.verdict()
            line += f"   vs {a.vs}: {diff_text}  {verdict}"
        print(line)
        rows.append(f"| {a.name} | {a.model} {key} | {change} ({', '.join(how)}) | {run.seconds:.1f} | "
                    f"{s.ratio:.3f} ± {s.se:.3f} | {a.vs or ''} | {diff_text} | {verdict.replace('|', chr(92) + '|')} |")
    if a.report is not None:
        with a.report.open("a") as f:
            f.write("\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
