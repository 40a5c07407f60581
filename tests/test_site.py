"""The course website (``make site``, cmlesson/authoring/site.py): no exercise answer on the default site, launch
buttons, widget snapshots; then the built site in headless Chromium (slow): every page loads without a console error,
every image and internal link resolves, the math is typeset, search finds a page, no script or stylesheet comes from
another host. Screenshots go to build/screenshots/site-*.png.

The slow tests use build/site as ``make site`` (which ``make test`` runs first) left it, and build it when it is missing.
"""

from __future__ import annotations

import contextlib
import functools
import html
import http.server
import re
import shutil
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from browser_helpers import CHROMIUM, CHROMIUM_FLAGS, SCREENSHOTS

from cmlesson import __version__
from cmlesson.authoring import course, site, student

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
NAMES = [p.name for p in SOLUTIONS]
SITE = ROOT / "build" / "site"
MIN_LINE = 12  # shorter answer lines ("return x", "else:") could occur anywhere; every longer one is searched for


def _norm(text: str) -> str:
    return " ".join(text.split())


@functools.cache
def answer_lines(name: str) -> frozenset[str]:
    """The solution code of notebook ``name`` that its student version does not show: each line of every exercise's
    answer block and of every ``# SOLUTIONS ONLY`` cell (whitespace collapsed, at least MIN_LINE characters), unless
    the student notebook holds it anyway (a call the text names, a docstring's words)."""
    nb = nbformat.read(ROOT / "solutions" / name, as_version=4)
    handed_out = _norm("\n".join(cell.source for cell in student.student_notebook(nb, name).cells))
    lines = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.source.lstrip().startswith(student.SOLUTIONS_ONLY):
            lines.update(cell.source.split("\n"))
            continue
        inside = False
        for line in cell.source.split("\n"):
            inside = (inside or line.strip() == student.BEGIN) and line.strip() != student.END
            if inside and line.strip() != student.BEGIN:
                lines.add(line)
    markers = {student.BEGIN, student.END, student.SOLUTIONS_ONLY}  # named in the README's text too
    return frozenset(n for n in map(_norm, lines) if len(n) >= MIN_LINE and n not in handed_out and n not in markers)


def leaks(text: str, name: str) -> list[str]:
    """The answer lines of notebook ``name`` that appear in ``text``."""
    text = _norm(text)
    return sorted(line for line in answer_lines(name) if line in text)


def page_text(nb: nbformat.NotebookNode) -> str:
    """Everything a page notebook shows: each cell's source and every output's text."""
    parts = []
    for cell in nb.cells:
        parts.append(cell.source)
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.extend(v for v in output.get("data", {}).values() if isinstance(v, str))
    return "\n".join(parts)


@functools.cache
def pages(answers: bool) -> dict[str, nbformat.NotebookNode]:
    return {name: site.page_notebook(nbformat.read(ROOT / "solutions" / name, as_version=4), name, answers) for name in NAMES}


# ------------------------------------------------------------------------------------------------ fast tests


def test_every_lesson_notebook_has_answer_code_to_search_for():
    """The leak search looks for something: notebooks 01-05 and 08 hold exercises (06, 07, 09 hold none)."""
    with_exercises = [n for n in NAMES if answer_lines(n)]
    assert with_exercises and {n[:2] for n in with_exercises} >= {"01", "02", "03", "04", "05"}, with_exercises
    assert sum(map(len, map(answer_lines, NAMES))) > 50


@pytest.mark.parametrize("name", NAMES)
def test_default_page_holds_no_answer(name):
    nb = pages(False)[name]
    assert leaks(page_text(nb), name) == []
    assert "widgets" not in nb.metadata, "widget state would make myst-nb load the widget JavaScript from a CDN"
    assert "[PASS]" not in page_text(nb), "a check's verdict on the worked answer (it describes the answer)"
    for cell in nb.cells:
        assert student.BEGIN not in cell.source and not cell.source.lstrip().startswith(student.SOLUTIONS_ONLY)
        for output in cell.get("outputs", []):
            assert site.WIDGET_VIEW not in output.get("data", {}), "a widget output left as a widget"


def test_the_leak_search_finds_the_answers_on_the_instructors_pages():
    """The same search on the --solutions pages finds every answer line: the default pages' result means something."""
    for name in NAMES:
        assert leaks(page_text(pages(True)[name]), name) == sorted(answer_lines(name)), name
    folded = [c for nb in pages(True).values() for c in nb.cells if student.BEGIN in c.source]
    assert folded and all(site.HIDE_INPUT in c.metadata["tags"] for c in folded), "answers are folded on the instructor's site"


@pytest.mark.parametrize("name", NAMES)
def test_badges_become_the_launch_buttons(name):
    first = next(c for c in pages(False)[name].cells if c.cell_type == "markdown").source
    assert course.BADGE_PREFIX not in first and site.launch_buttons(name) in first
    path = f"notebooks/{name}"
    for link in (course.colab_url(path), course.kaggle_url(path), course.binder_url(path)):
        assert f'href="{html.escape(link)}"' in first


def test_widgets_become_static_snapshots():
    """Notebook 01's trajectory explorer: its figure and slider values, in a box naming the notebook that runs it live;
    a training progress bar: its final state."""
    outputs = [o.data["text/html"] for c in pages(False)["01_consistency_property.ipynb"].cells
               for o in c.get("outputs", []) if "text/html" in o.get("data", {})]
    live = [o for o in outputs if site.LIVE_CLASS in o]
    assert len(live) == 1
    assert "Trajectory explorer" in live[0] and 'src="data:image/png;base64,' in live[0]
    assert "run notebook 01 in JupyterLab" in live[0]
    assert html.escape(course.binder_url("notebooks/01_consistency_property.ipynb")) in live[0]
    assert re.search(r'<meter min="[^"]+" max="[^"]+" value="[^"]+"></meter><span class="cm-w-readout">12</span>', live[0])
    bars = [o.data["text/html"] for c in pages(False)["02_consistency_distillation.ipynb"].cells
            for o in c.get("outputs", []) if "cm-w-bar" in o.get("data", {}).get("text/html", "")]
    assert bars and all("100%" in b and site.LIVE_CLASS not in b for b in bars)


def test_a_widget_without_saved_state_gets_the_box_only():
    box = site.widget_html({}, "missing", "05_exercises.ipynb", "Step-count explorer (an interactive widget)")
    assert "run notebook 05 in JupyterLab" in box and "Step-count explorer" in box and "<img" not in box


def test_prepare_writes_every_page_in_order(tmp_path):
    names = site.prepare(tmp_path / "src")
    assert names == ["index", "00_notation", *(n.removesuffix(".ipynb") for n in NAMES), "instructors"]
    index = (tmp_path / "src" / "index.md").read_text()
    assert all(f"]({n})" in index for n in NAMES) and "```{toctree}" in index
    assert [line for line in index.split("\n") if line.endswith(".ipynb")] == NAMES, "the toctree lists the notebooks in order"
    assert (tmp_path / "src" / "instructors.md").read_text().startswith("# For instructors\n")
    assert (tmp_path / "src" / "cover.png").read_bytes().startswith(b"\x89PNG") and "](cover.png)" in index, "site.COVER"
    assert (tmp_path / "src" / "conf.py").exists() and not (tmp_path / "src" / "requirements.txt").exists()
    assert f"v{__version__}" in (tmp_path / "src" / "_site.json").read_text()


def test_readme_section_raises_headings_and_stops_at_the_next_section():
    text = "# T\n\n## A\n\nx\n\n### B\n\ny\n\n## C\n\nz\n"
    assert site.readme_section(text, "A") == "# A\n\nx\n\n## B\n\ny\n"
    with pytest.raises(ValueError, match="no section"):
        site.readme_section(text, "D")


def test_footer_names_the_version_and_the_commit():
    assert f"v{__version__}" in site.footer(False, "abc123") and "abc123" in site.footer(False, "abc123")
    assert "without the exercise answers" in site.footer(False, None)


# ------------------------------------------------------------------------------------------------ the built site


class _Page(HTMLParser):
    """A built page's text (outside script and style), its element ids, and its scripts' and stylesheets' URLs."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text, self.ids, self.loads, self._skip = [], set(), [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "script" and a.get("src"):
            self.loads.append(a["src"])
        if tag == "link" and a.get("href") and set((a.get("rel") or "").split()) & {"stylesheet", "preload", "icon"}:
            self.loads.append(a["href"])

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


@functools.cache
def parsed(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def built() -> Path:
    """build/site as `make site` left it (make test builds it first); built here when it is missing."""
    if not (SITE / "index.html").exists():
        run = subprocess.run(["make", "-s", "site"], cwd=ROOT, capture_output=True, text=True, timeout=900)
        assert run.returncode == 0, f"make site failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert "without the exercise answers" in (SITE / "index.html").read_text(), "build/site is not the default site"
    return SITE


@pytest.mark.slow
def test_site_has_one_page_per_notebook_and_no_answer(built):
    """Each notebook's answer code is searched for in its own page and in the pages that are no notebook's (the same
    line may stand, legitimately, in another notebook's code: notebook 05's answers reuse notebook 01's calls)."""
    html_files = sorted(built.glob("*.html"))
    for name in ["index", "00_notation", "instructors", *(n.removesuffix(".ipynb") for n in NAMES)]:
        assert (built / f"{name}.html").exists(), name
    assert not list(built.rglob("*.ipynb")), "a notebook file on the site could hold the answers"
    shared = "\n".join("".join(parsed(p).text) for p in html_files if f"{p.stem}.ipynb" not in NAMES)  # index, notation...
    found = {name: leaks("".join(parsed(built / name.replace(".ipynb", ".html")).text) + shared, name) for name in NAMES}
    assert not any(found.values()), f"exercise answers on the default site: {found}"


@pytest.mark.slow
def test_site_loads_no_script_or_stylesheet_from_another_host(built):
    remote = {p.name: u for p in built.rglob("*.html") for u in parsed(p).loads if urllib.parse.urlsplit(u).netloc}
    assert remote == {}


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """A static file server for ``folder`` on 127.0.0.1 (as GitHub Pages would serve it); its base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def chromium():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        pytest.fail(f"the browser test needs the playwright package (pip install -e '.[test]'): {err}")
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make debs` (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


CHECK_PAGE = """() => {
  const imgs = [...document.querySelectorAll('img')];
  const maths = [...document.querySelectorAll('.math')];
  const article = (document.querySelector('article') || document.body).cloneNode(true);
  article.querySelectorAll('.cell, pre, code, mjx-container, script').forEach(e => e.remove());
  return {
    broken_images: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 120)),
    images: imgs.length,
    math: maths.length,
    untypeset: maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80)),
    math_errors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
    raw_tex: (article.innerText.match(/\\\\[a-zA-Z]{2,}[^\\n]{0,30}/g) || []).slice(0, 5),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    launch: [...document.querySelectorAll('.cm-launch a')].map(a => [a.dataset.launch, a.href]),
    footer: (document.querySelector('.cm-version') || {}).textContent || '',
  };
}"""


def _load(page, url: str) -> dict:
    page.goto(url, wait_until="networkidle")  # every request answered (a favicon fetched after "load" included)
    page.wait_for_function("() => !window.MathJax || (MathJax.startup && MathJax.startup.promise)", timeout=30_000)
    page.evaluate("() => window.MathJax ? MathJax.startup.promise : null")
    return page.evaluate(CHECK_PAGE)


@pytest.mark.slow
def test_site_in_headless_chromium(built, chromium):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and problems.append(f"{page.url}: console error: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"{page.url}: page error: {e}"))
    # A request the browser itself abandons (net::ERR_ABORTED: the favicon still in flight when the test moves to the
    # next page) is no broken resource: a missing file answers HTTP 404 (below), another host is caught by the router.
    page.on("requestfailed", lambda r: "ERR_ABORTED" not in (r.failure or "")
            and problems.append(f"{page.url}: request failed: {r.url} {r.failure}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{page.url}: HTTP {r.status} for {r.url}"))

    def local_only(route):
        if urllib.parse.urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            problems.append(f"{page.url}: a request to another host: {route.request.url}")
            route.abort()

    page.route("**/*", local_only)
    links: dict[str, set[str]] = {}
    with serve(built) as base:
        try:
            for html_file in sorted(built.glob("*.html")):
                name = html_file.stem
                seen = _load(page, base + html_file.name)
                links[name] = {u for u in seen["links"] if u.startswith(base)}
                problems += [f"{name}: image did not load: {src}" for src in seen["broken_images"]]
                problems += [f"{name}: math not typeset: {m}" for m in seen["untypeset"]]
                problems += [f"{name}: TeX left as text: {t}" for t in seen["raw_tex"]]
                if seen["math_errors"]:
                    problems.append(f"{name}: {seen['math_errors']} MathJax errors")
                if f"v{__version__}" not in seen["footer"]:
                    problems.append(f"{name}: the footer does not name v{__version__}: {seen['footer']!r}")
                if f"{name}.ipynb" in NAMES:
                    path = f"notebooks/{name}.ipynb"
                    want = [[kind, link(path)] for kind, link in
                            (("colab", course.colab_url), ("kaggle", course.kaggle_url), ("binder", course.binder_url))]
                    assert seen["launch"] == want, f"{name}: launch buttons {seen['launch']}"
                    assert seen["images"] > 0, f"{name}: no figure"
                if name in ("00_notation", "01_consistency_property"):
                    assert seen["math"] > 20, f"{name}: {seen['math']} formulas"
                if name == "index":
                    assert seen["math"] >= 2 and seen["images"] >= 1, "the first page: the cover figure and its formulas"
                if name == "index":
                    page.screenshot(path=SCREENSHOTS / "site-index.png")
                if name == "01_consistency_property":
                    _screenshot_figure_and_math(page, SCREENSHOTS / "site-01_consistency_property.png")
            page.goto(base + "search.html?q=EMA", wait_until="load")
            page.locator("#search-results a[href*='04_ema_and_training_details']").first.wait_for(timeout=30_000)
        except BaseException:
            page.screenshot(path=SCREENSHOTS / "site-failure.png")
            raise
        finally:
            context.close()
    problems += _unresolved(links, base, built)
    assert not problems, "\n".join(problems[:40])


def _screenshot_figure_and_math(page, path: Path) -> None:
    """A viewport of notebook 01 where typeset formulas stand above a figure."""
    page.set_viewport_size({"width": 1280, "height": 1200})
    page.locator("article .cell_output img").first.evaluate("img => img.scrollIntoView({block: 'end'})")
    page.evaluate("() => window.scrollBy(0, 60)")  # the figure at the bottom, the text and formulas before it above
    page.screenshot(path=path)
    page.set_viewport_size({"width": 1280, "height": 900})


def _unresolved(links: dict[str, set[str]], base: str, built: Path) -> list[str]:
    """Internal links whose file is missing from the site or whose #fragment names no element of it."""
    problems = []
    for name, urls in links.items():
        for url in sorted(urls):
            parts = urllib.parse.urlsplit(url[len(base):])
            target = built / urllib.parse.unquote(parts.path or "index.html")
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                problems.append(f"{name}: link to a missing file: {url}")
            elif parts.fragment and target.suffix == ".html" and urllib.parse.unquote(parts.fragment) not in parsed(target).ids:
                problems.append(f"{name}: link to a missing anchor: {url}")
    return problems
