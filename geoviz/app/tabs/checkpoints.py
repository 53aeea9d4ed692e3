"""The Checkpoints tab: the predictions side by side with the target, ordered by step; a table and
charts of the total, every weighted term and the estimated scale along the steps. ``views`` is plain
Python; ``build`` puts it on the page. Its weighted views are sent only while it is open."""

from __future__ import annotations

import gradio as gr
import pandas as pd

import geoviz.report.figures as FG
from geoviz.app.labels import TERM_LABELS
from geoviz.app.page import Page
from geoviz.app.state import Focus, Session
from geoviz.engine.combine import Combined

__all__ = ["ID", "TITLE", "VIEWS", "LAZY", "views", "build", "wire", "checkpoint_table"]

ID, TITLE, LAZY = "checkpoints", "Checkpoints", True
VIEWS = {"session": ("gallery",), "prediction": ("image_slider",),
         "weighted": ("ckpt_table", "ckpt_lines", "ckpt_bars", "ckpt_scale")}


def by_step(preds) -> list[str]:
    return sorted(preds, key=lambda p: (FG.step_of(p), p))


def checkpoint_table(session: Session, combined: Combined) -> tuple[pd.DataFrame, dict]:
    """A row per checkpoint by step: ★ the best total, its total, estimated scale and the weighted
    term that makes most of it (label and share; each term's value is in the Overview table and the
    line chart); and the line chart of every weighted term that is not 0 everywhere."""
    preds = session.report.predictions
    best = min(preds, key=lambda p: combined.totals[p])
    series = {t: [combined.weighted[p][t] for p in preds] for t in session.report.terms
              if any(combined.weighted[p][t] for p in preds)}
    rows = []
    for p in by_step(preds):
        sc = session.report.scales.get(p)
        parts = {t: v for t, v in combined.weighted[p].items() if v}
        top = max(parts, key=lambda t: abs(parts[t]), default=None)
        total = combined.totals[p]
        rows.append({"checkpoint": ("★ " if p == best else "") + p, "total": round(total, 5),
                     "estimated scale": None if sc is None or sc.estimate is None else round(sc.estimate, 4),
                     "largest term": "—" if top is None else (
                         f"{TERM_LABELS[top]} ({100 * parts[top] / total:.0f}%)" if total else TERM_LABELS[top])})
    return pd.DataFrame(rows), FG.checkpoint_lines(preds, series, combined.totals, TERM_LABELS)


def views(session: Session, focus: Focus, kinds) -> dict:
    """``gallery`` (session: images are sent once), ``image_slider`` (prediction), and the table and
    three charts (weighted)."""
    out = {}
    r = session.report
    if "session" in kinds:
        out["gallery"] = [(session.prediction_image(p), p) for p in by_step(r.predictions)]
    if "prediction" in kinds:
        out["image_slider"] = (session.sample.target, session.sample.predictions[focus.pred_in(session)])
    if "weighted" in kinds:
        c = session.combined()
        out["ckpt_table"], out["ckpt_lines"] = checkpoint_table(session, c)
        out["ckpt_bars"] = FG.contributions_bar(r.predictions, r.terms, c.weighted, TERM_LABELS, c.totals)
        out["ckpt_scale"] = FG.scale_by_step_figure(r.predictions, r.scales, r.kind)
    return out


def build(page: Page) -> None:
    """The image slider, the gallery, the table and the three charts."""
    page.add("image_slider", gr.ImageSlider(label="target ↔ prediction to inspect", elem_id="image_slider"))
    page.add("gallery", gr.Gallery(label="predictions (ordered by step)", columns=4, height=260, elem_id="gallery"))
    page.add("ckpt_table", gr.Dataframe(interactive=False, elem_id="ckpt_table"))
    for name in ("ckpt_scale", "ckpt_lines", "ckpt_bars"):
        page.add(name, gr.Plot(show_label=False, elem_id=name))


def wire(page: Page) -> None:
    """Nothing of its own: its views follow the session, the weights and the inspected prediction."""
