"""Helpers for the browser test: a throw-away JupyterLab server and a headless Chromium driven by Playwright.

Facts this relies on are in the team's notes on JupyterLab + headless Chromium: Debian's ``chromium``
(Playwright cannot download its own browser here), JupyterLab started with a token on 127.0.0.1, the
kernel status "Idle" in the status bar, Run > Run All Cells, and ipywidgets sliders moved with the keyboard.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "build" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
DEMO = "widgets_demo.ipynb"
COURSE = "01_consistency_property.ipynb"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_notebook() -> nbformat.NotebookNode:
    """A notebook with the four explorers, one per cell, as the course notebooks show them."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# The four explorers (browser test)"),
        nbformat.v4.new_code_cell("from cmlesson import widgets"),
        nbformat.v4.new_code_cell("widgets.schedule_explorer()"),
        nbformat.v4.new_code_cell("widgets.step_explorer()"),
        nbformat.v4.new_code_cell("widgets.trajectory_explorer()"),
        nbformat.v4.new_code_cell("widgets.digit_explorer()"),
    ]
    return nb


def course_notebook_with_trajectory_explorer() -> Path | None:
    """notebooks/01_consistency_property.ipynb if it exists and shows the trajectory explorer."""
    path = REPO / "notebooks" / COURSE
    if not path.exists():
        return None
    nb = nbformat.read(path, as_version=4)
    return path if any("trajectory_explorer(" in c.source for c in nb.cells if c.cell_type == "code") else None


def make_course_folder(root: Path) -> Path:
    """A temporary copy of notebooks/ plus the demo notebook, and settings that keep JupyterLab quiet."""
    course = root / "course"
    if (REPO / "notebooks").is_dir():
        shutil.copytree(REPO / "notebooks", course, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    course.mkdir(exist_ok=True)
    nbformat.write(demo_notebook(), course / DEMO)
    settings = root / "lab-settings"
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
    # Render every cell (no windowing), so each widget is in the DOM whatever the scroll position.
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"}))
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return course


@dataclass
class Lab:
    url: str
    token: str
    process: subprocess.Popen
    log: Path

    def api(self, path: str, method: str = "GET") -> object:
        req = urllib.request.Request(f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@contextlib.contextmanager
def jupyterlab(course: Path, root: Path, timeout: float = 120.0) -> Iterator[Lab]:
    """Start JupyterLab from this Python's environment on 127.0.0.1 with a random token; always stop it."""
    port, token = free_port(), secrets.token_hex(16)
    jupyter = Path(sys.executable).parent / "jupyter"
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", JUPYTERLAB_SETTINGS_DIR=str(root / "lab-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(root / "lab-workspaces"), JUPYTER_RUNTIME_DIR=str(root / "runtime"),
               JUPYTER_CONFIG_DIR=str(root / "config"))
    cmd = [str(jupyter), "lab", "--no-browser", "--ip", "127.0.0.1", "--port", str(port), "--allow-root",
           f"--ServerApp.token={token}", "--LabApp.news_url=None", f"--ServerApp.root_dir={course}",
           "--ServerApp.port_retries=0"]
    log = root / "jupyterlab.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=course, start_new_session=True)
    lab = Lab(f"http://127.0.0.1:{port}", token, proc, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {proc.returncode}:\n{lab.log_tail()}")
            try:
                lab.api("/api/status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s:\n{lab.log_tail()}") from None
                time.sleep(0.5)
        yield lab
    finally:
        _stop(lab)


def _stop(lab: Lab) -> None:
    """Shut the kernels down through the API, then the server; kill what is left of its process group."""
    if lab.process.poll() is None:
        with contextlib.suppress(Exception):
            for kernel in lab.api("/api/kernels"):
                lab.api(f"/api/kernels/{kernel['id']}", method="DELETE")
        lab.process.send_signal(signal.SIGTERM)
        try:
            lab.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            lab.process.kill()
            lab.process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(lab.process.pid, signal.SIGKILL)  # kernels left behind by this server (its own session)


# ------------------------------------------------------------------------------------------ page helpers

PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in front (another one may be open behind it)
EXPLORERS = f"{PANEL} .cmlesson-explorer"
FIGURE = "img.cmlesson-figure"


def open_notebook(page, lab: Lab, name: str) -> None:
    page.goto(f"{lab.url}/lab/tree/{name}?token={lab.token}&reset", wait_until="domcontentloaded")
    page.locator(".jp-Notebook").first.wait_for(timeout=120_000)
    wait_idle(page, timeout=120_000)


def wait_idle(page, timeout: float = 120_000) -> None:
    """Wait until the status bar reports the kernel idle (it says 'Busy' while cells run)."""
    page.locator("#jp-main-statusbar").get_by_text(re.compile(r"\|\s*Idle")).wait_for(timeout=timeout)


def run_all_cells(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def wait_for_explorers(page, count: int, timeout: float) -> None:
    """Wait until ``count`` explorers show a loaded figure; on timeout, say what the notebook shows instead."""
    try:
        page.wait_for_function(
            """([sel, n]) => {
                const imgs = [...document.querySelectorAll(sel)];
                return imgs.length >= n && imgs.every(i => i.complete && i.naturalWidth > 0);
            }""",
            arg=[f"{EXPLORERS} {FIGURE}", count], timeout=timeout)
    except Exception as err:
        raise AssertionError(f"{count} explorer(s) did not render within {timeout / 1000:.0f} s "
                             f"(is the JupyterLab widgets extension active?). {describe_outputs(page)}") from err


def describe_outputs(page) -> str:
    """Error outputs and unrendered widget reprs in the open notebook, for a failure message."""
    texts = page.locator(f"{PANEL} .jp-OutputArea-output").all_inner_texts()
    errors = [t for t in texts if "Traceback" in t or "Error" in t]
    reprs = [t for t in texts if "interactive widget" in t]
    parts = []
    if errors:
        parts.append("Errors in the notebook: " + " | ".join(e[-600:] for e in errors))
    if reprs:
        parts.append("Widgets shown as text only (no widget manager): " + " | ".join(reprs))
    return " ".join(parts) or f"{len(texts)} outputs, none with an error."


def tracebacks(page) -> list[str]:
    outputs = page.locator(f"{PANEL} .jp-OutputArea-output").all_inner_texts()
    return [t for t in outputs if "Traceback (most recent call last)" in t]


def explorer_by_title(page, title: str):
    return page.locator(EXPLORERS).filter(has_text=title).first


def move_slider(page, explorer, nth: int = 0, key: str = "PageUp") -> float:
    """Focus the explorer's ``nth`` slider handle and press ``key`` once (PageUp: five steps right), which sends
    one change to the kernel; wait for the new figure. Returns the milliseconds from the key press until the
    new figure is in the page (kernel redraw plus the browser's round trip)."""
    img = explorer.locator(FIGURE)
    before = img.get_attribute("src")
    readout = explorer.locator(".widget-readout").nth(nth)
    old_value = readout.inner_text()
    handle = explorer.locator(".widget-slider .noUi-handle").nth(nth)
    handle.scroll_into_view_if_needed()
    handle.focus()
    start = time.perf_counter()
    handle.press(key)
    page.wait_for_function("([el, old]) => el.src !== old && el.complete && el.naturalWidth > 0",
                           arg=[img.element_handle(), before], timeout=60_000)
    ms = 1000 * (time.perf_counter() - start)
    if readout.inner_text() == old_value:
        raise AssertionError(f"the slider's readout stayed at {old_value} after pressing {key}")
    return ms


def changed_fraction(png_a: Path, png_b: Path) -> float:
    """Share of pixels that differ between two screenshots of the same size."""
    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(png_a).convert("RGB"), dtype=np.int16)
    b = np.asarray(Image.open(png_b).convert("RGB"), dtype=np.int16)
    if a.shape != b.shape:
        return 1.0
    return float((np.abs(a - b).max(axis=2) > 16).mean())
