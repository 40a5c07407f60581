"""Hostile submissions: each is a light notebook 01 (``two_step_tau`` right, nothing else) plus one attack cell.

An attack cell lets the error that stops it propagate (the row's note names it) and raises ``Escaped`` when it
got through, so the note says what a submission could do. The cells are templates: ``{subs}`` (the submissions
folder), ``{outside}`` (a folder outside every work folder), ``{port}`` (a TCP port the test listens on) and
``{marker}`` (a string in the command line of every daemon, for finding them afterwards).
"""

from __future__ import annotations

from pathlib import Path

from . import corpus as C

PRELUDE = """\
class Escaped(Exception):
    pass
"""

ATTACKS = {
    "memory_bomb": """\
chunks = []
try:
    while len(chunks) < 64:  # 16 GB at most, every page touched
        chunks.append(bytearray(256 << 20))
        chunks[-1][::4096] = b"x" * len(range(0, 256 << 20, 4096))
finally:
    n, chunks = len(chunks), None
raise Escaped(f"held {{n * 256}} MB")
""",
    "fork_bomb": """\
import os, time
children = 0
for _ in range(600):  # bounded: under --sandbox none as root nothing else would stop it
    if os.fork() == 0:
        time.sleep(300)
        os._exit(0)
    children += 1
raise Escaped(f"started {{children}} processes")
""",
    "reads_env": """\
import os
if "CMLESSON_TEST_SECRET" in os.environ:
    raise Escaped("the grader's secret is in the kernel's environment")
try:
    with open("/proc/%d/environ" % os.getppid(), "rb") as f:  # the grader's, unless the kernel is sandboxed
        env = dict(v.split(b"=", 1) for v in f.read().split(b"\\0") if b"=" in v)
except OSError:
    env = {{}}
if env.get(b"HOME", b"").decode() not in ("", os.environ["HOME"]):
    raise Escaped("read the grader's environment (HOME=" + env[b"HOME"].decode() + ")")
""",
    "copies_classmate": """\
with open("{subs}/full_marks.ipynb") as f:
    f.read()
raise Escaped("read a classmate's notebook")
""",
    "writes_outside": """\
with open("{outside}/escaped.txt", "w") as f:
    f.write("written by a submission")
raise Escaped("wrote {outside}/escaped.txt")
""",
    "network": """\
import socket
socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
raise Escaped("connected to 127.0.0.1:{port}")
""",
    "daemon": """\
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "{marker}"], start_new_session=True, env={{}},
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
""",
    "tampers_results": """\
import os, subprocess, sys
FORGE = '''
import glob, time
end = time.time() + 300
while time.time() < end:
    for path in glob.glob("results-*.json") + glob.glob("../results-*.json"):
        try:
            with open(path, "w") as f:
                f.write('{{"exercises": forged')
        except OSError:
            pass
    time.sleep(0.005)
'''
subprocess.Popen([sys.executable, "-c", FORGE, "{marker}"], start_new_session=True, env={{}}, cwd=os.getcwd(),
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
""",
}

SCORES = {"coefficients": 0, "multistep": 0, "two_step": 2}  # only two_step_tau is defined
INVALID = {"coefficients": 0, "multistep": 0, "two_step": 0}

# file -> (status, scores, words in the note): under bwrap every attack is stopped...
BWRAP = {
    "full_marks.ipynb": ("ok", {"coefficients": 1, "multistep": 1, "two_step": 2}, ""),
    "memory_bomb.ipynb": ("ok", SCORES, "cell 4 ('chunks = []') raised MemoryError"),
    "fork_bomb.ipynb": ("ok", SCORES, "cell 4 ('import os, time') raised BlockingIOError: [Errno 11]"),
    "reads_env.ipynb": ("ok", SCORES, ""),
    "copies_classmate.ipynb": ("ok", SCORES, "raised FileNotFoundError"),
    "writes_outside.ipynb": ("ok", SCORES, "raised FileNotFoundError"),
    "network.ipynb": ("ok", SCORES, "cell 4 ('import socket') raised "),
    "daemon.ipynb": ("ok", SCORES, ""),
    "tampers_results.ipynb": ("ok", SCORES, ""),
}


def none_rows(root: bool) -> dict:
    """...under none the rows still come out, and say what got through (the limits still hold; the process
    limit does not bind root)."""
    fork = ("ok", SCORES, "raised Escaped: started 600 processes" if root else "raised BlockingIOError")
    return {**BWRAP, "fork_bomb.ipynb": fork,
            "reads_env.ipynb": ("ok", SCORES, "raised Escaped: read the grader's environment (HOME="),
            "copies_classmate.ipynb": ("ok", SCORES, "raised Escaped: read a classmate's notebook"),
            "writes_outside.ipynb": ("ok", SCORES, "raised Escaped: wrote "),
            "network.ipynb": ("ok", SCORES, "raised Escaped: connected to 127.0.0.1:"),
            "tampers_results.ipynb": ("invalid", INVALID, "the grader's results file is malformed")}


def write(folder: Path, **fill: str) -> None:
    """One notebook per attack in ``folder``, beside a classmate's full-marks notebook 01."""
    C.write(folder / "full_marks.ipynb", *[C.CORRECT[e] for e in C.NOTEBOOK_01], C.CORRECT["two_step"])
    for name, attack in ATTACKS.items():
        C.write(folder / f"{name}.ipynb", C.CORRECT["two_step"], PRELUDE, attack.format(**fill), imports=False)
