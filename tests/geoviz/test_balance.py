"""Gradient balance: shares per input group from the report's gradients, and balanced weights that
equalise them while keeping the total's gradient norm."""

import math
from pathlib import Path

import numpy as np
import pytest

from geoviz.analysis.balance import balance_weights, gradient_balance
from geoviz.data.layouts import load_sample
from geoviz.engine.evaluate import evaluate
from geoviz.engine.terms import DOCUMENT_PARAMS
from geoviz.engine.weights import PRESETS

ASSETS = Path(__file__).resolve().parents[2] / "assets"


@pytest.fixture(scope="module")
def report():
    # s_min: the demo's background is exactly unchanged, so with the document's σ = std_bg = 0 the
    # change mask is a hard step and Dice/area/boundary have no gradient at all (left out below)
    return evaluate(load_sample(ASSETS / "insert_box"), {"change_mask": {"temperature": 0.25, "s_min": 0.05, "reference": "mask"}},
                    device="cpu", cache=None)


def test_a_hard_change_mask_has_no_gradient_and_is_left_out():
    r = evaluate(load_sample(ASSETS / "insert_box"), DOCUMENT_PARAMS, device="cpu", cache=None,
                 terms=["latent_mse", "latent_dice"])
    res = balance_weights(r, {"latent_mse": 1.0, "latent_dice": 0.9}, predictions=["step_0500"])
    assert res.left_out == {"latent_dice": "its gradient is zero (nothing to balance)"}
    assert res.weights["latent_dice"] == 0.9


def _group_total(report, weights, pred, group):
    acc = 0.0
    for t, r in report.results[pred].items():
        if r.value is not None and r.input == group and weights.get(t, 0.0):
            acc = acc + weights[t] * r.gradient_full.astype(np.float64)
    return float(np.linalg.norm(acc))


def test_shares_are_per_input_and_sum_to_one(report):
    w = PRESETS["object insertion"]
    gb = gradient_balance(report, w, "step_0500")
    for group, members in gb.groups().items():
        total = sum(gb.shares[t] for t in members)
        assert total == pytest.approx(1.0) or total == 0.0, group
    assert gb.inputs["latent_dice"] == "latent" and gb.inputs["depth_inside"] == "depth"
    assert gb.inputs["texture_spectral"] == "image"
    # the norm is ‖∂value/∂input‖ of the engine's full gradient
    g = report.results["step_0500"]["latent_mse"].gradient_full
    assert gb.norms["latent_mse"] == pytest.approx(float(np.linalg.norm(g.astype(np.float64))), rel=1e-6)
    for group in ("latent", "depth", "image"):  # from the cached Gram matrix, against the sum itself
        assert gb.total_norm[group] == pytest.approx(_group_total(report, w, "step_0500", group), rel=1e-9), group


def test_the_gram_cache_leaves_with_its_report(report):
    import dataclasses
    import gc

    import geoviz.analysis.balance as balance

    copy = dataclasses.replace(report)
    key = id(copy)
    gradient_balance(copy, PRESETS["object insertion"], "step_0500")
    assert key in balance._GRAMS
    del copy
    gc.collect()
    assert key not in balance._GRAMS


@pytest.mark.parametrize("pred", ["step_0500", "step_2000"])
def test_balance_gives_equal_shares_and_keeps_the_total_norm(report, pred):
    w = dict(PRESETS["object insertion"])
    res = balance_weights(report, w, predictions=[pred], max_ratio=math.inf)  # the method itself, unbounded
    after = res.after[pred]
    for group, members in after.groups().items():
        chosen = [t for t in members if w.get(t, 0.0) != 0.0 and t not in res.left_out]
        if len(chosen) < 2:
            continue
        shares = np.array([after.shares[t] for t in chosen])
        assert shares.max() / shares.min() - 1 < 0.01, (group, dict(zip(chosen, shares)))
        assert after.total_norm[group] == pytest.approx(res.before[pred].total_norm[group], rel=1e-6)
    assert res.previous == {t: float(w.get(t, 0.0)) for t in report.terms}
    assert all(v >= 0 for v in res.weights.values())


def test_balance_a_chosen_subset_with_targets(report):
    w = dict(PRESETS["object insertion"])
    chosen = ["latent_mse", "latent_dice", "latent_area"]
    res = balance_weights(report, w, terms=chosen, predictions=["step_1000"],
                          targets={"latent_mse": 2.0, "latent_dice": 1.0, "latent_area": 1.0}, max_ratio=math.inf)
    a = res.after["step_1000"]
    assert a.shares["latent_mse"] / a.shares["latent_dice"] == pytest.approx(2.0, rel=0.01)
    assert a.shares["latent_dice"] / a.shares["latent_area"] == pytest.approx(1.0, rel=0.01)
    # the other latent terms keep their weights, and the latent total keeps its norm
    assert res.weights["latent_boundary"] == w["latent_boundary"]
    assert a.total_norm["latent"] == pytest.approx(res.before["step_1000"].total_norm["latent"], rel=1e-6)


def test_balance_over_several_predictions_keeps_the_rms_total(report):
    w = dict(PRESETS["object insertion"])
    res = balance_weights(report, w, max_ratio=math.inf)
    for group in ("latent",):
        before = np.sqrt(np.mean([res.before[p].total_norm[group] ** 2 for p in report.predictions]))
        after = np.sqrt(np.mean([res.after[p].total_norm[group] ** 2 for p in report.predictions]))
        assert after == pytest.approx(before, rel=1e-6)


def test_balance_errors_name_the_input(report):
    with pytest.raises(ValueError, match="unknown prediction"):
        balance_weights(report, {}, predictions=["nope"])
    with pytest.raises(ValueError, match="unknown term"):
        balance_weights(report, {}, terms=["nope"])
    with pytest.raises(ValueError, match="positive"):
        balance_weights(report, {"latent_mse": 1.0}, targets={"latent_mse": -1})


def test_balanced_weights_stay_within_the_bound_of_the_preset():
    """On a real sample Balance once set boundary from 0.4 to 1107.7: the normalised SDM's gradient
    is tiny. Now every balanced weight stays within 10× the preset's, and the capped ones are named."""
    r = evaluate(load_sample(ASSETS / "insert_box"), device="cpu", cache=None)
    preset = PRESETS["object insertion"]
    free = balance_weights(r, preset, predictions=["step_1000"], max_ratio=1e12)
    bounded = balance_weights(r, preset, predictions=["step_1000"], reference=preset, max_ratio=10.0)
    assert max(free.weights[t] / preset[t] for t in preset if preset[t]) > 10  # the unbounded balance runs away
    for t, w in bounded.weights.items():
        if preset[t]:
            assert preset[t] / 10 <= w * (1 + 1e-9) and w <= preset[t] * 10 * (1 + 1e-9), (t, w)
    assert bounded.capped and all("10× bound" in why for why in bounded.capped.values())
    with pytest.raises(ValueError, match="max_ratio"):
        balance_weights(r, preset, max_ratio=0.5)


def test_a_term_constant_across_predictions_is_left_out():
    s = load_sample(ASSETS / "insert_box")
    same = {"a": s.predictions["step_1000"], "b": s.predictions["step_1000"].copy()}
    import dataclasses

    r = evaluate(dataclasses.replace(s, predictions=same, prediction_depths={}, memo={}), device="cpu", cache=None,
                 terms=["latent_mse", "latent_dice"])
    res = balance_weights(r, {"latent_mse": 1.0, "latent_dice": 0.9})
    assert res.left_out == {t: "its value is the same on every prediction (it does not tell them apart)"
                            for t in ("latent_mse", "latent_dice")}
    assert res.weights == {"latent_mse": 1.0, "latent_dice": 0.9}
