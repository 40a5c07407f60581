"""The package's house: wings in folders, a map that names every module, no private name crossing modules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import cmlesson

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cmlesson"
WINGS = ("frontier", "grading", "authoring")


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_top_level_holds_at_most_20_modules_and_the_wings_are_packages():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 20, top
    for wing in WINGS:
        assert (PACKAGE / wing / "__init__.py").is_file(), wing


def test_the_package_map_names_every_module():
    """The module docstring and the README's package section name every module of every wing."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## The package"):]
    section = section[:section.index("\n## ", 3)]
    for path in _modules():
        rel = path.relative_to(PACKAGE)
        if rel.name.startswith("_") or rel.parts[0] == "grading" and rel.parts[1:2] == ("exercises",):
            continue  # dunders and private modules; the exercises are named as one folder
        name = rel.stem
        assert f"``{name}``" in cmlesson.__doc__, f"cmlesson's docstring does not name {rel}"
        assert f"`{name}`" in section, f"README's package section does not name {rel}"
    assert "`exercises/`" in section and "``exercises/``" in cmlesson.__doc__


def _private_imports(source: str, in_exercises: bool = False) -> list[str]:
    """Names starting with one underscore that a module's ``source`` takes from another module of the package
    (``in_exercises``: an exercise module, whose private siblings are its own package's)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("cmlesson")):
            module = node.module or ""
            same_package = node.level == 1 and in_exercises
            parts = module.split(".") + [a.name for a in node.names]
            found += [f"{module}:{p}" for p in parts if re.match(r"_[A-Za-z]", p) and not same_package]
        elif isinstance(node, ast.Attribute) and re.match(r"_[A-Za-z]", node.attr):
            value = node.value
            if isinstance(value, ast.Name) and value.id not in {"self", "cls", "torch", "os", "sys", "np", "nn"}:
                found.append(f"{value.id}.{node.attr}")
    return found


def test_no_module_imports_another_modules_private_name():
    offenders = {str(p.relative_to(ROOT)): names for p in _modules()
                 if (names := _private_imports(p.read_text(encoding="utf-8"), p.parent.name == "exercises"))}
    assert not offenders, offenders


def test_the_private_name_finder_finds_one():
    """The test above can fail: a module taking ``training._fit`` is caught, an exercise's own ``._kernel`` is not."""
    source = "from ..training import _fit\nfrom .. import training\ntraining._pool(1, 2)\nfrom ._kernel import x\n"
    assert set(_private_imports(source)) == {"training:_fit", "training._pool", "_kernel:_kernel"}
    assert set(_private_imports(source, in_exercises=True)) == {"training:_fit", "training._pool"}


def test_no_literal_noise_default_outside_config():
    """rho and sigma_max defaults live in config.NoiseConfig only (a literal 7.0 or 80.0 default elsewhere drifts)."""
    pattern = re.compile(r"\b(rho|sigma_max|sigma_min|sigma_data)\s*:\s*float\s*=\s*[0-9]")
    offenders = [f"{p.relative_to(ROOT)}:{i}" for p in _modules() if p.name != "config.py"
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert not offenders, offenders
