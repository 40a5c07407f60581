"""Dependencies split by use: `pip install .` is the runtime set, exactly what the notebooks and the package import;
JupyterLab, the grader's and the tests' packages are extras, and `import cmlesson` needs none of them."""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.metadata
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
# Modules behind commands (`python -m cmlesson student|grade`, `bench --notebooks` runs _nbrun in a subprocess): they may
# use the [grade] extra (`site`: Sphinx, from .venv-site). Every other module is what a notebook can reach.
COMMAND_MODULES = {"__main__", "student", "grade", "nbrun", "sandbox", "site"}
EXTRAS_ONLY = ["nbformat", "nbclient", "nbconvert", "jupyterlab", "jupyter_server", "nbval", "pytest", "nbgrader", "distributed"]


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(requirements: list[str]) -> set[str]:
    return {_normalize(re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0]) for r in requirements}


@functools.cache
def _owners() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()  # top-level module -> distributions (slow: read once)


def _imported_distributions(source: str) -> set[str]:
    """The distributions (normalized names) whose modules ``source`` imports anywhere, leaving out the standard library
    and cmlesson itself."""
    top = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            top |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            top.add(node.module.split(".")[0])
    top -= set(sys.stdlib_module_names) | {"cmlesson", "__future__"}
    owners = _owners()
    unknown = sorted(t for t in top if t not in owners)
    assert not unknown, f"imported, but no installed distribution provides it: {unknown}"
    return {_normalize(owners[t][0]) for t in top}


def _runtime_sources() -> dict[str, str]:
    """Every code cell of the solution notebooks and every cmlesson module a notebook can reach, by name."""
    sources = {}
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        cells = [c.source for c in nbformat.read(path, as_version=4).cells  # not the setup cell: it installs the set,
                 if c.cell_type == "code" and c.get("id") != "cmlesson-setup"]  # and imports google.colab on Colab only
        sources[path.name] = "\n".join(cells)
    for path in sorted((ROOT / "cmlesson").rglob("*.py")):
        if path.stem not in COMMAND_MODULES:
            sources[str(path.relative_to(ROOT))] = path.read_text(encoding="utf-8")
    return sources


def test_runtime_set_is_exactly_what_the_notebooks_and_the_package_import():
    runtime = _names(_pyproject()["dependencies"])
    imported: dict[str, set[str]] = {}
    for where, source in _runtime_sources().items():
        for dist in _imported_distributions(source):
            imported.setdefault(dist, set()).add(where)
    assert set(imported) <= runtime, {d: sorted(w) for d, w in imported.items() if d not in runtime}
    assert runtime <= set(imported), f"in the runtime set but imported nowhere: {sorted(runtime - set(imported))}"


def test_import_reader_sees_third_party_imports_only():
    source = "import os, numpy as np\nfrom torch import nn\nfrom . import data\ndef f():\n    import ot\nimport cmlesson.data"
    assert _imported_distributions(source) == {"numpy", "torch", "pot"}


def test_extras_split_lab_grade_and_test():
    """Each extra holds what its use needs; none repeats the runtime set except to raise a floor (JupyterLab 4 renders
    ipywidgets 8 only); make installs every extra (nbgrader and dask included: the tests run both)."""
    extras = {name: _names(reqs) for name, reqs in _pyproject()["optional-dependencies"].items()}
    assert set(extras) >= {"lab", "grade", "test"}
    assert {"jupyterlab", "ipykernel"} <= extras["lab"]
    assert {"nbformat", "nbclient", "ipykernel"} <= extras["grade"]
    assert {"pytest", "nbval"} <= extras["test"]
    runtime = _names(_pyproject()["dependencies"])
    assert runtime.isdisjoint(extras["grade"] | extras["test"])
    assert extras["lab"] & runtime == {"ipywidgets"}
    assert not runtime & {_normalize(n) for n in EXTRAS_ONLY}
    installed = re.search(r"-e '\.\[([\w,]+)\]'", (ROOT / "Makefile").read_text())
    assert installed and set(installed[1].split(",")) == set(extras), "make must install every extra"


BLOCK = """
import importlib.abc, sys
BLOCKED = {blocked!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"blocked: {{name}}")
sys.meta_path.insert(0, Block())
"""


def _import_blocked(modules: list[str]) -> subprocess.CompletedProcess:
    code = BLOCK.format(blocked=set(EXTRAS_ONLY)) + "".join(f"import {m}\n" for m in modules)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_notebooks_cmlesson_imports_need_no_extra():
    """Every cmlesson module a notebook imports loads with nbformat, nbclient, JupyterLab... made unimportable."""
    names = set()
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.ImportFrom) and node.module == "cmlesson":
                    names |= {f"cmlesson.{a.name}" for a in node.names}
                elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cmlesson."):
                    names.add(node.module)  # a wing (cmlesson.frontier): its modules too
                    if hasattr(importlib.import_module(node.module), "__path__"):  # a package: its modules
                        names |= {f"{node.module}.{a.name}" for a in node.names
                                  if importlib.util.find_spec(f"{node.module}.{a.name}") is not None}
    assert {"cmlesson.authoring.bench", "cmlesson.widgets", "cmlesson.checks"} <= names
    done = _import_blocked(sorted(names))
    assert done.returncode == 0, done.stderr[-3000:]
    failed = _import_blocked(["cmlesson.grading.grade"])  # the blocker works: the grader does need nbclient
    assert failed.returncode != 0 and "blocked: n" in failed.stderr
