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


def _status(url: str) -> int:
    """The HTTP status of a GET of ``url``, redirects not followed."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None
    try:
        with urllib.request.build_opener(NoRedirect).open(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def _page_config(base: str, token: str) -> dict:
    """The page configuration JupyterLab serves with its page (the disabled extensions among it)."""
    with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=30) as response:
        html = response.read().decode()
    return json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', html,
                                re.S).group(1))


class _Lab:
    """`make <target>` running JupyterLab on a free port, with no user configuration of the test machine."""

    def __init__(self, target: str, tmp_path: Path):
        self.port = _free_port()
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
               "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_DATA_DIR": str(tmp_path / "data")}
        env.pop("JUPYTER_CONFIG_PATH", None)  # no user configuration (a token or a port set there) counts
        # -o: take .venv as built (make test has just built it; a stamp older than pyproject.toml would reinstall it)
        cmd = ["make", "--no-print-directory", "-o", ".venv/.installed", target, f"PORT={self.port}",
               "LAB_ARGS=--no-browser"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)

    def __enter__(self):
        self.printed, self.url = _read_until_url(self.proc, START_TIMEOUT_S)
        self.token = URL.search(self.url).group(3)
        self.base = f"http://127.0.0.1:{self.port}"
        _get_json(f"{self.base}/api/contents?token={self.token}", START_TIMEOUT_S)  # listening
        return self

    def __exit__(self, *exc):
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_lab_serves_the_notebooks_with_a_token(tmp_path):
    """`make lab` (not a server of the test's own) starts, prints its URL and token, and lists the course's notebooks;
    the students' Lab shows nothing of nbgrader (no menu, no formgrader), which `make lab-instructor` has."""
    with _Lab("lab", tmp_path / "students") as lab:
        assert f":{lab.port}/" in lab.url
        assert (ROOT_LINE in lab.printed) == (os.geteuid() == 0), lab.printed
        assert "Running as root is not recommended" not in lab.printed
        listing = _get_json(f"{lab.base}/api/contents?token={lab.token}", START_TIMEOUT_S)
        names = {item["name"] for item in listing["content"]}
        expected = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
        assert expected and expected <= names, names
        with pytest.raises(urllib.error.HTTPError, match="403"):  # the token is what lets a client in
            _get_json(f"{lab.base}/api/contents", START_TIMEOUT_S)
        assert "@jupyter/nbgrader" in _page_config(lab.base, lab.token)["disabledExtensions"]
        assert _status(f"{lab.base}/formgrader?token={lab.token}") == 404
    with _Lab("lab-instructor", tmp_path / "instructors") as lab:
        assert "@jupyter/nbgrader" not in _page_config(lab.base, lab.token)["disabledExtensions"]
        assert _status(f"{lab.base}/formgrader?token={lab.token}") != 404
        names = {item["name"] for item in _get_json(f"{lab.base}/api/contents?token={lab.token}", 30)["content"]}
        assert {"solutions", "notebooks"} <= names, names
