"""The grader's isolation (``cmlesson.grading.sandbox``): the hostile corpus under ``--sandbox bwrap`` and ``none``, and the
sandbox's own pieces. bubblewrap is required (the Makefile installs Debian's ``bubblewrap``)."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import socket
import tempfile
from pathlib import Path

import pytest
from grading_fixtures import hostile

from cmlesson.__main__ import parser
from cmlesson.grading import grade, sandbox


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its hash."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def processes_with(text: str) -> list[int]:
    """The processes whose command line contains ``text``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            pass
    return [p for p in found if p != os.getpid()]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["bwrap", "none"])
def test_hostile_corpus_is_stopped_by_the_sandbox(tmp_path, monkeypatch, mode):
    """Each attack's exact row; then nothing in the submissions changed, nothing was written outside, no process
    is left (under none: the attacks get through, the rows say so, and a daemon that cleared its environment and
    left the session survives the grader: the test kills it)."""
    # the grader's temporary folders: this test's own, so that its kernels are told from any other (and short:
    # the kernel's sockets are in there)
    work = Path(tempfile.mkdtemp(prefix="cmh-"))
    subs, outside = tmp_path / "submissions", tmp_path / "outside"
    for folder in (subs, outside):
        folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(work))
    monkeypatch.setenv("CMLESSON_TEST_SECRET", secrets.token_hex(8))
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    marker = f"cmlesson-daemon-{secrets.token_hex(6)}"
    hostile.write(subs, subs=str(subs), outside=str(outside), port=str(server.getsockname()[1]), marker=marker)
    before, around = tree(subs), tree(tmp_path)
    try:
        rows = {r.file: r for r in grade.grade(grade.find_submissions(subs), timeout=60, jobs=2, progress=False,
                                               sandbox_mode=mode, limits=sandbox.Limits(memory_bytes=3 << 30))}
        left = processes_with(str(work)) + processes_with(marker)
    finally:
        for pid in processes_with(marker):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)
    expected = hostile.BWRAP if mode == "bwrap" else hostile.none_rows(os.getuid() == 0)
    assert sorted(rows) == sorted(expected)
    for name, (status, scores, note) in expected.items():
        row = rows[name]
        assert (row.status, {e: r.score for e, r in row.results.items()}) == (status, scores), (name, row)
        assert note in row.note and (note or row.note == ""), (name, row.note)
    assert tree(subs) == before, "the grader or a submission changed SUBMISSIONS_DIR"
    try:
        server.accept()
        connected = True
    except BlockingIOError:
        connected = False
    finally:
        server.close()
    if mode == "bwrap":
        assert tree(tmp_path) == around, "a file appeared outside the work folders"
        assert not connected
        assert left == [], "a process of a submission was left running"
    else:
        assert (outside / "escaped.txt").read_text() == "written by a submission"
        assert connected
        assert len(left) == 2, "under none, the two daemons that cleared their environment survive the grader"


# --- without kernels -------------------------------------------------------------------------------------------


def test_kernel_environment_is_minimal(monkeypatch, tmp_path):
    monkeypatch.setenv("CMLESSON_TEST_SECRET", "s3cret")
    env = sandbox.kernel_env(tmp_path, 3, "run1")
    assert "CMLESSON_TEST_SECRET" not in env and "JPY_PARENT_PID" not in env
    assert (env["HOME"], env["TMPDIR"], env["OMP_NUM_THREADS"]) == (str(tmp_path), str(tmp_path), "3")
    assert env[sandbox.MARKER] == "run1"
    assert set(env) <= {"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "MALLOC_ARENA_MAX",
                        "TQDM_DISABLE", "PYDEVD_DISABLE_FILE_VALIDATION", "PYTHONNOUSERSITE", sandbox.MARKER}


def test_bwrap_command_binds_only_what_the_kernel_needs(tmp_path):
    work = tmp_path / "work"
    cmd = sandbox.bwrap_prefix(work, {"HOME": str(work)}, 2_000_000_001, sandbox.Limits())
    binds = {cmd[i + 1]: cmd[i] for i, a in enumerate(cmd) if a in ("--ro-bind", "--bind")}
    assert binds[str(work)] == "--bind" and binds["/usr"] == "--ro-bind" and binds["/etc"] == "--ro-bind"
    assert binds[str(sandbox.PACKAGE)] == "--ro-bind" or any(sandbox.PACKAGE.is_relative_to(p) for p in binds)
    assert "/" not in binds and str(Path.home()) not in binds and str(sandbox.PACKAGE.parent) not in binds  # not the course
    for flag in ("--unshare-net", "--unshare-pid", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in cmd
    assert "--unshare-user" not in cmd  # as root: setpriv drops to the kernel's own uid instead
    assert cmd[cmd.index("--reuid=2000000001") - 1].endswith("setpriv")
    assert any(a.startswith("--nproc=256") for a in cmd) and f"--as={8 << 30}" in cmd


def test_a_venv_under_tmp_is_bound_on_top_of_the_private_tmp(tmp_path, monkeypatch):
    """bwrap mounts in order: a venv or checkout under /tmp (a CI clone) must come after --tmpfs /tmp, or the kernel
    finds no python (the failure a fresh clone in /tmp/ci showed)."""
    venv = Path("/tmp/ci/.venv")
    monkeypatch.setattr(sandbox, "_read_only_paths", lambda: [venv])
    cmd = sandbox.bwrap_prefix(tmp_path / "work", {}, 2_000_000_001, sandbox.Limits())
    tmpfs = next(i for i, a in enumerate(cmd) if a == "--tmpfs" and cmd[i + 1] == "/tmp")
    bound = next(i for i, a in enumerate(cmd) if a == "--ro-bind" and cmd[i + 1] == str(venv))
    made = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--dir"]
    assert tmpfs < bound and "/tmp/ci" in made


def test_resolve_refuses_without_bwrap_and_says_why(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda tool, path=None: None)
    for mode in ("auto", "bwrap"):
        with pytest.raises(sandbox.SandboxError, match="bwrap is not installed.*--sandbox none"):
            sandbox.resolve(mode)
    assert sandbox.resolve("none") == "none"
    with pytest.raises(ValueError, match="sandbox must be one of auto, bwrap, none, got 'docker'"):
        sandbox.resolve("docker")


def test_probe_explains_a_refused_user_namespace(monkeypatch):
    class Done:
        returncode, stderr = 1, "bwrap: setting up uid map: Permission denied\n"

    monkeypatch.setattr(sandbox.subprocess, "run", lambda *a, **k: Done())
    why = sandbox.probe()
    assert "setting up uid map: Permission denied" in why and "AppArmor" in why


def test_grade_command_refuses_without_the_sandbox(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sandbox, "probe", lambda: "bwrap cannot start a kernel here: no")
    (tmp_path / "a.ipynb").write_text("{}")
    args = parser().parse_args(["grade", str(tmp_path), "--out", str(tmp_path / "g.csv"), "--timeout", "10", "--jobs", "1"])
    assert grade.main(args) == 1
    assert "--sandbox none" in capsys.readouterr().err and not (tmp_path / "g.csv").exists()


def test_limits_are_checked():
    with pytest.raises(ValueError, match="Limits.processes must be a positive integer, got 0"):
        sandbox.Limits(processes=0)


def test_uid_slots_are_never_shared():
    if os.getuid() != 0:
        pytest.skip("kernels get uids of their own only when the grader is root")
    with sandbox.kernel_uid("bwrap") as a, sandbox.kernel_uid("bwrap") as b:
        assert a != b and min(a, b) >= sandbox.UID_BASE
    with sandbox.kernel_uid("none") as c:
        assert c is None
