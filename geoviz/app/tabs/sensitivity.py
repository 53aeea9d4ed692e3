"""The Sensitivity tab: scale/shift/rotation sweeps and the gradient balance.

Sweeps of the session's sample (:mod:`geoviz.analysis.sweeps`), their curves weighted by the
session's current weights, and the gradient balance (:mod:`geoviz.analysis.balance`) of the
prediction being inspected — with "Balance" and "Undo" acting on the session's weights. ``views``
and the functions it calls are plain Python (the tests call them directly); ``build`` and ``wire``
put them on the page. Its weighted views are sent only while it is open.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import gradio as gr
import numpy as np
import pandas as pd

import geoviz.report.figures as FG
from geoviz.analysis.balance import BalanceResult, balance_weights, gradient_balance
from geoviz.analysis.sweeps import Sweep, period_sweep, scale_sweep
from geoviz.app.labels import TERM_LABELS, WEIGHT_TERMS
from geoviz.app.page import FOCUS, Page
from geoviz.app.state import Focus, Update
from geoviz.data.readers import InputError
from geoviz.engine.terms import FAMILIES, REGISTRY
from geoviz.engine.weights import preset, preset_for
from geoviz.models.choice import ModelChoice

if TYPE_CHECKING:
    from geoviz.app.state import Session

__all__ = ["ID", "TITLE", "VIEWS", "LAZY", "views", "build", "wire", "run_sweep", "sweep_views", "balance_views",
           "apply_balance", "undo_balance", "SWEEP_HELP", "BALANCE_BOUND"]

ID, TITLE, LAZY = "sensitivity", "Sensitivity", True
VIEWS = {"weighted": ("sweep_md", "sweep_plot", "sweep_table", "sweep_extra1", "sweep_extra2", "balance_md",
                      "balance_plot")}

BALANCE_BOUND = 10.0  # a balanced weight stays within 10× of the preset's, either way

LABELS = TERM_LABELS
AXIS_TITLES = {"scale": "scale s of the object (1 = the target's size)", "shift_x": "horizontal shift (px)",
               "shift_y": "vertical shift (px)", "rotation": "rotation of the material (degrees)",
               "period": "period ratio s of the material (1 = the target's period)"}
SWEEP_HELP = (
    "Synthetic predictions with a **known** error, made from this sample's own target: the object scaled by s "
    "about its ground contact point (and shifted), or the material's period scaled by s (and rotated). Every "
    "term is computed on them with the current parameters, latents and depth source; each curve is drawn from "
    "0 at its minimum to 1 at its worse end, the weighted total in black. A term whose minimum is not at "
    "s = 1 ± 0.02 is **flagged**: with a real weight it pulls objects to the wrong size. Red diamonds: where "
    "the real predictions sit (at their estimated scale, read off the images as on their cards)."
)


def run_sweep(session: Session, kind: str = "auto", low: float = 0.7, high: float = 1.3, steps: int = 25,
              extra_axes: bool = True, device: str | None = None, progress=None) -> Sweep:
    """Sweep the session's sample with its params, latents and depth source; kept on the session."""
    for name, v in (("scale from", low), ("scale to", high)):
        if v is None or not math.isfinite(float(v)) or not 0.05 <= float(v) <= 20:
            raise InputError(name, f"must be a number between 0.05 and 20, got {v!r}", "enter a scale such as 0.7 or 1.3")
    if not float(low) < 1.0 < float(high):
        raise InputError("scale range", f"{low}–{high} does not contain 1", "choose a range around 1, e.g. 0.7 to 1.3")
    if steps is None or not 5 <= int(steps) <= 101:
        raise InputError("steps", f"must be between 5 and 101, got {steps!r}", "25 steps is the default")
    n = int(steps)
    scales = sorted(set(np.round(np.linspace(float(low), float(high), n), 6).tolist()) | {1.0})
    kind = session.report.kind if kind in (None, "auto") else kind
    if kind not in ("insertion", "material"):
        raise InputError("sweep", f"unknown kind {kind!r}", "choose auto, insertion or material")

    kw, _ = (session.models or ModelChoice()).resolve(device or session.device)
    common = dict(scales=scales, params=session.params, device=device or session.device, encoder=kw.get("encoder"),
                  progress=progress)
    if kind == "insertion":
        sweep = scale_sweep(session.sample, shifts=None if extra_axes else (), depth_estimator=kw.get("depth_estimator"),
                            depth_source=kw.get("depth_source", "uploaded"), **common)
    else:
        sweep = period_sweep(session.sample, angles=None if extra_axes else (), **common)
    session.sweep = sweep
    return sweep


# seven columns fit the pane (860 px at 1440 wide); the rise at ±5 % carries its two relative sizes
RESPONSE_COLUMNS = ["term", "weight", "minimum at s", "value at s=1", "curvature d²/ds²",
                    "rise at ±5% (of v(1) · of the ends' rise)", "flag"]


def _percent(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _responses_table(sweep: Sweep, weights: dict[str, float]) -> pd.DataFrame:
    rows = []
    total = sweep.total_response(weights)
    for term, r in [(None, total), *[(t, sweep.responses[t]) for t in sweep.values]]:
        rise = "—" if not math.isfinite(r.rise_5) else (
            f"{r.rise_5:.3g} ({_percent(r.rise_5_relative)} · {_percent(r.rise_5_of_range)})")
        rows.append(dict(zip(RESPONSE_COLUMNS, [
            "weighted total" if term is None else LABELS[term],
            "" if term is None else round(float(weights.get(term, 0.0)), 4),
            f"{r.argmin:.3f}" if math.isfinite(r.argmin) else "—",
            f"{r.value_at_1:.4g}" if math.isfinite(r.value_at_1) else "—",
            f"{r.curvature:.3g}" if math.isfinite(r.curvature) else "—",
            rise, r.flagged or ""])))
    return pd.DataFrame(rows, columns=RESPONSE_COLUMNS)


def sweep_views(session: Session) -> dict:
    """``sweep_md`` (summary), ``sweep_plot`` (the scale sweep), ``sweep_table`` (responses) and
    ``sweep_extra1``/``2`` (shift or rotation) at the session's current weights; placeholders (None)
    before a sweep ran."""
    sweep = getattr(session, "sweep", None)
    if sweep is None:
        return {"sweep_md": "Press **Run sweep** to compute the response curves of this sample.", "sweep_plot": None,
                "sweep_table": pd.DataFrame(columns=RESPONSE_COLUMNS), "sweep_extra1": _extra(None),
                "sweep_extra2": _extra(None)}
    w = session.effective_weights()
    kind = "object scaled about its contact point" if sweep.kind == "insertion" else "material period scaled"
    flagged = sweep.flagged()
    weighted_flags = [t for t in flagged if w.get(t, 0.0)]
    total = sweep.total_response(w)
    lines = [f"**{kind}** · {len(sweep.scales)} scales · {sweep.batches} batch(es) in {sweep.seconds:.1f} s · "
             f"latents `{sweep.encoder}` · depth: {sweep.depth_source}",
             f"Weighted total: minimum at **s = {total.argmin:.3f}**" + (f" — ⚠ {total.flagged}" if total.flagged else " ✓")]
    if weighted_flags:
        lines.append("⚠ weighted terms flagged: " + ", ".join(f"**{LABELS[t]}** ({flagged[t]})" for t in weighted_flags))
    if sweep.skipped:
        lines.append("not in the sweep: " + "; ".join(f"{LABELS[t]} — {why}" for t, why in sweep.skipped.items()))
    scales = session.report.scales
    if scales:
        lo, hi = min(sweep.scales), max(sweep.scales)

        def where(r):
            if r.estimate is None:
                return f"no scale ({r.reason})"
            return f"s ≈ {r.estimate:.3f}" + ("" if lo <= r.estimate <= hi else " (outside the swept range, not drawn)")

        est = ", ".join(f"{n}: {where(r)}" for n, r in scales.items())
        how = next(iter(scales.values())).method
        lines.append(f"real predictions ({how}): {est}")
    markers = {n: r.estimate for n, r in scales.items()}
    axis = AXIS_TITLES["scale" if sweep.kind == "insertion" else "period"]
    swept = "the object's scale" if sweep.kind == "insertion" else "the material's period"
    main = FG.sweep_figure(sweep.scales, sweep.values, sweep.total(w), axis_title=axis,
                           title=f"Response to {swept} — {sweep.sample_name}", labels=LABELS, weights=w, markers=markers)
    extras = []
    for axis, curve in sweep.curves.items():
        extras.append(FG.sweep_figure(curve.x, curve.values, sweep.total(w, axis), axis_title=AXIS_TITLES.get(axis, axis),
                                      title=f"Response to {axis.replace('_', ' ')} (colours as above)", labels=LABELS,
                                      weights=w, reference_x=0.0, legend=False))
    extras += [None] * (2 - len(extras))  # a material sweep has one extra axis (rotation): the second hides
    return {"sweep_md": "\n\n".join(lines), "sweep_plot": main, "sweep_table": _responses_table(sweep, w),
            "sweep_extra1": _extra(extras[0]), "sweep_extra2": _extra(extras[1])}


def _extra(fig: dict | None) -> Update:
    """A shift/rotation figure shown, or its plot hidden when there is none."""
    return Update.of(fig, visible=True) if fig is not None else Update.of(None, visible=False)


def balance_views(session: Session, pred: str) -> dict:
    """``balance_md`` and ``balance_plot``: gradient shares of ``pred`` at the current weights (and
    after the last balance, if any)."""
    w = session.effective_weights()
    gb = gradient_balance(session.report, w, pred)
    last: BalanceResult | None = getattr(session, "last_balance", None)
    after = last.after.get(pred) if last is not None and last.weights == w else None
    before = last.before.get(pred) if after is not None else None
    shown = before if before is not None else gb
    fig = FG.gradient_shares_figure(shown.shares, shown.inputs, shown.norms, LABELS,
                                    after=after.shares if after is not None else None,
                                    title=f"Share of the weighted gradient — {pred}")
    lines = []
    for group, members in gb.groups().items():
        active = [t for t in members if w.get(t, 0.0) and gb.norms[t]]
        if not active:
            continue
        parts = ", ".join(f"{LABELS[t]} {100 * gb.shares[t]:.0f}%" for t in sorted(active, key=lambda t: -gb.shares[t]))
        lines.append(f"- **{group}** (‖total gradient‖ = {gb.total_norm[group]:.3g}): {parts}")
    zero = [t for t in gb.norms if w.get(t, 0.0) and gb.norms[t] == 0.0]
    if zero:
        lines.append("- zero gradient at this prediction: " + ", ".join(LABELS[t] for t in zero)
                     + " (a saturated change mask gives none: try `change_mask.s_min`)")
    if after is not None:
        lines.append(f"Balanced {len([t for t in last.weights if last.weights[t] != last.previous[t]])} term(s); "
                     "the orange bars are the new shares. **Undo** restores the previous weights.")
        if last.left_out:
            lines.append("left as they were: " + "; ".join(f"{LABELS[t]} ({why})" for t, why in last.left_out.items()))
        if last.capped:
            lines.append(f"held at the {last.max_ratio:g}× bound: " + "; ".join(f"{LABELS[t]} ({why})"
                                                                             for t, why in last.capped.items()))
    head = ("Each term's share of the weighted gradient norm of **its own input** (norms compare only on a "
            "common input: latents for 002/001, depth for 000/004, the image for 003).")
    return {"balance_md": head + "\n\n" + "\n".join(lines), "balance_plot": fig}


def views(session: Session, focus: Focus, kinds) -> dict:
    """The sweep's and the balance's views (kind ``weighted``)."""
    if "weighted" not in kinds:
        return {}
    return {**sweep_views(session), **balance_views(session, focus.pred_in(session))}


def apply_balance(session: Session, terms: list[str] | None, scope: str, pred: str) -> BalanceResult:
    """Balance the session's weights (pushing the old ones for Undo); family masters reset to 1."""
    if not session.report.predictions:
        raise InputError("session", "has no prediction", "press Diagnose first")
    w = session.effective_weights()
    chosen = [t for t in (terms or []) if t in REGISTRY] or None
    predictions = [pred] if scope == "this prediction" else None

    # the bound is around the preset of the sample's kind (the current weight where the preset has 0)
    result = balance_weights(session.report, w, terms=chosen, predictions=predictions,
                             reference=preset(preset_for(session.report.kind)), max_ratio=BALANCE_BOUND)
    session.weight_history.append((dict(session.weights), dict(session.family_scale)))
    session.weights = dict(result.weights)
    session.family_scale = {f: 1.0 for f in FAMILIES}
    session.last_balance = result
    return result


def undo_balance(session: Session) -> bool:
    """Restore the weights before the last balance; False when there is nothing to undo."""
    if not session.weight_history:
        return False
    session.weights, session.family_scale = session.weight_history.pop()
    session.last_balance = None
    return True


def build(page: Page) -> None:
    """The sweep's controls and views, then the gradient balance."""
    add = page.add
    gr.Markdown(SWEEP_HELP)
    with gr.Row():
        add("sweep_kind", gr.Radio(["auto", "insertion", "material"], value="auto", label="sweep", elem_id="sweep_kind",
                                   scale=2))
        add("sweep_lo", gr.Number(0.7, label="scale from", elem_id="sweep_lo", minimum=0.05, scale=1))
        add("sweep_hi", gr.Number(1.3, label="to", elem_id="sweep_hi", minimum=0.05, scale=1))
        add("sweep_n", gr.Number(25, label="steps", precision=0, elem_id="sweep_n", minimum=5, maximum=101, scale=1))
        add("sweep_extra", gr.Checkbox(True, label="also shift (insertion) / rotate (material)", scale=2))
        add("sweep_btn", gr.Button("Run sweep", variant="primary", elem_id="run_sweep", scale=1))
    add("sweep_md", gr.Markdown(elem_id="sweep_md"))
    add("sweep_plot", gr.Plot(show_label=False, elem_id="sweep_plot"))
    add("sweep_table", gr.Dataframe(interactive=False, elem_id="sweep_table", wrap=True,
                                    column_widths=["21%", "8%", "10%", "11%", "11%", "20%", "19%"]))
    with gr.Row():
        add("sweep_extra1", gr.Plot(show_label=False, elem_id="sweep_extra1", visible=False))
        add("sweep_extra2", gr.Plot(show_label=False, elem_id="sweep_extra2", visible=False))
    gr.Markdown("### Gradient balance")
    add("balance_md", gr.Markdown(elem_id="balance_md"))
    add("balance_plot", gr.Plot(show_label=False, elem_id="balance_plot"))
    with gr.Row():
        add("balance_terms", gr.CheckboxGroup([(TERM_LABELS[t], t) for t in WEIGHT_TERMS], elem_id="balance_terms",
                                              label="terms to balance (none ticked: every weighted term)", scale=4))
        with gr.Column(scale=1, min_width=200):
            add("balance_scope", gr.Radio(["this prediction", "all predictions"], value="this prediction",
                                          label="balance on", elem_id="balance_scope"))
            add("balance_btn", gr.Button("Balance", variant="primary", elem_id="balance"))
            add("undo_btn", gr.Button("Undo", elem_id="undo_balance"))


def _session(v) -> Session:
    if v.state is None:
        raise InputError("session", "nothing is loaded yet", "press Diagnose first")
    return v.state


def wire(page: Page) -> None:
    """Run sweep, Balance and Undo."""
    own = list(VIEWS["weighted"])
    reweighted = [*page.weight_names(), *page.outputs_of("weighted"), "config_out", "preset"]

    def on_sweep(v, progress):
        session = _session(v)

        def report_progress(done, total, message):
            progress((done, total), desc=f"sweep: {message}")

        run_sweep(session, v.sweep_kind, v.sweep_lo, v.sweep_hi, v.sweep_n, bool(v.sweep_extra), v.device,
                  report_progress)
        return views(session, v.focus(), ["weighted"])

    page.on(page["sweep_btn"].click, on_sweep, ["state", "sweep_kind", "sweep_lo", "sweep_hi", "sweep_n", "sweep_extra",
                                                "device", "inspect"], own, special=("progress",), api_name="sweep",
            compute=True)

    def on_balance(v):
        session = _session(v)
        apply_balance(session, list(v.balance_terms or []), v.balance_scope, v.focus().pred_in(session))
        return page.compose(session, v.focus(), ["weights", "weighted"])

    def on_undo(v):
        if v.state is None or not undo_balance(v.state):
            gr.Info("nothing to undo")
            return {}
        return page.compose(v.state, v.focus(), ["weights", "weighted"])

    page.on(page["balance_btn"].click, on_balance, ["state", "balance_terms", "balance_scope", *FOCUS], reweighted,
            api_name="balance", compute=True)
    page.on(page["undo_btn"].click, on_undo, ["state", *FOCUS], reweighted, api_name="undo_balance")
