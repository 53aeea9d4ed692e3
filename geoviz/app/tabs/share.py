"""The Share tab: notes, a bundle (.geoviz.zip), an HTML report, a link to this session; importing
a bundle and opening a link. Opening the page restores the session its ``?session=`` names, or
shows the demo. ``views`` is plain Python; ``build`` and ``wire`` put it on the page."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import gradio as gr

from geoviz.app.page import FOCUS, Page
from geoviz.app.sessions import (
    bundle_bytes,
    clone_session,
    demo_session,
    file_stem,
    session_dir,
    session_from_bundle,
    set_weight_values,
)
from geoviz.app.state import Focus, Session
from geoviz.app.uploads import path_of
from geoviz.data.readers import InputError
from geoviz.report.bundles import import_bundle, report_html

__all__ = ["ID", "TITLE", "VIEWS", "LAZY", "views", "build", "wire", "base_url", "session_id"]

ID, TITLE, LAZY = "share", "Share", False
VIEWS = {"restore": ("notes",)}


def views(session: Session, focus: Focus, kinds) -> dict:
    """``notes`` (kind ``restore``): the notes of the bundle or link the session came from."""
    return {"notes": session.notes} if "restore" in kinds else {}


def base_url(request: gr.Request | None) -> str:
    """The URL the browser used to reach this server (for links)."""
    if request is None:
        return "http://127.0.0.1:7860/"
    headers = request.headers
    host = headers.get("x-forwarded-host") or headers.get("host") or "127.0.0.1:7860"
    inner = getattr(request, "request", None)  # the Starlette request
    scheme = headers.get("x-forwarded-proto") or (inner.url.scheme if inner is not None else "http")
    return f"{scheme}://{host}/"


def session_id(link: str) -> str:
    """The id in ``http://host/?session=<id>`` (or the id itself)."""
    link = (link or "").strip()
    if "session=" in link:
        return (parse_qs(urlparse(link).query).get("session") or [""])[0]
    return link


def build(page: Page) -> None:
    """Notes, export, report, link, import and open."""
    add = page.add
    add("notes", gr.Textbox(label="notes for whoever opens this session", lines=3, elem_id="notes"))
    with gr.Row():
        add("export_btn", gr.Button("Export bundle (.geoviz.zip)", elem_id="export_bundle"))
        add("report_btn", gr.Button("Download report (HTML)", elem_id="download_report"))
        add("link_btn", gr.Button("Save & copy link", variant="primary", elem_id="save_link"))
    add("share_file", gr.File(label="download", interactive=False, elem_id="share_file"))
    add("link_box", gr.Textbox(label="link to this session (opens it in any browser that reaches this server)",
                               elem_id="share_link", interactive=False, buttons=["copy"]))
    add("import_file", gr.File(label="import a bundle (.geoviz.zip)", file_types=[".zip"], elem_id="import_bundle"))
    with gr.Row():
        add("open_box", gr.Textbox(label="open a link or session id", elem_id="open_link", scale=4))
        add("open_btn", gr.Button("Open", scale=1))


def _loaded(v) -> Session:
    if v.state is None:
        raise InputError("session", "nothing is loaded yet", "press Diagnose first")
    return v.state


def wire(page: Page) -> None:
    """Opening the page (a link's session or the demo), export, report, link, import and open."""
    restorable = page.restorable()

    def restored(new: Session, old: Session | None, focus: Focus) -> dict:
        if old is not None:
            new.files = old.files
        return {"state": new, **page.compose(new, focus, ["session", "weights", "restore", "weighted"])}

    def on_load(v, request):
        sid = request.query_params.get("session") if request is not None else None
        if sid:  # a shared link: that session, its weights, params and notes
            return restored(session_from_bundle(page.store.load(sid), v.device)[0], None, v.focus())
        session = clone_session(page.preload) if page.preload is not None else demo_session(v.device)
        set_weight_values(session, v.weights())
        return {"state": session, **page.compose(session, v.focus(), ["session", "weights", "restore", "weighted"])}

    load_inputs = ["device", *FOCUS[1:], *page.weight_names()]
    page.then_predictions(page.on(page.blocks.load, on_load, load_inputs, restorable, special=("request",),
                                  api_name="load_demo", compute=True, show_progress="hidden"))

    def on_export(v):
        session = _loaded(v)
        path = session_dir(session) / f"{file_stem(session.sample.name)}.geoviz.zip"
        path.write_bytes(bundle_bytes(session, v.notes))
        return {"share_file": str(path)}

    def on_report(v):
        session = _loaded(v)
        path = session_dir(session) / f"{file_stem(session.sample.name)}-report.html"
        path.write_text(report_html(session.sample, session.report, session.effective_weights(), v.notes),
                        encoding="utf-8")
        return {"share_file": str(path)}

    def on_link(v, request):
        sid = page.store.save(bundle_bytes(_loaded(v), v.notes))
        return {"link_box": base_url(request) + f"?session={sid}"}

    page.on(page["export_btn"].click, on_export, ["state", "notes"], ["share_file"], api_name="export_bundle")
    page.on(page["report_btn"].click, on_report, ["state", "notes"], ["share_file"], api_name="report")
    saved = page.on(page["link_btn"].click, on_link, ["state", "notes"], ["link_box"], special=("request",),
                    api_name="save_link")
    page.chain(saved, None, ["link_box"], [],
               js="(url) => { if (url && navigator.clipboard) navigator.clipboard.writeText(url); }")

    def on_import(v, progress):
        path = path_of(v.import_file)
        if not path:
            return {}
        progress(0, desc="restoring the bundle")
        return restored(session_from_bundle(import_bundle(path), v.device)[0], v.state, v.focus())

    def on_open(v):
        return restored(session_from_bundle(page.store.load(session_id(v.open_box)), v.device)[0], v.state, v.focus())

    view = ["device", *FOCUS[1:]]
    page.then_predictions(page.on(page["import_file"].upload, on_import, ["state", "import_file", *view], restorable,
                                  special=("progress",), api_name="import_bundle", compute=True))
    page.then_predictions(page.on([page["open_btn"].click, page["open_box"].submit], on_open, ["state", "open_box", *view],
                                  restorable, api_name="open_link", compute=True))
