"""The dashboard in a real browser (Debian's Chromium driven by Playwright): the demo diagnosis
appears, a sample uploads and is diagnosed, a weight slider changes the total on the page."""

import json
from pathlib import Path

from support import ARTIFACTS

ASSETS = Path(__file__).resolve().parents[2] / "assets"
TOTALS = "() => Array.from(document.querySelectorAll('#totals .total-card')).map(e => e.innerText).join(' | ')"


def test_demo_upload_and_weight_slider(page):
    page.wait_for_selector("#totals .total-value", timeout=60_000)
    page.wait_for_selector("#bars .gv-row", timeout=60_000)
    demo_totals = page.evaluate(TOTALS)
    assert "step_0500" in demo_totals and "step_3000" in demo_totals

    d = ASSETS / "tiles_wall"
    page.set_input_files("#context input[type=file]", str(d / "context.png"))
    page.set_input_files("#target input[type=file]", str(d / "target.png"))
    page.set_input_files("#mask input[type=file]", str(d / "mask.png"))
    page.set_input_files("#preds input[type=file]", [str(p) for p in sorted((d / "pred").glob("*.png"))])
    page.wait_for_timeout(500)
    page.click("#diagnose")
    page.wait_for_function(f"() => ({TOTALS})().includes('period_1.25')", timeout=120_000)
    before = page.evaluate(TOTALS)

    slider = page.locator("#w_latent_mse input[type=range]")
    slider.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(f"() => ({TOTALS})() !== {before!r}", timeout=30_000)
    after = page.evaluate(TOTALS)
    assert after != before and "period_1.25" in after

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard_tiles_wall.png"), full_page=True)
    assert (ARTIFACTS / "dashboard_tiles_wall.png").stat().st_size > 10_000


def test_heatmap_term_and_kind_switch(page):
    page.wait_for_selector("#bars .gv-row", timeout=60_000)
    page.get_by_role("tab", name="Heatmaps").click()
    page.wait_for_selector("#heatmap .gtitle", timeout=60_000)
    title = "() => document.querySelector('#heatmap .gtitle').textContent"
    assert "weighted total" in page.evaluate(title)
    page.locator("#heat_term input").click()
    page.get_by_role("option", name="depth edges").click()  # labels, not ids
    page.wait_for_function(f"() => ({title})().includes('depth edges')", timeout=30_000)
    page.get_by_role("radio", name="gradient").check()
    page.wait_for_function(f"() => ({title})().includes('gradient')", timeout=30_000)


def test_sensitivity_sweep_and_balance_in_the_browser(page):
    page.wait_for_selector("#bars .gv-row", timeout=60_000)
    page.get_by_role("tab", name="Sensitivity").click()
    page.fill("#sweep_n input", "9")
    page.click("#run_sweep")
    page.wait_for_selector("#sweep_plot .gtitle", timeout=120_000)
    assert "Response to the object's scale" in page.evaluate("() => document.querySelector('#sweep_plot .gtitle').textContent")
    assert page.locator("#sweep_plot .scatterlayer .trace").count() >= 3  # visible terms, total, predictions
    assert "minimum at" in page.locator("#sweep_md").inner_text()
    before = page.evaluate(TOTALS)
    page.click("#balance")
    page.wait_for_function(f"() => ({TOTALS})() !== {before!r}", timeout=60_000)
    page.wait_for_function("() => document.querySelector('#balance_md').innerText.includes('Undo')", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "dashboard_sensitivity.png"), full_page=True)
    page.click("#undo_balance")
    page.wait_for_function(f"() => ({TOTALS})() === {before!r}", timeout=60_000)


CARD_TOTALS = ("() => Object.fromEntries(Array.from(document.querySelectorAll('#totals .total-card'))"
               ".map(e => [e.dataset.pred, parseFloat(e.querySelector('.total-value').innerText)]))")
TABLE_TOTALS = """() => {
  const lines = document.querySelector('#ckpt_table').innerText.split('\\n').map(s => s.trim()).filter(Boolean);
  const out = {};
  lines.forEach((s, i) => { const m = s.match(/^(?:★ )?(step_\\d+)$/); if (m) out[m[1]] = parseFloat(lines[i + 1]); });
  return out;
}"""


def _agree(page) -> bool:
    cards, table = page.evaluate(CARD_TOTALS), page.evaluate(TABLE_TOTALS)
    return bool(cards) and set(cards) == set(table) and all(abs(cards[p] - table[p]) < 1.5e-4 for p in cards)


def test_closed_tab_catches_up_when_opened_and_updates_live_when_open(page):
    """A slider's input updates only the open tab's weight-dependent views (test_api checks what is
    sent); a tab opened afterwards shows the current weights, an open one follows every step."""
    page.wait_for_selector("#bars .gv-row", timeout=60_000)
    page.get_by_role("tab", name="Checkpoints").click()
    page.wait_for_function(f"() => Object.keys(({TABLE_TOTALS})()).length === 4", timeout=30_000)
    assert _agree(page)
    page.get_by_role("tab", name="Overview").click()
    bars = "() => document.querySelector('#bars').innerText"
    before_bars = page.evaluate(bars)
    page.locator("#w_latent_mse input[type=range]").focus()
    for _ in range(6):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(f"() => ({bars})() !== {before_bars!r}", timeout=30_000)
    page.wait_for_timeout(1000)  # the last step's figures (the closed tab's table is not sent)
    page.get_by_role("tab", name="Checkpoints").click()
    page.wait_for_function(f"""() => {{
        const c = ({CARD_TOTALS})(), t = ({TABLE_TOTALS})();
        return Object.keys(c).length === 4 && Object.keys(c).every(p => Math.abs(c[p] - t[p]) < 1.5e-4); }}""",
                           timeout=30_000)
    # open: each step updates the table
    before_table = page.evaluate(TABLE_TOTALS)
    page.locator("#w_latent_mse input[type=range]").focus()
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(f"() => JSON.stringify(({TABLE_TOTALS})()) !== {json.dumps(json.dumps(before_table))}",
                           timeout=30_000)
    page.wait_for_timeout(1000)
    assert _agree(page)


def test_the_first_screen_shows_what_is_diagnosed_and_one_mask_control(browser, app_url):
    """At 1280×800, without scrolling: the cards, the three images under diagnosis and the entry to
    diagnose one's own images; the mask source is one control whose choice shows only its input; the
    browser console stays free of errors."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(app_url, wait_until="load")
    page.wait_for_selector("#totals .total-value", timeout=90_000)
    page.wait_for_function("() => document.querySelector('#shown_pred img') !== null", timeout=60_000)
    for sel in ("#totals .total-card", "#shown_context img", "#shown_target img", "#shown_pred img", "#inputs_panel"):
        box = page.locator(sel).first.bounding_box()
        assert box is not None and box["y"] + min(box["height"], 40) <= 800, (sel, box)
    assert page.locator("#mask").is_visible() and not page.locator("#mask_editor").is_visible()
    page.locator("#mask_choice").get_by_text("drawn on the target").click()
    page.wait_for_function("() => document.querySelector('#mask_editor')?.offsetParent !== null"
                           " && !document.querySelector('#mask')?.offsetParent", timeout=10_000)
    assert not page.locator("#diff_threshold").is_visible()
    page.locator("#mask_choice").get_by_text("|target − context|").click()
    page.wait_for_function("() => document.querySelector('#diff_threshold')?.offsetParent !== null", timeout=10_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "first_screen_1280.png"))
    assert errors == [], errors
    page.close()
