"""Run one notebook in a fresh kernel; print {"seconds", "kernel_peak_mb"} as JSON (used by the benchmark).

A separate process per notebook, so that getrusage(RUSAGE_CHILDREN) sees exactly one kernel.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def main(path: str) -> None:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: kilobytes
    print(json.dumps({"seconds": seconds, "kernel_peak_mb": peak_kb / 1024}))


if __name__ == "__main__":
    main(sys.argv[1])
