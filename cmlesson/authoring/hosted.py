"""Hosted runtimes (Colab, Kaggle): what the setup cell of every notebook calls once cmlesson is importable.

The setup cell (:func:`cmlesson.authoring.course.setup_source`) installs cmlesson alone (``pip install --no-deps``)
where it is missing; :func:`setup` then installs the packages cmlesson requires that the runtime lacks, with every
installed version as a pip constraint (the runtime's kernel, numpy and torch keep theirs), and turns on Colab's widget
manager. Where cmlesson was already installed (``make lab``) it does nothing outside Colab.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import subprocess
import sys
import tempfile

OFFLINE_HINT = "offline? on Kaggle: Settings, Internet on"  # what a failed install most often means


def normalized(name: str) -> str:
    """A distribution name as pip compares it (PEP 503: runs of ``-_.`` are one ``-``, lower case)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_versions() -> dict[str, str]:
    """Every installed distribution's normalized name and version (the first found on sys.path wins, as for import)."""
    return {normalized(d.metadata["Name"]): d.version
            for d in reversed(list(importlib.metadata.distributions())) if d.metadata["Name"]}


def missing_requirements(requirements: list[str], installed: dict[str, str]) -> list[str]:
    """The ``requirements`` (``"name>=1.0"``; extras' and other markers' ones skipped) whose name is not ``installed``."""
    wanted = [r for r in requirements if ";" not in r]
    return [r for r in wanted if normalized(re.match(r"[A-Za-z0-9._-]+", r).group(0)) not in installed]


def constraints(installed: dict[str, str]) -> str:
    """A pip constraints file's text pinning every installed distribution with a plain version to that version."""
    return "\n".join(f"{name}=={v}" for name, v in installed.items() if re.fullmatch(r"[0-9][0-9a-z.+!]*", v))


def install_missing() -> str | None:
    """Install what cmlesson requires and the runtime lacks, changing no installed package; None, or pip's last line."""
    installed = installed_versions()
    missing = missing_requirements(importlib.metadata.requires("cmlesson") or [], installed)
    if not missing:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as pins:
        pins.write(constraints(installed))
    try:
        pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--constraint", pins.name, *missing],
                             capture_output=True, text=True)
    finally:
        os.unlink(pins.name)
    importlib.invalidate_caches()
    return None if pip.returncode == 0 else ((pip.stderr + pip.stdout).strip().splitlines() or ["pip failed"])[-1]


def setup(source: str, fresh: bool) -> None:
    """The setup cell's second half: after a ``fresh`` install from ``source``, install what cmlesson needs and say
    so in one line; on Colab, turn on its widget manager (Colab renders ipywidgets 8 only through it)."""
    if fresh:
        failed = install_missing()
        print(f"installed cmlesson from {source}" if failed is None else
              f"installed cmlesson from {source}, but not the packages it needs ({OFFLINE_HINT}): {failed}")
    colab = sys.modules.get("google.colab")  # imported by Colab's kernel; never installed elsewhere
    if colab is not None:
        output = getattr(colab, "output", None) or importlib.import_module("google.colab.output")
        output.enable_custom_widget_manager()
