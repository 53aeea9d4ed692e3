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
from geoviz.app.state import Focus, Session

__all__ = ["ID", "TITLE", "VIEWS", "LAZY", "views", "build", "wire", "depth_md"]

ID, TITLE, LAZY = "depth", "Depth", False
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
    inside = np.clip(ex["region_inside"], 0, 1)
    regions = inside + ex["region_edge"] * 2.0 + ex["region_outside"] * 3.0 - inside * ex["region_edge"]
    return {
        "d_pred": FG.map_figure(ex["depth_pred"], title=f"predicted depth ({kind})", colorscale="Viridis", zmin=lo,
                                zmax=hi, colorbar_title=unit),
        "d_target": FG.map_figure(ex["depth_target"], title=f"target depth ({kind})", colorscale="Viridis", zmin=lo,
                                  zmax=hi, colorbar_title=unit),
        "d_diff": FG.map_figure(ex["depth_difference"], title="prediction − target", symmetric=True,
                                colorscale=FG.DIVERGING, colorbar_title=unit),
        "regions": FG.overlay_figure(img, regions, title="regions: inside (1) · edge band (2) · sure outside (3)",
                                     colorscale="Turbo", zmin=0, zmax=3, opacity=0.55),
    }


def views(session: Session, focus: Focus, kinds) -> dict:
    """The tab's views of ``focus.pred`` (kind ``prediction``): ``depth_md`` and its figures (titled
    empty figures where a term was skipped)."""
    if "prediction" not in kinds:
        return {}
    pred = focus.pred_in(session)
    res = session.report.results[pred]
    inside = res["depth_inside"]
    img = session.prediction_image(pred)
    if not inside.ok:
        empty = FG.overlay_figure(img, None, title=f"depth: {inside.skipped}")
        return {"depth_md": f"Depth terms skipped: {inside.skipped}", **{f: empty for f in FIGURES}}
    out = {"depth_md": depth_md(session, pred), **_maps(inside.extras, img)}
    sc = res["depth_scale"]
    out["depth_scale"] = FG.scale_figure(sc.extras) if sc.ok else FG.overlay_figure(img, None, title=f"001 skipped: {sc.skipped}")
    mono = res["mono_rgrad"]
    if mono.ok:
        mx = mono.extras
        out["sta_pred"] = FG.map_figure(mx["standardized_pred"], title="standardised predicted depth (mean/MAD)",
                                        symmetric=True, colorscale=FG.DIVERGING)
        out["sta_target"] = FG.map_figure(mx["standardized_target"], title="standardised target depth", symmetric=True,
                                          colorscale=FG.DIVERGING)
        out["per_scale"] = FG.per_scale_figure(mx["rgrad_per_scale"])
    else:
        out["sta_pred"] = out["sta_target"] = out["per_scale"] = FG.overlay_figure(img, None, title=f"004 skipped: {mono.skipped}")
    return out


def build(page: Page) -> None:
    """The headline and the eight figures, in rows."""
    page.add("depth_md", gr.Markdown(elem_id="depth_md"))
    for row in (("d_pred", "d_target"), ("d_diff", "regions"), ("depth_scale",), ("sta_pred", "sta_target"), ("per_scale",)):
        with gr.Row():
            for name in row:
                page.add(name, gr.Plot(show_label=False, elem_id=name))


def wire(page: Page) -> None:
    """Nothing of its own: its views follow the inspected prediction."""
