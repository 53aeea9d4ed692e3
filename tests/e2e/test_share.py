"""Sharing through the running app: a link saved by one session opens in another (two
gradio_client sessions, and a fresh browser context); the exported bundle and the HTML report."""

import re
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from test_api import call

from geoviz.report.bundles import import_bundle


def _summary(out):
    return next(o for o in out if isinstance(o, dict) and "values" in o)


def test_link_opens_in_another_session(app_url):
    a, b = Client(app_url, verbose=False), Client(app_url, verbose=False)
    assert a.session_hash != b.session_hash
    values_a = _summary(call(a, "/load_demo"))
    link = a.predict("please check step_0500", api_name="/save_link")
    m = re.fullmatch(r"https?://[^/]+/\?session=([A-Za-z0-9_-]{32})", link)
    assert m, link
    out_b = call(b, "/open_link", link=link)
    values_b = _summary(out_b)
    assert values_b["values"] == values_a["values"] and values_b["totals"] == pytest.approx(values_a["totals"])
    assert "please check step_0500" in out_b
    with pytest.raises(Exception, match="session"):
        call(b, "/open_link", link=app_url + "?session=" + "A" * 32)


def test_export_bundle_and_report_downloads(app_url, tmp_path):
    c = Client(app_url, verbose=False)
    values = _summary(call(c, "/load_demo"))
    path = c.predict("notes!", api_name="/export_bundle")
    b = import_bundle(Path(path))
    assert b.values == values["values"] and b.notes == "notes!"
    report = Path(c.predict("", api_name="/report"))
    assert report.suffix == ".html" and "step_0500" in report.read_text()
    # re-import the bundle through the app: the same numbers
    restored = _summary(call(c, "/import_bundle", file=handle_file(str(path))))
    assert restored["values"] == values["values"]


def test_link_in_a_fresh_browser_and_offline_report(browser, app_url, tmp_path):
    c = Client(app_url, verbose=False)
    call(c, "/load_demo")
    d = Path(__file__).resolve().parents[2] / "assets" / "tiles_wall"  # not the demo: the link must carry it
    values = _summary(call(c, "/diagnose", ctx=handle_file(str(d / "context.png")), tgt=handle_file(str(d / "target.png")),
                           m_file=handle_file(str(d / "mask.png")),
                           pr=[handle_file(str(p)) for p in sorted((d / "pred").glob("*.png"))]))
    link = c.predict("", api_name="/save_link")
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(link, wait_until="load")
    page.wait_for_selector("#totals .total-value", timeout=60_000)
    shown = page.evaluate("() => Array.from(document.querySelectorAll('#totals .total-value')).map(e => e.textContent)")
    assert shown == [f"{values['totals'][p]:.4f}" for p in values["totals"]]
    assert "period_1.25" in page.locator("#totals").inner_text()
    ctx.close()
    # the HTML report renders with no network request at all
    report = Path(c.predict("", api_name="/report"))
    ctx = browser.new_context()
    page = ctx.new_page()
    requests = []
    page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:", "blob:")) else None)
    page.goto(report.as_uri(), wait_until="load")
    page.wait_for_selector("#bars .main-svg", timeout=30_000)
    assert requests == []
    ctx.close()
