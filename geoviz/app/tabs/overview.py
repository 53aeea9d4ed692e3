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
VIEWS = {"session": ("skipped",), "weighted": ("bars", "table")}


def overview_table(session: Session, combined: Combined) -> pd.DataFrame:
    """Every term × prediction: raw value, weight, weighted value, share of the total."""
    preds = session.report.predictions
    scale_row = {"family": "", "term": "estimated scale", "weight": ""}
    for p in preds:
        sc = session.report.scales.get(p)
        scale_row[f"{p} raw"] = "" if sc is None else ("declined" if sc.estimate is None else f"{sc.estimate:.3f}")
        scale_row[f"{p} weighted"] = scale_row[f"{p} share"] = ""
    rows = [scale_row]
    for t in session.report.terms:
        row = {"family": REGISTRY[t].spec, "term": TERM_LABELS[t], "weight": round(combined.weights[t], 4)}
        for p in preds:
            r = session.report.results[p][t]
            row[f"{p} raw"] = fmt(r.value) if r.ok else "skipped"
            row[f"{p} weighted"] = fmt(combined.weighted[p][t])
            row[f"{p} share"] = f"{100 * combined.shares[p][t]:.1f}%" if r.ok else ""
        rows.append(row)
    total = {"family": "", "term": "TOTAL", "weight": ""}
    for p in preds:
        total.update({f"{p} raw": "", f"{p} weighted": fmt(combined.totals[p]), f"{p} share": "100%"})
    rows.append(total)
    return pd.DataFrame(rows)


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
    """``skipped`` (session); ``bars`` (stacked contributions, HTML) and ``table`` (weighted)."""
    out = {}
    if "session" in kinds:
        out["skipped"] = skipped_md(session)
    if "weighted" in kinds:
        c = session.combined()
        out["bars"] = FG.contributions_html(session.report.predictions, session.report.terms, c.weighted, c.totals,
                                            TERM_LABELS)
        out["table"] = overview_table(session, c)
    return out


def build(page: Page) -> None:
    """The contribution bars, the table and the skipped terms."""
    page.add("bars", gr.HTML(elem_id="bars"))
    page.add("table", gr.Dataframe(elem_id="table", interactive=False, wrap=True))
    page.add("skipped", gr.Markdown(elem_id="skipped"))


def wire(page: Page) -> None:
    """Nothing of its own: its views follow the session and the weights."""
