"""Where the grader's kernels run: a minimal environment always, and with ``bwrap`` a sandbox of their own.

``none``: the kernel runs as the grader's user, in its own session, with a minimal environment (HOME is its work
folder), under resource limits; after the notebook its whole process group, and every process that still carries
the run's marker in its environment, is killed. It can still read and write whatever the grader's user can.

``bwrap`` (bubblewrap, no setuid, no daemon): the kernel sees read-only ``/usr``, ``/etc``, the Python installation
and the cmlesson package, a private ``/tmp`` and its own work folder; nothing else of the machine (not the
instructor's home, not the submissions). It has no network, its own PID namespace (every process it starts dies
with it), and when the grader is root it runs under an unprivileged uid of its own, so that the process limit binds.
The grader talks to it over ZeroMQ's ``ipc://`` sockets in the work folder: TCP does not cross network namespaces.

``auto`` is ``bwrap`` if a probe of it succeeds, else an error that says why (never a silent fallback).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

MODES = ("auto", "bwrap", "none")
UID_BASE = 2_000_000_000  # the sandboxed kernels' uids when the grader is root: far above any login or container
#                           range (systemd allots containers up to 1879048191), one per kernel running at a time
UID_SLOTS = 4096
UID_LOCKS = Path("/tmp")  # where the uid slots' lock files live: one folder for every grader on this machine
MARKER = "CMLESSON_GRADE_RUN"  # set in every kernel's environment: how --sandbox none finds a run's leftovers
PACKAGE = Path(__file__).resolve().parents[1]  # the whole cmlesson package: the kernel imports it
REAP_WAIT_S = 5.0  # how long killed sandbox processes may take to die
MAX_SOCKET_PATH = 100  # a Unix socket's path (sun_path) holds about 107 bytes; ZeroMQ appends "-<port>"


class SandboxError(RuntimeError):
    """``--sandbox bwrap`` (or auto) cannot run on this machine; the message says why and what to do."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one kernel (setrlimit through ``prlimit``; they apply under ``none`` too)."""

    memory_bytes: int = 8 << 30  # address space: torch's kernel takes ~1 GB at 2 threads; the course's notebooks
    #                              peak well under 3 GB; a memory bomb gets a MemoryError instead of the machine
    file_bytes: int = 256 << 20  # largest file it may write: a course notebook saves checkpoints of a few MB
    processes: int = 256  # its own processes and threads (uid-wide, so it binds only under a uid of its own)

    def __post_init__(self) -> None:
        for name in ("memory_bytes", "file_bytes", "processes"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"Limits.{name} must be a positive integer, got {getattr(self, name)!r}")


def kernel_env(work: Path, threads: int, run_id: str) -> dict[str, str]:
    """The kernel's whole environment: a PATH, the locale, HOME and TMPDIR in its work folder, the thread counts
    (threads shared fairly between parallel kernels), no progress bars, and the run's marker. Nothing else of the
    grader's environment (no tokens, no instructor paths)."""
    t = str(max(1, threads))
    return {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "HOME": str(work), "TMPDIR": str(work), "OMP_NUM_THREADS": t, "MKL_NUM_THREADS": t, "MALLOC_ARENA_MAX": "2",
            "TQDM_DISABLE": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1", "PYTHONNOUSERSITE": "1", MARKER: run_id}


def limits_prefix(limits: Limits, uid: int | None) -> list[str]:
    """``prlimit`` with the kernel's limits. A process limit counts all of the uid's tasks: under a uid of the
    grader's own (not root), the tasks it already runs are added to the allowance."""
    processes = limits.processes + (_tasks_of(os.getuid()) if uid is None and os.getuid() != 0 else 0)
    return [_which("prlimit"), f"--as={limits.memory_bytes}", f"--fsize={limits.file_bytes}", f"--nproc={processes}", "--"]


def _tasks_of(uid: int) -> int:
    """How many tasks (threads) processes of ``uid`` run now."""
    n = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                n += int(fields["Threads"])
    return n


def _which(tool: str) -> str:
    path = shutil.which(tool, path="/usr/bin:/bin:/usr/local/bin:" + os.environ.get("PATH", ""))
    if path is None:
        package = "bubblewrap" if tool == "bwrap" else "util-linux"
        raise SandboxError(f"{tool} is not installed (Debian: apt-get install {package})")
    return path


def _read_only_paths() -> list[Path]:
    """What the kernel needs to read besides /usr and /etc: the virtual environment, the Python installation it
    was made from (a venv's python may link into a pyenv tree) and the cmlesson package (an editable install
    lives outside site-packages: only the package, never the course folder around it with its solutions)."""
    found = [Path(sys.prefix), Path(sys.base_prefix), Path(os.path.realpath(sys.executable)).parent.parent, PACKAGE]
    keep: list[Path] = []
    for p in sorted({q.resolve() for q in found}, key=lambda q: len(q.parts)):
        if not any(p.is_relative_to(k) for k in (*keep, Path("/usr"), Path("/etc"))):
            keep.append(p)
    return keep


def _parents(paths: list[Path]) -> list[str]:
    """``--dir`` for every folder above the bound paths, world-traversable (bwrap makes them 0700 by default);
    not /usr, /etc and /tmp, which the sandbox has already."""
    made: list[Path] = []
    for p in paths:
        made += [q for q in reversed(p.parents) if q not in made and not any(q.is_relative_to(s) for s in ("/usr", "/etc"))
                 and str(q) not in ("/", "/tmp")]
    return [arg for q in made for arg in ("--perms", "0755", "--dir", str(q))]


def bwrap_prefix(work: Path, env: dict[str, str], uid: int | None, limits: Limits) -> list[str]:
    """The command that runs a kernel inside bubblewrap (what follows it is the kernel's own command line)."""
    ro = _read_only_paths()
    binds = ["--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
             "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin", "--ro-bind", "/etc", "/etc",
             # the private /tmp first: a venv or checkout under /tmp (a CI clone) is bound on top of it, not hidden
             "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/dev/shm", "--tmpfs", "/tmp",
             *_parents([*ro]), *[a for p in ro for a in ("--ro-bind", str(p), str(p))],
             *_parents([work]), "--bind", str(work), str(work), "--chdir", str(work)]
    # As root: no user namespace (a root-mapped one would exempt the kernel from the process limit); setpriv
    # then drops to the kernel's own uid. Otherwise bwrap maps the grader's uid into a user namespace.
    namespaces = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if uid is None:
        namespaces.insert(0, "--unshare-user")
    setenv = [a for k, v in env.items() for a in ("--setenv", k, v)]
    drop = ([_which("setpriv"), f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs", "--"]
            if uid is not None else [])
    return [_which("bwrap"), *binds, *namespaces, "--die-with-parent", "--new-session", "--clearenv", *setenv, "--",
            *drop, *limits_prefix(limits, uid)]


@contextlib.contextmanager
def kernel_uid(mode: str) -> Iterator[int | None]:
    """A uid of its own for one sandboxed kernel when the grader is root (None otherwise): the first free slot
    of ``UID_BASE + n``, held by a lock file so that parallel graders on one machine never share one."""
    if mode != "bwrap" or os.getuid() != 0:
        yield None
        return
    for n in range(UID_SLOTS):
        fd = os.open(UID_LOCKS / f"cmlesson-sandbox-uid-{n}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield UID_BASE + n
        finally:
            os.close(fd)  # closing releases the lock
        return
    raise SandboxError(f"all {UID_SLOTS} sandbox uids are in use")


def prepare_work(work: Path, uid: int | None) -> None:
    """Give the kernel's uid its work folder (and nothing above it: the folders there stay the grader's)."""
    if uid is not None:
        os.chown(work, uid, uid)
        work.chmod(0o700)
        work.parent.chmod(0o711)  # traversable, not listable: the grader's files beside work stay unseen


def probe() -> str | None:
    """None if a kernel can run under bwrap here; otherwise why not, in words an instructor can act on."""
    try:
        bwrap = _which("bwrap")
        with tempfile.TemporaryDirectory(prefix="cmlesson-probe-") as tmp, kernel_uid("bwrap") as uid:
            work = Path(tmp) / "work"
            work.mkdir()
            prepare_work(work, uid)
            cmd = [*bwrap_prefix(work, kernel_env(work, 1, "probe"), uid, Limits()), sys.executable, "-c", "import zmq"]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except SandboxError as err:
        return str(err)
    except (OSError, subprocess.SubprocessError) as err:
        return f"could not run {bwrap if 'bwrap' in locals() else 'bwrap'}: {type(err).__name__}: {err}"
    if done.returncode == 0:
        return None
    why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1][:300]
    hint = ""
    if "Permission denied" in why or "Operation not permitted" in why:
        hint = (" (unprivileged user namespaces are off: Ubuntu 24.04 restricts them with AppArmor, "
                "kernel.apparmor_restrict_unprivileged_userns=1; inside Docker they need --security-opt seccomp=unconfined "
                "or running the grader as root)")
    return f"bwrap cannot start a kernel here: {why}{hint}"


def resolve(mode: str) -> str:
    """``auto`` -> ``bwrap`` when the probe succeeds; ``bwrap`` checked the same way. Raises SandboxError."""
    if mode not in MODES:
        raise ValueError(f"sandbox must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "none":
        return mode
    why = probe()
    if why is not None:
        raise SandboxError(f"{why}. Install bubblewrap, or grade without isolation with --sandbox none "
                                 "(student code then runs with your permissions).")
    return "bwrap"


# ipykernel, with pyzmq's garbage-collector thread started first: pyzmq starts it at the first large message, and
# a kernel whose fork bomb holds every process it may have then fails half-way through sending (its messages'
# signatures break, the grader loses the kernel) even after the grader has killed the bomb.
KERNEL_MAIN = "import zmq.utils.garbage; zmq.utils.garbage.gc.start(); import ipykernel.kernelapp as k; k.launch_new_instance()"


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager for one graded notebook: its connection file and ``ipc://`` sockets in the work folder,
    its command line behind ``prefix`` (bwrap or prlimit), and after the notebook its process group killed.
    Interrupt it by an ``interrupt_request`` on the client's control channel, never by a signal: under bwrap
    the signal would reach bwrap, not the kernel."""

    def __init__(self, work: Path, prefix: list[str], uid: int | None, **kw):
        ip = str(work / "k")
        if len(ip) + 8 > MAX_SOCKET_PATH:
            raise ValueError(f"the work folder {work} is too long for a Unix socket path: set TMPDIR to a shorter folder")
        super().__init__(transport="ipc", ip=ip, connection_file=str(work / "kernel.json"), **kw)
        self.prefix, self.uid, self.pgid = prefix, uid, None

    def write_connection_file(self, **kwargs) -> None:
        super().write_connection_file(**kwargs)
        if self.uid is not None:  # written 0600 by the grader: the kernel's uid must read it
            os.chown(self.connection_file, self.uid, self.uid)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        return [*self.prefix, sys.executable, "-c", KERNEL_MAIN, "-f", self.connection_file, *(extra_arguments or [])]

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        await super()._async_launch_kernel(kernel_cmd, **kw)
        self.pgid = getattr(self.provisioner, "pgid", None)

    def stop_others(self) -> int:
        """Under bwrap: SIGKILL every process of the kernel's PID namespace but the kernel (PID 2 there) and
        bwrap's init (PID 1), so that a fork bomb's children or a daemon are gone before the grader's cell runs.
        How many were killed (0 when not sandboxed)."""
        init = [p for p in _pids() if _status(p).get("PPid") == str(self.pgid)] if self.pgid else []
        if not init or "--unshare-pid" not in self.prefix:
            return 0
        with contextlib.suppress(OSError):
            ns = os.readlink(f"/proc/{init[0]}/ns/pid")
            killed = []
            for pid in _pids():
                with contextlib.suppress(OSError):
                    inner = _status(pid).get("NSpid", "").split()[-1:]
                    if os.readlink(f"/proc/{pid}/ns/pid") == ns and inner not in (["1"], ["2"]):
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
            deadline = time.monotonic() + REAP_WAIT_S  # until they are dead (reaping is the grader's cell's job)
            while any(_status(pid).get("State", "Z")[:1] != "Z" for pid in killed) and time.monotonic() < deadline:
                time.sleep(0.02)
            return len(killed)
        return 0

    def kill_group(self) -> None:
        """SIGKILL the kernel's process group (the kernel and what it started without a session of its own)."""
        if self.pgid:
            with contextlib.suppress(OSError):
                os.killpg(self.pgid, signal.SIGKILL)


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _status(pid: int) -> dict[str, str]:
    """/proc/PID/status as {field: value}; empty if the process is gone."""
    try:
        return {k: v.strip() for k, v in (line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                                          if ":" in line)}
    except OSError:
        return {}


def kill_marked(run_id: str) -> int:
    """SIGKILL every process whose environment carries ``MARKER=run_id`` (a run's daemons under ``none``); how many."""
    needle = f"{MARKER}={run_id}".encode() + b"\0"
    killed = 0
    for environ in Path("/proc").glob("[0-9]*/environ"):
        with contextlib.suppress(OSError, ValueError):
            if needle in environ.read_bytes() + b"\0":
                os.kill(int(environ.parent.name), signal.SIGKILL)
                killed += 1
    return killed
