"""Gradient balance: how much of the weighted total's gradient each term supplies, and weights that
give each chosen term a target share.

Terms differentiate different inputs — the 002/001 terms the latents, 000/004 the depth map, 003 the
image — and gradient norms are only comparable on a common input, so everything here is per input
group. A term's *share* is ``‖w_t·g_t‖ / Σ_u ‖w_u·g_u‖`` over the computed terms of its group (``g``
the full gradient ``∂value/∂input`` the engine already keeps, ``[C,h,w]``), which sums to 1 per group
and is what the balancing equalises; the group's total gradient ``‖Σ_u w_u·g_u‖`` is reported
alongside (terms can cancel, so it is at most the sum of the parts).

:func:`balance_weights` rescales the chosen terms of each group so their shares match the targets
(equal by default), then scales that group's new weights by one factor so its total gradient norm is
what it was — the training step keeps its size, only the mix changes. Over several predictions the
per-term norms are combined by their geometric mean and the preserved norm is the mean of totals.
No term is called again: it reads a :class:`~geoviz.evaluate.Report`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .evaluate import Report

__all__ = ["GradientBalance", "BalanceResult", "gradient_balance", "balance_weights"]


@dataclass
class GradientBalance:
    """One prediction's gradient budget at some weights.

    ``norms[term]``: ``‖∂term/∂input‖`` unweighted (None where skipped); ``inputs[term]``: which input
    (``latent``, ``depth``, ``image``); ``shares[term]``: the term's share of its group (0 at weight
    0); ``total_norm[input]``: ``‖Σ w·g‖`` of the group.
    """

    prediction: str
    weights: dict[str, float]
    norms: dict[str, float | None]
    inputs: dict[str, str]
    shares: dict[str, float]
    total_norm: dict[str, float]

    def groups(self) -> dict[str, list[str]]:
        """``{input: [term, …]}``: the terms grouped by the input their gradient is taken on (``latent``,
        ``depth``, ``image``), in the report's term order; skipped terms are listed too."""
        out: dict[str, list[str]] = {}
        for t, i in self.inputs.items():
            out.setdefault(i, []).append(t)
        return out


@dataclass
class BalanceResult:
    """``weights`` after balancing (every term; unchosen ones as they were), ``before``/``after`` per
    prediction, and ``left_out`` — chosen terms that could not be balanced, with the reason."""

    weights: dict[str, float]
    previous: dict[str, float]
    before: dict[str, GradientBalance]
    after: dict[str, GradientBalance]
    left_out: dict[str, str] = field(default_factory=dict)


def _grads(report: Report, prediction: str) -> dict[str, np.ndarray]:
    res = report.results[prediction]
    return {t: r.gradient_full.astype(np.float64) for t, r in res.items()
            if r.value is not None and r.gradient_full is not None}


def gradient_balance(report: Report, weights: dict[str, float], prediction: str) -> GradientBalance:
    """Gradient norms and shares of every computed term of ``prediction`` at ``weights``."""
    if prediction not in report.results:
        raise ValueError(f"unknown prediction {prediction!r}; the report has {report.predictions}")
    res = report.results[prediction]
    grads = _grads(report, prediction)
    w = {t: float(weights.get(t, 0.0)) for t in report.terms}
    norms = {t: (float(np.linalg.norm(grads[t])) if t in grads else None) for t in report.terms}
    inputs = {t: res[t].input for t in report.terms}
    shares: dict[str, float] = {}
    totals: dict[str, float] = {}
    for group in sorted(set(inputs.values())):
        members = [t for t in report.terms if inputs[t] == group and t in grads]
        parts = {t: abs(w[t]) * norms[t] for t in members}
        denom = sum(parts.values())
        for t in (t for t in report.terms if inputs[t] == group):
            shares[t] = parts.get(t, 0.0) / denom if denom > 0 else 0.0
        acc = None
        for t in members:
            if w[t]:
                acc = w[t] * grads[t] if acc is None else acc + w[t] * grads[t]
        totals[group] = float(np.linalg.norm(acc)) if acc is not None else 0.0
    return GradientBalance(prediction, w, norms, inputs, shares, totals)


def balance_weights(report: Report, weights: dict[str, float], terms: list[str] | None = None,
                    predictions: list[str] | None = None, targets: dict[str, float] | None = None) -> BalanceResult:
    """Weights giving each chosen term its target share of its input group's gradient.

    Args:
        report: from :func:`geoviz.evaluate.evaluate` (its gradients are read, no term is called).
        weights: the current weights (the total's scale to preserve, and the unchosen terms).
        terms: the terms to balance (default: every term with a non-zero weight).
        predictions: balance on these (default: all; norms combined by geometric mean).
        targets: ``{term: share}`` within each group (default equal); normalised per group.
    """
    predictions = list(predictions or report.predictions)
    unknown = [p for p in predictions if p not in report.results]
    if unknown:
        raise ValueError(f"unknown prediction(s) {unknown}; the report has {report.predictions}")
    chosen = list(terms) if terms is not None else [t for t in report.terms if float(weights.get(t, 0.0)) != 0.0]
    bad = [t for t in chosen if t not in report.terms]
    if bad:
        raise ValueError(f"unknown term(s) {bad}; the report has {report.terms}")
    if targets is not None:
        neg = {t: v for t, v in targets.items() if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0)}
        if neg:
            raise ValueError(f"targets must be positive shares; got {neg}")
    previous = {t: float(weights.get(t, 0.0)) for t in report.terms}
    before = {p: gradient_balance(report, previous, p) for p in predictions}
    grads = {p: _grads(report, p) for p in predictions}
    left_out: dict[str, str] = {}
    new = dict(previous)
    inputs = next(iter(before.values())).inputs
    for group in sorted({inputs[t] for t in chosen}):
        members = []
        for t in (t for t in chosen if inputs[t] == group):
            norms = [before[p].norms[t] for p in predictions]
            if any(n is None for n in norms):
                left_out[t] = "skipped on some prediction"
            elif any(n == 0.0 for n in norms):
                left_out[t] = "its gradient is zero (nothing to balance)"
            else:
                members.append(t)
        if not members:
            continue
        share = {t: float(targets.get(t, 1.0)) if targets else 1.0 for t in members}
        s = sum(share.values())
        share = {t: v / s for t, v in share.items()}
        # geometric mean of each term's norm over the predictions
        nbar = {t: math.exp(np.mean([math.log(before[p].norms[t]) for p in predictions])) for t in members}
        raw = {t: share[t] / nbar[t] for t in members}  # ‖raw_t·g_t‖ ∝ share_t

        # one factor f for the members so the group's total keeps its size: with A_p = Σ raw·g and
        # B_p = Σ w·g of the group's other weighted terms, solve Σ_p ‖f·A_p + B_p‖² = Σ_p ‖before_p‖²
        aa = ab = bb = want = 0.0
        for p in predictions:
            a = b = 0.0
            for t, g in grads[p].items():
                if inputs[t] != group:
                    continue
                if t in raw:
                    a = a + raw[t] * g
                elif previous[t]:
                    b = b + previous[t] * g
            a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
            aa += float((a * a).sum())
            ab += float((a * b).sum()) if b.ndim else 0.0
            bb += float((b * b).sum()) if b.ndim else 0.0
            want += before[p].total_norm[group] ** 2
        if want == 0.0:  # the group had no weighted gradient: keep the members' summed weight as the scale
            factor = (sum(abs(previous[t]) for t in members) or 1.0) / sum(raw.values())
        else:
            disc = ab * ab - aa * (bb - want)
            factor = (-ab + math.sqrt(disc)) / aa if disc >= 0 and aa > 0 else 0.0
            if factor <= 0:
                left_out.update({t: "the other weighted terms of its group already exceed the total" for t in members})
                continue
        for t in members:
            new[t] = float(f"{raw[t] * factor:.7g}")  # 7 digits: exact enough, and 1.0 stays 1.0 on a slider
    after = {p: gradient_balance(report, new, p) for p in predictions}
    return BalanceResult(weights=new, previous=previous, before=before, after=after, left_out=left_out)
