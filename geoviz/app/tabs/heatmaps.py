"""The Heatmaps tab: a term's (or the weighted total's) contribution map or gradient over the
prediction. ``views`` and :func:`heatmap_figure` are plain Python; ``build`` puts them on the page."""

from __future__ import annotations

import gradio as gr
import numpy as np

import geoviz.report.figures as FG
from geoviz.app.labels import TERM_LABELS, TOTAL, fmt
from geoviz.app.page import FOCUS, HIDDEN, Page
from geoviz.app.state import Focus, Session
from geoviz.engine.combine import Combined
from geoviz.engine.terms import REGISTRY

__all__ = ["ID", "TITLE", "VIEWS", "LAZY", "views", "build", "wire", "heatmap_figure"]

ID, TITLE, LAZY = "heatmaps", "Heatmaps", False
VIEWS = {"weighted": ("heatmap",), "inspect": ("heatmap",)}


def _total_figure(img, combined: Combined, pred: str, kind: str, opacity: float) -> dict:
    if kind == "gradient":
        grads = combined.gradient[pred]
        key = "latent" if "latent" in grads else next(iter(grads), None)
        if key is None:
            return FG.overlay_figure(img, None, title="no weighted gradient (all weights 0)")
        return FG.overlay_figure(img, grads[key], opacity=opacity, symmetric=key == "depth",
                                 colorscale=FG.DIVERGING if key == "depth" else FG.SEQUENTIAL,
                                 title=f"{pred} · weighted total gradient w.r.t. {key}",
                                 colorbar_title="|∂L/∂z|" if key != "depth" else "∂L/∂d")
    cmap = combined.contribution[pred]
    signed = bool(cmap is not None and np.nanmin(cmap) < 0)
    title = f"{pred} · weighted total contribution (Σ = {combined.mapped_total[pred]:.4g} of {combined.totals[pred]:.4g})"
    return FG.overlay_figure(img, cmap, opacity=opacity, title=title, colorbar_title="loss / px", symmetric=signed,
                             colorscale=FG.DIVERGING if signed else FG.SEQUENTIAL)


def heatmap_figure(session: Session, combined: Combined, pred: str, term: str, kind: str, opacity: float) -> dict:
    """The heatmap over ``pred``: ``term`` (or the weighted total) as ``kind`` ``"contribution"``
    (the map whose sum is the value, where the term has one) or ``"gradient"`` (|∂L/∂input|, signed
    for depth), overlaid on the prediction at ``opacity``; a titled empty figure when skipped."""
    img = session.prediction_image(pred)
    if term == TOTAL:
        return _total_figure(img, combined, pred, kind, opacity)
    r = session.report.results[pred][term]
    if not r.ok:
        return FG.overlay_figure(img, None, title=f"{TERM_LABELS[term]}: skipped — {r.skipped}")
    shown = kind
    if kind == "contribution" and r.contribution is not None:
        values, signed, label = r.contribution, bool(np.nanmin(r.contribution) < 0), "loss / px"
    else:
        values, signed = r.gradient, r.input == "depth"
        label = "∂L/∂d" if signed else "|∂L/∂input|"
        if kind == "contribution":  # say so: the map on screen is not what was asked for
            shown = "no contribution map (not a sum over pixels): its gradient instead"
    return FG.overlay_figure(img, values, opacity=opacity, symmetric=signed,
                             colorscale=FG.DIVERGING if signed else FG.SEQUENTIAL,
                             title=f"{pred} · {TERM_LABELS[term]} = {fmt(r.value)} · {shown} ({r.space} grid)",
                             colorbar_title=label)


def views(session: Session, focus: Focus, kinds) -> dict:
    """``heatmap`` (weighted and inspect): the focus's term and map over the focus's prediction."""
    if not {"weighted", "inspect"} & set(kinds):
        return {}
    term = focus.term if focus.term in REGISTRY or focus.term == TOTAL else TOTAL
    return {"heatmap": heatmap_figure(session, session.combined(), focus.pred_in(session), term, focus.kind,
                                      focus.opacity)}


def build(page: Page) -> None:
    """The term, map and opacity controls and the heatmap."""
    with gr.Row():
        page.add("heat_term", gr.Dropdown([(TOTAL, TOTAL)] + [(TERM_LABELS[t], t) for t in REGISTRY], value=TOTAL,
                                          label="term", elem_id="heat_term"))
        page.add("heat_kind", gr.Radio(["contribution", "gradient"], value="contribution", label="map"))
        page.add("opacity", gr.Slider(0.0, 1.0, value=0.65, step=0.05, label="opacity", elem_id="opacity"))
    page.add("heatmap", gr.Plot(elem_id="heatmap", show_label=False))


def wire(page: Page) -> None:
    """The heatmap follows its controls."""
    def on_view(v):
        return {} if v.state is None else views(v.state, v.focus(), ["inspect"])

    page.on([page["heat_term"].input, page["heat_kind"].input, page["opacity"].release], on_view, ["state", *FOCUS],
            ["heatmap"], trigger_mode="always_last", api_name="view", **HIDDEN)
