"""Property-based (hypothesis): :func:`geoviz.engine.combine.combine` is linear in the weights —
totals, weighted values, mapped totals and the weighted contribution map — on a synthetic report
with a skipped term."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import geoviz.data.synth as synth
from geoviz.data.layouts import load_sample
from geoviz.engine.combine import combine
from geoviz.engine.evaluate import evaluate
from geoviz.engine.terms import REGISTRY

SETTINGS = dict(
    deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
EXAMPLES_COMBINE = 60


# ---- Property 3: combine is linear in the weights -------------------------------------------------


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One 80-px synthetic insertion sample (four predictions with depths, a camera; one prediction
    has a second run, so ``texture_scale_consistency`` is computed for it and skipped for the rest)."""
    root = tmp_path_factory.mktemp("hyp_sample")
    synth.write_insert_box(root, size=80)
    first = sorted((root / "pred").glob("*.png"))[0]
    shutil.copy(first, root / "pred" / f"{first.stem}~2.png")
    rep = evaluate(load_sample(root), device="cpu", cache=None)
    assert any(v is None for vals in rep.values.values() for v in vals.values())  # a skipped term
    return rep


def _terms():
    return list(REGISTRY)


weight_value = st.one_of(st.just(0.0), st.floats(0.0, 10.0, allow_nan=False, allow_infinity=False))
weights = st.fixed_dictionaries({t: weight_value for t in _terms()})
coefficient = st.floats(-5.0, 5.0, allow_nan=False, allow_infinity=False)


def _close(got: float, want: float, scale: float, rel: float) -> bool:
    return abs(got - want) <= rel * max(scale, 1e-30)


@settings(max_examples=EXAMPLES_COMBINE, **SETTINGS)
@given(w1=weights, w2=weights, a=coefficient, b=coefficient)
def test_combine_is_linear_in_the_weights(report, w1, w2, a, b):
    mixed = {t: a * w1[t] + b * w2[t] for t in w1}
    c, c1, c2 = combine(report, mixed), combine(report, w1), combine(report, w2)
    for pred in report.predictions:
        vals = report.values[pred]
        # the magnitude of the sums, for the tolerance: Σ_t (|a·w1| + |b·w2|)·|v_t|
        scale = sum((abs(a * w1[t]) + abs(b * w2[t])) * abs(v) for t, v in vals.items() if v is not None)
        assert _close(c.totals[pred], a * c1.totals[pred] + b * c2.totals[pred], scale, 1e-9), pred
        mapped = a * c1.mapped_total[pred] + b * c2.mapped_total[pred]
        assert _close(c.mapped_total[pred], mapped, scale, 1e-9), pred
        for t, v in vals.items():
            got, w_1, w_2 = c.weighted[pred][t], c1.weighted[pred][t], c2.weighted[pred][t]
            if v is None:
                assert got is None and w_1 is None and w_2 is None, (pred, t)
            else:
                assert _close(got, a * w_1 + b * w_2, (abs(a * w_1) + abs(b * w_2)), 1e-12), (pred, t)
        # the weighted contribution map (float32): None when no mapped term has a non-zero weight
        zeros = np.zeros(report.image_size, np.float32)
        got, m1, m2 = (zeros if m is None else m for m in (c.contribution[pred], c1.contribution[pred],
                                                         c2.contribution[pred]))
        want = a * m1.astype(np.float64) + b * m2.astype(np.float64)
        tol = 1e-5 * max(float(np.abs(a * m1).max()), float(np.abs(b * m2).max()), float(np.abs(got).max()), 1e-30)
        assert np.abs(got - want).max() <= tol, pred
