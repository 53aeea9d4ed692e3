"""The 000 and 004 losses reproduce the specifications' reference code (golden numbers), and on
non-finite depth they implement the intent the README states (which the reference code misses)."""

from pathlib import Path

import numpy as np
import pytest
import torch

import losses

GOLDEN = np.load(Path(__file__).resolve().parents[1] / "data" / "golden_depth.npz")
CASES_000 = sorted({k.split("_")[1] for k in GOLDEN.files if k.startswith("c000_")}, key=int)
CASES_004 = sorted({k.split("_")[1] for k in GOLDEN.files if k.startswith("c004_")}, key=int)


def rel_close(a: float, b: float, rtol: float = 1e-5) -> bool:
    return abs(a - b) <= rtol * max(abs(b), 1e-12)


@pytest.mark.parametrize("case", CASES_000)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_depth_consistency_matches_reference(case, reduction):
    k = f"c000_{case}"
    t = lambda name: torch.from_numpy(GOLDEN[f"{k}_{name}"])  # noqa: E731
    r_out, r_edge, beta, wi, wo, we = GOLDEN[f"{k}_params"].tolist()
    conf = t("conf") if f"{k}_conf" in GOLDEN.files else None
    terms = losses.depth_consistency_loss(
        t("d_pred"), t("d_tgt"), t("mask"), conf_pred=conf, outside_dilate_r=int(r_out), edge_band_r=int(r_edge),
        beta=beta, w_inside=wi, w_outside=wo, w_edge=we, reduction=reduction,
    )
    got = [float(v.sum()) for v in (terms.total, terms.inside, terms.outside, terms.edge)]
    want = GOLDEN[f"{k}_out"].tolist()
    assert all(rel_close(g, w) for g, w in zip(got, want)), (got, want)


@pytest.mark.parametrize("case", CASES_004)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_g2_monodepth_matches_reference(case, reduction):
    k = f"c004_{case}"
    depth, gt, mask = (torch.from_numpy(GOLDEN[f"{k}_{n}"]) for n in ("depth", "gt", "mask"))
    t = losses.g2_monodepth_loss(depth, gt, mask, reduction=reduction)
    got = [float(v.sum()) for v in (t.total, t.adepth, t.rdepth, t.rgrad)]
    want = GOLDEN[f"{k}_out"].tolist()
    assert all(rel_close(g, w) for g, w in zip(got, want)), (got, want)
    # the classes on their own give the same parts
    assert rel_close(float(losses.WeightedDataLoss()(depth, gt, mask)), want[1])
    sd, sg = losses.StandardizeData()(depth, gt, mask)
    assert rel_close(float(losses.WeightedDataLoss()(sd, sg, mask)), want[2])
    assert rel_close(float(losses.WeightedMSGradLoss()(sd, sg, mask)), want[3])
    if f"{k}_sta_depth" in GOLDEN.files:
        np.testing.assert_allclose(sd.numpy(), GOLDEN[f"{k}_sta_depth"], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(sg.numpy(), GOLDEN[f"{k}_sta_gt"], rtol=1e-5, atol=1e-5)


def test_golden_values_are_the_specifications_own():
    """Where the specification documents are on disk, their code still gives the stored numbers."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import spec_reference

    if not spec_reference.available():
        pytest.skip(f"specifications not found at {spec_reference.specs_dir()}")
    ref0, ref4 = spec_reference.load_000(), spec_reference.load_004()
    k = "c000_2"
    t = lambda name: torch.from_numpy(GOLDEN[f"{k}_{name}"])  # noqa: E731
    r_out, r_edge, beta, wi, wo, we = GOLDEN[f"{k}_params"].tolist()
    out = ref0.depth_consistency_loss(
        t("d_pred"), t("d_tgt"), t("mask"), conf_pred=t("conf"), outside_dilate_r=int(r_out),
        edge_band_r=int(r_edge), beta=beta, w_inside=wi, w_outside=wo, w_edge=we,
    )
    assert rel_close(float(out.total), float(GOLDEN[f"{k}_out"][0]), 1e-6)
    k = "c004_3"
    args = [torch.from_numpy(GOLDEN[f"{k}_{n}"]) for n in ("depth", "gt", "mask")]
    assert rel_close(float(ref4.g2_total(*args)[0]), float(GOLDEN[f"{k}_out"][0]), 1e-6)


# ---- non-finite depth: the intent, checked against an explicit NumPy oracle ----------------------


def _smooth_l1(x, beta):
    a = np.abs(x)
    return np.where(a < beta, 0.5 * x * x / beta, a - 0.5 * beta)


def _dilate_np(m, r):
    if r <= 0:
        return m
    h, w = m.shape
    p = np.pad(m, r, constant_values=0)
    return np.max([p[dy : dy + h, dx : dx + w] for dy in range(2 * r + 1) for dx in range(2 * r + 1)], axis=0)


def _oracle_000(d_pred, d_tgt, mask, conf, r_out, r_edge, beta):
    """Every pixel with a non-finite value and every forward-difference pair touching one has zero
    weight; everything else as the document writes it. Arrays ``[B,H,W]``; returns (in, out, edge)."""
    valid = np.isfinite(d_pred) & np.isfinite(d_tgt)
    e = np.where(valid, d_pred - d_tgt, 0.0)
    base = valid * (conf if conf is not None else 1.0)
    mb = (mask > 0.5).astype(float)
    outside = np.stack([1 - _dilate_np(m, r_out) for m in mb])
    band = np.stack([np.clip(_dilate_np(m, r_edge) - (1 - _dilate_np(1 - m, r_edge)), 0, 1) for m in mb])
    rho = _smooth_l1(e, beta)
    w_in, w_out = mask * base, outside * base
    l_in = (rho * w_in).sum() / max(w_in.sum(), 1e-8)
    l_out = (rho * w_out).sum() / max(w_out.sum(), 1e-8)
    edges = []
    for axis in (2, 1):
        d = np.diff(e, axis=axis)
        pad = [(0, 0)] * 3
        pad[axis] = (0, 1)
        d = np.pad(d, pad)
        nxt = np.pad(np.take(valid, range(1, valid.shape[axis]), axis=axis), pad, constant_values=True)
        w = band * base * nxt
        edges.append((_smooth_l1(d, beta) * w).sum() / max(w.sum(), 1e-8))
    return l_in, l_out, 0.5 * sum(edges)


@pytest.mark.parametrize("with_conf", [False, True])
def test_depth_consistency_ignores_non_finite_pixels(with_conf):
    g = torch.Generator().manual_seed(3)
    d_pred = torch.randn(2, 1, 24, 30, generator=g, dtype=torch.float64)
    d_tgt = torch.randn(2, 1, 24, 30, generator=g, dtype=torch.float64)
    mask = torch.zeros(2, 1, 24, 30, dtype=torch.float64)
    mask[:, :, 6:16, 8:20] = 1.0
    d_pred[0, 0, 6, 8] = float("nan")  # on the contour: inside, band and pairs
    d_pred[1, 0, 20, 3] = float("inf")  # far outside
    d_tgt[0, 0, 10, 19] = float("-inf")  # on the band's inner edge
    conf = torch.rand(2, 1, 24, 30, generator=g, dtype=torch.float64) if with_conf else None
    terms = losses.depth_consistency_loss(d_pred, d_tgt, mask, conf_pred=conf, outside_dilate_r=1, edge_band_r=2, beta=0.2)
    want = _oracle_000(*(x[:, 0].numpy() for x in (d_pred, d_tgt, mask)), conf[:, 0].numpy() if with_conf else None, 1, 2, 0.2)
    got = (float(terms.inside), float(terms.outside), float(terms.edge))
    np.testing.assert_allclose(got, want, rtol=1e-10)
    maps = losses.depth_consistency_loss(d_pred, d_tgt, mask, conf_pred=conf, edge_band_r=2, beta=0.2, reduction="none")
    np.testing.assert_allclose([float(maps.inside.sum()), float(maps.outside.sum()), float(maps.edge.sum())], want, rtol=1e-10)


def test_g2_ignores_non_finite_pixels():
    """With NaN/Inf pixels the 004 terms equal the terms on the finite pixels only: for the data
    terms, the reference on a mask with those pixels removed; for the gradient term a block / Sobel
    neighbourhood that touches one is left out."""
    g = torch.Generator().manual_seed(5)
    depth = torch.rand(1, 1, 32, 40, generator=g, dtype=torch.float64) + 1
    gt = depth * 1.1 + 0.05 * torch.randn(1, 1, 32, 40, generator=g, dtype=torch.float64)
    mask = torch.ones_like(depth)
    bad = depth.clone()
    bad[0, 0, 5, 7] = float("nan")
    bad[0, 0, 30, 39] = float("inf")
    cleaned_mask = mask.clone()
    cleaned_mask[0, 0, 5, 7] = 0
    cleaned_mask[0, 0, 30, 39] = 0
    # data terms: the same as clean inputs under the cleaned mask
    assert rel_close(
        float(losses.WeightedDataLoss()(bad, gt, mask)), float(losses.WeightedDataLoss()(depth, gt, cleaned_mask)), 1e-12
    )
    t_bad = losses.g2_monodepth_loss(bad, gt, mask)
    t_ref = losses.g2_monodepth_loss(depth, gt, cleaned_mask)
    assert rel_close(float(t_bad.adepth), float(t_ref.adepth), 1e-12)
    assert rel_close(float(t_bad.rdepth), float(t_ref.rdepth), 1e-12)
    # gradient term: at scale 1 the Sobel responses within one pixel of a bad pixel drop out
    single = losses.WeightedMSGradLoss(scales=(1,))
    sd, sg = losses.StandardizeData()(bad, gt, mask)
    sobel_mask = cleaned_mask.clone()
    sobel_mask[0, 0, 4:7, 6:9] = 0
    sobel_mask[0, 0, 29:, 38:] = 0
    sd_clean = torch.where(torch.isfinite(sd), sd, torch.zeros_like(sd))
    sg_clean = torch.where(torch.isfinite(sg), sg, torch.zeros_like(sg))
    assert rel_close(float(single(sd, sg, mask)), float(single(sd_clean, sg_clean, sobel_mask)), 1e-12)
    assert torch.isfinite(t_bad.total)
