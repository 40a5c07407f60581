"""`make lab`, the course's main command, opens the course: the real target, as the user running the tests (root here)."""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
URL = re.compile(r"(http://(?:127\.0\.0\.1|localhost):(\d+)/lab\?token=([0-9a-f]+))")
ROOT_LINE = "make lab: running as root"
START_TIMEOUT_S = 120  # JupyterLab answers after about 4 s here; generous for a loaded CI machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_until_url(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """Everything `make lab` printed up to its first URL with a token, and that URL."""
    seen, sel = "", selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not sel.select(timeout=1.0):
            if proc.poll() is not None:
                break
            continue
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen += line
        match = URL.search(line)
        if match:
            return seen, match.group(1)
    raise AssertionError(f"`make lab` printed no URL with a token (exit code {proc.poll()}):\n{seen[-3000:]}")


def _get_json(url: str, timeout: float):
    """GET ``url`` as JSON, retrying while the connection is refused (the URL is printed just before the server listens)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return json.load(response)
        except urllib.error.URLError as e:
            if isinstance(e, urllib.error.HTTPError) or not isinstance(e.reason, ConnectionRefusedError) \
                    or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_lab_serves_the_notebooks_with_a_token(tmp_path):
    """`make lab` (not a server of the test's own) starts, prints its URL and token, and lists the course's notebooks."""
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data")}  # no user configuration (a token or a port set there) counts
    # -o: take .venv as built (make test has just built it; a stamp older than pyproject.toml would reinstall it here)
    cmd = ["make", "--no-print-directory", "-o", ".venv/.installed", "lab", f"PORT={port}", "LAB_ARGS=--no-browser"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        printed, url = _read_until_url(proc, START_TIMEOUT_S)
        assert f":{port}/" in url
        assert (ROOT_LINE in printed) == (os.geteuid() == 0), printed
        assert "Running as root is not recommended" not in printed
        token = URL.search(url).group(3)
        listing = _get_json(f"http://127.0.0.1:{port}/api/contents?token={token}", START_TIMEOUT_S)
        names = {item["name"] for item in listing["content"]}
        expected = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
        assert expected and expected <= names, names
        with pytest.raises(urllib.error.HTTPError, match="403"):  # the token is what lets a client in
            _get_json(f"http://127.0.0.1:{port}/api/contents", START_TIMEOUT_S)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
