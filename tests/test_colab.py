"""Hosted runtimes (Colab, Kaggle): the setup cell installs cmlesson without touching the runtime's packages, and the
course runs on an old, pinned kernel stack (the ipywidgets floor: tests/test_ipywidgets_floor.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import nbformat
import pytest
import tomllib
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from cmlesson.authoring import course, student

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "01_consistency_property.ipynb"
# A Colab-like runtime on this machine's Python: the kernel stack google-colab required (ipykernel 5.5.6, IPython 7.34;
# colabtools#2837) with the versions of the kernel's neighbours and of the scientific stack of the kind Colab shipped
# in 2024. torch is the local CPU build (Colab's own is a CUDA build; an unpinned torch would download one here).
COLAB_PINS = [
    "torch==2.13.0",
    "ipykernel==5.5.6", "ipython==7.34.0", "jupyter-client==6.1.12", "traitlets==5.7.1", "tornado==6.3.3",
    "pyzmq==24.0.1", "notebook==6.5.5", "ipywidgets==7.7.1",
    "numpy==1.26.4", "matplotlib==3.7.1", "scipy==1.13.1", "scikit-learn==1.3.2", "pillow==9.4.0", "tqdm==4.66.5",
]
OFFLINE = "http://127.0.0.1:9/cmlesson.zip"  # the discard port: the connection is refused, as with no network
NOTEBOOK_TIMEOUT_S = 1200  # notebook 01 runs in about 1-2 min here; the whole notebook, generous for a loaded machine


def _freeze(python: Path) -> list[str]:
    done = subprocess.run([str(python), "-m", "pip", "freeze", "--disable-pip-version-check"], capture_output=True, text=True,
                          check=True)
    return sorted(done.stdout.splitlines())


def _name(line: str) -> str:
    """The normalized distribution name of a `pip freeze` line (``name==version`` or ``name @ url``)."""
    return re.sub(r"[-_.]+", "-", re.split(r"==| @ ", line, maxsplit=1)[0]).lower()


def _pip_env(tmp: Path) -> dict[str, str]:
    """This process's environment with pip's cache inside ``tmp`` (nothing cached outside it) and no version check."""
    return {**os.environ, "PIP_CACHE_DIR": str(tmp / "pip-cache"), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


@pytest.fixture(scope="module")
def colab_like(tmp_path_factory) -> tuple[Path, list[str]]:
    """A fresh virtual environment holding COLAB_PINS (and what they need), without cmlesson: (its python, pip freeze)."""
    tmp = tmp_path_factory.mktemp("colab")
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(tmp / "venv")], check=True)
    python = tmp / "venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *COLAB_PINS], check=True, env=_pip_env(tmp), timeout=1800)
    print(f"Colab-like venv built in {time.monotonic() - start:.0f} s: {' '.join(COLAB_PINS)}")
    return python, _freeze(python)


def _kernel(python: Path, where: Path) -> KernelManager:
    """A kernel manager for an ipykernel running on ``python`` (a kernelspec written under ``where``)."""
    spec = where / "kernels" / "colab-like"
    spec.mkdir(parents=True)
    argv = [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Colab-like", "language": "python"}))
    return KernelManager(kernel_name="colab-like", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec.parent)]))


def _source_copy(where: Path) -> Path:
    """What pip needs to build cmlesson, copied from this checkout (the build writes into its source folder)."""
    src = where / "cmlesson-src"
    shutil.copytree(ROOT / "cmlesson", src / "cmlesson", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    return src


@pytest.mark.slow
def test_setup_cell_offline_says_so_in_one_line(colab_like, tmp_path):
    python, before = colab_like
    env = {**_pip_env(tmp_path), course.SOURCE_ENV: OFFLINE}
    done = subprocess.run([str(python), "-c", course.setup_source()], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"could not install cmlesson from {OFFLINE} (offline?"), done.stdout
    assert "Traceback" not in done.stdout
    assert _freeze(python) == before


@pytest.mark.slow
def test_notebook_01_runs_on_a_colab_like_runtime_and_pip_changes_no_installed_package(colab_like, tmp_path):
    """The student notebook, its setup cell installing cmlesson from this checkout, executed in the pinned kernel."""
    python, before = colab_like
    nb = student.with_setup(nbformat.read(ROOT / "notebooks" / NOTEBOOK, as_version=4), NOTEBOOK)  # as --sync-setup does
    src = _source_copy(tmp_path)
    work = tmp_path / "work"  # the kernel's working directory: not the checkout, where `import cmlesson` would find it
    work.mkdir()
    client = NotebookClient(nb, km=_kernel(python, tmp_path), timeout=NOTEBOOK_TIMEOUT_S,
                            resources={"metadata": {"path": str(work)}})
    start = time.monotonic()
    client.execute(env={**_pip_env(tmp_path), course.SOURCE_ENV: str(src)})  # a cell that raises fails the test here
    seconds = time.monotonic() - start
    setup = next(c for c in nb.cells if c.get("id") == course.SETUP_CELL_ID)
    assert [o.get("text") for o in setup.outputs] == [f"installed cmlesson from {src}\n"]
    after = _freeze(python)
    added = sorted(set(after) - set(before))
    print(f"notebook 01 ran in {seconds:.0f} s on {' '.join(COLAB_PINS)}; pip added {added}, changed nothing")
    assert sorted(set(before) - set(after)) == [], "pip changed or removed installed packages"
    assert "cmlesson" in {_name(line) for line in added}
    assert {"jupyterlab", "nbclient", "nbformat"}.isdisjoint({_name(line) for line in added})  # no [lab]/[grade] extras
    widgets_shown = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
                     if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widgets_shown and "interactive widget" in widgets_shown[0]["data"]["text/plain"]  # ipywidgets 7.7.1 in a kernel


def _exec_setup(monkeypatch, capsys, modules: dict) -> str:
    """Run the setup cell in this process (cmlesson importable) with ``modules`` in sys.modules; pip must not run."""
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail(f"the setup cell ran {a}"))
    exec(compile(course.setup_source(), "setup-cell", "exec"), {})  # noqa: S102 - the generated cell, run as the kernel would
    return capsys.readouterr().out


def test_setup_cell_does_nothing_where_cmlesson_is_installed(monkeypatch, capsys):
    assert _exec_setup(monkeypatch, capsys, {}) == ""


def test_setup_cell_enables_colabs_widget_manager(monkeypatch, capsys):
    calls = []
    output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append("enabled"))
    google, colab = types.ModuleType("google"), types.ModuleType("google.colab")
    colab.output, google.colab = output, colab
    assert _exec_setup(monkeypatch, capsys, {"google": google, "google.colab": colab}) == ""
    assert calls == ["enabled"]


def test_setup_cell_installs_the_tagged_version():
    """The version is named once (cmlesson.__version__, which pyproject reads): the cell installs the archive of its tag."""
    import cmlesson

    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dynamic"] == ["version"]
    assert course.TAG == f"v{cmlesson.__version__}"
    assert course.archive_url().endswith(f"/archive/refs/tags/{course.TAG}.zip")
    assert f'"{course.archive_url()}"' in course.setup_source()


def test_setup_cell_is_short_and_the_rest_lives_in_the_package():
    """At most course.SETUP_LINES lines on screen; what they do not say is cmlesson.authoring.hosted, tested below."""
    lines = course.setup_source().splitlines()
    assert len(lines) <= course.SETUP_LINES, lines
    assert "from cmlesson.authoring.hosted import setup" in course.setup_source()


def test_hosted_installs_only_the_missing_requirements_and_pins_the_rest():
    from cmlesson.authoring import hosted

    installed = {"numpy": "1.26.4", "torch": "2.13.0+cpu", "scikit-learn": "1.3.2", "weird": "dev-build"}
    wanted = ["torch>=2.1", "numpy>=1.24", "scikit_learn>=1.3", "POT>=0.9", "tqdm>=4.60",
              'jupyterlab>=4.0; extra == "lab"']
    assert hosted.missing_requirements(wanted, installed) == ["POT>=0.9", "tqdm>=4.60"]  # names compared normalized
    pins = hosted.constraints(installed).splitlines()
    assert pins == ["numpy==1.26.4", "torch==2.13.0+cpu", "scikit-learn==1.3.2"]  # a version pip cannot pin is left out
    assert hosted.normalized("Scikit_Learn.X") == "scikit-learn-x"


def test_hosted_setup_after_a_fresh_install_says_so_and_installs_what_is_missing(monkeypatch, capsys):
    from cmlesson.authoring import hosted

    calls = []
    monkeypatch.setattr(hosted, "installed_versions", lambda: {"numpy": "1.26.4"})
    monkeypatch.setattr(hosted.importlib.metadata, "requires", lambda name: ["numpy>=1.24", "POT>=0.9"])
    monkeypatch.setattr(subprocess, "run", lambda cmd, **k: calls.append(cmd) or types.SimpleNamespace(
        returncode=1, stdout="", stderr="ERROR: No matching distribution found for POT>=0.9\n"))
    hosted.setup("the-source", fresh=True)
    assert calls and calls[0][-1] == "POT>=0.9" and "--constraint" in calls[0]
    out = capsys.readouterr().out
    assert out.startswith("installed cmlesson from the-source, but not the packages it needs (offline?"), out
    assert out.rstrip().endswith("No matching distribution found for POT>=0.9") and out.count("\n") == 1
    hosted.setup("the-source", fresh=False)  # under `make lab`: nothing to do, nothing said
    assert capsys.readouterr().out == "" and len(calls) == 1
