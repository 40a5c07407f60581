"""Badges ("Open in Colab", "Open in Kaggle", "Launch Binder"): every link names a student notebook that exists, in the
course's repository at its tag; the README and the notebooks carry what cmlesson.authoring.course generates."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import nbformat
import pytest

from cmlesson.authoring import course, student

ROOT = Path(__file__).resolve().parents[1]
BADGE = re.compile(r"\[!\[([^\]]*)\]\(([^)\s]*)\)\]\(([^)\s]*)\)")  # [![alt](image)](link)
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def target(link: str) -> tuple[str, str, str]:
    """(owner/name, ref, path in the repository) that a Colab, Kaggle or Binder link opens; read from the URL itself,
    independently of how cmlesson.authoring.course builds it."""
    url = urlsplit(link)
    if url.netloc == "colab.research.google.com":
        m = re.fullmatch(r"/github/([^/]+/[^/]+)/blob/([^/]+)/(.+)", url.path)
    elif url.netloc == "kaggle.com" and url.path == "/kernels/welcome":
        (src,) = parse_qs(url.query)["src"]
        raw = urlsplit(src)
        assert raw.netloc == "raw.githubusercontent.com", link
        m = re.fullmatch(r"/([^/]+/[^/]+)/([^/]+)/(.+)", raw.path)
    elif url.netloc == "mybinder.org":
        path = re.fullmatch(r"/v2/gh/([^/]+/[^/]+)/([^/]+)", url.path)
        assert path, link
        (labpath,) = parse_qs(url.query)["labpath"]
        return path.group(1), path.group(2), unquote(labpath)
    else:
        raise AssertionError(f"not a Colab, Kaggle or Binder link: {link}")
    assert m, link
    return m.group(1), m.group(2), unquote(m.group(3))


def broken(text: str) -> list[str]:
    """Every badge link in ``text`` that does not open an existing student notebook of this repository at its tag."""
    bad = []
    for alt, image, link in BADGE.findall(text):
        repo, ref, path = target(link)
        if alt not in course.BADGE_IMAGES or image != course.BADGE_IMAGES[alt][0]:
            bad.append(f"{link} (badge {alt!r} with image {image})")
        elif (repo, ref) != (course.REPOSITORY, course.TAG):
            bad.append(f"{link} (opens {repo}@{ref}, not {course.REPOSITORY}@{course.TAG})")
        elif not path.startswith(f"{course.STUDENT_FOLDER}/") or not (ROOT / path).is_file():
            bad.append(f"{link} ({path} is not a student notebook in this checkout)")
    return bad


def test_generated_badges_open_existing_notebooks():
    """The badges of every notebook, and the README's badge column, as the generator writes them."""
    assert SOLUTIONS
    for path in SOLUTIONS:
        line = course.badges(path.name)
        assert len(BADGE.findall(line)) == 3 and broken(line) == [], path.name
    readme = student.readme_with_badges((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(BADGE.findall(readme)) >= 3 * len(SOLUTIONS) and broken(readme) == []


def test_badges_in_the_course_files_open_existing_notebooks():
    texts = {"README.md": (ROOT / "README.md").read_text(encoding="utf-8")}
    for path in [*SOLUTIONS, *sorted((ROOT / "notebooks").glob("*.ipynb"))]:
        cells = nbformat.read(path, as_version=4).cells
        texts[str(path.relative_to(ROOT))] = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert {name: broken(text) for name, text in texts.items() if broken(text)} == {}


@pytest.mark.parametrize("edit, problem", [
    (lambda s: s.replace("01_consistency_property", "01_consistency_properties"), "not a student notebook"),
    (lambda s: s.replace("notebooks/", "solutions/").replace("notebooks%2F", "solutions%2F"), "not a student notebook"),
    (lambda s: s.replace(course.TAG, "v9.9.9"), "not " + course.REPOSITORY),
    (lambda s: s.replace(course.REPOSITORY, "someone/else"), "not " + course.REPOSITORY),
    (lambda s: s.replace("colab-badge.svg", "other.svg"), "with image"),
])
def test_the_badge_check_catches_a_broken_link(edit, problem):
    line = course.badges("01_consistency_property.ipynb")
    assert broken(line) == []
    bad = broken(edit(line))
    assert bad and all(problem in b for b in bad[:1])


def test_each_badge_opens_the_same_notebook():
    """Colab, Kaggle and Binder links of a notebook name the same path, repository and tag (three URL forms)."""
    links = [link for _, _, link in BADGE.findall(course.badges("05_exercises.ipynb"))]
    assert {target(link) for link in links} == {(course.REPOSITORY, course.TAG, "notebooks/05_exercises.ipynb")}
    with pytest.raises(AssertionError, match="not a Colab"):
        target("https://example.org/notebooks/05_exercises.ipynb")


def test_course_has_the_current_setup_cell_and_badges():
    """Every notebook's first code cell is the generated setup cell, its badges are current, and so is the README."""
    solutions = {p: nbformat.read(p, as_version=4) for p in SOLUTIONS}
    times = student.load_times(ROOT / "solutions")
    assert times is not None, f"{course.TIMES_FILE} is missing: run `make bench-readme`"
    synced, table = student.with_course({p.name: nb for p, nb in solutions.items()}, times)
    stale = [p.name for p, nb in solutions.items() if synced[p.name] != nb]
    assert not stale, f"setup cell, badges, header or map out of date in {stale}: run `python -m cmlesson student --sync-setup`"
    for path in SOLUTIONS:
        nb = nbformat.read(ROOT / "notebooks" / path.name, as_version=4)
        first_code = next(c for c in nb.cells if c.cell_type == "code")
        assert first_code.get("id") == course.SETUP_CELL_ID and first_code.source == course.setup_source(), path.name
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert student.readme_with_badges(readme) == readme, "README badges out of date: run the same command"
    assert student.readme_with_map(readme, table) == readme, "README course map out of date: run the same command"


def test_every_notebook_shows_its_place_minutes_and_measured_running_time_under_the_badges():
    """Core or lab and the minutes from the one rule; the time from the benchmark's file, in both folders, never typed."""
    times = student.load_times(ROOT / "solutions")
    for path in SOLUTIONS:
        line = course.header(path.name, nbformat.read(path, as_version=4).cells, times)
        assert "runs in" in line, f"{path.name} was not timed by `make bench-readme`"
        assert line.startswith("*Core path, session" if course.place(path.name).kind == "core" else "*Lab, after")
        for folder in ("solutions", "notebooks"):
            title = nbformat.read(ROOT / folder / path.name, as_version=4).cells[0].source.split("\n")
            assert title.count(line) == 1 and title.index(line) == title.index(course.badges(path.name)) + 2, (folder, path.name)


def test_the_core_path_reads_in_at_most_core_words():
    """The lesson (the core path's notebooks) in at most course.CORE_WORDS words of prose, as student_minutes counts."""
    counts = {p.name: course.prose_words(nbformat.read(p, as_version=4).cells) for p in SOLUTIONS
              if course.place(p.name).kind == "core"}
    assert len(counts) == 5 and sum(counts.values()) <= course.CORE_WORDS, counts
    assert course.prose_words([{"cell_type": "markdown", "source": "# T\n" + course.BADGE_PREFIX + " x\nOne two"},
                               {"cell_type": "code", "source": "words in code are not prose"},
                               {"cell_type": "markdown", "id": course.MAP_CELL_ID, "source": "the map"}]) == 4


def _core_cells() -> dict[str, list]:
    return {p.name: nbformat.read(p, as_version=4).cells for p in SOLUTIONS if course.place(p.name).kind == "core"}


def test_each_core_session_fits_its_class_time():
    """Both sessions within course.SESSION_MINUTES by the one rule, with the measured running times."""
    table = course.course_map(_core_cells(), student.load_times(ROOT / "solutions"))
    totals = [line for line in table.splitlines() if line.startswith("| **core, session")]
    assert len(totals) == course.SESSIONS
    for line in totals:
        minutes = int(line.split("|")[4].strip().strip("*"))
        assert minutes <= course.SESSION_MINUTES, line


def test_stretch_exercises_are_marked_where_the_student_reads_and_the_lessons_exercises_stay_in_session():
    """A heading says "stretch" exactly where its cell is done after the session; the lesson's two exercises (5.1, 5.2b)
    and the distillation pieces 2.3 and 2.4 are never stretch."""
    stretch, in_session = set(), set()
    for name, cells in _core_cells().items():
        for cell in cells:
            source = cell.source
            for line in source.splitlines():
                if line.startswith("### Exercise"):
                    number = line.split()[2].rstrip(":")
                    (stretch if course.after_session(cell) else in_session).add(number)
                    assert ("stretch" in line) == course.after_session(cell), (name, line)
            if cell.cell_type == "code" and "checks.check_" in source:
                assert not course.after_session(cell) or any(f"check_{n}(" in source for n in
                                                             ("two_step", "consistency_function", "heun_step", "ema", "w1"))
    assert stretch == {"1.3", "2.1", "2.2", "4.1", "5.2a"}, stretch
    assert {"1.1", "1.2", "2.3", "2.4", "3.1", "5.1a", "5.1b", "5.2b"} <= in_session, in_session
