"""Run one notebook in a fresh kernel; print {"seconds", "kernel_peak_mb"} as JSON (used by the benchmark).

A separate process per notebook, so that getrusage(RUSAGE_CHILDREN) sees exactly one kernel. ``--inplace`` also
writes the executed notebook back over its file (how a solution notebook's committed outputs are refreshed).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def main(path: str, inplace: bool = False) -> None:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: kilobytes
    if inplace:
        nbformat.write(nb, path)
    print(json.dumps({"seconds": seconds, "kernel_peak_mb": peak_kb / 1024}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="the notebook to run")
    parser.add_argument("--inplace", action="store_true", help="write the executed notebook back over its file")
    args = parser.parse_args()
    main(args.path, args.inplace)
