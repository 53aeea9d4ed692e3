"""Dashboard latency, measured on this machine (medians; the machine is shared and noisy).

    python bench/bench_ui.py [--repeats 20]

1. A weight change, server side: the slider handler's time (combine + the open tab's figures and
   tables + Gradio's postprocessing), and the JSON payload of the API's weight change (every
   weighted view: an upper bound of what a slider step in the page receives).
2. In Chromium (Debian's, via Playwright): from a slider's input to the new total on screen (computed
   in the page), and to the server's updated heatmap and bars (in-page timers: input →
   MutationObserver).
3. Loading the demo: from navigation to the first complete diagnosis (totals, bars, table) on screen.
4. A tab switch: from the click to the last change inside the tabs (its figures drawn; a lazy tab's
   refresh from the server rendered), every tab in turn.

Budgets (issue 5): server work < 30 ms, payload < 300 KB; total on screen < 150 ms, heatmaps and bars
< 400 ms; first diagnosis < 5 s; tab switch < 300 ms (issue 18).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("GRADIO_TEMP_DIR", tempfile.mkdtemp(prefix="geoviz-bench-"))

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def server_side(repeats: int, device: str = "cpu") -> None:
    """The handler a slider's input runs (taken from the built Blocks, as Gradio calls it), plus
    Gradio's postprocessing of what it returns; with the Overview/Heatmaps tab open and with the
    Checkpoints and Sensitivity tabs open (their views are sent only then)."""
    from geoviz.app.labels import TOTAL
    from geoviz.app.layout import build_demo
    from geoviz.app.sessions import clone_session, demo_session

    template = demo_session(device)
    demo = build_demo(device, preload=template, sessions_dir=tempfile.mkdtemp(prefix="geoviz-bench-sessions-"))
    slider = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "w_latent_mse")
    handler = next(f for f in demo.fns.values() if (slider._id, "input") in f.targets and f.fn is not None)
    session = clone_session(template)
    pred = session.report.predictions[0]

    def step(i: int, tab: str):
        out = handler.fn(session, pred, TOTAL, "contribution", 0.65, 1.0 + 0.01 * (i % 7), tab)
        return [c.postprocess(v) for c, v in out.items() if not (isinstance(v, dict) and v.get("__type__"))]

    for tab in ("", "checkpoints", "sensitivity"):
        step(0, tab)
        times = []
        for i in range(repeats):
            t0 = time.perf_counter()
            step(i, tab)
            times.append(time.perf_counter() - t0)
        print(f"weight change, server work ({tab or 'overview/heatmaps'} tab open): median "
              f"{statistics.median(times) * 1e3:.1f} ms (p95 {sorted(times)[int(0.95 * (len(times) - 1))] * 1e3:.1f} ms;"
              " budget 30 ms)")


def payload(url: str) -> None:
    """One weight change through the REST API: the bytes of the event's JSON result."""
    import httpx
    from gradio_client import Client

    client = Client(url, verbose=False)
    client.predict(api_name="/load_demo")  # this client's session state
    ep = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/weights"]
    args = [p.get("parameter_default") for p in ep["parameters"]]
    args[4] = 1.3
    t0 = time.perf_counter()
    client.predict(*args, api_name="/weights")
    dt = time.perf_counter() - t0
    # the same call over the raw REST API, to weigh its payload
    with httpx.Client(base_url=url, timeout=60) as h:
        data = {"data": args, "session_hash": client.session_hash}
        r = h.post("/gradio_api/call/weights", json=data)
        event_id = r.json()["event_id"]
        body = h.get(f"/gradio_api/call/weights/{event_id}").text
    print(f"weight change through the API (every weighted view; a slider step in the page sends a subset), "
          f"response payload: {len(body.encode()) / 1024:.0f} KB (budget 300 KB); "
          f"round trip through gradio_client {dt * 1e3:.0f} ms (the client alone has an ~85 ms floor)")


IN_PAGE = """
([sliderSel, n]) => new Promise(async (resolve) => {
  const slider = document.querySelector(sliderSel);
  // the numbers themselves (the status tracker writes "processing | 0.1s" into the same elements)
  const all = (sel) => Array.from(document.querySelectorAll(sel)).map(e => e.textContent).join('|');
  const text = {
    totals: () => all('#totals .total-value'),
    bars: () => all('#bars .gv-total'),
    heat: () => (document.querySelector('#heatmap .gtitle') || {}).textContent || '',
  };
  // resolves when the element's visible text differs from what it showed before the input
  const changed = (key, before) => new Promise(res => {
    const el = document.querySelector('#' + (key === 'heat' ? 'heatmap' : key));
    const check = () => { if (text[key]() !== before) { obs.disconnect(); res(performance.now()); } };
    const obs = new MutationObserver(check);
    obs.observe(el, {subtree: true, childList: true, characterData: true});
  });
  const results = [];
  for (let i = 0; i < n; i++) {
    const before = {totals: text.totals(), bars: text.bars(), heat: text.heat()};
    const waits = ['totals', 'bars', 'heat'].map(k => changed(k, before[k]));
    const t0 = performance.now();
    slider.value = (parseFloat(slider.value) + (i % 2 ? -0.05 : 0.05)).toFixed(2);
    slider.dispatchEvent(new Event('input', {bubbles: true}));
    const [a, b, c] = await Promise.all(waits);
    results.push([a - t0, b - t0, c - t0]);
    await new Promise(r => setTimeout(r, 300));
  }
  resolve(results);
})
"""


# From a click on a tab to its content on screen: every figure of the tab drawn (or showing its empty
# placeholder) and no visible change inside the tabs for 400 ms after the last one (a lazy tab's
# refresh from the server rendered). Gradio mounts a tab's components when it is first opened, so a
# first open also pays for creating them and drawing every figure once.
TAB_SWITCH = r"""
async ([names, rounds, plots]) => {
  const buttons = [...document.querySelectorAll('#main_tabs [role=tab]')];
  const root = document.querySelector('#main_tabs');
  const drawn = () => plots.every((id) => { const el = document.getElementById(id);
    return !el || el.offsetParent === null || el.querySelector('.main-svg, .empty'); });
  const out = {};
  for (let r = 0; r < rounds; r++) for (const name of names) {
    const button = buttons.find((t) => t.innerText.trim() === name);
    const t0 = performance.now();
    let last = t0;
    // Gradio's status trackers (hidden: show_progress="hidden") change when an event ends, shown or not
    const seen = (m) => { const el = m.target.nodeType === 1 ? m.target : m.target.parentElement;
      return el && !el.closest('.wrap.center, .wrap.default'); };
    const obs = new MutationObserver((ms) => { if (ms.some(seen)) last = performance.now(); });
    obs.observe(root, {subtree: true, childList: true, attributes: true, characterData: true});
    button.click();
    await new Promise((res) => {
      const tick = () => { const now = performance.now();
        if ((now - last > 400 && now - t0 > 100 && drawn()) || now - t0 > 15000) res(); else setTimeout(tick, 20); };
      setTimeout(tick, 20);
    });
    obs.disconnect();
    (out[name] = out[name] || []).push(last - t0);
  }
  return out;
}
"""


def plot_ids(demo) -> list[str]:
    """The elem_ids of the page's figures (gr.Plot)."""
    import gradio as gr

    return [c.elem_id for c in demo.blocks.values() if isinstance(c, gr.Plot) and c.elem_id]


def tab_switch(page, rounds: int, plots: list[str]) -> None:
    """The median time of a tab switch, first opens apart from the others (budget 300 ms)."""
    names = [t.strip() for t in page.locator("#main_tabs [role=tab]").all_inner_texts() if t.strip() != "Datasets"]
    res = page.evaluate(TAB_SWITCH, [names, rounds, plots])
    first = {n: v[0] for n, v in res.items() if n != names[0]}  # the first tab is open at the start
    later = [x for v in res.values() for x in v[1:]]
    print(f"tab switch → its content on screen: median {statistics.median(later):.0f} ms over {len(later)} switches "
          f"(budget 300 ms); per tab " + ", ".join(f"{n} {statistics.median(v[1:]):.0f}" for n, v in res.items()))
    print(f"first open of a tab (Gradio mounts it, every figure drawn once): median {statistics.median(first.values()):.0f} ms; "
          + ", ".join(f"{n} {v:.0f}" for n, v in first.items()))


def browser(url: str, repeats: int, plots: list[str]) -> None:
    if not Path(CHROMIUM).exists():
        print(f"(no Chromium at {CHROMIUM}: browser timings skipped)")
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        loads = []
        for _ in range(3):
            ctx = b.new_context(viewport={"width": 1500, "height": 1300})
            page = ctx.new_page()
            t0 = time.perf_counter()
            page.goto(url, wait_until="load")
            page.wait_for_selector("#totals .total-value", timeout=60_000)
            page.wait_for_selector("#bars .gv-row", timeout=60_000)
            page.wait_for_selector("#table table", timeout=60_000)
            loads.append(time.perf_counter() - t0)
            ctx.close()
        print(f"demo at start: first complete diagnosis on screen, median {statistics.median(loads):.2f} s "
              f"(runs {', '.join(f'{x:.2f}' for x in loads)}; budget 5 s)")
        ctx = b.new_context(viewport={"width": 1500, "height": 1300})
        page = ctx.new_page()
        page.goto(url, wait_until="load")
        page.wait_for_selector("#bars .gv-row", timeout=60_000)
        page.get_by_role("tab", name="Heatmaps").click()
        page.wait_for_selector("#heatmap .js-plotly-plot", timeout=60_000)
        page.wait_for_timeout(1500)
        res = page.evaluate(IN_PAGE, ["#w_latent_mse input[type=range]", repeats])
        tot, bars, heat = (statistics.median(r[i] for r in res) for i in range(3))
        print(f"slider input → new total on screen: median {tot:.0f} ms (budget 150 ms)")
        print(f"slider input → updated bars: median {bars:.0f} ms; heatmap: median {heat:.0f} ms (budget 400 ms)")
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            print(f"peak CUDA memory of the server: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
        tab_switch(page, max(4, repeats // 4), plots)
        ctx.close()
        b.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu", help="the server's device")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    server_side(args.repeats, args.device)
    from load import start_server  # bench/load.py: the dashboard in this process, on a free port

    url, demo = start_server(concurrency=4, device=args.device)
    try:
        payload(url)
        browser(url, args.repeats, plot_ids(demo))
    finally:
        demo.close()


if __name__ == "__main__":
    main()
