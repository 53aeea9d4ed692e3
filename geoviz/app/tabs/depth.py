"""The Depth tab (000, 001, 004): predicted and target depth, their difference, the inside / edge /
outside regions, the 001 scale statistics and the 004 standardised depths and per-scale gradients
of the inspected prediction. ``views`` is plain Python; ``build`` puts it on the page."""

from __future__ import annotations

import gradio as gr
import numpy as np

import geoviz.report.figures as FG
from geoviz.app.describe import scale_label
from geoviz.app.labels import fmt
from geoviz.app.page import Page
from geoviz.app.state import Focus, Session, Update

__all__ = ["ID", "TITLE", "VIEWS", "LAZY", "views", "build", "wire", "depth_md"]

ID, TITLE, LAZY = "depth", "Depth", False
REGIONS = {1: ("inside the mask", "#E45756"), 2: ("edge band", "#EECA3B"), 3: ("sure outside", "#4C78A8")}
FIGURES = ("d_pred", "d_target", "d_diff", "regions", "depth_scale", "sta_pred", "sta_target", "per_scale")
VIEWS = {"prediction": ("depth_md", *FIGURES)}


def depth_md(session: Session, pred: str) -> str:
    """The tab's headline: the 000 values, where the depths came from, and what 001 reads."""
    res = session.report.results[pred]
    inside, sc = res["depth_inside"], res["depth_scale"]
    ex = inside.extras
    unit = "m" if ex["depth_kind"] == "metric" else "1/m"
    md = (f"000: inside {fmt(inside.value)} · outside {fmt(res['depth_outside'].value)} · edge {fmt(res['depth_edge'].value)}"
          f" · invalid pixels {100 * ex['invalid_fraction']:.1f}%")
    est = session.report.depth_info.get(pred)
    if est:
        md += (f"\n\nPredicted depth **estimated** ({est['source']}): "
               + (f"aligned onto the target outside the mask with scale {est['scale']:.4g}, shift {est['shift']:.4g}"
                  if est.get("aligned") else "not aligned (relative inverse depth as the model gives it)"))
    if "target" in session.report.depth_info:
        md += "\n\nTarget depth **estimated** too (no target depth was uploaded): depths compare as relative inverse depth."
    if sc.ok and session.report.kind == "insertion":
        e = sc.extras
        md += (f"\n\n001: s_pred = {e['s_pred']:.2f}, s_exp = {e['s_exp']:.2f} latent px → the change mask is "
               f"**{e['scale_ratio']:.3f}×** the size the depth ({e['depth_stat']:.3g} {unit}) predicts with k_obj "
               f"{e['k_obj']:.4g} ({e['k_obj_source']}). The object's scale read off the images: "
               f"**{scale_label(session.report.scales.get(pred))}**.")
    elif sc.ok:
        md += "\n\n001 (depth-aware scale) sizes an inserted object; this is a material sample, so its ratio is not a readout here."
    return md


def _maps(ex: dict, img) -> dict:
    """The 000 figures: both depths on one colour range, their difference, the regions."""
    kind = ex["depth_kind"]
    unit = "m" if kind == "metric" else "1/m"
    lo = float(np.nanmin([np.nanmin(ex["depth_pred"]), np.nanmin(ex["depth_target"])]))
    hi = float(np.nanmax([np.nanmax(ex["depth_pred"]), np.nanmax(ex["depth_target"])]))
    # one class per pixel: the edge band over the inside; what is neither is not compared (the ring
    # between the mask and the sure-outside region)
    codes = np.where(ex["region_edge"] > 0.5, 2, np.where(ex["region_inside"] > 0.5, 1,
                                                          np.where(ex["region_outside"] > 0.5, 3, 0)))
    return {
        "d_pred": FG.map_figure(ex["depth_pred"], title=f"predicted depth ({kind})", colorscale="Viridis", zmin=lo,
                                zmax=hi, colorbar_title=unit),
        "d_target": FG.map_figure(ex["depth_target"], title=f"target depth ({kind})", colorscale="Viridis", zmin=lo,
                                  zmax=hi, colorbar_title=unit),
        "d_diff": FG.map_figure(ex["depth_difference"], title="prediction − target", symmetric=True,
                                colorscale=FG.DIVERGING, colorbar_title=unit),
        "regions": FG.regions_figure(img, codes, REGIONS, title="000's regions (the ring between is not compared)"),
    }


def _shown(fig: dict | None) -> Update:
    """A figure shown, or its plot hidden (None): a skipped term says why in the headline, once,
    instead of in the title of an empty figure (too long for it)."""
    return Update.of(fig, visible=True) if fig is not None else Update.of(None, visible=False)


def views(session: Session, focus: Focus, kinds) -> dict:
    """The tab's views of ``focus.pred`` (kind ``prediction``): ``depth_md`` and its figures, each
    an :class:`Update` (hidden where its term was skipped; the headline says why)."""
    if "prediction" not in kinds:
        return {}
    pred = focus.pred_in(session)
    res = session.report.results[pred]
    inside, sc, mono = res["depth_inside"], res["depth_scale"], res["mono_rgrad"]
    if not inside.ok:
        return {"depth_md": f"**Depth terms skipped:** {inside.skipped}", **{f: _shown(None) for f in FIGURES}}
    img = session.prediction_image(pred)
    figs = {**_maps(inside.extras, img), "depth_scale": FG.scale_figure(sc.extras) if sc.ok else None}
    md = depth_md(session, pred)
    if not sc.ok:
        md += f"\n\n001 (depth-aware scale) skipped: {sc.skipped}"
    if mono.ok:
        mx = mono.extras
        figs["sta_pred"] = FG.map_figure(mx["standardized_pred"], title="standardised predicted depth (mean/MAD)",
                                         symmetric=True, colorscale=FG.DIVERGING)
        figs["sta_target"] = FG.map_figure(mx["standardized_target"], title="standardised target depth", symmetric=True,
                                           colorscale=FG.DIVERGING)
        figs["per_scale"] = FG.per_scale_figure(mx["rgrad_per_scale"])
    else:
        md += f"\n\n004 (G2-MonoDepth) skipped: {mono.skipped}"
    return {"depth_md": md, **{f: _shown(figs.get(f)) for f in FIGURES}}


def build(page: Page) -> None:
    """The headline and the eight figures, in rows."""
    page.add("depth_md", gr.Markdown(elem_id="depth_md"))
    for row in (("d_pred", "d_target"), ("d_diff", "regions"), ("depth_scale",), ("sta_pred", "sta_target"), ("per_scale",)):
        with gr.Row():
            for name in row:
                page.add(name, gr.Plot(show_label=False, elem_id=name))


def wire(page: Page) -> None:
    """Nothing of its own: its views follow the inspected prediction."""
