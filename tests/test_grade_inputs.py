"""What the grader reads: only regular files of SUBMISSIONS, and no note quotes a file (issue 28, part 5).

A symbolic link (to a file outside, to a classmate's file, to a folder), a folder, a FIFO or a device inside the
submissions folder is refused by its kind, never followed; nothing of its target appears in any output format.
No kernel starts here: every file of these folders is invalid.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from pathlib import Path

import nbformat
import pytest
from grading_fixtures import corpus as C

from cmlesson.__main__ import parser
from cmlesson.grading import grade

SECRET = "root:x:0:0:SECRET-OUTSIDE:/root:/bin/bash"  # what /etc/passwd would show
CLASSMATE = "SECRET-BOB-ANSWER"  # words only the classmate's file holds


def _grade(folder: Path, out: Path, fmt: str) -> str:
    args = parser().parse_args(["grade", str(folder), "--out", str(out), "--timeout", "10", "--jobs", "1",
                                "--sandbox", "none", "--format", fmt])
    assert grade.main(args) == 0
    return out.read_text(encoding="utf-8")


@pytest.fixture
def linked_folder(tmp_path) -> Path:
    """A class folder whose entries link outside, to a classmate's file and to folders; the classmate's own file is
    not a notebook (so no kernel starts) and holds words that must not leak."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text(SECRET + "\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n")
    nbformat.write(C.notebook(C.CORRECT["w1"] + f"# {SECRET}\n"), outside / "good.ipynb")  # a valid notebook, outside
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "bob.ipynb").write_text(f"{CLASSMATE} is my answer, not JSON\n")
    (subs / "ann_passwd.ipynb").symlink_to(outside / "passwd")
    (subs / "cat_copies_bob.ipynb").symlink_to(subs / "bob.ipynb")
    (subs / "dan_relative.ipynb").symlink_to("bob.ipynb")
    (subs / "eve_notebook_outside.ipynb").symlink_to(outside / "good.ipynb")
    (subs / "fay_folder").symlink_to(outside, target_is_directory=True)
    (subs / "gus_dangling.ipynb").symlink_to(outside / "nothing-here")
    (subs / "hal_folder").mkdir()
    (subs / "hal_folder" / "work.ipynb").write_text(SECRET)
    os.mkfifo(subs / "ivy_fifo.ipynb")
    return subs


EXPECTED_KIND = {"ann_passwd.ipynb": "a symbolic link", "cat_copies_bob.ipynb": "a symbolic link",
                 "dan_relative.ipynb": "a symbolic link", "eve_notebook_outside.ipynb": "a symbolic link",
                 "fay_folder": "a symbolic link", "gus_dangling.ipynb": "a symbolic link", "hal_folder": "a folder",
                 "ivy_fifo.ipynb": "a FIFO (named pipe)"}


def test_every_entry_that_is_not_a_regular_file_is_refused_by_its_kind(linked_folder):
    names = [p.name for p in grade.find_submissions(linked_folder)]
    assert names == sorted(["bob.ipynb", *EXPECTED_KIND])  # links, folders and the FIFO get rows too
    for name, kind in EXPECTED_KIND.items():
        sub = grade.load_submission(linked_folder / name)
        assert sub.nb is None and sub.exercises == [], name
        assert sub.problem == f"{kind}, not a regular file: not read (hand in the notebook file itself)", name
    bob = grade.load_submission(linked_folder / "bob.ipynb")
    assert bob.problem == "not a notebook: the file is not JSON"


@pytest.mark.parametrize("fmt", ["csv", "gradescope", "prairielearn"])
def test_nothing_of_a_link_target_appears_in_any_format(linked_folder, tmp_path, fmt):
    text = _grade(linked_folder, tmp_path / f"out.{fmt}", fmt)
    for words in (SECRET, "SECRET", "daemon", CLASSMATE, str(tmp_path / "outside"), "nothing-here", "good.ipynb"):
        assert words not in text, (fmt, words)
    if fmt == "csv":
        rows = {r["file"]: r for r in csv.DictReader(io.StringIO(text))}
        for name, kind in EXPECTED_KIND.items():
            assert (rows[name]["status"], rows[name]["total"], rows[name]["max_total"]) == ("invalid", "0", "0")
            assert rows[name]["note"].startswith(f"{kind}, not a regular file"), rows[name]
        assert rows["bob.ipynb"]["note"] == "not a notebook: the file is not JSON"
    elif fmt == "gradescope":
        out = json.loads(text)
        assert out["score"] == 0 and out["tests"] == []
        assert "ann_passwd.ipynb: invalid, 0/0; a symbolic link, not a regular file" in out["output"]
    else:
        out = json.loads(text)
        assert out["gradable"] is False
        assert "hal_folder: invalid, 0/0; a folder, not a regular file" in out["message"]


def test_a_device_is_refused_without_being_opened(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    try:
        os.mknod(subs / "zero.ipynb", stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero: a read would never end
    except PermissionError:
        pytest.skip("creating a device node needs root")
    sub = grade.load_submission(subs / "zero.ipynb")
    assert sub.problem == "a character device, not a regular file: not read (hand in the notebook file itself)"


def test_a_link_swapped_in_after_the_first_look_is_not_followed(tmp_path, monkeypatch):
    """The race: lstat saw a regular file, then the file became a link before it was opened; O_NOFOLLOW refuses it."""
    target = tmp_path / "secret.txt"
    target.write_text(SECRET)
    link = tmp_path / "swapped.ipynb"
    link.symlink_to(target)
    regular = os.stat_result((stat.S_IFREG | 0o644, *os.lstat(link)[1:]))
    monkeypatch.setattr(grade.os, "lstat", lambda path: regular)
    sub = grade.load_submission(link)
    assert sub.problem == "a symbolic link, not a regular file: not read (hand in the notebook file itself)"


@pytest.mark.parametrize("content, words", [
    (SECRET.encode() + b"\n", "not a notebook: the file is not JSON"),
    (b"[\"" + SECRET.encode() + b"\"]", "not a notebook: JSON, but not in the notebook format (AttributeError)"),
    (json.dumps({"nbformat": SECRET, "cells": []}).encode(), "not a notebook: JSON of an nbformat version the grader "
                                                             "cannot read"),
    (json.dumps({"nbformat": 4, SECRET: 1}).encode(), "not a notebook: JSON, but not in the notebook format "
                                                      "(ValidationError)"),
    (json.dumps({"nbformat": 3, "worksheets": SECRET}).encode(), "not a notebook: JSON, but not in the notebook format"),
])
def test_no_note_quotes_the_file(content, words):
    sub = grade.parse_submission("x.ipynb", content)
    assert sub.problem.startswith(words) and "SECRET" not in sub.problem, sub.problem
