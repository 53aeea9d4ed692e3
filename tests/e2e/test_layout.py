"""Every tab, looked at as a reader would, on the demo and on a real photograph: a screenshot of each
(kept in the test artifacts), and what can be measured of what the screenshot shows — no plotly text
box on another or cut by its figure, nothing wider than its pane, no table wider than its block."""

import time

import pytest
from layout_checks import OVERFLOW, PLOTLY_TEXT
from support import ARTIFACTS

from geoviz.app.layout import TABS

PANEL = "[...document.querySelectorAll('[role=\"tabpanel\"]')].find((p) => p.offsetParent !== null)"


def _settled(page, timeout_s: float = 60.0) -> None:
    """Wait until the open tab stops changing: no progress shown and the same number of drawn
    figures on two looks half a second apart."""
    look = f"() => {{ const p = {PANEL}; if (!p) return 'none'; " \
           "return [p.querySelectorAll('.js-plotly-plot').length, p.querySelectorAll('table').length, " \
           "document.querySelectorAll('.progress-text, .eta-bar').length].join('/'); }"
    end, last = time.monotonic() + timeout_s, None
    while time.monotonic() < end:
        now = page.evaluate(look)
        if now == last and now.endswith("/0"):
            return
        last = now
        page.wait_for_timeout(500)
    raise AssertionError(f"the tab did not settle in {timeout_s} s ({last})")


def _every_tab(page, name: str) -> dict[str, list[str]]:
    problems = {}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"layout_{name}_top.png"))
    for tab in TABS:
        if tab.ID in ("datasets", "run"):  # their own journeys look at them (test_datasets, test_run_view)
            continue
        page.get_by_role("tab", name=tab.TITLE, exact=True).click()
        if tab.ID == "sensitivity":
            page.fill("#sweep_n input", "9")
            page.click("#run_sweep")
            page.wait_for_selector("#sweep_plot .gtitle", timeout=180_000)
        _settled(page)
        found = page.evaluate(PLOTLY_TEXT) + page.evaluate(OVERFLOW)
        if found:
            problems[tab.ID] = found
        page.locator(f"{'[role=tabpanel]'}:visible").first.screenshot(path=str(ARTIFACTS / f"layout_{name}_{tab.ID}.png"))
    page.get_by_role("tab", name="Overview", exact=True).click()
    return problems


@pytest.fixture
def wide_page(browser, app_url):
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = ctx.new_page()
    pg.goto(app_url, wait_until="load")
    pg.wait_for_selector("#totals .total-value", timeout=90_000)
    yield pg
    ctx.close()


def test_every_tab_of_the_demo_reads_cleanly_and_its_inputs_are_in_the_boxes(wide_page):
    page = wide_page
    # the demo's own inputs are in the input boxes (Diagnose would re-run it)
    page.wait_for_function("() => document.querySelector('#preds')?.innerText.includes('step_2000')", timeout=60_000)
    for box in ("#context", "#target", "#mask"):
        assert page.locator(f"{box} img").count() >= 1, box
    page.wait_for_function("() => document.querySelectorAll('#thumbs img').length === 4", timeout=30_000)
    assert _every_tab(page, "demo") == {}


def test_every_tab_of_a_real_photograph_reads_cleanly_and_a_thumbnail_inspects(wide_page):
    page = wide_page
    page.get_by_role("tab", name="Datasets").click()
    page.wait_for_function("() => document.querySelector('#dataset_table')?.innerText.includes('logo_in_chelsea')",
                           timeout=180_000)
    # the table names its columns in words and fits its pane
    header = page.evaluate("() => [...document.querySelectorAll('#dataset_table th')].map((h) => h.innerText.trim())"
                           ".filter(Boolean).join(' | ')")
    assert "largest term" in header and "estimated scale" in header and "latent_" not in header, header
    assert page.evaluate(OVERFLOW) == []
    page.locator('#dataset_table [data-testid="cell-0-0"]').click()
    page.wait_for_function("() => document.querySelector('#notices').innerText.includes('logo_in_chelsea')",
                           timeout=180_000)
    # its inputs fill the boxes; its checkpoints are the thumbnails, and a click inspects one
    page.wait_for_function("() => document.querySelector('#preds')?.innerText.includes('scale_1.25')", timeout=60_000)
    page.wait_for_function("() => document.querySelectorAll('#thumbs img').length === 3", timeout=30_000)
    inside = page.evaluate("() => { const g = document.querySelector('#thumbs').getBoundingClientRect(); return "
                           "[...document.querySelectorAll('#thumbs .thumbnail-item')].every((t) => "
                           "t.getBoundingClientRect().right <= g.right + 1); }")
    assert inside, "a thumbnail sticks out of the gallery"
    captions = page.locator("#thumbs .caption-label").all_inner_texts()
    assert [c.strip() for c in captions] == ["scale_0.80", "scale_1.00", "scale_1.25"]
    page.locator("#thumbs button").nth(2).click()
    page.wait_for_function("() => document.querySelector('#inspect input')?.value === 'scale_1.25'", timeout=30_000)
    assert _every_tab(page, "photo") == {}
