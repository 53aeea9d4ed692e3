"""The Overview tab: every term's weighted contribution per checkpoint, the table of values, and
which terms were skipped and why. ``views`` is plain Python; ``build`` puts it on the page."""

from __future__ import annotations

import gradio as gr
import pandas as pd

import geoviz.report.figures as FG
from geoviz.app.labels import TERM_LABELS, esc, fmt
from geoviz.app.page import Page
from geoviz.app.state import Focus, Session
from geoviz.engine.combine import Combined
from geoviz.engine.terms import REGISTRY

__all__ = ["ID", "TITLE", "VIEWS", "LAZY", "views", "build", "wire", "overview_table", "skipped_md"]

ID, TITLE, LAZY = "overview", "Overview", False
VIEWS = {"session": ("skipped", "table_show", "ov_scale"), "weighted": ("bars", "table")}


SHOW = {"weighted": "weighted value", "raw": "raw value", "share": "share of the total"}


def overview_table(session: Session, combined: Combined, show: str = "weighted") -> pd.DataFrame:
    """Terms as rows, one column per checkpoint (its name), each cell the term's ``show`` —
    ``weighted`` value (weight × raw), ``raw`` value or ``share`` of the checkpoint's total — with an
    estimated-scale row first and the total last: it fits its pane with any number of terms."""
    preds = session.report.predictions
    rows = [{"family": "", "term": "estimated scale", "weight": "",
             **{p: _scale_cell(session.report.scales.get(p)) for p in preds}}]
    for t in session.report.terms:
        row = {"family": REGISTRY[t].spec, "term": TERM_LABELS[t], "weight": round(combined.weights[t], 4)}
        for p in preds:
            r = session.report.results[p][t]
            if not r.ok:
                row[p] = "skipped"
            elif show == "raw":
                row[p] = fmt(r.value)
            elif show == "share":
                row[p] = f"{100 * combined.shares[p][t]:.1f}%"
            else:
                row[p] = fmt(combined.weighted[p][t])
        rows.append(row)
    rows.append({"family": "", "term": "TOTAL", "weight": "",
                 **{p: "100%" if show == "share" else fmt(combined.totals[p]) for p in preds}})
    return pd.DataFrame(rows)


def _scale_cell(readout) -> str:
    return "" if readout is None else ("declined" if readout.estimate is None else f"{readout.estimate:.3f}")


def skipped_md(session: Session) -> str:
    """Skipped terms grouped by term: the reason once (the checkpoint's name generalised) and which
    predictions it concerns."""
    by_term: dict[str, tuple[str, list[str]]] = {}
    for p, items in session.report.skipped().items():
        for t, why in items.items():
            reason, preds = by_term.get(t, (why.replace(p, "<checkpoint>"), []))
            preds.append(p)
            by_term[t] = (reason, preds)
    if not by_term:
        return "No term was skipped."
    n = len(session.report.predictions)
    lines = [f"- **{TERM_LABELS[t]}** — {esc(reason)} ({'all predictions' if len(ps) == n else ', '.join(map(esc, ps))})"
             for t, (reason, ps) in by_term.items()]
    return "**Skipped terms**\n\n" + "\n".join(lines)


def views(session: Session, focus: Focus, kinds) -> dict:
    """``skipped``, ``table_show`` and ``ov_scale`` (the scale across checkpoints) (session); ``bars``
    (stacked contributions, HTML) and ``table`` (weighted)."""
    out = {}
    r = session.report
    if "session" in kinds:
        out["skipped"] = skipped_md(session)
        out["table_show"] = session.table_show
        out["ov_scale"] = FG.scale_by_step_figure(r.predictions, r.scales, r.kind)
    if "weighted" in kinds:
        c = session.combined()
        out["bars"] = FG.contributions_html(session.report.predictions, session.report.terms, c.weighted, c.totals,
                                            TERM_LABELS)
        out["table"] = overview_table(session, c, session.table_show)
    return out


def build(page: Page) -> None:
    """The contribution bars, the scale across checkpoints, the table (and what its cells show) and the
    skipped terms."""
    page.add("bars", gr.HTML(elem_id="bars"))
    # how far each checkpoint is off in scale, by step (also what draws plotly once on the first
    # screen, so the first figure tab opens without loading it)
    page.add("ov_scale", gr.Plot(show_label=False, elem_id="ov_scale"))
    page.add("table_show", gr.Radio([(label, key) for key, label in SHOW.items()], value="weighted",
                                    label="table cells", elem_id="table_show"))
    page.add("table", gr.Dataframe(elem_id="table", interactive=False, wrap=True))
    page.add("skipped", gr.Markdown(elem_id="skipped"))


def wire(page: Page) -> None:
    """The table's cells follow their choice (kept on the session: a weight change keeps it)."""

    def on_show(v):
        if v.state is None or v.table_show not in SHOW:
            return {}
        v.state.table_show = v.table_show
        return {"table": overview_table(v.state, v.state.combined(), v.table_show)}

    page.on(page["table_show"].input, on_show, ["state", "table_show"], ["table"], show_progress="hidden")
