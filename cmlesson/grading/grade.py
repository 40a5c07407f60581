"""``python -m cmlesson grade``: grade a folder of submitted notebooks into a CSV (one row per file).

How one submission is graded:

1. The file is read (never written: the grader works on a copy in a fresh temporary folder). A file that is
   empty, not JSON, not a notebook, or holds none of the course's exercise names gets status ``invalid``; so does
   an entry that is not a regular file (a symbolic link, a folder, a FIFO, a device), which is never followed or
   read. No note quotes a file: the reasons are the grader's own words.
2. Which of the course's notebooks with exercises it is, is read from the exercise names in its code cells; every
   exercise of those notebooks is expected (a deleted exercise cell scores 0, it does not shrink the maximum).
3. The notebook runs in its own fresh kernel (nbclient), cwd = its temporary folder, with one time limit for
   the whole notebook. A cell that raises does not stop it. Outputs are never kept, only counted.
4. A last cell, added by the grader, holds the grader's own copy of the kernel-side code: the source of
   ``cmlesson/grading/exercises/_kernel.py``, ``_fixtures.py`` and every exercise module
   (:func:`cmlesson.grading.exercises.kernel_sources`), loaded as fresh modules of a private package with a random
   name (no cmlesson import). It calls the student's functions on seeded inputs, under a watch of which of the
   package's functions run meanwhile (``_kernel.Watch``: a call into the exercise's answer scores 0), and writes
   plain JSON to a file whose random name only the grader knows.
5. The grader reads that JSON and judges it in its own process with cmlesson (each exercise module's
   ``judge``): patching cmlesson inside the kernel cannot change a grade.

Status: ``ok`` (graded; cells that raised are listed in ``note``), ``timeout`` (the time limit was hit; what
was evaluated before is kept), ``error`` (the kernel died or could not start; idem), ``invalid`` (not a
gradable notebook, or the results file was tampered with).

Beyond the rows: ``--similarity`` compares the class's code exercise by exercise (:mod:`.similarity`), ``--report``
writes the class report (:mod:`.report`), and ``--format`` picks the platform's file (:mod:`.platforms`).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import copy
import csv
import errno
import io
import json
import logging
import os
import re
import secrets
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np
import torch
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from tqdm.auto import tqdm

from ..authoring.student import write_atomic
from ..cpus import available_cpus
from . import exercises, platforms, report, sandbox, similarity
from .exercises import EXERCISE_LIMIT_S

MAX_FILE_BYTES = 50_000_000  # a course notebook with its figures is a few MB
OUTPUT_NOTE_BYTES = 1_000_000  # outputs are never kept; above this much the row notes their size
GRADER_SLACK_S = 60.0  # the grader's cell beyond its functions' limits: importing, loading the assets, writing
INTERRUPT_GRACE_S = 10.0  # how long an interrupted cell may take to stop before the kernel counts as unresponsive
SOLUTIONS = Path(__file__).resolve().parents[2] / "solutions"
QUIET = logging.getLogger("cmlesson.grading.grade.nbclient")  # nbclient logs each dead kernel; the row says it already
QUIET.setLevel(logging.CRITICAL)


@dataclass
class Submission:
    """One submitted file: its notebook (None if unreadable), the exercises it must contain, or why it is invalid."""

    path: Path
    nb: nbformat.NotebookNode | None = None
    exercises: list[str] = field(default_factory=list)
    problem: str | None = None

    @property
    def notebooks(self) -> str:
        return "+".join(sorted({exercises.EXERCISES[e].notebook for e in self.exercises}))


@dataclass
class Run:
    """What happened in the kernel: status, notes, and the grader cell's JSON (None if it never wrote any)."""

    status: str = "ok"
    notes: list[str] = field(default_factory=list)
    report: dict | None = None
    seconds: float = 0.0


@dataclass
class Row:
    """One CSV row: a file's status, notes, and each expected exercise's Result."""

    file: str
    notebook: str
    status: str
    note: str
    results: dict[str, exercises.Result]
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(r.score for r in self.results.values())

    @property
    def max_total(self) -> int:
        return sum(exercises.EXERCISES[e].points for e in self.results)


# --- reading submissions -------------------------------------------------------------------------------------


def find_submissions(folder: Path) -> list[Path]:
    """Every non-hidden entry directly in ``folder``, sorted by name: regular files, and also what is not one (a
    symbolic link, a folder, a FIFO, a device, a socket), which :func:`load_submission` refuses without reading it."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _kind(mode: int) -> str | None:
    """What a file of this ``st_mode`` is, in words, if it is not a regular file (None for a regular file)."""
    kinds = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    if stat.S_ISREG(mode):
        return None
    return next((words for test, words in kinds if test(mode)), "not a regular file")


def not_regular(kind: str) -> str:
    """The note of an entry of SUBMISSIONS that is not a regular file: its kind, never where it points or what it holds."""
    return f"{kind}, not a regular file: not read (hand in the notebook file itself)"

def exercises_in(nb: nbformat.NotebookNode) -> list[str]:
    """The exercises of every course notebook whose exercise names appear in the code cells."""
    code = "\n".join(c.get("source", "") for c in nb.get("cells", []) if c.get("cell_type") == "code")
    found = {ex.notebook for ex_id, ex in exercises.EXERCISES.items()
             if any(re.search(rf"\b{name}\b", code) for name in ex.names)}
    return [ex_id for ex_id, ex in exercises.EXERCISES.items() if ex.notebook in found]


def load_submission(path: Path) -> Submission:
    """Read and parse one file; never raises for a bad file (the reason goes in ``problem``). Only a regular file is
    read: a symbolic link (to a file outside, to a classmate's file, to a folder), a folder, a FIFO, a device or a
    socket is refused by its kind, not followed, not opened (O_NOFOLLOW and a check of the opened file guard against
    a swap between the two looks)."""
    try:
        kind = _kind(os.lstat(path).st_mode)
        if kind is not None:
            return Submission(path, problem=not_regular(kind))
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            kind = _kind(info.st_mode)
            if kind is not None:
                return Submission(path, problem=not_regular(kind))
            if info.st_size > MAX_FILE_BYTES:
                return Submission(path, problem=f"file is {info.st_size / 1e6:.0f} MB, more than {MAX_FILE_BYTES / 1e6:.0f} MB")
            data = f.read(MAX_FILE_BYTES + 1)
        return parse_submission(path.name, data)
    except OSError as err:
        if err.errno == errno.ELOOP:  # O_NOFOLLOW met a link made after the first look
            return Submission(path, problem=not_regular("a symbolic link"))
        return Submission(path, problem=f"cannot read the file: {type(err).__name__} ({os.strerror(err.errno or 0)})")


def _not_a_notebook(err: Exception) -> str:
    """The grader's own words for a file nbformat cannot read (its messages quote the file, so none of them is kept)."""
    if isinstance(err, nbformat.reader.NotJSONError):
        return "not a notebook: the file is not JSON"
    if isinstance(err, nbformat.NBFormatError):
        return "not a notebook: JSON of an nbformat version the grader cannot read"
    return f"not a notebook: JSON, but not in the notebook format ({type(err).__name__})"


def parse_submission(name: str, data: bytes) -> Submission:
    """A submission from a file's bytes (how a remote worker receives it); never raises, and no note quotes the file."""
    sub = Submission(Path(name))
    try:
        if not data:
            sub.problem = "empty file"
        elif len(data) > MAX_FILE_BYTES:
            sub.problem = f"file is more than {MAX_FILE_BYTES / 1e6:.0f} MB"
        else:
            sub.nb = nbformat.reads(data.decode("utf-8", errors="replace"), as_version=4)
            if not isinstance(sub.nb.get("cells"), list):
                raise ValueError("no list of cells")
    except Exception as err:  # nbformat raises many kinds for a file that is not a notebook
        sub.nb, sub.problem = None, _not_a_notebook(err)
    if sub.nb is not None:
        sub.exercises = exercises_in(sub.nb)
        if not sub.exercises:
            names = ", ".join(n for ex in exercises.EXERCISES.values() for n in ex.names)
            sub.problem = f"no exercise of the course found (none of {names})"
    return sub


# --- running one notebook ------------------------------------------------------------------------------------


class GradingClient(NotebookClient):
    """A NotebookClient that keeps no outputs (the grade never depends on them): it counts their size, records
    the errors cells raise and which cell is running. At the time limit it interrupts the running cell, skips the
    student's cells left, and still runs the grader's (last) cell, under a limit of its own."""

    def __init__(self, nb: nbformat.NotebookNode, limit_s: float, grader_limit_s: float, **kw):
        super().__init__(nb, timeout_func=self._remaining, on_notebook_start=self._start_clock, interrupt_on_timeout=True,
                         error_on_timeout={"ename": "TimeoutError", "evalue": "the time limit", "traceback": []},
                         iopub_timeout=INTERRUPT_GRACE_S, shutdown_kernel="immediate", **kw)
        self.limit_s, self.grader_limit_s, self.deadline = limit_s, grader_limit_s, None
        self.grader_index = len(nb.cells) - 1
        self.output_bytes = 0
        self.cell_errors: list[tuple[int, str]] = []
        self.current_cell: int | None = None
        self.timed_out: list[int] = []  # the cells interrupted at their time limit
        self.idle: set[int] = set()  # the cells after which the kernel said it was idle

    def _start_clock(self, notebook=None) -> None:
        """The time limit counts from the moment the kernel is ready (starting it is the grader's cost)."""
        self.deadline = time.monotonic() + self.limit_s

    def _remaining(self, cell) -> float:
        """Each cell may use what is left of the notebook's time limit (nbclient's own limit is per cell)."""
        return max(0.5, (self.deadline or time.monotonic() + self.limit_s) - time.monotonic())

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        self.output_bytes += _size(content)
        if msg.get("msg_type") == "error":
            self.cell_errors.append((cell_index, f"{content.get('ename', '?')}: {content.get('evalue', '')}"[:160]))
        return None

    def process_message(self, msg, cell, cell_index):
        if msg.get("msg_type") == "status" and msg.get("content", {}).get("execution_state") == "idle":
            self.idle.add(cell_index)
        return super().process_message(msg, cell, cell_index)

    def handle_comm_msg(self, outs, msg, cell_index):
        self.output_bytes += _size(msg.get("content", {}))  # widget state: not kept either

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        self.current_cell = cell_index
        if cell_index == self.grader_index:
            if self.timed_out and self.timed_out[-1] not in self.idle:
                raise CellTimeoutError(f"cell {self.timed_out[-1] + 1} did not stop when interrupted")
            if isinstance(self.km, sandbox.SandboxedKernelManager):
                self.km.stop_others()  # what the notebook left running in the sandbox (a fork bomb's children)
            self.deadline = time.monotonic() + self.grader_limit_s
        elif self.timed_out:
            return cell  # past the time limit: the student's cells left are skipped
        return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

    async def _async_handle_timeout(self, timeout, cell=None):
        """Interrupt the running cell by a message on the control channel (a signal would reach bwrap, not the
        kernel) and go on as if it had raised; whether it stopped shows in ``idle``."""
        if self.current_cell not in self.timed_out:
            self.timed_out.append(self.current_cell)
        self.kc.control_channel.send(self.kc.session.msg("interrupt_request", content={}))
        return {"content": {**self.error_on_timeout, "status": "error"}}

    async def _async_poll_kernel_alive(self) -> None:
        try:
            await super()._async_poll_kernel_alive()
        except AssertionError:  # nbclient polls once more after a dead kernel's client was cleaned up
            pass


def _size(content: dict) -> int:
    """Roughly how many bytes an output message carries (text, data, traceback)."""
    n = len(content.get("text", "") or "")
    for value in (content.get("data") or {}).values():
        n += len(value) if isinstance(value, str) else len(json.dumps(value, default=str))
    return n + sum(len(line) for line in content.get("traceback", []) or [])


GRADER_CELL = """\
def __cmlesson_grader__(student):
    import os, sys, types
    while True:  # reap the children the grader killed (a fork bomb's): until then they count against the limits
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break
    package = {package!r}
    sys.modules[package] = types.ModuleType(package)
    sys.modules[package].__path__ = []
    for name, source in {sources!r}.items():
        module = types.ModuleType(package + "." + name)
        module.__package__ = package
        sys.modules[module.__name__] = module
        exec(compile(source, "<cmlesson grader: " + name + ">", "exec"), module.__dict__)
    sys.modules[package + "._kernel"].run_grader(student, {results!r}, {assets!r}, {ids!r}, {limit!r}, {sandboxed!r},
                                                 {codes!r})
__cmlesson_grader__(globals())
"""


def grader_cell(results: Path, assets: Path | None, ids: list[str], limit_s: float = EXERCISE_LIMIT_S,
                sandboxed: bool = False) -> str:
    """The code of the cell the grader appends: load its own copy of the kernel-side modules under a private,
    random package name (code that ran before cannot have patched it), then run them on the student's names."""
    return GRADER_CELL.format(package=f"_cmlesson_grader_{secrets.token_hex(6)}", sources=exercises.kernel_sources(),
                              results=str(results), assets=str(assets) if assets else None, ids=ids,
                              limit=float(limit_s), sandboxed=sandboxed, codes=exercises.answer_codes())


@dataclass(frozen=True)
class Options:
    """How every notebook of a batch is run (sent whole to a remote worker)."""

    timeout: float  # seconds for the student's cells, counted from when the kernel is ready
    exercise_timeout: float  # seconds for each student function called by the grader's cell
    jobs: int  # kernels running at once on one machine: each gets its share of the CPUs as threads
    sandbox: str  # "bwrap" or "none", already resolved (see sandbox.resolve)
    limits: sandbox.Limits

    def grader_limit_s(self, sub: Submission) -> float:
        """The grader's cell: each of the submission's exercises its own limit, plus the cell's start."""
        return len(sub.exercises) * self.exercise_timeout + GRADER_SLACK_S


def _cell_label(nb: nbformat.NotebookNode, index: int | None) -> str:
    if index is None or index >= len(nb.cells):
        return "a cell"
    first = next((line.strip() for line in nb.cells[index].source.splitlines() if line.strip()), "")
    return f"cell {index + 1} ({first[:40]!r})"


def _dask_worker():
    """The Dask worker this runs in, or None."""
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError, AttributeError):
        return None


def _host_threads(worker) -> int:
    """The threads of every Dask worker on this worker's host (several worker processes may share one machine)."""
    try:
        from distributed import get_client

        host = worker.address.rsplit(":", 1)[0]
        workers = get_client().scheduler_info(n_workers=-1)["workers"]
        return sum(w["nthreads"] for address, w in workers.items() if address.rsplit(":", 1)[0] == host)
    except Exception:  # the scheduler cannot be asked: count this worker's own threads
        return worker.state.nthreads


def _kernel_threads(jobs: int) -> int:
    """Threads per kernel: this machine's CPUs shared between the kernels it runs at once (on a Dask worker, the
    threads of every worker on its host: each thread runs one kernel)."""
    worker = _dask_worker()
    if worker is not None:
        jobs = _host_threads(worker)
    return max(1, available_cpus() // max(1, jobs))


def run_notebook(sub: Submission, opts: Options, assets: dict[str, np.ndarray] | None) -> Run:
    """Execute a copy of the submission plus the grader's cell in a fresh kernel; never raises for the notebook's
    sake. Under ``bwrap`` the kernel's files (results included) live in its work folder, the only one it sees;
    under ``none`` the results file lies beside that folder."""
    run, start, run_id = Run(), time.monotonic(), secrets.token_hex(8)
    sandboxed = opts.sandbox == "bwrap"
    with tempfile.TemporaryDirectory(prefix="cmlesson-grade-", ignore_cleanup_errors=True) as tmp, \
            sandbox.kernel_uid(opts.sandbox) as uid:
        work = Path(tmp) / "work"
        work.mkdir()
        sandbox.prepare_work(work, uid)
        nb = copy.deepcopy(sub.nb)
        nbformat.write(nb, work / "submission.ipynb")  # the temporary copy the kernel may see
        private = work if sandboxed else Path(tmp)
        token = secrets.token_hex(8)
        results = private / f"results-{token}.json"
        assets_path, mine = None, {k: v for k, v in (assets or {}).items() if k.split("/", 1)[0] in sub.exercises}
        if mine:
            assets_path = private / f"assets-{token}.npz"
            np.savez(assets_path, **mine)
        nb.cells.append(nbformat.v4.new_code_cell(grader_cell(results, assets_path, sub.exercises, opts.exercise_timeout,
                                                              sandboxed)))
        grader_index = len(nb.cells) - 1
        env = sandbox.kernel_env(work, _kernel_threads(opts.jobs), run_id)
        prefix = sandbox.bwrap_prefix(work, env, uid, opts.limits) if sandboxed else sandbox.limits_prefix(opts.limits, None)
        km = sandbox.SandboxedKernelManager(work, prefix, uid, kernel_name="python3")
        client = GradingClient(nb, opts.timeout, opts.grader_limit_s(sub), km=km, allow_errors=True, record_timing=False,
                               startup_timeout=120, resources={"metadata": {"path": str(work)}}, log=QUIET)
        unresponsive = False
        try:
            client.execute(env=env, cleanup_kc=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except CellTimeoutError:  # an interrupted cell did not stop: nothing more can run in this kernel
            unresponsive = True
        except DeadKernelError:
            run.status = "error"
            run.notes.append(f"the kernel died in {_where(nb, client.current_cell, grader_index)} "
                             "(os._exit, a crash, or out of memory)")
        except Exception as err:  # the kernel could not start, or nbclient failed
            run.status = "error"
            run.notes.append(f"could not run the notebook: {_unreadable(err) or ''}{type(err).__name__}: {str(err)[:200]}")
        finally:
            km.kill_group()
            sandbox.kill_marked(run_id)
        for i in reversed(client.timed_out):
            run.status = "timeout" if run.status == "ok" else run.status
            limit = opts.grader_limit_s(sub) if i == grader_index else opts.timeout
            then = ("" if i == grader_index else ": it did not stop when interrupted, so nothing was evaluated"
                    if unresponsive else ": interrupted, then the exercises it had defined were evaluated")
            run.notes.insert(0, f"time limit of {limit:g} s reached in {_where(nb, i, grader_index)}{then}")
        stopped = {grader_index, *client.timed_out}  # the grader's own errors; the KeyboardInterrupt of a time limit
        run.notes += [f"{_cell_label(nb, i)} raised {text}" for i, text in client.cell_errors if i not in stopped]
        if client.output_bytes > OUTPUT_NOTE_BYTES:
            run.notes.append(f"printed {client.output_bytes / 1e6:.1f} MB of output (not kept)")
        _read_report(run, results)
    run.seconds = time.monotonic() - start
    return run


def run_safely(sub: Submission, opts: Options, assets: dict[str, np.ndarray] | None) -> Run:
    """:func:`run_notebook`, but a failure of the grader on one file (disk full, a bug) only fails that row."""
    try:
        return run_notebook(sub, opts, assets)
    except Exception as err:
        return Run("error", [f"the grader failed on this file: {type(err).__name__}: {str(err)[:200]}"])


def grade_submission(sub: Submission, opts: Options) -> Row:
    """One submission's row, its grader assets loaded here: what a local thread or a remote worker runs."""
    if sub.problem is not None:
        return invalid_row(sub)
    if _dask_worker() is not None:
        torch.set_num_threads(1)  # as `grade` does locally: the kernels need the cores, the judges are light
    assets = exercises.grader_assets(sub.exercises)
    return judge(sub, run_safely(sub, opts, exercises.kernel_arrays(assets)), assets)


def _unreadable(err: Exception) -> str | None:
    """The words for a kernel whose messages cannot be read (code that replaced the kernel's json.dumps, say):
    which of the two symptoms shows first, a message that is not JSON or two messages with the same signature,
    depends on timing, so both get the same words."""
    if isinstance(err, json.JSONDecodeError) or (isinstance(err, ValueError) and "Duplicate Signature" in str(err)):
        return "the kernel's messages are unreadable; "
    return None


def _where(nb: nbformat.NotebookNode, index: int | None, grader_index: int) -> str:
    return "the grader's cell, while it ran your functions" if index == grader_index else _cell_label(nb, index)


def _read_report(run: Run, path: Path) -> None:
    """Load the grader cell's JSON into ``run.report``; malformed JSON makes the run invalid."""
    if not path.exists():
        if run.status == "ok":
            run.status = "error"
            run.notes.append("the grader's cell did not run (did the notebook stop the kernel or delete files?)")
        return
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(report, dict) or not isinstance(report.get("exercises"), dict):
            raise ValueError("not the grader's format")
    except (ValueError, UnicodeDecodeError) as err:
        run.status = "invalid"
        run.notes.append(f"the grader's results file is malformed ({type(err).__name__}: {str(err)[:80]})")
        return
    run.report = report


# --- judging ---------------------------------------------------------------------------------------------------


def judge(sub: Submission, run: Run, assets: dict[str, object]) -> Row:
    """Turn the kernel's outputs into one Result per expected exercise, judged here with cmlesson."""
    status, notes = run.status, list(run.notes)
    report = run.report or {"exercises": {}}
    results = {}
    for ex_id in sub.exercises:
        pts = exercises.EXERCISES[ex_id].points
        outputs = report["exercises"].get(ex_id)
        if outputs is None:
            why = "not evaluated: the notebook did not finish"
            if report.get("current") == ex_id:
                why = "not evaluated: your function was running when the notebook was stopped"
            results[ex_id] = exercises.Result(0, pts, "wrong", why, why)
            continue
        if isinstance(outputs, dict) and outputs.get("tampered"):
            notes.append(f"tampering with the grader in {ex_id}: {str(outputs['tampered'])[:200]}")
        try:
            results[ex_id] = exercises.judge(ex_id, outputs, assets.get(ex_id))
        except Exception as err:  # outputs the kernel code cannot produce: tampered with
            results[ex_id] = exercises.Result(0, pts, "wrong", f"malformed results ({type(err).__name__})",
                                              "malformed results")
            if status == "ok":
                status = "invalid"
            notes.append(f"malformed results for {ex_id}")
    return Row(sub.path.name, sub.notebooks, status, "; ".join(notes), results, run.seconds)


def invalid_row(sub: Submission) -> Row:
    return Row(sub.path.name, "", "invalid", sub.problem or "", {})


# --- the batch -------------------------------------------------------------------------------------------------


def grade(files: list[Path], *, timeout: float = 300.0, jobs: int | None = None, progress: bool = True,
          sandbox_mode: str = "auto", limits: sandbox.Limits | None = None, exercise_timeout: float = EXERCISE_LIMIT_S,
          executor: cf.Executor | None = None) -> list[Row]:
    """Grade ``files`` (rows in the same order), ``jobs`` kernels at once in a local pool, or one submission per
    task on ``executor`` (a Dask cluster's). Raises SandboxError when ``sandbox_mode`` cannot be had here."""
    jobs = max(1, jobs or available_cpus())
    opts = Options(timeout, exercise_timeout, jobs, sandbox.resolve(sandbox_mode), limits or sandbox.Limits())
    subs = [load_submission(p) for p in files]
    rows: dict[int, Row] = {i: invalid_row(s) for i, s in enumerate(subs) if s.problem is not None}
    todo = [i for i, s in enumerate(subs) if s.problem is None]
    bar = tqdm(total=len(files), desc="grading", unit="nb", disable=not progress, file=sys.stderr)
    bar.update(len(rows))
    pool = executor or cf.ThreadPoolExecutor(max_workers=jobs)  # threads: each kernel is a process of its own
    try:
        futures = {pool.submit(grade_submission, subs[i], opts): i for i in todo}
        for future in cf.as_completed(futures):
            i = futures[future]
            try:
                rows[i] = future.result()
            except Exception as err:  # the worker was lost, or could not unpickle the task
                rows[i] = judge(subs[i], Run("error", [f"the grader failed on this file: {type(err).__name__}: "
                                                       f"{str(err)[:200]}"]), {})
            bar.update(1)
            bar.set_postfix_str(f"{rows[i].file}: {rows[i].status}", refresh=False)
    finally:
        if executor is None:
            pool.shutdown()
    bar.close()
    return [rows[i] for i in range(len(subs))]


def columns() -> list[str]:
    """The CSV header: file, notebook, status, note, <id>_score and <id>_reason per exercise, total, max_total."""
    per = [f"{ex}_{kind}" for ex in exercises.EXERCISES for kind in ("score", "reason")]
    return ["file", "notebook", "status", "note", *per, "total", "max_total"]


def csv_text(rows: list[Row]) -> str:
    """The CSV (blank score and reason for exercises that are not in a submission's notebooks)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns(), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        record = {"file": row.file, "notebook": row.notebook, "status": row.status, "note": row.note,
                  "total": row.total, "max_total": row.max_total}
        for ex_id, result in row.results.items():
            record[f"{ex_id}_score"], record[f"{ex_id}_reason"] = result.score, result.reason
        writer.writerow(record)
    return buf.getvalue()


def summary(rows: list[Row], seconds: float) -> str:
    """A table of every row, then counts per status and the mean per exercise."""
    nb = max([len("notebooks"), *(len(r.notebook) for r in rows)])
    lines = [f"{'file':<28} {'notebooks':<{nb}} {'status':<8} {'score':>6}  note", "-" * 100]
    for r in rows:
        score = f"{r.total}/{r.max_total}"
        lines.append(f"{r.file[:28]:<28} {r.notebook:<{nb}} {r.status:<8} {score:>6}  {r.note[:52 - nb]}")
    counts = {s: sum(r.status == s for r in rows) for s in ("ok", "timeout", "error", "invalid")}
    lines += ["-" * 100, f"{len(rows)} submissions graded in {seconds:.0f} s: "
              + ", ".join(f"{n} {s}" for s, n in counts.items() if n)]
    width = max(len(e) for e in exercises.EXERCISES)
    for ex_id, ex in exercises.EXERCISES.items():
        scores = [r.results[ex_id].score for r in rows if ex_id in r.results]
        if scores:
            lines.append(f"  {ex_id:<{width}} mean {np.mean(scores):.2f}/{ex.points} over {len(scores)} "
                         f"({sum(s == ex.points for s in scores)} full marks)")
    return "\n".join(lines)


# --- more than one machine -----------------------------------------------------------------------------------


def parse_shard(text: str) -> tuple[int, int]:
    """``--shard I/N`` as (I, N): I counts from 0, as ``$SLURM_ARRAY_TASK_ID`` and ``$JOB_COMPLETION_INDEX`` do."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or not 0 <= int(m[1]) < int(m[2]):
        raise ValueError(f"--shard {text!r}: expected I/N with N >= 1 and 0 <= I < N (I counts from 0, "
                         "like $SLURM_ARRAY_TASK_ID)")
    return int(m[1]), int(m[2])


def shard(files: list[Path], i: int, n: int) -> list[Path]:
    """Slice ``i`` of ``n`` of the sorted files: every n-th, from the i-th (neighbours in name go to different jobs)."""
    return files[i::n]


def merge_csv(texts: dict[str, str]) -> str:
    """One CSV from the CSVs of the shards ({name: text}): what one unsharded run would have written, byte for byte
    (same header, rows in the order of the file names). Raises ValueError for another header or a file graded twice."""
    header, rows, seen = columns(), [], {}
    for name, text in texts.items():
        reader = csv.reader(io.StringIO(text, newline=""))
        first = next(reader, None)
        if first != header:
            raise ValueError(f"{name}: not a grades CSV of this version of the course (its header differs)")
        for record in reader:
            if record[0] in seen:
                raise ValueError(f"{record[0]!r} is graded in both {seen[record[0]]} and {name}")
            seen[record[0]] = name
            rows.append(record)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(sorted(rows, key=lambda r: r[0]))  # find_submissions' order: by name
    return buf.getvalue()


@contextlib.contextmanager
def executor_for(spec: str) -> Iterator[cf.Executor | None]:
    """``local`` (None: :func:`grade` makes its own pool) or ``dask://HOST:PORT``: the executor of that Dask
    distributed scheduler, one submission per task (the sandbox and the time limit apply on the worker)."""
    if spec == "local":
        yield None
        return
    if not spec.startswith("dask://") or not spec[len("dask://"):]:
        raise ValueError(f"--executor {spec!r}: expected local or dask://HOST:PORT (a Dask scheduler's address)")
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("--executor dask://... needs the distributed package: pip install 'cmlesson[dask]'") from None
    client = Client("tcp://" + spec[len("dask://"):], timeout="20s")
    try:
        yield client.get_executor(pure=False)  # two equal files are still two submissions
    finally:
        client.close()


def merge_main(args) -> int:
    """``python -m cmlesson grade merge CSV... --out FILE``."""
    paths = [Path(p) for p in args.submissions[1:]]
    if not paths:
        print("error: grade merge needs the shards' CSV files", file=sys.stderr)
        return 2
    try:
        text = merge_csv({str(p): p.read_text(encoding="utf-8") for p in paths})
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    write_atomic(Path(args.out), text)
    print(f"merged {len(paths)} CSV files, {text.count(chr(10)) - 1} rows, into {args.out}")
    return 0


def class_similarity(files: list[Path], threshold: float) -> list[similarity.Pair]:
    """The similarity pairs of the class (read again: only regular files that are notebooks), against the package's
    answers and, in a checkout of the course, its solution notebooks (the student notebooks' stubs set aside)."""
    course = SOLUTIONS.parent
    return similarity.compare(similarity.load_notebooks(files), threshold,
                              solutions=SOLUTIONS if SOLUTIONS.is_dir() else None,
                              stubs=course / "notebooks" if (course / "notebooks").is_dir() else None)


def main(args) -> int:
    """Entry point of ``python -m cmlesson grade``: 0 when every file got its row, 1 when the grader failed
    (or, with --solutions, when a solution notebook does not score full marks), 2 for bad arguments."""
    submissions = list(args.submissions or [])
    if submissions[:1] == ["merge"]:
        return merge_main(args)
    if args.solutions:
        folder = SOLUTIONS
    elif len(submissions) == 1:
        folder = Path(submissions[0])
    else:
        print("error: give one SUBMISSIONS folder, or --solutions (or: grade merge CSV...)", file=sys.stderr)
        return 2
    try:
        part = parse_shard(args.shard) if args.shard else None
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if part and args.format != "csv":
        print("error: --shard writes a CSV to merge; --format gradescope and prairielearn grade one student, canvas a "
              "whole class", file=sys.stderr)
        return 2
    if part and (args.similarity or args.report):
        print("error: --similarity and --report need the whole class: run them without --shard", file=sys.stderr)
        return 2
    if not 0 < args.similarity_threshold <= 1:
        print(f"error: --similarity-threshold {args.similarity_threshold:g}: expected a share in (0, 1]", file=sys.stderr)
        return 2
    if not folder.is_dir():
        print(f"error: {folder} is not a folder", file=sys.stderr)
        return 2
    ids = None
    if args.canvas_ids:
        try:
            ids = platforms.canvas_ids(Path(args.canvas_ids).read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError) as err:
            print(f"error: --canvas-ids {args.canvas_ids}: {err}", file=sys.stderr)
            return 2
    files = find_submissions(folder)
    if args.solutions:  # the notebooks that hold exercises (06 and 07 have none)
        files = [f for f in files if f.suffix == ".ipynb" and load_submission(f).exercises]
        if not files:
            print(f"error: no notebooks in {folder}", file=sys.stderr)
            return 1
    if part:
        files = shard(files, *part)
    torch.set_num_threads(1)  # the kernels need the cores; the judges are light
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # nbclient leaves tasks behind when a kernel dies
    start = time.perf_counter()
    try:
        with executor_for(args.executor) as executor:
            rows = grade(files, timeout=args.timeout, jobs=args.jobs, sandbox_mode=args.sandbox, executor=executor)
        write_atomic(Path(args.out), platforms.text(args.format, rows, time.perf_counter() - start, csv_text,
                                                    visibility=args.gradescope_visibility,
                                                    assignment=args.canvas_assignment, ids=ids))
    except Exception as err:
        why = (f"cannot grade with --sandbox {args.sandbox}: {err}" if isinstance(err, sandbox.SandboxError)
               else f"the grader failed: {type(err).__name__}: {err}")
        print(f"error: {why}", file=sys.stderr)
        if args.format in ("gradescope", "prairielearn"):  # a platform expects its results.json whatever happened
            write_atomic(Path(args.out), platforms.failure(args.format, why))
        return 1
    print(summary(rows, time.perf_counter() - start))
    print(f"wrote {args.out}")
    if args.format == "canvas":
        unknown = platforms.canvas(rows, args.canvas_assignment, ids)[1]
        if unknown:
            print(f"warning: no Canvas student for {len(unknown)} files (keyed by their names, without an ID: map them "
                  f"with --canvas-ids): {', '.join(unknown[:10])}{' ...' if len(unknown) > 10 else ''}", file=sys.stderr)
    if args.similarity or args.report:
        pairs = class_similarity(files, args.similarity_threshold)
        print(similarity.summary(pairs, args.similarity_threshold))
        if args.similarity:
            write_atomic(Path(args.similarity), similarity.csv_text(pairs))
            print(f"wrote {args.similarity}")
        if args.report:
            write_atomic(Path(args.report), report.html_report(rows, pairs, time.perf_counter() - start,
                                                               args.similarity_threshold))
            print(f"wrote {args.report}")
    if args.solutions:
        short = [r for r in rows if r.status != "ok" or r.total != r.max_total]
        for r in short:
            print(f"solution {r.file} is not full marks: {r.status}, {r.total}/{r.max_total}; {r.note}", file=sys.stderr)
            for ex_id, res in r.results.items():
                if res.score < res.max_score:
                    print(f"  {ex_id}: {res.reason}", file=sys.stderr)
        return 1 if short else 0
    return 0
