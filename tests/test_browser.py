"""The explorers as a student sees them: JupyterLab in headless Chromium, cells run, a slider moved, the figure redrawn.

Screenshots go to build/screenshots/ (git-ignored). The test fails, never skips, when the browser is missing
or cannot start: `make test` installs it (`make browser`).
"""

from __future__ import annotations

import json
import shutil
import time

import pytest
from browser_helpers import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    COURSE,
    DEMO,
    EXPLORERS,
    FIGURE,
    SCREENSHOTS,
    changed_fraction,
    course_notebook_with_trajectory_explorer,
    explorer_by_title,
    jupyterlab,
    make_course_folder,
    move_slider,
    open_notebook,
    run_all_cells,
    tracebacks,
    wait_for_explorers,
    wait_idle,
)

pytestmark = pytest.mark.slow

# (title shown in the widget, which of its sliders to move: N, CM steps, sigma, guidance w)
DEMO_EXPLORERS = [("Schedule explorer", 0), ("Step-count explorer", 0), ("Trajectory explorer", 0), ("Digit explorer", 0)]


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        pytest.fail(f"the browser test needs the playwright package (pip install -e '.[test]'): {err}")
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make browser` (apt-get install chromium)")
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        except Exception as err:  # noqa: BLE001 - the reason goes into the failure message
            pytest.fail(f"Chromium ({CHROMIUM}) could not start: {err}")
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    course = make_course_folder(root)
    with jupyterlab(course, root) as server:
        yield server


def exercise(page, lab, name: str, explorers: list[tuple[str, int]], timeout_ms: float) -> dict:
    """Open ``name``, run all cells, wait for the explorers, move one slider in each, compare screenshots."""
    stem = name.removesuffix(".ipynb")
    open_notebook(page, lab, name)
    run_all_cells(page)
    wait_for_explorers(page, len(explorers), timeout_ms)
    wait_idle(page, timeout=timeout_ms)
    assert not tracebacks(page), tracebacks(page)
    page.screenshot(path=SCREENSHOTS / f"{stem}-page.png")
    result = {}
    for title, slider in explorers:
        ex = explorer_by_title(page, title)
        shots = {when: SCREENSHOTS / f"{stem}-{title.split()[0].lower()}-{when}.png" for when in ("before", "after")}
        ex.scroll_into_view_if_needed()
        ex.screenshot(path=shots["before"])  # the whole widget: controls, figure, info line
        ms = move_slider(page, ex, slider)
        wait_idle(page)
        ex.screenshot(path=shots["after"])
        changed = changed_fraction(shots["before"], shots["after"])
        assert changed > 0.002, f"{title}: the figure did not change after moving the slider ({changed:.4%} of pixels)"
        problem = ex.locator(".widget-html", has_text="showing the last valid figure")
        assert problem.count() == 0, f"{title}: {problem.first.inner_text()}"
        result[title] = {"browser_roundtrip_ms": round(ms), "changed_pixels": round(changed, 4)}
    assert not tracebacks(page), tracebacks(page)
    return result


def settled_src(img, quiet_s: float = 1.5, timeout_s: float = 60) -> str:
    """The figure's src once it has stopped changing for ``quiet_s`` (a redraw may still be on its way)."""
    src, since, end = img.get_attribute("src"), time.monotonic(), time.monotonic() + timeout_s
    while time.monotonic() - since < quiet_s:
        if time.monotonic() > end:
            raise AssertionError(f"the figure kept changing for {timeout_s:.0f} s")
        time.sleep(0.1)
        now = img.get_attribute("src")
        if now != src:
            src, since = now, time.monotonic()
    return src


def enter_levels(hand, text: str) -> None:
    """Type into the text box and commit it as a student does (Enter). The box sends its value on the DOM
    ``change`` event; dispatching it as well makes the commit independent of focus handling under load."""
    hand.fill(text)
    hand.press("Enter")
    hand.dispatch_event("change")


def bad_input_shows_a_message(page) -> dict:
    """In the step explorer, type increasing levels by hand: a short message, the last good figure kept; then
    valid levels: the message goes and the figure changes."""
    ex = explorer_by_title(page, "Step-count explorer")
    img = ex.locator(FIGURE)
    before = img.get_attribute("src")
    ex.locator("select").select_option(label="by hand ->")
    wait_idle(page)
    hand = ex.locator(".widget-text input")
    page.wait_for_function("el => !el.disabled", arg=hand.element_handle(), timeout=60_000)  # enabled by the kernel
    page.wait_for_function("([el, old]) => el.src !== old", arg=[img.element_handle(), before], timeout=60_000)
    good = settled_src(img)  # the redraw for the default hand-set levels has arrived
    enter_levels(hand, "0.5, 2")
    message = ex.get_by_text("intermediate sigmas must be decreasing")
    message.wait_for(timeout=60_000)
    wait_idle(page)
    ex.screenshot(path=SCREENSHOTS / "widgets_demo-step-bad-input.png")
    assert img.get_attribute("src") == good, "the figure changed although the input was invalid"
    assert not tracebacks(page), tracebacks(page)
    enter_levels(hand, "2, 0.5")
    message.wait_for(state="detached", timeout=60_000)
    wait_idle(page)
    assert img.get_attribute("src") != good, "valid levels did not redraw the figure"
    ex.screenshot(path=SCREENSHOTS / "widgets_demo-step-by-hand.png")
    return {"bad input": "message shown, figure kept; valid input redrew"}


def test_explorers_render_and_redraw_in_jupyterlab(browser, lab):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    report = {}
    try:
        report[DEMO] = exercise(page, lab, DEMO, DEMO_EXPLORERS, timeout_ms=600_000)
        report[DEMO].update(bad_input_shows_a_message(page))
        assert page.locator(EXPLORERS).count() == len(DEMO_EXPLORERS)
        if course_notebook_with_trajectory_explorer() is not None:
            report[COURSE] = exercise(page, lab, COURSE, [("Trajectory explorer", 0)], timeout_ms=600_000)
    except BaseException:
        page.screenshot(path=SCREENSHOTS / "failure.png")
        raise
    finally:
        report["seconds"] = round(time.perf_counter() - start, 1)
        (SCREENSHOTS / "browser-report.json").write_text(json.dumps(report, indent=2) + "\n")
        context.close()
