"""The Texture tab (003): radial spectra, autocorrelation peaks and the log-polar spectrum of the
inspected prediction against the target, and the period ratio read off them for a material sample.
``views`` is plain Python; ``build`` puts it on the page."""

from __future__ import annotations

import gradio as gr

import geoviz.report.figures as FG
from geoviz.app.describe import scale_label
from geoviz.app.labels import fmt
from geoviz.app.page import Page
from geoviz.app.state import Focus, Session

__all__ = ["ID", "TITLE", "VIEWS", "LAZY", "views", "build", "wire", "texture_md"]

ID, TITLE, LAZY = "texture", "Texture", False
VIEWS = {"prediction": ("texture_md", "spectra", "acf", "log_polar")}


def texture_md(session: Session, pred: str) -> str:
    """The tab's headline: the period ratio (material) or why the periods are no readout (insertion)."""
    res = session.report.results[pred]
    spec, acf = res["texture_spectral"], res["texture_acf"]
    readout = session.report.scales.get(pred)
    lines = []
    if session.report.kind == "material":
        if readout is not None and readout.estimate is not None:
            lines.append(f"Estimated period ratio (prediction / target): **{readout.estimate:.3f}** — "
                         + FG.period_sentence(readout.estimate, 1.0).split(" (")[0] + f" ({readout.method})")
        elif readout is not None:
            lines.append(f"No period ratio: {readout.reason}")
        if acf.ok:
            lines.append("ACF: " + FG.period_sentence(acf.extras["period_pred_px"], acf.extras["period_target_px"]))
        if spec.ok:
            lines.append("Spectral peak (the 003 term's soft peak): "
                         + FG.period_sentence(spec.extras["period_pred_px"], spec.extras["period_target_px"]))
    else:
        lines.append("This is an insertion sample: the texture terms compare the inside of the mask, and their "
                     "periods are not a size readout (the object's scale is on its card: "
                     f"**{scale_label(readout)}**).")
    sc = res["texture_scale_consistency"]
    lines.append(f"Scale consistency: {fmt(sc.value)}" if sc.ok else f"Scale consistency skipped: {sc.skipped}")
    return "\n\n".join(lines)


def views(session: Session, focus: Focus, kinds) -> dict:
    """The tab's views of ``focus.pred`` (kind ``prediction``): ``texture_md``, ``spectra``, ``acf``
    and ``log_polar`` (titled empty figures where a term was skipped)."""
    if "prediction" not in kinds:
        return {}
    pred = focus.pred_in(session)
    res = session.report.results[pred]
    img = session.prediction_image(pred)

    def figure(term: str, draw) -> dict:
        r = res[term]
        return draw(r.extras) if r.ok else FG.overlay_figure(img, None, title=r.skipped or "")

    return {"texture_md": texture_md(session, pred), "spectra": figure("texture_spectral", FG.spectra_figure),
            "acf": figure("texture_acf", FG.acf_figure), "log_polar": figure("texture_log_polar", FG.log_polar_figure)}


def build(page: Page) -> None:
    """The headline and three figures."""
    page.add("texture_md", gr.Markdown(elem_id="texture_md"))
    for name in ("spectra", "acf", "log_polar"):
        page.add(name, gr.Plot(show_label=False, elem_id=name))


def wire(page: Page) -> None:
    """Nothing of its own: its views follow the inspected prediction."""
