"""A real Dask cluster for the grading tests and benchmark: a scheduler and workers, each its own process, on
127.0.0.1 (what ``grade --executor dask://`` meets on a class's machines, minus the network)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

BIN = Path(sys.executable).parent


@contextlib.contextmanager
def dask_cluster(folder: Path, workers: int = 2, threads: int = 1) -> Iterator[str]:
    """Start ``dask scheduler`` and ``workers`` x ``dask worker --nthreads threads``; yield the scheduler's address."""
    scheduler_file = folder / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}  # no retry of a task that killed a worker
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(scheduler_file)], **quiet)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        for i in range(workers):
            procs.append(subprocess.Popen([str(BIN / "dask"), "worker", "--scheduler-file", str(scheduler_file),
                                           "--nthreads", str(threads), "--no-nanny", "--no-dashboard", "--name", f"w{i}",
                                           "--local-directory", str(folder / f"w{i}")], **quiet))
        from distributed import Client

        with Client(scheduler_file=str(scheduler_file), timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)
            address = client.scheduler.address
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
