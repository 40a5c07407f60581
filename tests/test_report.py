"""The class report (issue 28, part 4): one self-contained HTML file; its browser test (slow) opens it in headless
Chromium, checks that every image loads and that the console stays clean, and writes a screenshot under build/.

The class is judged for real, in process (no kernel): each row's results come from the checks on corpus code."""

from __future__ import annotations

import re
import shutil

import pytest
from browser_helpers import CHROMIUM, CHROMIUM_FLAGS, SCREENSHOTS
from grading_fixtures import corpus as C
from grading_fixtures import similar as S

from cmlesson.__main__ import parser
from cmlesson.grading import exercises, grade, report, similarity

HOSTILE = "<img src=x onerror=alert(1)>.ipynb"


def _row(name: str, sources: dict[str, str], status: str = "ok", note: str = "") -> grade.Row:
    results = {ex_id: C.grade(ex_id, source) for ex_id, source in sources.items()}
    return grade.Row(name, "+".join(sorted({exercises.EXERCISES[e].notebook for e in results})), status, note, results)


def a_class() -> list[grade.Row]:
    """Eight students of notebooks 01 and 05 (w1): right answers, the same mistakes with different numbers, a stub,
    a delegation, a timeout, an error and an invalid file whose name is markup."""
    right = {"coefficients": C.CORRECT["coefficients"], "multistep": C.CORRECT["multistep"], "w1": C.CORRECT["w1"]}
    rows = [_row("ada.ipynb", right), _row("bo.ipynb", right)]
    rows.append(_row("cy.ipynb", {**right, "coefficients": C.WRONG["coefficients"]["edm"],
                                  "multistep": C.WRONG["multistep"]["sigma_noise"]}))
    rows.append(_row("di.ipynb", {**right, "coefficients": C.WRONG["coefficients"]["lesson"], "w1": C.WRONG["w1"]["per_axis"]}))
    rows.append(_row("ed.ipynb", {**right, "multistep": C.STUBS["multistep"], "w1": C.WRONG["w1"]["paired"]}))
    rows.append(_row("fa.ipynb", {**right, "w1": "w1_student = lambda a, b: metrics.wasserstein_2d(a, b)\n"}))
    timed_out = _row("gu.ipynb", {"coefficients": C.CORRECT["coefficients"]}, "timeout",
                     "time limit of 300 s reached in cell 7 ('train(...)'): interrupted, then the exercises it had defined "
                     "were evaluated")
    timed_out.results["multistep"] = exercises.Result(0, 1, "wrong", "not evaluated: the notebook did not finish",
                                                      "not evaluated: the notebook did not finish")
    rows.append(timed_out)
    rows.append(grade.Row("hu.ipynb", "01", "error", "the kernel died in cell 5 ('import os') <script>x</script>",
                          {"coefficients": exercises.Result(0, 1, "wrong", "not evaluated: the notebook did not finish")}))
    rows.append(grade.Row(HOSTILE, "", "invalid", "a symbolic link, not a regular file: not read", {}))
    return rows


def a_class_pairs() -> list[similarity.Pair]:
    nbs = {f"{n}.ipynb": C.notebook(S.CT_LOSS_STYLES[n]) for n in ("ana", "ben", "cleo")}
    nbs["dan.ipynb"] = C.notebook(S.CT_LOSS_COPY)
    return similarity.compare(nbs)


@pytest.fixture(scope="module")
def page_html() -> str:
    return report.html_report(a_class(), a_class_pairs(), 42.0, similarity.THRESHOLD)


def test_the_report_is_self_contained(page_html):
    assert page_html.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script|<link|<iframe|@import|url\(|https?://", page_html, re.I)
    sources = re.findall(r"src='([^']*)'", page_html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert len(sources) == 1 + 3  # the totals, and coefficients, multistep, w1


def test_every_text_of_a_submission_is_escaped(page_html):
    assert HOSTILE not in page_html and "<script>x</script>" not in page_html
    assert "&lt;img src=x onerror=alert(1)&gt;.ipynb" in page_html


def test_mistakes_are_grouped_by_kind_with_counts():
    rows = a_class()
    cy, di = (next(r for r in rows if r.file == f).results["coefficients"].reason for f in ("cy.ipynb", "di.ipynb"))
    assert cy != di  # the same mistake, other numbers (EDM's c_skip is 0.99998 at sigma_min, the lesson's 0.5)
    found = report.mistakes(rows)
    assert [(n, files) for _, n, _, files in found["coefficients"]] == [(2, ["cy.ipynb", "di.ipynb"]), (1, ["hu.ipynb"])]
    assert found["coefficients"][0][0] == ("boundary condition fails: c_skip(sigma_min) = # and c_out(sigma_min) = #; "
                                           "f(x, sigma_min) = c_skip x + c_out F equals x for every network output F only "
                                           "if they are exactly # and #")
    assert found["coefficients"][1][0] == "not evaluated: the notebook did not finish"
    assert {kind: files for kind, _, _, files in found["multistep"]} == {
        "not attempted (the stub runs)": ["ed.ipynb"], "not evaluated: the notebook did not finish": ["gu.ipynb"],
        "re-noised with sigma instead of sqrt(sigma^2 - sigma_min^2) (with the model's own sigma_min, here #)": ["cy.ipynb"]}
    w1 = {kind: files for kind, _, _, files in found["w1"]}
    assert w1["calls the package's answer (cmlesson.metrics.wasserstein_2d)"] == ["fa.ipynb"]
    assert len(w1) == 3 and "ada.ipynb" not in str(found) and "bo.ipynb" not in str(found)  # full marks: no mistake


def test_a_kind_without_a_key_is_the_reason_without_its_numbers():
    one = exercises.Result(0, 2, "wrong", "loss = 0.1234, expected 3.5e-02: summed over the batch 'first' (64, 2)")
    other = exercises.Result(0, 2, "wrong", "loss = 12, expected -7.25: summed over the batch 'second' (32, 2)")
    assert report.mistake_kind(one) == report.mistake_kind(other) == "loss = #, expected #: summed over the batch '…' (#, #)"
    assert report.mistake_kind(exercises.Result(0, 1, "wrong", "x", "raised ValueError")) == "raised ValueError"


def test_the_report_lists_timeouts_errors_and_similarity(page_html):
    for words in ("gu.ipynb", "timeout", "time limit of 300 s", "hu.ipynb", "the kernel died", "Similar code",
                  "ben.ipynb", "dan.ipynb", "100%"):
        assert words in page_html, words


def test_grade_writes_the_report(tmp_path, monkeypatch, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "a.ipynb").write_text("not json")
    monkeypatch.setattr(grade, "grade", lambda files, **kw: a_class())
    out, html_path = tmp_path / "grades.csv", tmp_path / "class.html"
    args = parser().parse_args(["grade", str(subs), "--out", str(out), "--sandbox", "none", "--report", str(html_path)])
    assert grade.main(args) == 0
    text = html_path.read_text(encoding="utf-8")
    assert "<h1>Class report</h1>" in text and "Most frequent mistakes" in text
    assert f"wrote {html_path}" in capsys.readouterr().out


@pytest.mark.slow
def test_the_report_renders_in_chromium(tmp_path, page_html):
    """Headless Chromium opens the file: it renders, every image loads, the console stays clean; a screenshot is kept."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        pytest.fail(f"the browser test needs the playwright package (pip install -e '.[test]'): {err}")
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make browser` (apt-get install chromium)")
    path = tmp_path / "class.html"
    path.write_text(page_html, encoding="utf-8")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            console, failed = [], []
            page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}") if msg.type in ("error", "warning")
                    else None)
            page.on("pageerror", lambda err: console.append(f"pageerror: {err}"))
            page.on("requestfailed", lambda req: failed.append(req.url[:80]))
            page.goto(path.as_uri(), wait_until="load")
            assert page.title() == "Class report"
            images = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.alt])")
            assert len(images) == 4 and all(done and width > 100 for done, width, _ in images), images
            assert page.locator("h2").all_inner_texts()[:2] == ["Score distributions", "Most frequent mistakes"]
            assert page.locator("table").count() >= 5
            assert page.evaluate("document.body.scrollHeight") > 900
            page.screenshot(path=str(SCREENSHOTS / "class_report.png"), full_page=True)
        finally:
            browser.close()
    assert console == [] and failed == [], (console, failed)
    assert (SCREENSHOTS / "class_report.png").stat().st_size > 10_000


def test_a_class_of_invalid_files_still_gets_a_report():
    text = report.html_report([grade.Row("a.txt", "", "invalid", "not a notebook: the file is not JSON", {})], [], 1.0, 0.7)
    assert "No submission was graded." in text and "<img" not in text and "No exercise lost points." in text
    assert "not a notebook: the file is not JSON" in text
