"""Measure and store the shipped models' scores: ``python -m cmlesson.authoring.scores [NN ...]``.

Runs the named solution notebooks (all of them by default, the store rebuilt from nothing) with
``CMLESSON_SCORES=store``: every :func:`cmlesson.yardstick.shipped_score` and every noise floor they compute is
measured and written to ``cmlesson/checkpoints/scores.json``. The notebooks then read those scores back instead of
measuring them again; CI runs the solution notebooks with ``CMLESSON_SCORES=verify``, which measures every stored
score again and fails on any difference. Run it after retraining a checkpoint or changing a sampler.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from .. import yardstick

SOLUTIONS = Path(__file__).resolve().parents[2] / "solutions"


def notebooks(prefixes: list[str]) -> list[Path]:
    """The solution notebooks whose names start with one of ``prefixes`` (every one for none)."""
    found = sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))
    chosen = [p for p in found if not prefixes or p.name[:2] in prefixes]
    unknown = set(prefixes) - {p.name[:2] for p in found}
    if unknown:
        raise ValueError(f"no solution notebook numbered {sorted(unknown)}; there are {[p.name[:2] for p in found]}")
    return chosen


def main(prefixes: list[str]) -> int:
    chosen = notebooks(prefixes)
    before = yardstick.STORE.read_bytes() if yardstick.STORE.exists() else None
    if not prefixes and before is not None:
        yardstick.STORE.unlink()  # every notebook runs: nothing stale survives
    env = os.environ | {"CMLESSON_SCORES": "store"}
    for path in chosen:
        print(f"{path.name}: measuring ...", flush=True)
        run = subprocess.run([sys.executable, "-m", "cmlesson.authoring.nbrun", str(path)], env=env, check=False)
        if run.returncode != 0:  # the store as it was: a half-measured one would ship
            if before is None:
                yardstick.STORE.unlink(missing_ok=True)
            else:
                yardstick.STORE.write_bytes(before)
            print(f"{path.name} failed (exit status {run.returncode}); {yardstick.STORE.name} left as it was",
                  file=sys.stderr)
            return 1
    print(f"stored in {yardstick.STORE}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="two-digit prefixes (01 .. 11); none: every notebook")
    sys.exit(main(parser.parse_args().notebooks))
