"""cmlesson.cpus: the CPUs the course may use, torch's thread count for one piece of work, the W1 pool's size."""

from __future__ import annotations

import threading

import pytest
import torch

from cmlesson import cpus, yardstick


def test_torch_threads_sets_and_restores_the_count():
    before = torch.get_num_threads()
    with cpus.torch_threads(1) as n:
        assert n == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="inside"), cpus.torch_threads(1):
        raise RuntimeError("inside")
    assert torch.get_num_threads() == before


def test_torch_threads_names_the_parameter_for_a_bad_count():
    with pytest.raises(ValueError, match=r"n \(torch threads\) must be >= 1, got 0"), cpus.torch_threads(0):
        pass


@pytest.mark.parametrize(("env", "expected"), [(None, "all"), ("1", 1), ("64", "all"), ("two", "all")])
def test_worker_threads_take_omp_num_threads_as_a_cap(monkeypatch, env, expected):
    """The grader's kernels get OMP_NUM_THREADS = their share of the CPUs: the W1 pool keeps to it; a larger or
    unreadable value changes nothing."""
    if env is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", env)
    assert cpus.worker_threads() == (cpus.available_cpus() if expected == "all" else expected)


def test_the_yardsticks_w1s_run_side_by_side_whatever_torchs_thread_count(monkeypatch):
    """Notebook 01 trains and samples on one torch thread; its W1s (POT, outside torch) still run two at a time.
    Each W1 here waits at a two-party barrier, which only a pool of two threads can pass."""
    monkeypatch.setattr(yardstick, "worker_threads", lambda: 2)
    barrier, threads = threading.Barrier(2, timeout=10), set()

    def metric(a, b):
        threads.add(threading.get_ident())
        barrier.wait()
        return 0.0

    pairs = [(torch.zeros(3, 2), torch.zeros(3, 2))] * 4
    with cpus.torch_threads(1):
        assert yardstick._w1s(pairs, metric) == [0.0] * 4
    assert len(threads) == 2
