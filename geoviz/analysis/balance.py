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
import weakref
from dataclasses import dataclass, field

import numpy as np

from geoviz.data.memo import SharedMemo
from geoviz.engine.evaluate import Report

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
    capped: dict[str, str] = field(default_factory=dict)  # balanced terms held at the bound, with the bound
    max_ratio: float = 10.0


# {id(report): {prediction: {input group: (members, Gram matrix)}}}: weight-independent, so computed once
# per report (a Report is never changed after `evaluate`); an entry leaves with its report
_GRAMS = SharedMemo()


def _grams(report: Report, prediction: str) -> dict[str, tuple[list[str], np.ndarray]]:
    """``{input: (terms, G)}`` with ``G[i, j] = ⟨g_i, g_j⟩`` (float64) over the computed terms of
    each input group: every norm the balance needs at any weights, without touching the maps again."""
    def new_table() -> SharedMemo:
        weakref.finalize(report, _GRAMS.pop, id(report), None)
        return SharedMemo()

    per_report = _GRAMS.get_or_make(id(report), new_table)
    return per_report.get_or_make(prediction, lambda: _gram_groups(report, prediction))


def _gram_groups(report: Report, prediction: str) -> dict[str, tuple[list[str], np.ndarray]]:
    res = report.results[prediction]
    groups: dict[str, tuple[list[str], np.ndarray]] = {}
    for group in sorted({r.input for r in res.values()}):
        members = [t for t in report.terms
                   if res[t].input == group and res[t].value is not None and res[t].gradient_full is not None]
        stacked = np.stack([res[t].gradient_full.astype(np.float64).ravel() for t in members]) if members \
            else np.zeros((0, 0))
        groups[group] = (members, stacked @ stacked.T)
    return groups


def gradient_balance(report: Report, weights: dict[str, float], prediction: str) -> GradientBalance:
    """Gradient norms and shares of every computed term of ``prediction`` at ``weights``.

    From the group's Gram matrix (cached per report): ``‖Σ w·g‖ = sqrt(wᵀGw)``, exact up to float64
    rounding of the order of 1e-16·(Σ|w|‖g‖)², which matters only where the terms cancel to 1e-7
    of their parts.
    """
    if prediction not in report.results:
        raise ValueError(f"unknown prediction {prediction!r}; the report has {report.predictions}")
    res = report.results[prediction]
    w = {t: float(weights.get(t, 0.0)) for t in report.terms}
    inputs = {t: res[t].input for t in report.terms}
    norms: dict[str, float | None] = {t: None for t in report.terms}
    shares: dict[str, float] = {}
    totals: dict[str, float] = {}
    for group, (members, gram) in _grams(report, prediction).items():
        for i, t in enumerate(members):
            norms[t] = math.sqrt(max(float(gram[i, i]), 0.0))
        parts = {t: abs(w[t]) * norms[t] for t in members}
        denom = sum(parts.values())
        for t in (t for t in report.terms if inputs[t] == group):
            shares[t] = parts.get(t, 0.0) / denom if denom > 0 else 0.0
        wv = np.array([w[t] for t in members])
        totals[group] = math.sqrt(max(float(wv @ gram @ wv), 0.0)) if members else 0.0
    return GradientBalance(prediction, w, norms, inputs, shares, totals)


def balance_weights(report: Report, weights: dict[str, float], terms: list[str] | None = None,
                    predictions: list[str] | None = None, targets: dict[str, float] | None = None,
                    reference: dict[str, float] | None = None, max_ratio: float = 10.0) -> BalanceResult:
    """Weights giving each chosen term its target share of its input group's gradient, each kept
    within ``max_ratio`` of its ``reference`` weight (default: its current weight) either way.

    A term is left out (its weight kept) when it is skipped somewhere, its gradient is zero, or its
    value is the same on every prediction (with two or more: it does not tell them apart, however
    large its gradient) — ``left_out`` says which and why; ``capped`` names the terms held at the
    bound. Without a bound a term with a tiny gradient (the normalised SDM's) got weights of 1000+.

    Args:
        report: from :func:`geoviz.evaluate.evaluate` (its gradients are read, no term is called).
        weights: the current weights (the total's scale to preserve, and the unchosen terms).
        terms: the terms to balance (default: every term with a non-zero weight).
        predictions: balance on these (default: all; norms combined by geometric mean).
        targets: ``{term: share}`` within each group (default equal); normalised per group.
        reference, max_ratio: the bound: a balanced weight stays within ``[ref / max_ratio, ref · max_ratio]``
            (``ref`` the reference weight, or the current one where the reference is 0 or missing).
    """
    if not max_ratio >= 1.0:  # (NaN fails too; math.inf: unbounded)
        raise ValueError(f"max_ratio must be a number ≥ 1, got {max_ratio!r}")
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
    left_out: dict[str, str] = {}
    capped: dict[str, str] = {}
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
            elif _constant(report, t):
                left_out[t] = "its value is the same on every prediction (it does not tell them apart)"
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
        # (the inner products from the group's Gram matrix: ⟨A, B⟩ = aᵀGb over the coefficients)
        aa = ab = bb = want = 0.0
        for p in predictions:
            terms, gram = _grams(report, p)[group]
            a = np.array([raw.get(t, 0.0) for t in terms])
            b = np.array([0.0 if t in raw else previous[t] for t in terms])
            aa += float(a @ gram @ a)
            ab += float(a @ gram @ b)
            bb += float(b @ gram @ b)
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
            ref = float((reference or {}).get(t, 0.0)) or previous[t]
            value = raw[t] * factor
            if ref > 0 and not ref / max_ratio <= value <= ref * max_ratio:
                value = min(max(value, ref / max_ratio), ref * max_ratio)
                capped[t] = f"held at {value:.4g} ({max_ratio:g}× bound around {ref:g})"
            new[t] = float(f"{value:.7g}")  # 7 digits: exact enough, and 1.0 stays 1.0 on a slider
    after = {p: gradient_balance(report, new, p) for p in predictions}
    return BalanceResult(weights=new, previous=previous, before=before, after=after, left_out=left_out,
                         capped=capped, max_ratio=max_ratio)


def _constant(report: Report, term: str) -> bool:
    """Whether ``term`` has one value on every prediction (two or more; to float32 rounding)."""
    values = [report.results[p][term].value for p in report.predictions]
    if len(values) < 2 or any(v is None for v in values):
        return False
    scale = max(abs(v) for v in values)
    return max(values) - min(values) <= 1e-6 * max(scale, 1e-12)
