"""The results head: what is diagnosed, one card per checkpoint (total and scale), the prediction
inspected, and the exact numbers for API clients.

``views`` is plain Python (tested without a server); ``build`` and ``wire`` put it on the page.
"""

from __future__ import annotations

import gradio as gr

from geoviz.app.cards import report_summary, totals_html
from geoviz.app.describe import notices_md
from geoviz.app.page import FOCUS, Page
from geoviz.app.state import Focus, Session, Update

__all__ = ["VIEWS", "views", "build", "build_inspect", "wire"]

VIEWS = {"session": ("notices", "inspect"), "weighted": ("totals", "report_json")}


def views(session: Session, focus: Focus, kinds) -> dict:
    """``notices`` and ``inspect`` (session); ``totals`` and ``report_json`` (weighted)."""
    out = {}
    if "session" in kinds:
        out["notices"] = notices_md(session)
        out["inspect"] = Update.of(session.inspect, choices=list(session.report.predictions))
    if "weighted" in kinds:
        c = session.combined()
        out["totals"] = totals_html(session, c)
        out["report_json"] = report_summary(session, c)
    return out


def build(page: Page) -> None:
    """The cards and the hidden exact numbers (the notices are placed by the layout, the inspect
    dropdown by :func:`build_inspect`)."""
    page.add("totals", gr.HTML(elem_id="totals"))
    page.add("report_json", gr.JSON(visible=False, elem_id="report_json"))  # exact numbers for API clients


def build_inspect(page: Page) -> None:
    """The prediction to inspect (shown above the tabs)."""
    page.add("inspect", gr.Dropdown([], label="prediction to inspect", elem_id="inspect", scale=2))


def wire(page: Page) -> None:
    """Choosing the prediction to inspect redraws every per-prediction view and the heatmap."""
    outputs = page.outputs_of("inspect", "prediction")

    def on_inspect(v):
        session = v.state
        if session is None or v.inspect not in session.report.predictions:
            return {}
        session.inspect = v.inspect
        return page.compose(session, v.focus(), ["inspect", "prediction"])

    page.on(page["inspect"].input, on_inspect, ["state", *FOCUS], outputs, api_name="inspect")
