"""The explorers at the ipywidgets floor of pyproject.toml: tests/test_widgets.py with that version put first on sys.path
(ipywidgets 7 is what Colab ships; the rest of this environment stays as it is)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _ipywidgets_floor() -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (floor,) = [re.fullmatch(r"ipywidgets>=([\d.]+)", d.strip()).group(1) for d in deps if d.startswith("ipywidgets")]
    return floor


@pytest.mark.slow
def test_widget_tests_pass_at_the_ipywidgets_floor(tmp_path):
    """tests/test_widgets.py with ipywidgets at pyproject's floor, put first on sys.path (the rest: this environment)."""
    floor, target = _ipywidgets_floor(), tmp_path / "floor"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    f"ipywidgets=={floor}", "ipython_genutils"], check=True, timeout=600,
                   env={**os.environ, "PIP_CACHE_DIR": str(tmp_path / "pip-cache")})  # nothing cached outside tmp
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = ("import ipywidgets, cmlesson.widgets as w; print(ipywidgets.__version__); "
             "print(repr(w.schedule_explorer()))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout + done.stderr[-3000:]
    version, text = lines
    assert Version(version) == Version(floor)
    assert text == "Schedule explorer (an interactive widget: run the notebook in JupyterLab to use it)"
    # test_text_repr_is_short_and_stable also calls _repr_mimebundle_, which ipywidgets 7 does not have (it displays
    # through _ipython_display_ with the same text/plain); its repr half is the probe's second line above.
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_widgets.py",
                           "--deselect", "tests/test_widgets.py::test_text_repr_is_short_and_stable"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert re.search(r"\b\d+ passed", done.stdout) and "failed" not in done.stdout
