"""The grader's benchmark (``make bench-grading``; not a test): what the run-time watch, the sandbox and a Dask
cluster cost.

A class of 30 notebook-01 submissions made from the test corpus (right answers, each known mistake, stubs) is
graded four ways, each on the same files with two kernels at a time: a local pool without the sandbox, first with
the kernel-side watch of delegation (``_kernel.Watch``) replaced by one that records nothing, then as shipped; then
with the sandbox, and with the default sandbox on a Dask cluster of two one-thread workers (separate processes on
this machine) against the local pool. Prints one line per way, and the ratios; ``--readme FILE`` also writes the
table between FILE's ``<!-- bench-grading:start -->`` and ``<!-- bench-grading:end -->`` markers. ``--watch`` times
only the first two ways (each twice, alternating, the faster of each kept): what the watch costs per submission.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grading_fixtures import cluster  # noqa: E402
from grading_fixtures import corpus as C  # noqa: E402

from cmlesson.authoring.bench import replace_section  # noqa: E402
from cmlesson.grading import exercises, grade, sandbox  # noqa: E402

N_SUBMISSIONS = 30


class NullWatch:
    """The baseline that records nothing (and installs no hook): the grader's Watch, measured against."""

    def __init__(self, answers):
        self.found, self.tampered = {}, []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


NULL_WATCH = "\n\n" + inspect.getsource(NullWatch).replace("class NullWatch:", "class Watch:", 1)  # for the kernel


@contextlib.contextmanager
def without_watch():
    """The grader's cell carries a kernel module whose Watch records nothing (and installs no hook)."""
    sources = dict(exercises.kernel_sources())
    sources["_kernel"] += NULL_WATCH
    original = grade.exercises.kernel_sources
    grade.exercises.kernel_sources = lambda: sources
    try:
        yield
    finally:
        grade.exercises.kernel_sources = original


def build_class(folder: Path) -> list[Path]:
    """30 notebook-01 submissions: every right answer, each coefficient, multistep and two-step mistake, and stubs."""
    variants = {"coefficients": [C.CORRECT["coefficients"], C.STUBS["coefficients"], *C.WRONG["coefficients"].values()],
                "multistep": [C.CORRECT["multistep"], C.STUBS["multistep"], *C.WRONG["multistep"].values()],
                "two_step": [C.CORRECT["two_step"], *C.WRONG["two_step"].values()]}
    combos = zip(*(itertools.islice(itertools.cycle(v), N_SUBMISSIONS) for v in variants.values()), strict=True)
    folder.mkdir()
    return [C.write(folder / f"student_{i:02d}.ipynb", *cells) for i, cells in enumerate(combos)]


def timed(files: list[Path], **kw) -> tuple[float, str]:
    start = time.perf_counter()
    rows = grade.grade(files, jobs=2, progress=False, **kw)
    return time.perf_counter() - start, grade.csv_text(rows)


def table(seconds: dict[str, float]) -> str:
    """The README's table: seconds per way, each against the way before it."""
    (bare, none, local, dask), (t_bare, t_none, t_local, t_dask) = seconds, seconds.values()
    return "\n".join(["| way | seconds for 30 submissions |", "|---|---|",
                      f"| local pool, `{bare.split(', ')[1]}`, without the run-time watch of delegation | {t_bare:.1f} |",
                      f"| local pool, `{none.split(', ')[1]}` | {t_none:.1f} ({t_none / t_bare:.2f}x without the watch) |",
                      f"| local pool, `{local.split(', ')[1]}` | {t_local:.1f} ({t_local / t_none:.2f}x none) |",
                      f"| Dask, two one-thread workers on the same machine, `{dask.split(', ')[2]}` | {t_dask:.1f} "
                      f"({t_dask / t_local:.2f}x the local pool) |"])


def watch_in_process(reps: int = 15) -> dict[str, list[float]]:
    """{exercise: [ms without the watch, ms with it]}: the median time of evaluating a right answer in this process
    (what the watch adds to each exercise of a submission, without the kernel's start around it)."""
    import statistics

    from cmlesson.grading.exercises import _kernel

    found = {}
    real = _kernel.Watch
    for ex_id in [e for e in C.ALL if e not in ("ladder", "two_step", "ct_training")]:
        namespace = C.functions(C.CORRECT[ex_id])
        times = []
        for watch in (NullWatch, real, NullWatch, real):
            _kernel.Watch = watch
            runs = []
            for _ in range(reps):
                start = time.perf_counter()
                exercises.evaluate_in_kernel(ex_id, namespace, {}, 120.0)
                runs.append(time.perf_counter() - start)
            times.append(statistics.median(runs))
        _kernel.Watch = real
        found[ex_id] = [round(1000 * min(times[0], times[2]), 2), round(1000 * min(times[1], times[3]), 2)]
    return found


def watch_cost(files: list[Path]) -> dict:
    """--sandbox none without and with the watch, alternating twice after a warm-up (the faster run of each way is
    kept), and the in-process time per exercise."""
    runs: dict[str, list[float]] = {"without the watch": [], "with the watch": []}
    csvs = set()
    timed(files[:4], sandbox_mode="none")  # warm-up: the first kernels read torch from disk
    for _ in range(2):
        with without_watch():
            seconds, text = timed(files, sandbox_mode="none")
        runs["without the watch"].append(seconds)
        seconds, watched = timed(files, sandbox_mode="none")
        runs["with the watch"].append(seconds)
        csvs |= {text, watched}
    best = {k: min(v) for k, v in runs.items()}
    return {"seconds": {k: [round(x, 1) for x in v] for k, v in runs.items()}, "submissions": len(files),
            "watch_over_none": round(best["with the watch"] / best["without the watch"], 3),
            "per_submission_s": round((best["with the watch"] - best["without the watch"]) * 2 / len(files), 3),
            "same_csv": len(csvs) == 1, "in_process_ms": watch_in_process()}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="cmlesson-bench-grading-") as tmp:
        files = build_class(Path(tmp) / "class")
        if "--watch" in sys.argv:
            report = watch_cost(files)
            print(json.dumps(report))
            return 0 if report["same_csv"] else 1
        bwrap = sandbox.probe() is None
        t = {}
        timed(files[:4], sandbox_mode="none")  # warm-up: the first kernels read torch from disk
        with without_watch():
            t["local, --sandbox none, no watch"], csv_bare = timed(files, sandbox_mode="none")
        t["local, --sandbox none"], csv_none = timed(files, sandbox_mode="none")
        mode = "bwrap" if bwrap else "none"
        t[f"local, --sandbox {mode}"], csv_local = timed(files, sandbox_mode=mode)
        with cluster.dask_cluster(Path(tmp)) as address:
            from distributed import Client

            with Client(address) as client:
                t[f"dask, 2 workers, --sandbox {mode}"], csv_dask = timed(files, sandbox_mode=mode,
                                                                        executor=client.get_executor(pure=False))
    for name, seconds in t.items():
        print(f"{name:<34} {seconds:7.1f} s for {len(files)} submissions")
    names = list(t)
    report = {"seconds": {k: round(v, 1) for k, v in t.items()}, "submissions": len(files),
              "watch_over_none": round(t[names[1]] / t[names[0]], 3),
              "sandbox_over_none": round(t[names[2]] / t[names[1]], 3), "dask_over_local": round(t[names[3]] / t[names[2]], 3),
              "same_csv": csv_bare == csv_none == csv_local == csv_dask}
    print(f"watch / without: {report['watch_over_none']:.2f}x; sandbox / none: {report['sandbox_over_none']:.2f}x; "
          f"dask / local pool: {report['dask_over_local']:.2f}x; the same CSV every way: {report['same_csv']}")
    print(json.dumps(report))
    if "--readme" in sys.argv:
        replace_section(Path(sys.argv[sys.argv.index("--readme") + 1]), "bench-grading", table(t))
    return 0 if report["same_csv"] else 1


if __name__ == "__main__":
    sys.exit(main())
