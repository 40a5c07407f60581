"""Sphinx configuration of the course website (``make site``; ``cmlesson/authoring/site.py`` copies this folder into the
prepared source folder and adds the pages, then runs Sphinx on it).

Everything the pages load comes from this build: the theme's files, the search index and a MathJax copy shipped by
the PyPI package django-static-mathjax (no CDN). The notebooks are never executed: their stored outputs are shown.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
SITE = json.loads((HERE / "_site.json").read_text(encoding="utf-8"))  # written by cmlesson.authoring.site

project = "cmlesson"
author = "the cmlesson authors"
copyright = "the cmlesson authors, MIT license"
version = release = SITE["version"]
html_title = "Consistency models, one step at a time"

extensions = ["myst_nb", "sphinx.ext.mathjax", "sphinx.ext.githubpages"]  # githubpages: a .nojekyll file (GitHub Pages keeps _static/)
exclude_patterns = ["_build", "**.ipynb_checkpoints", "_site.json"]
master_doc = "index"

# MyST: $...$ and $$...$$ as in the notebooks; raw HTML blocks (the launch buttons) pass through.
myst_enable_extensions = ["dollarmath", "amsmath", "html_image"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header", "misc.highlighting_failure"]  # the README's ```csv block stays plain text

# The notebooks hold the outputs of a complete run (CI executes them): show them, never execute.
nb_execution_mode = "off"
nb_merge_streams = True
nb_ipywidgets_js = {}  # the widgets are static snapshots written by the builder: no widget JavaScript from a CDN

# MathJax 3, SVG output: one self-contained file (no web fonts to fetch), copied into _static/mathjax after the build.
MATHJAX_FILE = "tex-svg-full.js"
mathjax_path = f"mathjax/{MATHJAX_FILE}"
mathjax3_config = {"svg": {"fontCache": "global"}}

html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_copy_source = False  # no _sources/: the default site never ships a notebook file that could hold an answer
html_show_sourcelink = False
html_last_updated_fmt = None
html_favicon = "_static/favicon.svg"  # a browser asks for one: without it, a 404 in the console
html_context = {"default_mode": "auto"}  # the theme logs an error on a first visit without it
html_theme_options = {
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "extra_footer": SITE["footer"],
    "navigation_with_keys": False,
}


def copy_mathjax(app, exc) -> None:
    """Copy the packaged MathJax into the site's _static/mathjax (as sphinx-mathjax-offline does)."""
    if exc is not None or app.builder.format != "html":
        return
    import importlib.util

    spec = importlib.util.find_spec("mathjax")  # django-static-mathjax installs the package `mathjax`
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("MathJax not found: install website/requirements.txt (django-static-mathjax)")
    es5 = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"
    target = Path(app.outdir) / "_static" / "mathjax"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(es5 / MATHJAX_FILE, target / MATHJAX_FILE)
    shutil.copy2(es5.parent / "LICENSE", target / "LICENSE")


def setup(app) -> None:
    app.connect("build-finished", copy_mathjax)
