"""Grading a class on more than one machine: ``--shard I/N`` joined by ``grade merge``, and ``--executor dask://`` on a
real two-worker cluster (a Dask scheduler and two workers started as separate processes on 127.0.0.1). Whichever way
the grades are made, the CSV is the same, byte for byte."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from grading_fixtures import cluster
from grading_fixtures import corpus as C

from cmlesson.__main__ import parser
from cmlesson.grading import grade
from cmlesson.training import available_cpus


def build_class(folder: Path) -> None:
    """Six submissions that grade in seconds: each defines one cheap exercise (its notebook's others score 0)."""
    folder.mkdir()
    C.write(folder / "alice.ipynb", C.CORRECT["coefficients"])
    C.write(folder / "bob.ipynb", C.WRONG["coefficients"]["lesson"])
    C.write(folder / "carol.ipynb", C.STUBS["coefficients"])
    C.write(folder / "dan.ipynb", C.CORRECT["ema"])
    C.write(folder / "erin.ipynb", "1 / 0", C.CORRECT["curriculum"])
    (folder / "frank.txt").write_text("my answers are in the email")


def run_grade(*argv: str) -> int:
    return grade.main(parser().parse_args(["grade", *argv]))


def grade_csv(folder: Path, out: Path, *extra: str) -> str:
    assert run_grade(str(folder), "--out", str(out), "--sandbox", "none", "--jobs", "2", *extra) == 0
    return out.read_text()


@pytest.fixture
def dask_cluster(tmp_path):
    with cluster.dask_cluster(tmp_path) as address:
        yield address


@pytest.mark.slow
def test_shards_merge_into_the_unsharded_csv_and_dask_writes_the_same(tmp_path, dask_cluster):
    subs = tmp_path / "class"
    build_class(subs)
    whole = grade_csv(subs, tmp_path / "whole.csv")
    rows = {r["file"]: r for r in csv.DictReader(io.StringIO(whole))}
    assert list(rows) == ["alice.ipynb", "bob.ipynb", "carol.ipynb", "dan.ipynb", "erin.ipynb", "frank.txt"]
    assert [rows[f]["total"] for f in rows] == ["1", "0", "0", "1", "1", "0"]
    assert "boundary condition" in rows["bob.ipynb"]["coefficients_reason"]
    assert "not attempted" in rows["carol.ipynb"]["coefficients_reason"] and rows["frank.txt"]["status"] == "invalid"

    parts = [tmp_path / f"part{i}.csv" for i in range(3)]
    for i, part in enumerate(parts):
        grade_csv(subs, part, "--shard", f"{i}/3")
    assert [len(p.read_text().splitlines()) - 1 for p in parts] == [2, 2, 2]  # every third file, from the i-th
    merged = tmp_path / "merged.csv"
    assert run_grade("merge", *map(str, reversed(parts)), "--out", str(merged)) == 0
    assert merged.read_text() == whole

    from distributed import Client

    with Client(dask_cluster) as client:  # two one-thread workers on this host: each kernel gets half the CPUs
        assert client.submit(grade._kernel_threads, 1, pure=False).result() == max(1, available_cpus() // 2)
    host_port = dask_cluster.removeprefix("tcp://")
    assert grade_csv(subs, tmp_path / "dask.csv", "--executor", f"dask://{host_port}") == whole


def test_shard_and_merge_refuse_bad_input(tmp_path, capsys):
    assert grade.parse_shard(" 2/5 ") == (2, 5)
    for bad in ("5/5", "1/0", "-1/3", "a/b", "1"):
        with pytest.raises(ValueError, match="0 <= I < N"):
            grade.parse_shard(bad)
    assert run_grade(str(tmp_path), "--shard", "3/3", "--sandbox", "none") == 2
    assert "--shard '3/3'" in capsys.readouterr().err
    header = ",".join(grade.columns()) + "\n"
    (tmp_path / "a.csv").write_text(header + "x.ipynb" + "," * (len(grade.columns()) - 1) + "\n")
    (tmp_path / "b.csv").write_text(header + "x.ipynb" + "," * (len(grade.columns()) - 1) + "\n")
    (tmp_path / "old.csv").write_text("file,notebook,status\n")
    assert run_grade("merge", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--out", str(tmp_path / "m.csv")) == 1
    assert "'x.ipynb' is graded in both" in capsys.readouterr().err
    assert run_grade("merge", str(tmp_path / "old.csv"), "--out", str(tmp_path / "m.csv")) == 1
    assert "header differs" in capsys.readouterr().err and not (tmp_path / "m.csv").exists()
    with pytest.raises(ValueError, match="dask://HOST:PORT"):
        with grade.executor_for("tcp://127.0.0.1:1"):
            pass
