"""Scale/shift/rotation sweeps: batched values equal the per-prediction engine, the synthetic
perturbations have the geometry they claim, the response analysis finds known minima, and on the demo
samples the scale-holding terms have their minimum at s = 1."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import geoviz.analysis.sweeps as sweeps
import losses
from geoviz.analysis.perturb import Transform, contact_point, insertion_perturbations, material_perturbations
from geoviz.analysis.term_batch import BATCH_STATS, BATCHED_TERMS
from geoviz.data.layouts import load_sample
from geoviz.engine.evaluate import evaluate

ASSETS = Path(__file__).resolve().parents[2] / "assets"
FAITHFUL = {"change_mask": {"temperature": 0.25, "s_min": 0.05, "reference": "target"}}


@pytest.fixture(scope="module")
def box():
    return load_sample(ASSETS / "insert_box")


@pytest.fixture(scope="module")
def tiles():
    return load_sample(ASSETS / "tiles_wall")


@pytest.fixture(scope="module")
def box_sweep(box):
    return sweeps.scale_sweep(box, params=FAITHFUL, device="cpu")


# ---- batched values == the engine's, term by term ---------------------------------------------------


@pytest.mark.parametrize("params", [None, FAITHFUL], ids=["document", "faithful"])
def test_batched_values_equal_the_engine_per_prediction(box, params):
    """The real predictions ride in the sweep's first batch: their batched values must be what
    evaluate() computes for each alone (every term, including the batch-normalised 000 and G2)."""
    sw = sweeps.scale_sweep(box, scales=[0.9, 1.0, 1.1], shifts=(), params=params, device="cpu")
    report = evaluate(box, params, device="cpu", cache=None)
    checked = 0
    for pred in box.predictions:
        for term in BATCHED_TERMS:
            want = report.values[pred][term]
            got = sw.predictions[pred]["values"][term]
            assert want is not None, (pred, term, report.results[pred][term].skipped)
            assert got == pytest.approx(want, rel=2e-4, abs=1e-7), (pred, term)
            checked += 1
    assert checked == 4 * 17


def test_one_batch_call_per_batch(box):
    before = BATCH_STATS["calls"]
    sw = sweeps.scale_sweep(box, scales=np.linspace(0.8, 1.2, 10), shifts=(), device="cpu",
                            terms=["latent_area", "pixel_masked_mse"])
    assert BATCH_STATS["calls"] - before == 1 == sw.batches
    before = BATCH_STATS["calls"]
    sw = sweeps.scale_sweep(box, scales=np.linspace(0.8, 1.2, 10), shifts=[-0.1, 0.1], device="cpu",
                            terms=["latent_area"], batch_size=4)
    # 10 scales + 2 + 2 shifts = 14 perturbations in batches of 4
    assert BATCH_STATS["calls"] - before == 4 == sw.batches
    assert len(sw.values["latent_area"]) == 10 and len(sw.curves["shift_x"].values["latent_area"]) == 2


# ---- the perturbations' geometry ----------------------------------------------------------------------


def test_insertion_scale_is_an_exact_area_scale_about_the_contact_point(box):
    scales = [0.7, 0.85, 1.0, 1.15, 1.3]
    p = insertion_perturbations(box.context, box.target, box.mask, [Transform(scale=s) for s in scales])
    area0 = float(box.mask.sum())
    for s, m in zip(scales, p.masks):
        assert float(m.sum()) / area0 == pytest.approx(s * s, rel=0.01)
        # and the area-ratio loss of the exact moved mask is (2 log s)² within 5 %
        if s != 1.0:
            loss = float(losses.area_ratio_loss(m[None], torch.from_numpy(box.mask)[None, None]))
            assert loss == pytest.approx((2 * math.log(s)) ** 2, rel=0.05)
        ys, xs = np.nonzero(m[0].numpy() > 0.5)
        cx, cy = contact_point(box.mask)
        assert ys.max() + 1 == pytest.approx(cy, abs=1.0)  # still standing on the same ground point
        assert (xs.min() + xs.max() + 1) / 2 == pytest.approx(cx, abs=1.0)
    # s = 1 puts the target's object back: inside the mask the composite is the target
    inside = box.mask > 0.99
    img = p.images[2].permute(1, 2, 0).numpy()
    assert np.abs(img[inside] - box.target[inside]).max() < 1e-4


def test_insertion_depth_moves_with_the_object(box):
    p = insertion_perturbations(box.context, box.target, box.mask, [Transform(scale=1.2), Transform(dx=20.0)],
                                box.target_depth)
    z_front = float(np.nanmedian(box.target_depth[box.mask > 0.99]))
    for d, m in zip(p.depths, p.masks):
        on = m[0].numpy() > 0.99
        assert np.nanmedian(d[0].numpy()[on]) == pytest.approx(z_front, rel=0.01)  # same contact, same depth
    assert np.isfinite(p.depths.numpy()).mean() > 0.99


def test_material_rescale_changes_the_period_by_s(tiles):
    truth = 22.4  # px, assets/README.md
    p = material_perturbations(tiles.target, tiles.mask, [Transform(scale=0.8), Transform(scale=1.25)])
    m = torch.from_numpy(tiles.mask)[None, None]
    for s, img in zip((0.8, 1.25), p.images):
        period = float(losses.acf_period(img[None], m))
        assert period == pytest.approx(truth * s, rel=0.04)
    outside = tiles.mask < 0.01
    assert np.abs(p.images[0].permute(1, 2, 0).numpy()[outside] - tiles.target[outside]).max() < 1e-6


# ---- response analysis -------------------------------------------------------------------------------


def test_response_analysis_on_known_curves():
    s = np.linspace(0.7, 1.3, 25)
    r = sweeps.analyse_response(s, (np.log(s / 1.05)) ** 2 + 0.1)
    assert r.argmin == pytest.approx(1.05, abs=0.005) and r.flagged and "1.05" in r.flagged
    q = sweeps.analyse_response(s, 3.0 * (s - 1.0) ** 2)
    assert q.argmin == pytest.approx(1.0, abs=1e-6) and q.flagged is None
    assert q.curvature == pytest.approx(6.0, rel=1e-6)
    assert q.rise_5 == pytest.approx(3.0 * 0.05**2, rel=0.05)
    assert q.rise_5_of_range == pytest.approx((0.05 / 0.3) ** 2, rel=0.05)
    flat = sweeps.analyse_response(s, np.full_like(s, 2.0))
    assert flat.flagged == "does not respond to scale"


# ---- the demo samples ------------------------------------------------------------------------------


def test_insert_box_area_dice_boundary_hold_scale(box_sweep):
    """With the target as the change-mask reference (and leakage-free settings), area ratio, Dice and
    boundary have their minimum within s = 1 ± 0.02 on the insertion demo."""
    for term in ("latent_area", "latent_dice", "latent_boundary"):
        r = box_sweep.responses[term]
        assert abs(r.argmin - 1.0) <= 0.02, (term, r.argmin)
        assert r.flagged is None
    assert box_sweep.batches == 2  # 25 scales + 4 real predictions, then 18 shifts


def test_insert_box_area_follows_the_log_square_law(box_sweep):
    """area ratio vs (2 log s)²: the latent change mask marks every 8×8 patch the object touches, a
    ring that grows with the perimeter (∝ s), not the area (∝ s²), so the measured curve is flatter
    than (2 log s)²: 0.72–0.81 of it at the ends on this demo (the 5 % the issue asked for is not
    reached; the exact-mask check above is). Pinned here so a change of the detector shows."""
    s = np.asarray(box_sweep.scales)
    v = np.asarray(box_sweep.values["latent_area"])
    ref = (2 * np.log(s)) ** 2
    far = np.abs(s - 1) >= 0.1
    ratio = v[far] / ref[far]
    assert np.all((ratio > 0.65) & (ratio < 1.15)), np.round(ratio, 3)
    # monotone on each side of the minimum
    i = int(np.argmin(v))
    assert np.all(np.diff(v[: i + 1]) < 0) and np.all(np.diff(v[i:]) > 0)


def test_documents_change_mask_is_flagged_for_shrinking(box):
    """As written (reference = the mask), the 002 area term's minimum sits below s = 1 and the sweep
    flags it — the bias the target reference removes."""
    sw = sweeps.scale_sweep(box, params={"change_mask": {"temperature": 0.25, "s_min": 0.05, "reference": "mask"}},
                            shifts=(), device="cpu",
                            terms=["latent_area", "latent_dice"])
    assert sw.responses["latent_area"].argmin < 0.98 and sw.responses["latent_area"].flagged


def test_real_predictions_placed_at_their_true_scale(box_sweep):
    truth = {"step_0500": 0.8, "step_1000": 0.9, "step_2000": 1.0, "step_3000": 1.1}
    for name, s in truth.items():
        assert box_sweep.predictions[name]["estimated_scale"] == pytest.approx(s, abs=0.01), name


def test_insert_box_shift_curves_are_smallest_unshifted(box_sweep):
    for axis in ("shift_x", "shift_y"):
        c = box_sweep.curves[axis]
        v = np.asarray(c.values["latent_mse"])
        assert c.x[int(np.argmin(v))] == 0.0


def test_weighted_total_is_the_weighted_sum(box_sweep):
    w = {"latent_mse": 1.0, "latent_area": 0.5, "texture_acf": 0.0}
    total = np.asarray(box_sweep.total(w))
    want = np.asarray(box_sweep.values["latent_mse"]) + 0.5 * np.asarray(box_sweep.values["latent_area"])
    assert np.allclose(total, want)


def test_tiles_wall_texture_terms_minimum_at_1(tiles):
    sw = sweeps.period_sweep(tiles, device="cpu")
    assert sw.kind == "material" and "depth_inside" not in sw.values
    for term in ("texture_spectral", "texture_acf", "texture_log_polar"):
        assert abs(sw.responses[term].argmin - 1.0) <= 0.03, (term, sw.responses[term].argmin)
    rot = sw.curves["rotation"]
    assert rot.x[int(np.argmin(rot.values["texture_log_polar"]))] == 0.0
    truth = {"period_0.80": 0.8, "period_1.00": 1.0, "period_1.25": 1.25}
    for name, s in truth.items():
        assert sw.predictions[name]["estimated_scale"] == pytest.approx(s, rel=0.04), name


def test_guess_kind(box, tiles):
    assert sweeps.guess_kind(box) == "insertion" and sweeps.guess_kind(tiles) == "material"


def test_bad_sweep_input_is_named(box):
    with pytest.raises(ValueError, match="scales"):
        sweeps.scale_sweep(box, scales=[0.9, float("nan")], device="cpu")
    with pytest.raises(ValueError, match="unknown term"):
        sweeps.scale_sweep(box, terms=["nope"], device="cpu")
    empty = load_sample(ASSETS / "insert_box")
    empty.mask = np.zeros_like(empty.mask)
    with pytest.raises(ValueError, match="mask is empty"):
        sweeps.scale_sweep(empty, device="cpu")
