"""The Gradio Blocks dashboard. Thin: it turns uploads into a Sample, calls ``evaluate`` once per
diagnosis (``combine`` + figures for every weight change) and shows what ``figures`` draws.

Per-browser-session state lives in a ``gr.State`` holding a :class:`Session`; nothing one person
uploads is visible to another. Every handler turns bad input into a ``gr.Error`` naming the input.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd
from gradio.components.plot import PlotData

import geoviz.app.tabs.sensitivity as SENS
import geoviz.report.figures as FG
from geoviz.app.components import image_upload
from geoviz.app.state import Session
from geoviz.data.calibration import calibrate_folder, extract_zip
from geoviz.data.layouts import list_dataset, load_sample, load_spec
from geoviz.data.readers import InputError, load_image
from geoviz.data.sample import Sample, build_sample
from geoviz.data.tempfiles import MAX_AGE_S, new_temp_dir
from geoviz.engine.combine import Combined
from geoviz.engine.evaluate import Report, estimate_depths, evaluate
from geoviz.engine.terms import (
    DEFAULT_SETTINGS,
    FAMILIES,
    PARAM_GROUPS,
    PARAM_SETTINGS,
    REGISTRY,
    resolve_params,
    settings_of,
)
from geoviz.engine.weights import PRESETS, WeightsConfig, preset, preset_for, preset_matching
from geoviz.models.choice import ModelChoice, cached_model, resolve_device
from geoviz.models.depth import DEPTH_SOURCES
from geoviz.models.encoders import images_to_tensor
from geoviz.report.session import SessionStore, export_bundle, import_bundle, report_html
from geoviz.version import __version__

__all__ = [
    "build_demo", "launch", "launch_options", "exposure_warnings", "Session", "new_session",
    "demo_session", "session_from_bundle", "build_session_sample", "params_from_controls", "report_summary",
    "ASSETS", "WEIGHT_TERMS", "COMPUTE", "ACTIVITY", "DEFAULT_MAX_UPLOAD_MB", "DEFAULT_CONCURRENCY",
]

log = logging.getLogger("geoviz.app.dashboard")

ROOT = Path(__file__).resolve().parents[2]  # the checkout (geoviz/app/dashboard.py)


def _assets_dir() -> Path:
    """The demo assets: ``geoviz/assets`` when installed (package data), ``assets/`` in a checkout."""
    installed = Path(__file__).resolve().parents[1] / "assets"
    return installed if (installed / "insert_box").is_dir() else ROOT / "assets"


ASSETS = _assets_dir()
FAMILY_LABELS = {
    "latent": "002 · latent geometry",
    "depth": "000 · depth consistency",
    "scale": "001 · depth-aware scale",
    "monodepth": "004 · G2-MonoDepth",
    "texture": "003 · texture scale",
}
TOTAL = "weighted total"
TERM_LABELS = {name: t.label for name, t in REGISTRY.items()}
DEFAULT_PRESET = "object insertion"
CSS = """
#totals .total-card {display:inline-block; margin:4px 10px 4px 0; padding:6px 12px; border-radius:8px;
  background:var(--block-background-fill); border:1px solid var(--border-color-primary)}
#totals .total-card b {font-size:1.25em} #totals .best {border-color:#2CA02C; box-shadow:0 0 0 1px #2CA02C}
#notices {font-size:0.9em}
#totals .scale-value {font-weight:600}
/* file lists: whole names (Gradio cuts the stem to "step_….png", and every checkpoint then reads alike) */
.file-preview .filename {display:block; overflow:visible; overflow-wrap:anywhere}
.file-preview .filename .stem, .file-preview .filename .ext {display:inline; white-space:normal; overflow:visible; text-overflow:clip}
"""


# ---- per-session state -------------------------------------------------------------------------------


def _plot(fig: dict | None) -> PlotData | None:
    """A figure dict straight into gr.Plot's payload (no plotly validation on the hot path)."""
    if fig is None:
        return None
    return PlotData(type="plotly", plot=json.dumps(fig, separators=(",", ":"), allow_nan=False, default=_json_default))


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


def _fmt(v: float | None, digits: int = 4) -> str:
    if v is None:
        return "—"
    if v == 0:
        return "0"
    return f"{v:.{digits}g}"


# ---- what is shown -------------------------------------------------------------------------------------


def totals_js() -> str:
    """``totals_html`` in the browser: ``(summary, shown, *weights) -> html`` for a slider's input.

    ``summary`` is ``report_summary``'s dict (the hidden JSON), ``shown`` the totals' current HTML
    (kept when nothing is loaded), ``weights`` the term sliders then the family masters
    (``WEIGHT_TERMS`` + ``FAMILIES`` order). The arithmetic is ``combine``'s, in its order (effective
    weight = slider × master; total = Σ weight × value over the terms with a value), so the cards
    show the same digits as the server's; the server's figures event rewrites them moments later.
    Runs without a server round trip: a Gradio event to the server costs the page ~100 ms here
    before and after the handler, whatever the handler does.
    """
    refresh_terms()
    terms = json.dumps(WEIGHT_TERMS)
    family_of = json.dumps({t: list(FAMILIES).index(REGISTRY[t].family) for t in WEIGHT_TERMS})
    return f"""(summary, shown, ...w) => {{
  if (!summary || !summary.values || !summary.predictions || !summary.predictions.length) return shown;
  const terms = {terms}, familyOf = {family_of}, n = terms.length;
  const weight = {{}};
  terms.forEach((t, i) => {{ weight[t] = Number(w[i]) * Number(w[n + familyOf[t]]); }});
  const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  const preds = summary.predictions, totals = {{}};
  for (const p of preds) {{
    let total = 0;
    for (const [t, v] of Object.entries(summary.values[p] || {{}})) {{
      if (v !== null && v !== undefined) total += (weight[t] || 0) * v;
    }}
    totals[p] = total;
  }}
  let best = preds[0];
  for (const p of preds) if (totals[p] < totals[best]) best = p;
  const scales = summary.scales || {{}};
  const cards = preds.map((p) => {{
    const cls = p === best && preds.length > 1 ? "total-card best" : "total-card";
    const sc = scales[p];
    const label = !sc ? "scale —" : (sc.estimate === null || sc.estimate === undefined ? "scale ?" : "scale " + sc.estimate.toFixed(2));
    const title = !sc ? "" : (sc.estimate === null || sc.estimate === undefined ? "no scale: " + sc.reason : sc.method);
    return `<span class="${{cls}}" data-pred="${{esc(p)}}" title="${{esc(title)}}">${{esc(p)}}<br><b class="total-value">${{totals[p].toFixed(4)}}</b> · <span class="scale-value">${{esc(label)}}</span></span>`;
  }});
  return '<div class="totals">' + cards.join("") + "</div>";
}}"""


def scale_label(readout) -> str:
    """What a card says of a prediction's scale: ``"scale 1.00"``, or ``"scale ?"`` when declined."""
    return "scale —" if readout is None else readout.short()


def scale_title(readout) -> str:
    """The card's tooltip: the method, or why the scale was declined."""
    if readout is None:
        return ""
    return readout.method if readout.estimate is not None else f"no scale: {readout.reason}"


def totals_html(session: Session, combined: Combined) -> str:
    """One card per prediction: its name, weighted total and estimated scale
    (``step_2000 · 0.5347 · scale 1.00``); the lowest total is marked ``best``."""
    preds = session.report.predictions
    best = min(preds, key=lambda p: combined.totals[p])
    cards = []
    for p in preds:
        cls = "total-card best" if p == best and len(preds) > 1 else "total-card"
        sc = session.report.scales.get(p)
        cards.append(f'<span class="{cls}" data-pred="{_esc(p)}" title="{_esc(scale_title(sc))}">{_esc(p)}<br>'
                     f'<b class="total-value">{combined.totals[p]:.4f}</b> · '
                     f'<span class="scale-value">{_esc(scale_label(sc))}</span></span>')
    return '<div class="totals">' + "".join(cards) + "</div>"


def _esc(s: str) -> str:
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;"))


def overview_table(session: Session, combined: Combined) -> pd.DataFrame:
    """Every term × prediction: raw value, weight, weighted value, share of the total."""
    rows = []
    w = combined.weights
    scale_row = {"family": "", "term": "estimated scale", "weight": ""}
    for p in session.report.predictions:
        sc = session.report.scales.get(p)
        scale_row[f"{p} raw"] = "" if sc is None else ("declined" if sc.estimate is None else f"{sc.estimate:.3f}")
        scale_row[f"{p} weighted"] = ""
        scale_row[f"{p} share"] = ""
    rows.append(scale_row)
    for t in session.report.terms:
        row = {"family": REGISTRY[t].spec, "term": TERM_LABELS[t], "weight": round(w[t], 4)}
        for p in session.report.predictions:
            r = session.report.results[p][t]
            row[f"{p} raw"] = _fmt(r.value) if r.ok else "skipped"
            row[f"{p} weighted"] = _fmt(combined.weighted[p][t])
            row[f"{p} share"] = f"{100 * combined.shares[p][t]:.1f}%" if r.ok else ""
        rows.append(row)
    total = {"family": "", "term": "TOTAL", "weight": ""}
    for p in session.report.predictions:
        total[f"{p} raw"] = ""
        total[f"{p} weighted"] = _fmt(combined.totals[p])
        total[f"{p} share"] = "100%"
    rows.append(total)
    return pd.DataFrame(rows)


def report_summary(session: Session, combined: Combined) -> dict:
    """Exact numbers for API clients: values, weights, totals, skipped reasons."""
    return {
        "sample": session.report.sample_name,
        "device": session.report.device,
        "predictions": list(session.report.predictions),
        "values": session.report.values,
        "weights": combined.weights,
        "totals": combined.totals,
        "skipped": session.report.skipped(),
        "params": session.report.params,
        "notices": list(session.report.notices),
        "kind": session.report.kind,
        "kind_reason": session.report.kind_reason,
        "scales": {p: r.to_dict() for p, r in session.report.scales.items()},
        "settings": settings_of(session.report.params),
    }


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
    lines = [f"- **{TERM_LABELS[t]}** — {_esc(reason)} ({'all predictions' if len(ps) == n else ', '.join(map(_esc, ps))})"
             for t, (reason, ps) in by_term.items()]
    return "**Skipped terms**\n\n" + "\n".join(lines)


def settings_text(params: dict) -> str:
    """Which change-mask settings are in force, in words."""
    name = settings_of(params)
    cm = resolve_params(params)["change_mask"]
    values = f"temperature {cm['temperature']:g}, s_min {'off' if cm['s_min'] is None else format(cm['s_min'], 'g')}, " \
             f"reference {cm['reference']}"
    if name == "leak-free":
        return f"change mask **leak-free** ({values})"
    if name == "as in the document":
        return f"change mask **as in the document** ({values}) — it leaks onto the background and reads objects too large"
    return f"change mask **custom** ({values})"


def settings_summary(session: Session) -> str:
    """The Params tab's headline: the change-mask settings in force and their measured bias on this
    sample — the background leakage of the change mask, and (after a sweep with these settings)
    where the area, Dice and boundary minima sit."""
    lines = [f"In force: {settings_text(session.params)}."]
    pred = session.inspect if session.inspect in session.report.predictions else session.report.predictions[0]
    dice = session.report.results[pred].get("latent_dice")
    if dice is not None and dice.ok:
        ex = dice.extras
        lines.append(f"Measured on **{_esc(pred)}**: mean M̂ over the sure background **{ex['leakage_mean']:.3f}**, "
                     f"{100 * ex['leakage_share_of_target']:.0f}% of the target's area"
                     + (" — the change mask leaks (objects read too large)" if ex["leakage_share_of_target"] > 0.2 else ""))
    sweep = session.sweep
    if sweep is not None and sweep.params == session.params:
        mins = [f"{TERM_LABELS[t]} s = {sweep.responses[t].argmin:.3f}" for t in ("latent_area", "latent_dice", "latent_boundary")
                if t in sweep.responses]
        if mins:
            lines.append("Sweep minima (1 is right): " + ", ".join(mins))
    else:
        lines.append("Run a sweep (Sensitivity) to see where these settings put the area, Dice and boundary minima.")
    return "\n\n".join(lines)


def notices_md(session: Session) -> str:
    """Markdown: what is diagnosed (sample, kind, weights preset, change-mask settings, device, sizes),
    then every notice of the report (resizes, skipped files, models…)."""
    r = session.report
    dev = r.device.upper() if r.device != "cpu" else "CPU"
    kind = f"**{r.kind}** ({r.kind_reason})"
    preset_name = preset_matching(session.effective_weights())
    items = [f"sample **{_esc(r.sample_name)}** · {kind} · weights **{preset_name}** · {settings_text(r.params)}",
             f"device **{dev}** · image {r.image_size[1]}×{r.image_size[0]} · latents {r.latent_size[1]}×{r.latent_size[0]}"]
    items += [f"⚠ {_esc(n)}" for n in r.notices]
    return "\n\n".join(items[:2]) + ("\n\n" + "\n".join(f"- {n}" for n in items[2:]) if len(items) > 2 else "")


def bars_figure(session: Session, combined: Combined) -> dict:
    """The stacked weighted contributions of every term, one bar per prediction (a plotly dict)."""
    return FG.contributions_bar(session.report.predictions, session.report.terms, combined.weighted,
                                TERM_LABELS, combined.totals)


def _pil_of(session: Session, pred: str):
    """The prediction as a Pillow image, converted once per sample (overlays composite onto it)."""
    key = ("pil", pred)
    if key not in session.sample.memo:
        session.sample.memo[key] = FG.as_pil(session.sample.predictions[pred])
    return session.sample.memo[key]


def heatmap_figure(session: Session, combined: Combined, pred: str, term: str, kind: str, opacity: float) -> dict:
    """The heatmap over ``pred``: ``term`` (or the weighted total) as ``kind`` ``"contribution"``
    (the map whose sum is the value, where the term has one) or ``"gradient"`` (|∂L/∂input|, signed
    for depth), overlaid on the prediction at ``opacity``; a titled empty figure when skipped."""
    img = _pil_of(session, pred)
    if term == TOTAL:
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
        title = f"{pred} · weighted total contribution (Σ = {combined.mapped_total[pred]:.4g} of {combined.totals[pred]:.4g})"
        return FG.overlay_figure(img, cmap, opacity=opacity, title=title, colorbar_title="loss / px",
                                 symmetric=bool(cmap is not None and np.nanmin(cmap) < 0),
                                 colorscale=FG.DIVERGING if cmap is not None and np.nanmin(cmap) < 0 else FG.SEQUENTIAL)
    r = session.report.results[pred][term]
    if not r.ok:
        return FG.overlay_figure(img, None, title=f"{TERM_LABELS[term]}: skipped — {r.skipped}")
    if kind == "contribution" and r.contribution is not None:
        values, signed, label = r.contribution, bool(np.nanmin(r.contribution) < 0), "loss / px"
    else:
        values, signed = r.gradient, r.input == "depth"
        label = "∂L/∂d" if signed else "|∂L/∂input|"
        if kind == "contribution":
            label += " (no contribution map: not a pixel sum)"
    return FG.overlay_figure(img, values, opacity=opacity, symmetric=signed,
                             colorscale=FG.DIVERGING if signed else FG.SEQUENTIAL,
                             title=f"{pred} · {TERM_LABELS[term]} = {_fmt(r.value)} · {kind} ({r.space} grid)",
                             colorbar_title=label)


def latent_views(session: Session, pred: str) -> tuple[str, dict, dict, dict, dict, dict]:
    """The Latent geometry tab for ``pred``: its summary markdown and the change-mask, reference,
    signed-distance, boundary-band and weight-map figures."""
    res = session.report.results[pred]
    dice, area, mse, bnd = res["latent_dice"], res["latent_area"], res["latent_mse"], res["latent_boundary"]
    ex = dice.extras
    img = _pil_of(session, pred)
    src = "**proxy latents**" if ex.get("latent_source") == "proxy" else f"latents: {ex.get('latent_source')}"
    md = (f"{src} · τ = {ex['tau']:.4g}, s = {ex['s']:.4g} (σ_bg = {ex['std_bg']:.3g}) · Dice loss {_fmt(dice.value)}"
          f" · area loss {_fmt(area.value)} (ΣM̂/ΣM = {ex['area_ratio']:.3f}) · boundary {_fmt(bnd.value)}\n\n"
          f"Background leakage: mean M̂ over the sure background = **{ex['leakage_mean']:.3f}**, "
          f"{100 * ex['leakage_share_of_target']:.0f}% of the target's area"
          + (" — the change mask leaks; try temperature 0.25 and s_min 0.05 (Params)" if ex["leakage_share_of_target"] > 0.2 else ""))
    m_hat = FG.map_figure(ex["m_hat"], title="soft change mask M̂", zmin=0, zmax=1, colorscale="Viridis")
    target = FG.map_figure(ex["mask_latent"], title="target mask (latent)", zmin=0, zmax=1, colorscale="Viridis")
    sdm = FG.map_figure(bnd.extras["sdm"], title="signed distance map φ (0 contour)", symmetric=True,
                        colorscale=FG.DIVERGING, contour_zero=True)
    band = FG.overlay_figure(img, bnd.extras["boundary_band"], title="boundary band over the prediction",
                             opacity=0.7, zmin=0, zmax=1, colorscale="Viridis")
    weight = FG.map_figure(mse.extras["weight_map"], title="weighted-MSE weight map W", colorscale="Viridis")
    return md, m_hat, target, sdm, band, weight


def depth_views(session: Session, pred: str):
    """The Depth tab for ``pred``: summary markdown and its figures (depth maps, difference, regions,
    scale statistics, per-scale gradients); figures are None where the term was skipped."""
    res = session.report.results[pred]
    inside = res["depth_inside"]
    img = _pil_of(session, pred)
    if not inside.ok:
        empty = FG.overlay_figure(img, None, title=f"depth: {inside.skipped}")
        return f"Depth terms skipped: {inside.skipped}", empty, empty, empty, empty, empty, empty, empty, empty
    ex = inside.extras
    kind = ex["depth_kind"]
    unit = "m" if kind == "metric" else "1/m"
    lo = float(np.nanmin([np.nanmin(ex["depth_pred"]), np.nanmin(ex["depth_target"])]))
    hi = float(np.nanmax([np.nanmax(ex["depth_pred"]), np.nanmax(ex["depth_target"])]))
    d_pred = FG.map_figure(ex["depth_pred"], title=f"predicted depth ({kind})", colorscale="Viridis", zmin=lo, zmax=hi, colorbar_title=unit)
    d_tgt = FG.map_figure(ex["depth_target"], title=f"target depth ({kind})", colorscale="Viridis", zmin=lo, zmax=hi, colorbar_title=unit)
    diff = FG.map_figure(ex["depth_difference"], title="prediction − target", symmetric=True, colorscale=FG.DIVERGING, colorbar_title=unit)
    regions = (np.clip(ex["region_inside"], 0, 1) * 1.0 + ex["region_edge"] * 2.0 + ex["region_outside"] * 3.0
               - np.clip(ex["region_inside"], 0, 1) * ex["region_edge"] * 1.0)
    reg = FG.overlay_figure(img, regions, title="regions: inside (1) · edge band (2) · sure outside (3)",
                            colorscale="Turbo", zmin=0, zmax=3, opacity=0.55)
    sc = res["depth_scale"]
    scale = FG.scale_figure(sc.extras) if sc.ok else FG.overlay_figure(img, None, title=f"001 skipped: {sc.skipped}")
    mono = res["mono_rgrad"]
    if mono.ok:
        mx = mono.extras
        sta_p = FG.map_figure(mx["standardized_pred"], title="standardised predicted depth (mean/MAD)", symmetric=True, colorscale=FG.DIVERGING)
        sta_t = FG.map_figure(mx["standardized_target"], title="standardised target depth", symmetric=True, colorscale=FG.DIVERGING)
        per = FG.per_scale_figure(mx["rgrad_per_scale"])
    else:
        sta_p = sta_t = per = FG.overlay_figure(img, None, title=f"004 skipped: {mono.skipped}")
    md = (f"000: inside {_fmt(inside.value)} · outside {_fmt(res['depth_outside'].value)} · edge {_fmt(res['depth_edge'].value)}"
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
    return md, d_pred, d_tgt, diff, reg, scale, sta_p, sta_t, per


def decoded_latents(session: Session, pred: str):
    """The prediction's TAEF1 latents decoded back to an image (when TAEF1 with a decoder is in use)."""
    if session.models is None or session.models.latents != "TAEF1" or session.report.encoder != "taef1":
        return None

    enc = cached_model("taef1", session.models.taef1_weights, str(resolve_device(session.device)))
    if getattr(enc, "decoder", None) is None:
        return None
    z = enc.encode(images_to_tensor(session.sample.predictions[pred]))
    return enc.decode(z)[0].permute(1, 2, 0).numpy()


def texture_views(session: Session, pred: str):
    """The Texture tab for ``pred``: summary markdown, radial spectra, ACF and log-polar figures."""
    res = session.report.results[pred]
    spec, acf, lp = res["texture_spectral"], res["texture_acf"], res["texture_log_polar"]
    lines = []
    readout = session.report.scales.get(pred)
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
    lines.append(f"Scale consistency: {_fmt(sc.value)}" if sc.ok else f"Scale consistency skipped: {sc.skipped}")
    img = _pil_of(session, pred)
    return ("\n\n".join(lines),
            FG.spectra_figure(spec.extras) if spec.ok else FG.overlay_figure(img, None, title=spec.skipped or ""),
            FG.acf_figure(acf.extras) if acf.ok else FG.overlay_figure(img, None, title=acf.skipped or ""),
            FG.log_polar_figure(lp.extras) if lp.ok else FG.overlay_figure(img, None, title=lp.skipped or ""))


def checkpoint_views(session: Session, combined: Combined):
    """The Checkpoints tab: a table (total, estimated scale, weighted terms) and a line chart along
    the predictions ordered by step. The scale-vs-step chart is :func:`scale_chart`."""
    preds = session.report.predictions
    order = sorted(preds, key=lambda p: (FG.step_of(p), p))
    best = min(preds, key=lambda p: combined.totals[p])
    series = {t: [combined.weighted[p][t] for p in preds] for t in session.report.terms
              if any(combined.weighted[p][t] for p in preds)}
    lines = FG.checkpoint_lines(preds, series, combined.totals, TERM_LABELS)
    rows = []
    for p in order:
        sc = session.report.scales.get(p)
        row = {"checkpoint": ("★ " if p == best else "") + p, "total": round(combined.totals[p], 5),
               "estimated scale": None if sc is None or sc.estimate is None else round(sc.estimate, 4)}
        for t in series:
            v = combined.weighted[p][t]
            row[TERM_LABELS[t]] = None if v is None else round(v, 5)
        rows.append(row)
    return pd.DataFrame(rows), lines


def scale_chart(session: Session) -> dict:
    """Each checkpoint's estimated scale against its step (a plotly dict)."""
    return FG.scale_by_step_figure(session.report.predictions, session.report.scales, session.report.kind)


def checkpoint_gallery(session: Session) -> list:
    """The predictions ordered by step (sent once per diagnosis: images are heavy)."""
    order = sorted(session.report.predictions, key=lambda p: (FG.step_of(p), p))
    return [(_pil_of(session, p), p) for p in order]


# ---- building sessions ----------------------------------------------------------------------------------


def _path(f) -> str | None:
    if f is None:
        return None
    if isinstance(f, (list, tuple)):
        return _path(f[0]) if f else None
    return getattr(f, "name", None) or (f.get("path") if isinstance(f, dict) else str(f))


def _paths(files) -> list[str]:
    if not files:
        return []
    if not isinstance(files, (list, tuple)):
        files = [files]
    return [p for p in (_path(f) for f in files) if p]


def replace_with_upload(files, seen: list[str]) -> tuple[list[str], list[str]]:
    """Gradio's multi-file box adds an upload to the files already in it; a new upload of checkpoints
    replaces them instead (mixing two uploads' checkpoints silently diagnoses both). ``seen``: the
    paths in the box before this upload. Returns the box's new value and the new ``seen``."""
    current, seen = _paths(files), list(seen or [])
    # the box appends the upload after what it held (the same file uploaded again has the same path)
    new = current[len(seen):] if len(current) > len(seen) and current[: len(seen)] == seen else current
    return new, new


def mask_from_editor(editor: dict | None) -> np.ndarray | None:
    """The drawn mask: alpha of the editor's first layer (any stroke counts as inside)."""
    if not editor or not editor.get("layers"):
        return None
    layer = editor["layers"][0]
    if layer is None:
        return None
    arr = np.asarray(layer)
    alpha = arr[..., 3] if arr.ndim == 3 and arr.shape[2] == 4 else arr
    m = (alpha > 0).astype(np.float32)
    return m if m.any() else None


def mask_from_difference(context: np.ndarray, target: np.ndarray, threshold: float) -> np.ndarray:
    """``mean_c |target − context| > threshold``, closed by one pixel to fill speckle."""
    import torch

    import losses

    diff = np.abs(target - context).mean(axis=2)
    m = torch.from_numpy((diff > threshold).astype(np.float32))[None, None]
    return losses.erode(losses.dilate(m, 1), 1)[0, 0].numpy()


def with_kind(sample: Sample, kind: str | None) -> Sample:
    """``sample`` with its kind set (``"auto"`` / None: detected when evaluated); the same object when
    unchanged, else a copy sharing its arrays and memo (the scale readouts are keyed by kind)."""
    import dataclasses

    kind = None if kind in (None, "", "auto") else kind
    return sample if sample.kind == kind else dataclasses.replace(sample, kind=kind)


def build_session_sample(context, target, mask_choice, mask_file, mask_editor, diff_threshold, preds,
                         target_depth, pred_depths, depth_kind, latents, camera_file, f_px, f_mm, sensor_w,
                         k_obj, sample_kind: str | None = None) -> Sample:
    """The inputs panel → a Sample named after the target file's stem (InputError names the first
    bad input; an unreadable prediction is left out with a notice, the others are diagnosed)."""

    ctx, tgt = _path(context), _path(target)
    if not ctx:
        raise InputError("context", "missing", "upload the context image (the scene before the edit)")
    if not tgt:
        raise InputError("target", "missing", "upload the target image (the scene after the edit)")
    pred_paths = _paths(preds)
    if not pred_paths:
        raise InputError("predictions", "none uploaded", "upload one or more predicted images (file name = checkpoint)")
    second = {Path(p).stem[:-2]: p for p in pred_paths if Path(p).stem.endswith("~2")}
    predictions = {Path(p).stem: p for p in pred_paths if not Path(p).stem.endswith("~2")}
    if mask_choice == "drawn":
        mask = mask_from_editor(mask_editor)
        if mask is None:
            raise InputError("drawn mask", "nothing is drawn", "paint the region on the target, or upload a mask")
    elif mask_choice == "difference":
        mask = mask_from_difference(load_image(ctx, Path(ctx).name), load_image(tgt, Path(tgt).name), float(diff_threshold))
    else:
        mask = _path(mask_file)
        if not mask:
            raise InputError("mask", "missing", "upload a mask, draw it, or derive it from |target − context|")
    kind = None if (depth_kind or "").startswith("auto") else depth_kind
    pd_map = {Path(p).stem: p for p in _paths(pred_depths)}
    unmatched = sorted(set(pd_map) - set(predictions))
    if unmatched:
        raise InputError(f"prediction depth {unmatched[0]}", "matches no prediction's file name",
                         f"name it like a prediction ({', '.join(sorted(predictions))})")
    lat = {Path(p).stem: p for p in _paths(latents)}
    roles = {"context_latents", "target_latents", *predictions}
    stray = sorted(set(lat) - roles)
    if stray:  # a latent file nobody would use is a naming mistake, not something to drop silently
        raise InputError(f"latents {stray[0]}", "match neither context_latents, target_latents nor a prediction",
                         f"name them context_latents, target_latents or like a prediction ({', '.join(sorted(predictions))})")
    camera = None
    if _path(camera_file):
        camera = _path(camera_file)
    elif f_px:
        camera = {"f_px": f_px}
    elif f_mm and sensor_w:
        camera = {"f_mm": f_mm, "sensor_width_mm": sensor_w}
    return build_sample(
        context=ctx, target=tgt, mask=mask, predictions=predictions, second_runs=second,
        target_depth=_path(target_depth), prediction_depths=pd_map, depth_kind=kind, camera=camera,
        context_latents=lat.pop("context_latents", None), target_latents=lat.pop("target_latents", None),
        prediction_latents={k: v for k, v in lat.items() if k in predictions},
        k_obj=float(k_obj) if k_obj not in (None, "") and float(k_obj) > 0 else None,
        name=Path(tgt).stem or "upload", skip_bad_predictions=True,
        kind=None if sample_kind in (None, "", "auto") else sample_kind,
    )


def params_from_controls(values: list) -> dict:
    """The params panel's values (in PARAM_CONTROLS order) → a params dict. An optional parameter's
    control is a text box: empty means off (None), anything else must be a number."""
    out: dict[str, dict] = {}
    for (group, p), v in zip(PARAM_CONTROLS, values):
        if p.kind == "bool":
            v = bool(v)
        elif p.kind == "choice":
            pass
        elif v is None or (isinstance(v, str) and not v.strip()):
            v = None
        else:
            try:
                number = float(v)
            except (TypeError, ValueError):
                raise InputError(f"params.{group}.{p.name}", f"{v!r} is not a number",
                                 "type a number, or leave it empty to switch it off" if p.optional else "type a number") from None
            v = int(round(number)) if p.kind == "int" and number == round(number) else number
        out.setdefault(group, {})[p.name] = v
    return out


def control_value(p, value):
    """A parameter's value as its control shows it: an optional one as text (empty when off)."""
    if p.optional:
        return "" if value is None else format(value, "g")
    return value


PARAM_CONTROLS: list[tuple[str, Any]] = [(g, p) for g, ps in PARAM_GROUPS.items() for p in ps]
WEIGHT_TERMS: list[str] = []  # the sliders' order: family by family (refresh_terms keeps it current)


def refresh_terms() -> None:
    """Bring :data:`WEIGHT_TERMS` and :data:`TERM_LABELS` up to the registered terms (in place: the
    page's callbacks hold these objects). The page is composed from them, so a term registered before
    :func:`build_demo` gets its slider."""
    WEIGHT_TERMS[:] = [t for fam in FAMILIES for t in FAMILIES[fam]]
    TERM_LABELS.update({name: t.label for name, t in REGISTRY.items()})


refresh_terms()


def new_session(sample: Sample, params: dict | None, weights: dict[str, float], device: str,
                progress=None, models: ModelChoice | None = None) -> Session:
    """Evaluate ``sample`` (every term, every prediction) with ``params`` and the ``models`` (latent
    encoder, depth estimator) into a new Session holding ``weights``; ``progress(fraction, desc)``
    is Gradio's progress callback or None."""
    p = resolve_params(params)
    models = models or ModelChoice()

    def on_progress(done, total, name):
        if progress is not None:
            progress((done, total), desc=f"evaluating {name}")

    used, report = evaluate_with(sample, p, device, models, on_progress)
    return Session(sample=used, report=report, params=p, weights=dict(weights), device=device,
                   inspect=report.predictions[0], models=models, original=sample if used is not sample else None)


def evaluate_with(sample: Sample, params: dict, device: str, models: ModelChoice | None, progress=None) -> tuple[Sample, Report]:
    """``evaluate`` with the session's models. Estimated depths are put into the sample that is
    evaluated and returned (so the Depth tab shows them and a bundle carries them: it restores the
    same numbers without the model). Unavailable models become notices (and warnings)."""

    kw, warnings = (models or ModelChoice()).resolve(device)
    info = {}
    estimator = kw.pop("depth_estimator", None)
    source, align = kw.pop("depth_source", "uploaded"), kw.pop("align_depth", True)
    sample, info = estimate_depths(sample, params, device, estimator, source, align)
    report = evaluate(sample, params, device=device, progress=progress, **kw)
    report.depth_info = info
    for w in warnings:
        report.notices.append(w)
        gr.Warning(w)
    return sample, report


def demo_session(device: str = "auto") -> Session:
    """The bundled ``insert_box`` demo, diagnosed with the default preset (what the dashboard opens on)."""
    sample = load_sample(ASSETS / "insert_box")
    return new_session(sample, None, PRESETS[DEFAULT_PRESET], device)


def _session_dir(session: Session) -> Path:
    if "dir" not in session.files:
        session.files["dir"] = new_temp_dir("session-")
    return session.files["dir"]


def weights_file(session: Session) -> str:
    """weights.json for download (effective weights and the params in use)."""
    cfg = WeightsConfig(weights=session.effective_weights(), params=session.params)
    return str(cfg.save(_session_dir(session) / "weights.json"))


# ---- the app --------------------------------------------------------------------------------------------


# The compute handlers (those that evaluate terms, sweep, decode or read datasets) share one queue
# group, COMPUTE: Gradio runs at most the queue's default_concurrency_limit of them at once, whoever
# calls, so a burst waits instead of exhausting memory. Light handlers (weights, views) have their own
# per-event limits and are not held behind a diagnosis. ACTIVITY counts compute handlers running now,
# the most that ever ran at once, and how many ran (the load test reads it).
COMPUTE = dict(concurrency_id="compute")
ACTIVITY = {"running": 0, "peak": 0, "calls": 0}
_ACTIVITY_LOCK = threading.Lock()


def _compute(fn):
    """``_friendly`` for a compute handler (registered with ``**COMPUTE``), counted in ACTIVITY."""
    import functools

    friendly = _friendly(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _ACTIVITY_LOCK:
            ACTIVITY["running"] += 1
            ACTIVITY["peak"] = max(ACTIVITY["peak"], ACTIVITY["running"])
            ACTIVITY["calls"] += 1
        try:
            return friendly(*args, **kwargs)
        finally:
            with _ACTIVITY_LOCK:
                ACTIVITY["running"] -= 1

    return wrapper


def _friendly(fn):
    """Run a handler; an InputError or ValueError becomes a gr.Error naming the input, anything else
    a gr.Error with the exception (logged with its traceback). The server keeps serving."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (InputError, ValueError) as e:
            raise gr.Error(str(e), duration=12) from None
        except Exception as e:  # pragma: no cover - the last line of defence
            log.error("handler %s failed:\n%s", fn.__name__, traceback.format_exc())
            raise gr.Error(f"internal error ({type(e).__name__}: {e}); the session is unchanged", duration=12) from None

    return wrapper


def build_demo(device: str = "auto", preload: Session | None = None, sessions_dir: str | Path | None = None,
               data_root: str | Path | None = None, depth_weights: str | None = None,
               taef1_weights: str | None = None) -> gr.Blocks:
    """The dashboard. ``preload``: a Session shown to every new browser session at start (the demo);
    ``sessions_dir``: where "Save & copy link" keeps sessions; ``data_root``: datasets it may open."""
    refresh_terms()
    resolve_device(device)  # fail early on an impossible device
    store = SessionStore(sessions_dir)
    root = Path(data_root).resolve() if data_root else None

    def models_from(latents_choice="proxy", source="uploaded", align=True) -> ModelChoice:
        return ModelChoice(latents=latents_choice or "proxy", depth_source=source or "uploaded", align_depth=bool(align),
                      depth_weights=depth_weights, taef1_weights=taef1_weights)
    # Gradio's upload cache: files older than the temp-file age are swept every hour
    with gr.Blocks(title="geoviz — geometry loss diagnostics", analytics_enabled=False,
                   delete_cache=(3600, int(MAX_AGE_S))) as demo:
        state = gr.State(None, time_to_live=6 * 3600, delete_callback=_forget)
        # which of the tabs with weight-dependent views is open: a slider's input updates only those
        # (and the overview and heatmap, always); the others refresh when they are opened
        open_tab = gr.State("")
        with gr.Row(equal_height=True):
            gr.Markdown(f"## geoviz · geometry-loss diagnostics for insertion & material LoRAs  <small>v{__version__}</small>")
            device_dd = gr.Dropdown(["auto", "cpu", "cuda"], value=device, label="device", scale=0, min_width=120,
                                    elem_id="device")
        notices = gr.Markdown(elem_id="notices")
        totals = gr.HTML(elem_id="totals")
        report_json = gr.JSON(visible=False, elem_id="report_json")  # exact numbers for API clients
        with gr.Row():
            # ---- inputs ----
            with gr.Column(scale=1, min_width=320):
                with gr.Accordion("Weights", open=True, elem_id="weights_panel"):
                    gr.Markdown("Moving a weight only re-weights (no term is recomputed). A family's master "
                                "multiplies its terms.")
                    with gr.Accordion("family masters", open=False):
                        masters = {fam: gr.Slider(0.0, 3.0, value=1.0, step=0.05, label=f"× {FAMILY_LABELS[fam]}",
                                                  elem_id=f"master_{fam}") for fam in FAMILIES}
                    sliders: dict[str, gr.Slider] = {}
                    for fam, names in FAMILIES.items():
                        with gr.Accordion(FAMILY_LABELS[fam], open=fam == "latent"):
                            with gr.Row():
                                for t in names:
                                    d = REGISTRY[t].default_weight
                                    hi = round(max(1.0, 3 * d), 3)
                                    sliders[t] = gr.Slider(0.0, hi, value=PRESETS[DEFAULT_PRESET][t],
                                                           step=0.005 if hi <= 1 else 0.01, label=TERM_LABELS[t],
                                                           elem_id=f"w_{t}", min_width=160)
                    with gr.Row():
                        config_in = gr.File(label="load weights.json", file_types=[".json"], elem_id="config_in")
                        config_out = gr.DownloadButton("download weights.json", elem_id="config_out")
                with gr.Accordion("Inputs", open=True):
                    with gr.Row():
                        context = image_upload(label="context", elem_id="context", height=160)
                        target = image_upload(label="target", elem_id="target", height=160)
                    mask_choice = gr.Radio(["upload", "drawn", "difference"], value="upload", label="mask from",
                                           elem_id="mask_choice")
                    with gr.Tabs():
                        with gr.Tab("upload"):
                            mask_file = image_upload(label="mask (white = inside; RGBA uses alpha)",
                                                 elem_id="mask", height=160)
                        with gr.Tab("draw"):
                            mask_editor = gr.ImageEditor(type="numpy", image_mode="RGBA", label="paint the region on the target",
                                                         elem_id="mask_editor", height=260)
                        with gr.Tab("|target − context|"):
                            diff_threshold = gr.Slider(0.0, 0.5, value=0.04, step=0.005, label="threshold",
                                                       elem_id="diff_threshold")
                    preds = gr.File(file_count="multiple", file_types=["image"], label="predictions (file name = checkpoint;"
                                    " <name>~2 = a second run)", elem_id="preds")
                    with gr.Accordion("depth · latents · camera · k_obj", open=False):
                        target_depth = gr.File(label="target depth (.npy .npz .tif, 16-bit .png in mm)", elem_id="target_depth",
                                               file_types=[".npy", ".npz", ".tif", ".tiff", ".png"])
                        pred_depths = gr.File(file_count="multiple", label="prediction depths (file name = checkpoint)",
                                              elem_id="pred_depths", file_types=[".npy", ".npz", ".tif", ".tiff", ".png"])
                        depth_kind = gr.Radio(["auto (from file name)", "metric", "inverse"], value="auto (from file name)",
                                              label="depth kind")
                        depth_source = gr.Radio(list(DEPTH_SOURCES), value="uploaded", elem_id="depth_source",
                                                label="prediction depth: uploaded maps, or estimated by Depth Anything V2 Small")
                        align_depth = gr.Checkbox(True, label="align estimated depth onto the target (least-squares "
                                                  "scale and shift outside the mask)", elem_id="align_depth")
                        latent_choice = gr.Radio(["proxy", "TAEF1", "uploaded only"], value="proxy", elem_id="latent_choice",
                                                 label="latents: proxy (offline), TAEF1 (real Flux latents), or uploaded only")
                        latents = gr.File(file_count="multiple", label="latents: context_latents.*, target_latents.*, <checkpoint>.*",
                                          file_types=[".safetensors", ".pt", ".npy"], elem_id="latents")
                        camera_file = gr.File(label="camera.json", file_types=[".json"], elem_id="camera_file")
                        with gr.Row():
                            f_px = gr.Number(label="f_px", elem_id="f_px", minimum=0)
                            f_mm = gr.Number(label="f_mm", minimum=0)
                            sensor_w = gr.Number(label="sensor width mm", minimum=0)
                        with gr.Row():
                            k_obj = gr.Number(label="k_obj (empty: calibrate on the target)", elem_id="k_obj", minimum=0)
                            calib_zip = gr.File(label="calibrate k_obj from a .zip of samples", file_types=[".zip"],
                                                elem_id="calib_zip")
                        calib_md = gr.Markdown()
                    kind_choice = gr.Radio(["auto", "insertion", "material"], value="auto", elem_id="kind_choice",
                                           label="sample kind — decides the weight preset and how the scale is read")
                    diagnose = gr.Button("Diagnose", variant="primary", elem_id="diagnose")
                examples = gr.Examples(
                    examples=[_example(ASSETS / "insert_box"), _example(ASSETS / "tiles_wall")],
                    inputs=[context, target, mask_file, preds, target_depth, pred_depths, camera_file],
                    label="demo samples (assets/)", examples_per_page=4,
                )
            # ---- results ----
            with gr.Column(scale=3):
                with gr.Row():
                    inspect = gr.Dropdown([], label="prediction to inspect", elem_id="inspect", scale=2)
                    preset_dd = gr.Dropdown([*PRESETS, "custom"], value=DEFAULT_PRESET, label="weight preset",
                                            elem_id="preset", scale=1)
                    reset_btn = gr.Button("reset weights", scale=0, min_width=120)
                with gr.Tabs(elem_id="main_tabs") as main_tabs:
                    with gr.Tab("Overview", id="overview"):
                        bars = gr.HTML(elem_id="bars")
                        table = gr.Dataframe(elem_id="table", interactive=False, wrap=True)
                        skipped = gr.Markdown(elem_id="skipped")
                    with gr.Tab("Heatmaps"):
                        with gr.Row():
                            heat_term = gr.Dropdown([TOTAL] + list(REGISTRY), value=TOTAL, label="term", elem_id="heat_term")
                            heat_kind = gr.Radio(["contribution", "gradient"], value="contribution", label="map")
                            opacity = gr.Slider(0.0, 1.0, value=0.65, step=0.05, label="opacity", elem_id="opacity")
                        heatmap = gr.Plot(elem_id="heatmap", show_label=False)
                    with gr.Tab("Latent geometry"):
                        latent_md = gr.Markdown(elem_id="latent_md")
                        with gr.Row():
                            m_hat_plot = gr.Plot(show_label=False)
                            m_tgt_plot = gr.Plot(show_label=False)
                        with gr.Row():
                            sdm_plot = gr.Plot(show_label=False)
                            band_plot = gr.Plot(show_label=False)
                        weight_map_plot = gr.Plot(show_label=False)
                        decoded_view = gr.Image(label="what the prediction's latents decode to (TAEF1 decoder)",
                                                visible=False, elem_id="decoded", height=300)
                    with gr.Tab("Depth"):
                        depth_md = gr.Markdown()
                        with gr.Row():
                            d_pred_plot = gr.Plot(show_label=False)
                            d_tgt_plot = gr.Plot(show_label=False)
                        with gr.Row():
                            d_diff_plot = gr.Plot(show_label=False)
                            regions_plot = gr.Plot(show_label=False)
                        scale_plot = gr.Plot(show_label=False)
                        with gr.Row():
                            sta_p_plot = gr.Plot(show_label=False)
                            sta_t_plot = gr.Plot(show_label=False)
                        per_scale_plot = gr.Plot(show_label=False)
                    with gr.Tab("Texture"):
                        texture_md = gr.Markdown(elem_id="texture_md")
                        spectra_plot = gr.Plot(show_label=False)
                        acf_plot = gr.Plot(show_label=False)
                        log_polar_plot = gr.Plot(show_label=False)
                    with gr.Tab("Checkpoints"):
                        slider_view = gr.ImageSlider(label="target ↔ prediction to inspect", elem_id="image_slider")
                        gallery = gr.Gallery(label="predictions (ordered by step)", columns=4, height=260, elem_id="gallery")
                        ckpt_table = gr.Dataframe(interactive=False, elem_id="ckpt_table")
                        ckpt_scale = gr.Plot(show_label=False, elem_id="ckpt_scale")
                        ckpt_lines = gr.Plot(show_label=False, elem_id="ckpt_lines")
                        ckpt_bars = gr.Plot(show_label=False, elem_id="ckpt_bars")
                    with gr.Tab("Sensitivity"):
                        gr.Markdown(SENS.SWEEP_HELP)
                        with gr.Row():
                            sweep_kind = gr.Radio(["auto", "insertion", "material"], value="auto", label="sweep",
                                                  elem_id="sweep_kind", scale=2)
                            sweep_lo = gr.Number(0.7, label="scale from", elem_id="sweep_lo", minimum=0.05, scale=1)
                            sweep_hi = gr.Number(1.3, label="to", elem_id="sweep_hi", minimum=0.05, scale=1)
                            sweep_n = gr.Number(25, label="steps", precision=0, elem_id="sweep_n", minimum=5, maximum=101,
                                                scale=1)
                            sweep_extra = gr.Checkbox(True, label="also shift (insertion) / rotate (material)", scale=2)
                            sweep_btn = gr.Button("Run sweep", variant="primary", elem_id="run_sweep", scale=1)
                        sweep_md = gr.Markdown(elem_id="sweep_md")
                        sweep_plot = gr.Plot(show_label=False, elem_id="sweep_plot")
                        sweep_table = gr.Dataframe(interactive=False, elem_id="sweep_table", wrap=True)
                        with gr.Row():
                            sweep_extra1 = gr.Plot(show_label=False, elem_id="sweep_extra1")
                            sweep_extra2 = gr.Plot(show_label=False, elem_id="sweep_extra2")
                        gr.Markdown("### Gradient balance")
                        balance_md = gr.Markdown(elem_id="balance_md")
                        balance_plot = gr.Plot(show_label=False, elem_id="balance_plot")
                        with gr.Row():
                            balance_terms = gr.CheckboxGroup([(TERM_LABELS[t], t) for t in WEIGHT_TERMS],
                                                             label="terms to balance (none ticked: every weighted term)",
                                                             elem_id="balance_terms", scale=4)
                            with gr.Column(scale=1, min_width=200):
                                balance_scope = gr.Radio(["this prediction", "all predictions"], value="this prediction",
                                                         label="balance on", elem_id="balance_scope")
                                balance_btn = gr.Button("Balance", variant="primary", elem_id="balance")
                                undo_btn = gr.Button("Undo", elem_id="undo_balance")
                    with gr.Tab("Params"):
                        gr.Markdown("Term parameters (each the `losses` keyword it feeds). **Recompute** re-runs only "
                                    "the terms that read a changed group; an empty optional means off.")
                        with gr.Row():
                            settings_dd = gr.Radio([*PARAM_SETTINGS, "custom"], value=DEFAULT_SETTINGS, scale=1,
                                                   label="change-mask settings (choosing one recomputes)",
                                                   elem_id="settings")
                            settings_md = gr.Markdown(elem_id="settings_md")
                        param_inputs = []
                        for group, specs in PARAM_GROUPS.items():
                            with gr.Accordion(group, open=group == "change_mask"):
                                with gr.Row():
                                    for p in specs:
                                        param_inputs.append(_param_control(group, p))
                        recompute = gr.Button("Recompute", variant="primary", elem_id="recompute")
                    with gr.Tab("Share"):
                        notes_box = gr.Textbox(label="notes for whoever opens this session", lines=3, elem_id="notes")
                        with gr.Row():
                            export_btn = gr.Button("Export bundle (.geoviz.zip)", elem_id="export_bundle")
                            report_btn = gr.Button("Download report (HTML)", elem_id="download_report")
                            link_btn = gr.Button("Save & copy link", variant="primary", elem_id="save_link")
                        share_file = gr.File(label="download", interactive=False, elem_id="share_file")
                        link_box = gr.Textbox(label="link to this session (opens it in any browser that reaches this server)",
                                              elem_id="share_link", interactive=False, buttons=["copy"])
                        import_file = gr.File(label="import a bundle (.geoviz.zip)", file_types=[".zip"],
                                              elem_id="import_bundle")
                        with gr.Row():
                            open_box = gr.Textbox(label="open a link or session id", elem_id="open_link", scale=4)
                            open_btn = gr.Button("Open", scale=1)
                    with gr.Tab("Datasets", visible=root is not None):
                        gr.Markdown("Datasets under the server's `--data-root` (layout of `python -m geoviz evaluate`; "
                                    "a `results.csv` from the CLI is reused). Click a row to open that sample.")
                        with gr.Row():
                            ds_dd = gr.Dropdown(_list_datasets(root), label="dataset", elem_id="dataset",
                                                allow_custom_value=True)  # checked against the disk in the handler
                            ds_sort = gr.Dropdown(["total", *REGISTRY], value="total", label="sort by (worst first)",
                                                  elem_id="dataset_sort")
                        ds_md = gr.Markdown(elem_id="dataset_md")
                        ds_gallery = gr.Gallery(label="predictions, worst first (click to open)", columns=6, height=300,
                                                elem_id="dataset_gallery", allow_preview=False)
                        ds_table = gr.Dataframe(interactive=False, elem_id="dataset_table")
                        ds_chart = gr.Plot(show_label=False)

        # ---- wiring ----
        preds_seen = gr.State([])  # the prediction files already in the list: an upload replaces them
        weight_inputs = [sliders[t] for t in WEIGHT_TERMS] + [masters[f] for f in FAMILIES]
        view_inputs = [inspect, heat_term, heat_kind, opacity]
        pred_views = [latent_md, m_hat_plot, m_tgt_plot, sdm_plot, band_plot, weight_map_plot,
                      depth_md, d_pred_plot, d_tgt_plot, d_diff_plot, regions_plot, scale_plot, sta_p_plot, sta_t_plot,
                      per_scale_plot, texture_md, spectra_plot, acf_plot, log_polar_plot, slider_view, decoded_view]
        sensitivity_views = [sweep_md, sweep_plot, sweep_table, sweep_extra1, sweep_extra2, balance_md, balance_plot]
        ckpt_views = [ckpt_table, ckpt_lines, ckpt_bars, ckpt_scale]
        weighted_views = [totals, bars, table, heatmap, *ckpt_views, *sensitivity_views, report_json]
        # views a slider step updates only while their tab is open (sending the 10 closed plots and
        # tables on every step cost the page about 100 ms of its 400 ms budget)
        tab_views = {"checkpoints": ckpt_views, "sensitivity": sensitivity_views}
        # report_json (the exact numbers) stays the last output: API clients read it as out[-1]
        everything = [state, notices, skipped, inspect, config_out, gallery, *weight_inputs, preset_dd, settings_dd,
                      settings_md, *weighted_views]

        def apply_weights(session: Session, values) -> None:
            n = len(WEIGHT_TERMS)
            session.weights = {t: float(v) for t, v in zip(WEIGHT_TERMS, values[:n])}
            session.family_scale = {f: float(v) for f, v in zip(FAMILIES, values[n:])}

        def weighted_outputs(session: Session, pred: str, term: str, kind: str, alpha: float,
                             tabs=tuple(tab_views)) -> dict:
            """Every view that depends on the weights; of the tabbed ones (``tab_views``) only those of
            ``tabs``, the others ``gr.skip()`` (left as shown, not computed)."""
            pred = pred if pred in session.report.predictions else session.inspect
            term = term if term in REGISTRY or term == TOTAL else TOTAL
            c = session.combined()
            out = {
                totals: totals_html(session, c),
                bars: FG.contributions_html(session.report.predictions, session.report.terms, c.weighted, c.totals,
                                            TERM_LABELS),
                table: overview_table(session, c),
                heatmap: _plot(heatmap_figure(session, c, pred, term, kind, alpha)),
                report_json: report_summary(session, c),
            }
            for name, views in tab_views.items():
                out.update(tab_outputs(name, session, c, pred) if name in tabs else {v: gr.skip() for v in views})
            return out

        def tab_outputs(name: str, session: Session, c: Combined, pred: str) -> dict:
            """The weight-dependent views of the tab ``name`` (a key of ``tab_views``)."""
            return checkpoint_outputs(session, c) if name == "checkpoints" else sensitivity_outputs(session, pred)

        def checkpoint_outputs(session: Session, c: Combined) -> dict:
            table_df, lines = checkpoint_views(session, c)
            return {ckpt_table: table_df, ckpt_lines: _plot(lines), ckpt_bars: _plot(bars_figure(session, c)),
                    ckpt_scale: _plot(scale_chart(session))}

        def sensitivity_outputs(session: Session, pred: str) -> dict:
            md, main, tab, ex1, ex2 = SENS.sweep_views(session)
            bmd, bfig = SENS.balance_views(session, pred)
            return {sweep_md: md, sweep_plot: _plot(main), sweep_table: tab, sweep_extra1: _plot(ex1),
                    sweep_extra2: _plot(ex2), balance_md: bmd, balance_plot: _plot(bfig)}

        def prediction_outputs(session: Session, pred: str) -> dict:
            lat = latent_views(session, pred)
            dep = depth_views(session, pred)
            tex = texture_views(session, pred)
            out = dict(zip([latent_md, m_hat_plot, m_tgt_plot, sdm_plot, band_plot, weight_map_plot], lat))
            out.update(zip([depth_md, d_pred_plot, d_tgt_plot, d_diff_plot, regions_plot, scale_plot,
                            sta_p_plot, sta_t_plot, per_scale_plot], dep))
            out.update(zip([texture_md, spectra_plot, acf_plot, log_polar_plot], tex))
            out = {k: (_plot(v) if isinstance(v, dict) else v) for k, v in out.items()}
            out[slider_view] = (session.sample.target, session.sample.predictions[pred])
            decoded = decoded_latents(session, pred)
            out[decoded_view] = gr.update(value=decoded, visible=decoded is not None)
            return out

        def main_outputs(session: Session, term: str, kind: str, alpha: float) -> dict:
            """What a new diagnosis shows first (the per-prediction tabs follow in a second step)."""
            pred = session.inspect if session.inspect in session.report.predictions else session.report.predictions[0]
            session.inspect = pred
            out = {state: session, notices: notices_md(session), skipped: skipped_md(session),
                   inspect: gr.update(choices=session.report.predictions, value=pred),
                   config_out: weights_file(session), gallery: checkpoint_gallery(session),
                   preset_dd: preset_matching(session.effective_weights()), settings_dd: settings_of(session.params),
                   settings_md: settings_summary(session)}
            out.update(slider_updates(session))
            out.update(weighted_outputs(session, pred, term, kind, alpha))
            return out

        @_friendly
        def on_views(session):
            if session is None:
                return {k: gr.skip() for k in pred_views}
            return prediction_outputs(session, session.inspect)

        @_compute
        def on_load(request: gr.Request = None, dev=None, term=None, kind=None, alpha=None, *weights):
            # special arguments (request, progress, event data) come first: Gradio injects only
            # parameters before a *args
            sid = request.query_params.get("session") if request is not None else None
            if sid:  # a shared link: that session, its weights and params
                session, bundle = session_from_bundle(store.load(sid), dev)
                return restored_outputs(session, bundle, term, kind, alpha)
            session = _clone(preload) if preload is not None else demo_session(dev)
            apply_weights(session, weights)
            # the inputs panel stays empty: the demo's files left in it would mix into the next upload
            return main_outputs(session, term, kind, alpha)

        @_compute
        def on_diagnose(progress=gr.Progress(), session=None, dev=None, ctx=None, tgt=None, m_choice=None, m_file=None,
                        m_editor=None, thr=None, pr=None, t_depth=None, p_depths=None, d_kind=None, lat=None, cam=None,
                        fpx=None, fmm=None, sw=None, kobj=None, term=None, kind=None, alpha=None, d_source=None,
                        align=True, lat_choice=None, sample_kind=None, *rest):
            weights, param_values = rest[: len(weight_inputs)], rest[len(weight_inputs):]
            progress(0, desc="loading inputs")
            sample = build_session_sample(ctx, tgt, m_choice, m_file, m_editor, thr, pr, t_depth, p_depths, d_kind, lat,
                                          cam, fpx, fmm, sw, kobj, sample_kind=sample_kind)
            new = new_session(sample, params_from_controls(list(param_values)), {}, dev, progress,
                              models_from(lat_choice, d_source, align))
            apply_weights(new, weights)
            follow_kind(new)
            if session is not None:
                new.files = session.files
            for n in sample.notices:
                gr.Info(n)
            return main_outputs(new, term, kind, alpha)

        # The API's weight change: every weight at once (what gradio_client scripts and bench/load.py use)
        @_friendly
        def on_weights_fast(session, *weights):
            if session is None:
                return gr.skip()
            apply_weights(session, weights)
            return totals_html(session, session.combined())

        @_friendly
        def on_weights(session, pred, term, kind, alpha, *weights):
            if session is None:
                return {k: gr.skip() for k in weighted_views}
            apply_weights(session, weights)
            return weighted_outputs(session, pred, term, kind, alpha)

        # The page's weight change: one slider's value (an event carrying all 26 weights makes Gradio's
        # page look each one up in its layout tree), and only the open tab's views.
        def set_slot(session: Session, slot: int, value) -> None:
            n = len(WEIGHT_TERMS)
            if value is None:
                return
            if slot < n:  # new dicts, not in-place edits: a cloned demo session shares nothing
                session.weights = {**session.weights, WEIGHT_TERMS[slot]: float(value)}
            else:
                session.family_scale = {**session.family_scale, list(FAMILIES)[slot - n]: float(value)}

        def on_slider(slot: int):
            @_friendly
            def handler(session, pred, term, kind, alpha, value, tab):
                if session is None:
                    return {k: gr.skip() for k in [*weighted_views, config_out, preset_dd]}
                set_slot(session, slot, value)
                out = weighted_outputs(session, pred, term, kind, alpha, tabs=(tab,))
                # the weights file and the preset label follow every change however it was made
                # (drag, a typed value and Enter, the arrow keys: each is an input event)
                out[config_out] = weights_file(session)
                out[preset_dd] = preset_matching(session.effective_weights())
                return out
            return handler

        @_friendly
        def on_tab(session, pred, evt: gr.SelectData):
            """A main tab opened: remember it, and bring its weight-dependent views up to date."""
            name = str(evt.value).lower()
            out = {open_tab: name, **{v: gr.skip() for views in tab_views.values() for v in views}}
            if session is None or name not in tab_views:
                return out
            pred = pred if pred in session.report.predictions else session.inspect
            out.update(tab_outputs(name, session, session.combined(), pred))
            return out

        def on_settings(name):
            if name not in PARAM_SETTINGS:  # "custom": nothing to set
                return {c: gr.skip() for c in param_inputs}
            values = resolve_params(PARAM_SETTINGS[name])
            return {ctrl: control_value(p, values[g][p.name]) for ctrl, (g, p) in zip(param_inputs, PARAM_CONTROLS)}

        def on_failed(session):
            """After a failed Diagnose: the results on screen are the previous ones; say so at the top."""
            if session is None:
                return "⚠ **The last Diagnose failed** (the message says why); nothing is diagnosed yet."
            return (f"⚠ **The last Diagnose failed** (the message says why): the results below are still those of "
                    f"**{_esc(session.report.sample_name)}**.\n\n" + notices_md(session))

        def follow_kind(session: Session) -> None:
            """A new sample's weights follow its kind: a preset becomes the kind's preset (custom weights
            are kept; the notices say which preset is in force)."""
            current = preset_matching(session.effective_weights())
            wanted = preset_for(session.report.kind)
            if current != "custom" and current != wanted:
                session.weights, session.family_scale = preset(wanted), {f: 1.0 for f in FAMILIES}
                session.report.notices.append(f"weights: the '{wanted}' preset, for a {session.report.kind} sample")

        @_friendly
        def on_view(session, pred, term, kind, alpha):
            if session is None:
                return gr.skip()
            pred = pred if pred in session.report.predictions else session.inspect
            return _plot(heatmap_figure(session, session.combined(), pred, term, kind, alpha))

        @_friendly
        def on_inspect(session, pred, term, kind, alpha):
            if session is None or pred not in session.report.predictions:
                return {k: gr.skip() for k in [heatmap, *pred_views]}
            session.inspect = pred
            out = prediction_outputs(session, pred)
            out[heatmap] = _plot(heatmap_figure(session, session.combined(), pred, term, kind, alpha))
            return out

        @_friendly
        def on_preset(session, name, pred, term, kind, alpha):
            if name not in PRESETS:  # "custom" is a label, not something to apply
                return {k: gr.skip() for k in [*weight_inputs, *weighted_views, config_out]}
            values = PRESETS[name]
            out = {sliders[t]: values[t] for t in WEIGHT_TERMS}
            out.update({masters[f]: 1.0 for f in FAMILIES})
            if session is not None:
                session.weights = dict(values)
                session.family_scale = {f: 1.0 for f in FAMILIES}
                out.update(weighted_outputs(session, pred, term, kind, alpha))
                out[config_out] = weights_file(session)
            return out

        @_compute
        def on_config(session, file, pred, term, kind, alpha):
            path = _path(file)
            if not path:
                return gr.skip()
            try:
                cfg = WeightsConfig.load(path)
            except ValueError as e:
                raise InputError(Path(path).name, str(e), "export a weights.json from geoviz") from None
            weights = {t: cfg.weights.get(t, 0.0) for t in WEIGHT_TERMS}
            out = {sliders[t]: weights[t] for t in WEIGHT_TERMS}
            out.update({masters[f]: 1.0 for f in FAMILIES})
            resolved = cfg.resolved_params()
            out.update({ctrl: control_value(p, resolved[g][p.name]) for ctrl, (g, p) in zip(param_inputs, PARAM_CONTROLS)})
            if session is not None:
                session.weights, session.family_scale = weights, {f: 1.0 for f in FAMILIES}
                if resolved != session.params:
                    session.sample, session.report = evaluate_with(session.original or session.sample, resolved,
                                                                   session.device, session.models)
                    session.params, session.sweep, session.last_balance = resolved, None, None
                out.update(main_outputs(session, term, kind, alpha))
            return out

        @_compute
        def on_recompute(progress=gr.Progress(), session=None, dev=None, term=None, kind=None, alpha=None,
                         d_source=None, align=True, lat_choice=None, sample_kind=None, *rest):
            if session is None:
                raise InputError("session", "nothing is loaded yet", "press Diagnose first")
            weights, param_values = rest[: len(weight_inputs)], rest[len(weight_inputs):]
            apply_weights(session, weights)
            params = resolve_params(params_from_controls(list(param_values)))
            progress(0, desc="recomputing the terms whose parameters changed")
            session.models = models_from(lat_choice, d_source, align)
            base = with_kind(session.original or session.sample, sample_kind)
            if session.original is not None:
                session.original = base
            session.sample, session.report = evaluate_with(base, params, dev, session.models)
            session.params, session.device = params, dev
            session.sweep, session.last_balance = None, None  # computed with the old params / latents
            follow_kind(session)
            return main_outputs(session, term, kind, alpha)

        @_compute
        def on_calibrate(file):
            path = _path(file)
            if not path:
                return gr.skip(), ""
            folder = extract_zip(path, new_temp_dir("calib-"))
            cal = calibrate_folder(folder)
            return cal.k_obj, (f"k_obj = **{cal.k_obj:.5g}** from {len(cal.per_sample)} samples ({cal.depth_kind} depth); "
                               f"per-sample k within {100 * cal.spread:.1f}% of the median")

        @_friendly
        def on_export(session, notes):
            if session is None:
                raise InputError("session", "nothing is loaded yet", "press Diagnose first")
            path = _session_dir(session) / f"{_file_stem(session.sample.name)}.geoviz.zip"
            path.write_bytes(bundle_bytes(session, notes))
            return str(path)

        @_friendly
        def on_report(session, notes):
            if session is None:
                raise InputError("session", "nothing is loaded yet", "press Diagnose first")
            path = _session_dir(session) / f"{_file_stem(session.sample.name)}-report.html"
            path.write_text(report_html(session.sample, session.report, session.effective_weights(), notes), encoding="utf-8")
            return str(path)

        @_friendly
        def on_link(session, notes, request: gr.Request):
            if session is None:
                raise InputError("session", "nothing is loaded yet", "press Diagnose first")
            sid = store.save(bundle_bytes(session, notes))
            return _base_url(request) + f"?session={sid}"

        def restored_outputs(session: Session, bundle, term, kind, alpha) -> dict:
            out = main_outputs(session, term, kind, alpha)
            out.update({sliders[t]: session.weights.get(t, 0.0) for t in WEIGHT_TERMS})
            out.update({masters[f]: 1.0 for f in FAMILIES})
            out.update({ctrl: control_value(p, session.params[g][p.name]) for ctrl, (g, p) in zip(param_inputs, PARAM_CONTROLS)})
            out[notes_box] = bundle.notes
            return out

        @_compute
        def on_import(session, file, dev, term, kind, alpha, progress=gr.Progress()):
            path = _path(file)
            if not path:
                return gr.skip()
            progress(0, desc="restoring the bundle")
            new, bundle = session_from_bundle(import_bundle(path), dev)
            if session is not None:
                new.files = session.files
            return restored_outputs(new, bundle, term, kind, alpha)

        @_compute
        def on_open_link(session, link, dev, term, kind, alpha):
            sid = _session_id(link)
            new, bundle = session_from_bundle(store.load(sid), dev)
            if session is not None:
                new.files = session.files
            return restored_outputs(new, bundle, term, kind, alpha)

        @_compute
        def on_dataset(progress=gr.Progress(), name=None, sort=None, *weights):
            if root is None or not name:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip()
            folder = _dataset_folder(root, name)
            w = _weights_from_values(weights)
            rows, source, left_out = dataset_rows(folder, w, progress, root=root)
            df = dataset_table(rows, sort)
            md = (f"**{name}** · {len({r['sample'] for r in rows})} samples × {len({r['checkpoint'] for r in rows})} "
                  f"checkpoints · values {source}")
            if left_out:
                md += f"\n\n**Left out ({len(left_out)})**\n\n" + "\n".join(f"- {_esc(x)}" for x in left_out)
            return df, _plot(dataset_chart(rows)), md, dataset_gallery(folder, df, sort, root=root)

        def on_dataset_tab(evt: gr.SelectData, progress=gr.Progress(), name=None, sort=None, table_value=None, *weights):
            loaded = table_value is not None and len(pd.DataFrame(table_value)) > 0
            if str(evt.value) != "Datasets" or loaded or not name:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return on_dataset(progress, name, sort, *weights)

        @_compute
        def on_dataset_open(evt: gr.SelectData = None, progress=gr.Progress(), session=None, name=None,
                            table_value=None, dev=None, term=None, kind=None, alpha=None, *weights):
            if root is None or not name or evt is None:
                return gr.skip()
            df = table_value if isinstance(table_value, pd.DataFrame) else pd.DataFrame(table_value)
            index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index  # table cell or gallery item
            row = df.iloc[int(index)]

            specs, _ = list_dataset(_dataset_folder(root, name), confine_to=root)
            spec = next((sp for sp in specs if sp.name == row["sample"]), None)
            if spec is None:
                raise InputError(str(row["sample"]), "is no longer in the dataset", "reload the dataset")
            progress(0, desc=f"diagnosing {spec.name}")
            new = new_session(load_spec(spec), session.params if session else None, {}, dev, progress,
                              session.models if session is not None and session.models else models_from())
            apply_weights(new, weights)
            follow_kind(new)
            new.inspect = str(row["checkpoint"])
            if session is not None:
                new.files = session.files
            return main_outputs(new, term, kind, alpha)

        @_compute
        def on_sweep(progress=gr.Progress(), session=None, kind=None, lo=None, hi=None, n=None, extra=True, dev=None,
                     pred=None):
            if session is None:
                raise InputError("session", "nothing is loaded yet", "press Diagnose first")

            def report_progress(done, total, message):
                progress((done, total), desc=f"sweep: {message}")

            SENS.run_sweep(session, kind, lo, hi, n, bool(extra), dev, report_progress)
            pred = pred if pred in session.report.predictions else session.inspect
            return sensitivity_outputs(session, pred)

        def slider_updates(session: Session) -> dict:
            """The sliders showing the session's weights (a balanced weight may exceed a slider's range)."""
            out = {}
            for t in WEIGHT_TERMS:
                v = float(session.weights.get(t, 0.0))
                top = sliders[t].maximum
                out[sliders[t]] = gr.update(value=v, maximum=max(top, round(1.25 * v, 3))) if v > top else v
            out.update({masters[f]: session.family_scale.get(f, 1.0) for f in FAMILIES})
            return out

        @_compute
        def on_balance(session, terms, scope, pred, term, kind, alpha):
            if session is None:
                raise InputError("session", "nothing is loaded yet", "press Diagnose first")
            pred = pred if pred in session.report.predictions else session.inspect
            SENS.apply_balance(session, list(terms or []), scope, pred)
            out = slider_updates(session)
            out.update(weighted_outputs(session, pred, term, kind, alpha))
            out[config_out] = weights_file(session)
            out[preset_dd] = preset_matching(session.effective_weights())
            return out

        @_friendly
        def on_undo(session, pred, term, kind, alpha):
            if session is None or not SENS.undo_balance(session):
                gr.Info("nothing to undo")
                return gr.skip()
            pred = pred if pred in session.report.predictions else session.inspect
            out = slider_updates(session)
            out.update(weighted_outputs(session, pred, term, kind, alpha))
            out[config_out] = weights_file(session)
            out[preset_dd] = preset_matching(session.effective_weights())
            return out

        hidden = dict(show_progress="hidden")
        restorable = [*everything, *param_inputs, notes_box]
        demo.load(on_load, [device_dd, heat_term, heat_kind, opacity, *weight_inputs], restorable,
                  api_name="load_demo", **hidden, **COMPUTE).then(on_views, state, pred_views, api_visibility="private", **hidden)
        diag_inputs = [state, device_dd, context, target, mask_choice, mask_file, mask_editor, diff_threshold, preds,
                       target_depth, pred_depths, depth_kind, latents, camera_file, f_px, f_mm, sensor_w, k_obj,
                       heat_term, heat_kind, opacity, depth_source, align_depth, latent_choice, kind_choice, *weight_inputs,
                       *param_inputs]
        diagnose_event = diagnose.click(on_diagnose, diag_inputs, everything, api_name="diagnose", **COMPUTE)
        diagnose_event.success(on_views, state, pred_views, api_visibility="private", **hidden)
        diagnose_event.failure(on_failed, state, notices, api_visibility="private", **hidden)
        examples.load_input_event.then(on_diagnose, diag_inputs, everything, api_visibility="private", **COMPUTE).success(
            on_views, state, pred_views, api_visibility="private", **hidden)
        recompute_inputs = [state, device_dd, heat_term, heat_kind, opacity, depth_source, align_depth, latent_choice,
                            kind_choice, *weight_inputs, *param_inputs]
        device_dd.input(on_recompute, recompute_inputs, everything, api_visibility="private", **COMPUTE).success(
            on_views, state, pred_views, api_visibility="private", **hidden)
        # two listeners on each slider's input: the totals computed in the page (no round trip), and
        # the server's figures for that one weight (the totals again, exact, when they arrive)
        page_totals = totals_js()
        for slot, s in enumerate(weight_inputs):
            s.input(None, [report_json, totals, *weight_inputs], totals, js=page_totals, api_visibility="private",
                    **hidden)
            s.input(on_slider(slot), [state, *view_inputs, s, open_tab], [*weighted_views, config_out, preset_dd],
                    trigger_mode="always_last", api_visibility="private", **hidden)
        # the API's endpoints (a button never shown: scripts call them by name)
        api_trigger = gr.Button(visible=False)
        api_trigger.click(on_weights_fast, [state, *weight_inputs], totals, api_name="weights_total", **hidden)
        api_trigger.click(on_weights, [state, *view_inputs, *weight_inputs], weighted_views, api_name="weights",
                          **hidden)
        main_tabs.select(on_tab, [state, inspect], [open_tab, *ckpt_views, *sensitivity_views],
                         api_visibility="private", **hidden)
        settings_dd.input(on_settings, settings_dd, param_inputs, api_visibility="private", **hidden).then(
            on_recompute, recompute_inputs, everything, api_visibility="private", **COMPUTE).success(
            on_views, state, pred_views, api_visibility="private", **hidden)
        gr.on([heat_term.input, heat_kind.input, opacity.release], on_view, [state, *view_inputs], heatmap,
              trigger_mode="always_last", api_name="view", **hidden)
        inspect.input(on_inspect, [state, *view_inputs], [heatmap, *pred_views], api_name="inspect")
        preset_dd.input(on_preset, [state, preset_dd, *view_inputs],
                        [*weight_inputs, *weighted_views, config_out], api_name="preset")
        reset_btn.click(lambda s, *v: on_preset(s, DEFAULT_PRESET, *v), [state, *view_inputs],
                        [*weight_inputs, *weighted_views, config_out], api_visibility="private").then(
            lambda: DEFAULT_PRESET, None, preset_dd, api_visibility="private")
        config_in.upload(on_config, [state, config_in, *view_inputs],
                         [*param_inputs, *everything], api_name="load_config", **COMPUTE).success(
            on_views, state, pred_views, api_visibility="private", **hidden)
        recompute.click(on_recompute, recompute_inputs, everything, api_name="recompute", **COMPUTE).success(
            on_views, state, pred_views, api_visibility="private", **hidden)
        sweep_btn.click(on_sweep, [state, sweep_kind, sweep_lo, sweep_hi, sweep_n, sweep_extra, device_dd, inspect],
                        sensitivity_views, api_name="sweep", **COMPUTE)
        balance_btn.click(on_balance, [state, balance_terms, balance_scope, *view_inputs],
                          [*weight_inputs, *weighted_views, config_out, preset_dd], api_name="balance", **COMPUTE)
        undo_btn.click(on_undo, [state, *view_inputs], [*weight_inputs, *weighted_views, config_out, preset_dd],
                       api_name="undo_balance")
        calib_zip.upload(on_calibrate, calib_zip, [k_obj, calib_md], api_name="calibrate", **COMPUTE)
        export_btn.click(on_export, [state, notes_box], share_file, api_name="export_bundle")
        report_btn.click(on_report, [state, notes_box], share_file, api_name="report")
        link_btn.click(on_link, [state, notes_box], link_box, api_name="save_link").success(
            None, link_box, None, js="(url) => { if (url && navigator.clipboard) navigator.clipboard.writeText(url); }")
        import_file.upload(on_import, [state, import_file, device_dd, heat_term, heat_kind, opacity], restorable,
                           api_name="import_bundle", **COMPUTE).success(on_views, state, pred_views, api_visibility="private", **hidden)
        gr.on([open_btn.click, open_box.submit], on_open_link, [state, open_box, device_dd, heat_term, heat_kind, opacity],
              restorable, api_name="open_link", **COMPUTE).success(on_views, state, pred_views, api_visibility="private", **hidden)
        gr.on([ds_dd.input, ds_sort.input], on_dataset, [ds_dd, ds_sort, *weight_inputs],
              [ds_table, ds_chart, ds_md, ds_gallery], api_name="dataset", **COMPUTE)
        opened = gr.on([ds_table.select, ds_gallery.select], on_dataset_open,
                       [state, ds_dd, ds_table, device_dd, heat_term, heat_kind, opacity, *weight_inputs],
                       everything, api_visibility="private", **COMPUTE)
        # the opened sample's diagnosis: the Overview tab, scrolled to its cards
        opened.success(lambda: gr.Tabs(selected="overview"), None, main_tabs, api_visibility="private", **hidden).then(
            None, None, None, js="() => document.querySelector('#totals')?.scrollIntoView({block: 'start'})")
        opened.success(on_views, state, pred_views, api_visibility="private", **hidden)
        # a dataset already chosen when the tab opens (the list's first, or a previous choice) loads then
        main_tabs.select(on_dataset_tab, [ds_dd, ds_sort, ds_table, *weight_inputs], [ds_table, ds_chart, ds_md, ds_gallery],
                         api_visibility="private", **COMPUTE)
        preds.upload(replace_with_upload, [preds, preds_seen], [preds, preds_seen], api_visibility="private", **hidden)
        preds.delete(lambda v: _paths(v), preds, preds_seen, api_visibility="private", **hidden)
        preds.clear(lambda: [], None, preds_seen, api_visibility="private", **hidden)
        target.change(lambda t: {"background": t, "layers": [], "composite": t} if t else None, target, mask_editor,
                      api_visibility="private", **hidden)
        mask_editor.change(lambda e: "drawn" if mask_from_editor(e) is not None else gr.skip(), mask_editor,
                           mask_choice, api_visibility="private", **hidden)
    demo.geoviz_css = CSS  # launch(css=...) in Gradio 6
    return demo


def bundle_bytes(session: Session, notes: str = "") -> bytes:
    """The session as a ``.geoviz.zip`` bundle (inputs, values, params, effective weights, notes)."""
    return export_bundle(session.sample, session.report.values, params=session.params,
                         weights=session.effective_weights(), notes=notes or "", device=session.report.device,
                         encoder=session.report.encoder, scales=session.report.scales, kind=session.report.kind)


def session_from_bundle(bundle, device: str = "auto") -> tuple[Session, Any]:
    """A Session restored from a bundle: its inputs, params and weights; the values recomputed and
    checked against the stored ones (a notice when another version or device gives other numbers)."""
    params = resolve_params(bundle.params)
    report = evaluate(bundle.sample, params, device=device)  # the bundle carries every depth map it used
    if bundle.values and report.values != bundle.values:
        report.notices.append("recomputed values differ from the bundle's (another geoviz version or device)")
    weights = {t: float(bundle.weights.get(t, 0.0)) for t in WEIGHT_TERMS} if bundle.weights else preset(
        preset_for(report.kind))
    session = Session(sample=bundle.sample, report=report, params=params, weights=weights, device=device,
                      inspect=report.predictions[0])
    return session, bundle


def _file_stem(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80] or "session"


def _base_url(request: gr.Request | None) -> str:
    """The URL the browser used to reach this server (for links)."""
    if request is None:
        return "http://127.0.0.1:7860/"
    headers = request.headers
    host = headers.get("x-forwarded-host") or headers.get("host") or "127.0.0.1:7860"
    inner = getattr(request, "request", None)  # the Starlette request
    scheme = headers.get("x-forwarded-proto") or (inner.url.scheme if inner is not None else "http")
    return f"{scheme}://{host}/"


def _session_id(link: str) -> str:
    """The id in ``http://host/?session=<id>`` (or the id itself)."""
    from urllib.parse import parse_qs, urlparse

    link = (link or "").strip()
    if "session=" in link:
        ids = parse_qs(urlparse(link).query).get("session") or [""]
        return ids[0]
    return link


def _list_datasets(root: Path | None) -> list[str]:
    """Dataset folders under the data root (one level down; names come from the disk, not from users)."""
    if root is None or not root.is_dir():
        return []
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        if not d.resolve().is_relative_to(root):  # a symlink out of the root
            continue
        if any((s / "target.png").is_file() or (s / "target.jpg").is_file() for s in d.iterdir() if s.is_dir()):
            out.append(d.name)
    return out


def _dataset_folder(root: Path, name: str) -> Path:
    if not isinstance(name, str) or not name:
        raise InputError(str(name), "is not a dataset name", "choose one from the list")
    folder = (root / name).resolve()
    if not folder.is_relative_to(root) or folder == root or name not in _list_datasets(root):
        raise InputError(str(name), "is not a dataset under the data root", "choose one from the list")
    return folder


def _weights_from_values(values) -> dict[str, float]:
    n = len(WEIGHT_TERMS)
    scale = dict(zip(FAMILIES, values[n:]))
    return {t: float(v) * float(scale.get(REGISTRY[t].family, 1.0)) for t, v in zip(WEIGHT_TERMS, values[:n])}


_DATASET_CACHE: dict[tuple, tuple[list[dict], str, list[str]]] = {}
_DATASET_LOCK = threading.Lock()


def dataset_rows(folder: Path, weights: dict[str, float], progress=None,
                 root: Path | None = None) -> tuple[list[dict], str, list[str]]:
    """``(rows, source, left_out)``: raw values, kind and estimated scale for every sample ×
    checkpoint — from the CLI's results.csv when present, else computed once (and kept per dataset
    while its files do not change) — each row with its ``total`` at ``weights``; ``left_out`` lists
    the samples (or checkpoints) not in the rows, with the reason. ``root``: no file resolving
    outside it is read. The cached rows are never written to: every call returns fresh dicts, so
    two sessions with different weights never see each other's totals."""
    import csv


    csv_path = folder / "results.csv"
    if csv_path.is_file() and (root is None or csv_path.resolve().is_relative_to(root)):
        with open(csv_path, newline="") as fh:
            every = list(csv.DictReader(fh))
        raw, bad = [r for r in every if not r.get("error")], [r for r in every if r.get("error")]
        base = [{"sample": r["sample"], "checkpoint": r["checkpoint"], "kind": r.get("kind") or "",
                 "estimated scale": float(r["estimated_scale"]) if r.get("estimated_scale") else None,
                 "scale method": r.get("scale_method") or "",
                 **{t: (float(r[t]) if r.get(t) else None) for t in REGISTRY}} for r in raw]
        source = "from results.csv"
        left_out = [f"{r['sample']} · {r['checkpoint']}: {r['error']}" for r in bad]
    else:
        left_out: list[str] = []
        specs, _ = list_dataset(folder, confine_to=root, left_out=left_out)
        stamp = max((p.stat().st_mtime for p in folder.rglob("*") if p.is_file()), default=0.0)
        key = (str(folder), stamp)
        with _DATASET_LOCK:
            cached = _DATASET_CACHE.get(key)
        if cached is None:
            rows = []
            for i, spec in enumerate(specs):
                if progress is not None:
                    progress((i, len(specs)), desc=f"evaluating {spec.name}")
                try:
                    sample = load_spec(spec)
                    report = evaluate(sample, None, device="auto", cache=None)
                except InputError as e:
                    left_out.append(f"{spec.name}: {e}")
                    continue
                left_out += [f"{spec.name} · {n}" for n in sample.notices if "left out" in n]
                for ck in report.predictions:
                    sc = report.scales[ck]
                    rows.append({"sample": spec.name, "checkpoint": ck, "kind": report.kind,
                                 "estimated scale": sc.estimate, "scale method": sc.csv_method, **report.values[ck]})
            cached = (rows, "computed on open", list(left_out))
            with _DATASET_LOCK:
                _DATASET_CACHE.clear()
                _DATASET_CACHE[key] = cached
        base, source, left_out = cached
    rows = [dict(r, total=sum(weights.get(t, 0.0) * r[t] for t in REGISTRY if r.get(t) is not None)) for r in base]
    return rows, source, list(left_out)


def dataset_table(rows: list[dict], sort: str) -> pd.DataFrame:
    """Rows (sample × checkpoint) as a table sorted by ``sort`` (a term or ``total``), worst first."""
    cols = ["sample", "checkpoint", "total", "estimated scale", *REGISTRY]
    df = pd.DataFrame([{c: r.get(c) for c in cols} for r in rows], columns=cols)
    key = sort if sort in df.columns else "total"
    return df.sort_values(key, ascending=False, na_position="last").reset_index(drop=True).round(5)


def dataset_gallery(folder: Path, df: pd.DataFrame, sort: str, limit: int = 48, root: Path | None = None) -> list:
    """Thumbnails of the predictions in the table's order (worst first), captioned."""
    from PIL import Image


    specs, _ = list_dataset(folder, confine_to=root)
    paths = {(sp.name, ck): p for sp in specs for ck, p in sp.predictions.items()}
    items = []
    for _, r in df.head(limit).iterrows():
        p = paths.get((r["sample"], r["checkpoint"]))
        if p is None:
            continue
        with Image.open(p) as im:
            im = im.convert("RGB")
            im.thumbnail((160, 160))
            items.append((im.copy(), f"{r['sample']} · {r['checkpoint']} · {sort} {r.get(sort, r['total']):.4g}"))
    return items


def dataset_chart(rows: list[dict]) -> dict:
    """A box plot of the weighted total per checkpoint over the dataset (a plotly dict)."""
    cks = sorted({r["checkpoint"] for r in rows}, key=lambda c: (FG.step_of(c), c))
    data = [{"type": "box", "name": ck, "y": [r["total"] for r in rows if r["checkpoint"] == ck], "boxpoints": "all"}
            for ck in cks]
    return {"data": data, "layout": FG._chart_layout("Total per checkpoint over the dataset", showlegend=False)}


def _example(folder: Path) -> list:
    preds = sorted(str(p) for p in (folder / "pred").glob("*.png"))
    depths = sorted(str(p) for p in (folder / "pred_depth").glob("*.npy"))
    cam = folder / "camera.json"
    return [str(folder / "context.png"), str(folder / "target.png"), str(folder / "mask.png"), preds,
            str(folder / "target_depth.npy"), depths, str(cam) if cam.exists() else None]


def _param_control(group: str, p):
    label = f"{p.name}" + (f" — {p.help}" if p.help else "")
    eid = f"p_{group}_{p.name}"
    if p.kind == "choice":
        return gr.Dropdown(list(p.choices), value=p.default, label=label, elem_id=eid, min_width=140)
    if p.kind == "bool":
        return gr.Checkbox(value=p.default, label=label, elem_id=eid)
    if p.optional:  # a text box: a gr.Number cannot show "off" (it shows 0, and 0 is a value)
        return gr.Textbox(value=control_value(p, p.default), label=label + " (empty = off)", elem_id=eid,
                          min_width=140, placeholder="off")
    return gr.Number(value=p.default, label=label, elem_id=eid, minimum=p.low, maximum=p.high,
                     step=p.step or (1 if p.kind == "int" else 0.01), min_width=140)


def _forget(session: Session | None) -> None:
    """When a browser session's state expires: remove its temporary files."""
    import shutil

    if session is not None and "dir" in session.files:
        shutil.rmtree(session.files["dir"], ignore_errors=True)


def _clone(session: Session) -> Session:
    """A per-browser copy of the preloaded demo session (the Sample and Report are shared read-only)."""
    return Session(sample=session.sample, report=session.report, params=dict(session.params),
                   weights=dict(session.weights), family_scale=dict(session.family_scale), device=session.device,
                   inspect=session.inspect, models=session.models, original=session.original)


DEFAULT_MAX_UPLOAD_MB = 200.0
DEFAULT_CONCURRENCY = 4
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def launch(host: str = "127.0.0.1", port: int = 7860, device: str = "auto", sessions_dir: str | Path | None = None,
           data_root: str | Path | None = None, depth_weights: str | None = None, taef1_weights: str | None = None,
           auth: list[tuple[str, str]] | None = None, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
           concurrency: int = DEFAULT_CONCURRENCY, **kwargs) -> gr.Blocks:
    """Build the dashboard with the insert_box demo preloaded and serve it. ``auth``: (user, password)
    pairs a browser or API client must log in with; ``concurrency``: diagnoses computed at once (a
    burst waits in the queue instead of exhausting memory)."""
    for warning in exposure_warnings(host, auth):
        log.warning(warning)
    t0 = time.perf_counter()
    pre = demo_session(device)
    log.info("demo diagnosis ready in %.1f s", time.perf_counter() - t0)
    demo = build_demo(device, preload=pre, sessions_dir=sessions_dir, data_root=data_root, depth_weights=depth_weights,
                      taef1_weights=taef1_weights)
    demo.queue(default_concurrency_limit=concurrency).launch(
        server_name=host, server_port=port, auth=auth or None, **launch_options(max_upload_mb), **kwargs)
    return demo


def exposure_warnings(host: str, auth) -> list[str]:
    """What to warn about before serving on ``host``: any address other than loopback without auth
    lets everyone on the network read the uploads and use the server's CPU/GPU."""
    if host in _LOOPBACK or host.startswith("127.") or auth:
        return []
    return [f"serving on {host} without --auth: anyone who can reach this machine can open the dashboard, "
            "see what is uploaded and run computations; add --auth user:password (or --auth-file)"]


def launch_options(max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB) -> dict:
    """The launch() settings the dashboard needs (tests use them too): no run history (it slows every
    event 2–3×), the CSS, a bounded upload size. Gradio serves only its own upload cache and the
    bundled demo assets (public, read-only): no data root, sessions folder or other path."""
    return {"css": CSS, "run_history": False, "max_file_size": f"{max_upload_mb:g}mb", "allowed_paths": [str(ASSETS)],
            "show_error": True}
