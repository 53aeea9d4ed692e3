"""The checkpoint cards (total and scale of each prediction), drawn on the server and in the page,
and the exact numbers behind them (no Gradio)."""

from __future__ import annotations

import json

from geoviz.app.describe import scale_label, scale_title
from geoviz.app.labels import WEIGHT_TERMS, esc, refresh_terms
from geoviz.app.state import Session
from geoviz.engine.combine import Combined
from geoviz.engine.terms import FAMILIES, REGISTRY, settings_of

__all__ = ["totals_html", "totals_js", "report_summary"]


def totals_html(session: Session, combined: Combined) -> str:
    """One card per prediction: its name, weighted total and estimated scale
    (``step_2000 · 0.5347 · scale 1.00``); the lowest total is marked ``best``."""
    preds = session.report.predictions
    best = min(preds, key=lambda p: combined.totals[p])
    cards = []
    for p in preds:
        cls = "total-card best" if p == best and len(preds) > 1 else "total-card"
        sc = session.report.scales.get(p)
        cards.append(f'<span class="{cls}" data-pred="{esc(p)}" title="{esc(scale_title(sc))}">{esc(p)}<br>'
                     f'<b class="total-value">{combined.totals[p]:.4f}</b> · '
                     f'<span class="scale-value">{esc(scale_label(sc))}</span></span>')
    return '<div class="totals">' + "".join(cards) + "</div>"


def report_summary(session: Session, combined: Combined) -> dict:
    """Exact numbers for API clients: values, weights, totals, skipped reasons."""
    r = session.report
    return {
        "sample": r.sample_name, "device": r.device, "predictions": list(r.predictions), "values": r.values,
        "weights": combined.weights, "totals": combined.totals, "skipped": r.skipped(), "params": r.params,
        "notices": list(r.notices), "kind": r.kind, "kind_reason": r.kind_reason,
        "scales": {p: s.to_dict() for p, s in r.scales.items()}, "settings": settings_of(r.params),
    }


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
