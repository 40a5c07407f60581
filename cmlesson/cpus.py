"""How many CPUs the course may use, and torch's thread count for one piece of work (training, notebooks 02-09).

The course's networks are small: one training step of the MLP is a few dozen kernels on matrices of 500-1,000 rows
by 192. With OpenMP's threads asleep between kernels (``OMP_WAIT_POLICY=PASSIVE``, set in ``cmlesson/__init__`` so
that a shared machine does not crawl), each kernel pays a second thread's wake-up: at the notebooks' batch of 500
one thread trains faster than two, at 1,000 about as fast or faster, from run to run (``python -m cmlesson bench``
prints both). The second core is better spent on a second run (:func:`cmlesson.training.side_by_side`), on the
yardstick's W1s, which run in a pool of :func:`worker_threads`, or on a second job sharing the machine (a test
worker, a grader's kernel).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path

import torch

TRAIN_THREADS = 1  # torch threads of one training run (the module docstring says why; `make bench` measures it)


def available_cpus() -> int:
    """CPUs this process may use: the affinity mask, capped by a cgroup CPU quota (Binder grants 1-2 of many)."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _cgroup_quota()
    return max(1, min(n, math.ceil(quota))) if quota else n


def _cgroup_quota() -> float | None:
    v2 = Path("/sys/fs/cgroup/cpu.max")
    try:
        if v2.exists():
            q, p = v2.read_text().split()[:2]
            return None if q == "max" else int(q) / int(p)
        q = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        p = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return None if q <= 0 else q / p
    except (OSError, ValueError):
        return None


def worker_threads() -> int:
    """Threads for work that runs outside torch (the W1 solver): :func:`available_cpus`, capped by ``OMP_NUM_THREADS``
    where the environment sets it (the grader gives each of its parallel kernels its share that way)."""
    n = available_cpus()
    try:
        return max(1, min(n, int(os.environ["OMP_NUM_THREADS"])))
    except (KeyError, ValueError):
        return n


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[int]:
    """torch.set_num_threads(n) inside the block, the previous count restored after it; yields n."""
    if n < 1:
        raise ValueError(f"n (torch threads) must be >= 1, got {n}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)
