"""Command line: ``python -m cmlesson {bench,student,grade,nbgrader,checkpoints,site}``."""

from __future__ import annotations

import argparse
import sys


def _seeds(text: str) -> int:
    """--seeds: an integer of at least 2 (one seed has no standard error)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds must be an integer >= 2, got {text!r}") from None
    if n < 2:
        raise argparse.ArgumentTypeError(f"--seeds must be >= 2 (one seed has no standard error), got {n}")
    return n


def parser() -> argparse.ArgumentParser:
    """The command line's parser (tests parse with it too, so that every default lives here only)."""
    parser = argparse.ArgumentParser(prog="python -m cmlesson", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser("bench", help="train the course pipeline and print quality and speed figures")
    bench.add_argument("--dataset", default="moons", help="built-in 2-D data set (moons, circles, eight_gaussians, spiral)")
    bench.add_argument("--data", default=None, metavar="FILE", help="your own 2-D points (.npy or .csv) instead of --dataset")
    bench.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    bench.add_argument("--notebooks", action="store_true", help="also time every notebook (fresh kernel each)")
    bench.add_argument("--retime", nargs="+", default=None, metavar="NN",
                       help="only time these notebooks (e.g. 04 08, both folders) and update their times; no training")
    bench.add_argument("--readme", default=None, metavar="FILE", help="write the tables into FILE between its markers")
    bench.add_argument("--seeds", type=_seeds, default=None, metavar="N",
                       help="sampling seeds per score (default: BenchConfig's 20; at least 2, for a standard error)")

    student = sub.add_parser("student", help="generate notebooks/ from solutions/ (solutions replaced by stubs)")
    what = student.add_mutually_exclusive_group()
    what.add_argument("--check", action="store_true", help="only check that notebooks/ is up to date; exit 1 if not")
    what.add_argument("--sync-setup", action="store_true",
                      help="write the setup cell and the badges (cmlesson/authoring/course.py) into solutions/ and README.md, "
                           "then regenerate notebooks/")

    grade = sub.add_parser("grade", help="grade a folder of submitted notebooks into a CSV")
    grade.add_argument("submissions", nargs="*", metavar="SUBMISSIONS",
                       help="folder of submitted .ipynb files; or: merge CSV... (join the CSVs of --shard runs into --out)")
    grade.add_argument("--out", default="grades.csv", help="CSV (or results.json) to write, atomically")
    grade.add_argument("--solutions", action="store_true", help="grade the solutions/ notebooks (must score full marks)")
    grade.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per notebook")
    grade.add_argument("--jobs", type=int, default=None, help="notebooks graded in parallel (default: available CPUs)")
    grade.add_argument("--sandbox", choices=("auto", "bwrap", "none"), default="auto",
                       help="isolate each kernel with bubblewrap (auto: refuse to grade if it cannot); none: no isolation")
    grade.add_argument("--format", choices=("csv", "gradescope", "prairielearn", "canvas"), default="csv",
                       help="csv (one row per file), one student's results.json for Gradescope or PrairieLearn, or a "
                            "gradebook CSV to import into Canvas")
    grade.add_argument("--gradescope-visibility", choices=("visible", "hidden", "after_due_date", "after_published"),
                       default="visible", help="Gradescope's visibility of every test (its score and reason); "
                                               "after_published holds them back until grades are published")
    grade.add_argument("--canvas-assignment", default="cmlesson", metavar="NAME",
                       help="the Canvas assignment column, e.g. 'Consistency models (12345)' (its id from Canvas's export)")
    grade.add_argument("--canvas-ids", default=None, metavar="CSV",
                       help="a CSV mapping each file (column 'file') to its student (ID, SIS User ID or SIS Login ID); "
                            "without it, Canvas's own download names (name_<user id>_<file id>_...) are read")
    grade.add_argument("--executor", default="local", metavar="local|dask://HOST:PORT",
                       help="where the notebooks run: a local pool of --jobs kernels, or a Dask distributed cluster")
    grade.add_argument("--shard", default=None, metavar="I/N",
                       help="grade only slice I of N (I from 0, e.g. $SLURM_ARRAY_TASK_ID/N); join them with grade merge")
    grade.add_argument("--similarity", default=None, metavar="CSV",
                       help="also compare the students' code exercise by exercise (normalised syntax trees), with each "
                            "other and with the package's answers; write the pairs above the threshold to CSV")
    grade.add_argument("--report", default=None, metavar="HTML",
                       help="also write a class report: one self-contained HTML file with the score distributions, the "
                            "most frequent mistakes, timeouts and errors, and the similarity pairs")
    grade.add_argument("--similarity-threshold", type=float, default=0.7, metavar="SHARE",
                       help="share of fingerprints from which two codes are listed as similar (default 0.7)")

    nbg = sub.add_parser("nbgrader", help="write the graded notebooks as an nbgrader course (source/ and nbgrader_config.py)")
    nbg.add_argument("out", metavar="OUT", help="the nbgrader course folder to write (nothing there is overwritten)")

    ckpt = sub.add_parser("checkpoints", help="retrain the tiny checkpoints shipped in cmlesson/checkpoints")
    ckpt.add_argument("--only", nargs="+", metavar="NAME", help="retrain only these, e.g. digits_lcm")

    site = sub.add_parser("site", help="build the course website (make site installs its tools into .venv-site)")
    site.add_argument("--solutions", action="store_true",
                      help="the instructor's site: publish the exercise answers (folded); default build/site-solutions")
    site.add_argument("--out", default=None, metavar="DIR", help="where the HTML goes (default build/site)")

    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "bench":
        from .authoring import bench as mod
    elif args.command == "student":
        from .authoring import student as mod
    elif args.command == "grade":
        from .grading import grade as mod
    elif args.command == "nbgrader":
        from .grading import nbgrader_course as mod
    elif args.command == "site":
        from .authoring import site as mod
    else:
        from . import checkpoints as mod
    return mod.main(args)


if __name__ == "__main__":
    sys.exit(main())
