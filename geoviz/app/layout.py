"""The dashboard's page: the panels and tabs composed into one ``gr.Blocks``.

Each tab (``geoviz.app.tabs.<tab>``) and panel (``geoviz.app.panels.<panel>``) builds its own
components and wires its own events; this module places them, and composes what a new session, a
weight change or a new inspected prediction shows from every module's ``views``.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import torch

from geoviz.app.labels import refresh_terms
from geoviz.app.page import FOCUS, HIDDEN, Page
from geoviz.app.panels import images, inputs, summary, weights
from geoviz.app.sessions import forget_session
from geoviz.app.state import Focus, Session
from geoviz.app.style import CSS
from geoviz.app.tabs import (
    checkpoints,
    datasets,
    depth,
    heatmaps,
    latent,
    overview,
    params,
    run,
    sensitivity,
    share,
    texture,
)
from geoviz.data.readers import InputError
from geoviz.data.tempfiles import MAX_AGE_S
from geoviz.models.choice import resolve_device
from geoviz.report.bundles import SessionStore
from geoviz.version import __version__

__all__ = ["build_demo", "TABS", "MODULES", "KINDS", "devices", "compose", "stale_lazy_views"]

TABS = [overview, heatmaps, latent, depth, texture, checkpoints, sensitivity, params, share, datasets, run]
# the order views are composed and sent in; the summary last, so the exact numbers are every
# event's last output (API clients read them as out[-1])
MODULES = [weights, inputs, images, *TABS, summary]
KINDS = ("session", "weights", "weighted", "prediction", "inspect", "restore")


def devices() -> list[str]:
    """The device choices this machine has: ``auto``, ``cpu`` and ``cuda`` where CUDA is available."""
    return ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def compose(session: Session, focus: Focus, kinds: tuple[str, ...], tabs: tuple[str, ...] | None) -> dict:
    """Every module's views of ``kinds``; a lazy tab's weighted views only when it is in ``tabs``
    (and then the session records what they were made from: :func:`stale_lazy_views`)."""
    out: dict = {}
    for module in MODULES:
        wanted = [k for k in kinds if k in module.VIEWS]
        lazy = getattr(module, "LAZY", False)
        if lazy and tabs is not None and module.ID not in tabs:
            wanted = [k for k in wanted if k != "weighted"]
        if wanted:
            out.update(module.views(session, focus, wanted))
            if lazy and "weighted" in wanted:
                session.sent[module.ID] = session.weighted_source(focus.pred_in(session))
    return out


def stale_lazy_views(session: Session, focus: Focus, tab: str) -> bool:
    """Whether the lazy tab ``tab``'s weighted views on screen were made from something else than the
    session holds now (other weights, report, sweep or prediction): only then does opening it redraw
    them. An unchanged tab opens without a round of figures from the server."""
    return session.sent.get(tab) != session.weighted_source(focus.pred_in(session))


def view_names() -> dict[str, list[str]]:
    """Each kind's view names, in :data:`MODULES` order."""
    return {k: [n for m in MODULES for n in m.VIEWS.get(k, ())] for k in KINDS}


def _results(page: Page) -> None:
    with gr.Row():
        summary.build_inspect(page)
        weights.build_preset(page)
    with gr.Tabs(elem_id="main_tabs", selected=run.ID if page.run_dir is not None else None) as tabs:
        page.add("main_tabs", tabs)
        for tab in TABS:
            with gr.Tab(tab.TITLE, id=tab.ID, visible=getattr(tab, "shown", lambda p: True)(page)):
                tab.build(page)


def _wire_open_tab(page: Page) -> None:
    """Which tab is open (a weight change updates only the open lazy tab's views), and bringing a lazy
    tab's views up to date when it opens."""
    ids = {tab.TITLE: tab.ID for tab in TABS}
    lazy = [n for tab in TABS if getattr(tab, "LAZY", False) for n in tab.VIEWS.get("weighted", ())]

    def on_tab(v, evt):
        name = ids.get(str(evt.value), str(evt.value).lower())
        lazy = any(t.ID == name and getattr(t, "LAZY", False) for t in TABS)
        if v.state is None or not lazy or not stale_lazy_views(v.state, v.focus(), name):
            return {"open_tab": name}
        return {"open_tab": name, **compose(v.state, v.focus(), ("weighted",), (name,))}

    page.on(page["main_tabs"].select, on_tab, ["state", FOCUS[0]], ["open_tab", *lazy], special=("evt",), **HIDDEN)


def build_demo(device: str = "auto", preload: Session | None = None, sessions_dir: str | Path | None = None,
               data_root: str | Path | None = None, depth_weights: str | None = None,
               taef1_weights: str | None = None, run_dir: str | Path | None = None) -> gr.Blocks:
    """The dashboard. ``preload``: a Session shown to every new browser session at start (the demo);
    ``sessions_dir``: where "Save & copy link" keeps sessions; ``data_root``: datasets (and runs) it
    may open; ``run_dir``: a training run it follows, opened on its tab."""
    if run_dir is not None and not Path(run_dir).is_dir():
        raise InputError(str(run_dir), "is not a folder", "give the folder a geoviz.RunRecorder writes (it makes it on "
                         "the first log; start the training first, or make the folder)")
    refresh_terms()
    resolve_device(device)  # fail early on an impossible device
    page = Page(device=device, preload=preload, store=SessionStore(sessions_dir),
                data_root=Path(data_root).resolve() if data_root else None, depth_weights=depth_weights,
                run_dir=Path(run_dir).resolve() if run_dir else None,
                taef1_weights=taef1_weights, composer=compose, view_names=view_names())
    # Gradio's upload cache: files older than the temp-file age are swept every hour
    with gr.Blocks(title="geoviz — geometry loss diagnostics", analytics_enabled=False,
                   delete_cache=(3600, int(MAX_AGE_S))) as demo:
        page.blocks = demo
        page.add("state", gr.State(None, time_to_live=6 * 3600, delete_callback=forget_session))
        page.add("open_tab", gr.State(run.ID if page.run_dir is not None else ""))  # the main tab open now (its lazy views follow the weights)
        with gr.Row(equal_height=True):
            gr.Markdown(f"## geoviz · geometry-loss diagnostics for insertion & material LoRAs  <small>v{__version__}</small>")
            page.add("device", gr.Dropdown(devices(), value=device, label="device", scale=0, min_width=120,
                                           elem_id="device"))
        page.add("notices", gr.Markdown(elem_id="notices"))
        with gr.Row():
            with gr.Column(scale=4):  # what is diagnosed and how it came out, above the fold
                summary.build(page)
                images.build(page)
                _results(page)
            with gr.Column(scale=1, min_width=340):
                with gr.Accordion("Diagnose your own images", open=True, elem_id="inputs_panel"):
                    inputs.build(page)
                    inputs.build_examples(page)
                with gr.Accordion("Weights", open=True, elem_id="weights_panel"):
                    weights.build(page)
        for module in MODULES:
            module.wire(page)
        _wire_open_tab(page)
    demo.geoviz_css = CSS  # launch(css=...) in Gradio 6
    demo.geoviz_page = page
    return demo
