"""001 depth-aware scale: squares at known depths and focal lengths (pinhole known answers)."""

import math

import pytest
import torch

import losses
from losses.scale import masked_depth_statistic


def square_mask(side: int, size: int = 128, top: int = 10, left: int = 20) -> torch.Tensor:
    m = torch.zeros(1, 1, size, size)
    m[..., top : top + side, left : left + side] = 1.0
    return m


@pytest.mark.parametrize("mode", ["depth", "inv_depth"])
def test_exact_k_obj_and_known_losses(mode):
    # An object 0.4 m wide at Z ∈ {2, 4, 5} m seen with f_px ∈ {250, 300, 500}: side = k·f/Z px.
    k_true = 0.4
    zs = [2.0, 4.0, 5.0]
    fs = [250.0, 300.0, 500.0]
    masks, depths = [], []
    for z, f in zip(zs, fs):
        side = round(k_true * f / z)  # 50, 30, 40 — exact integers
        assert side == k_true * f / z
        masks.append(square_mask(side))
        background = 9.0 if mode == "depth" else 1 / 9.0
        value = z if mode == "depth" else 1 / z
        d = torch.full((1, 1, 128, 128), background)
        d[masks[-1] > 0] = value
        depths.append(d)
    m, d, f = torch.cat(masks), torch.cat(depths), torch.tensor(fs)
    k = losses.estimate_k_obj_from_dataset(m, d, f, depth_mode=mode)
    assert float(k) == pytest.approx(k_true, rel=1e-5)
    per = losses.per_sample_k_obj(list(masks), list(depths), f, depth_mode=mode)  # a folder of samples
    assert torch.allclose(per, torch.full((3,), k_true), rtol=1e-5)
    loss, info = losses.depth_aware_scale_loss(m, d, f, k, depth_mode=mode)
    assert float(loss) < 1e-10
    assert torch.allclose(info.s_pred.flatten(), info.s_exp.flatten(), rtol=1e-5)
    for s in (0.8, 1.25, 1.5):
        scaled = torch.cat([square_mask(round(mm.sum().sqrt().item() * s)) for mm in masks])
        # the depth statistic is taken inside the (scaled) mask: keep depth constant there
        dd = torch.stack([torch.full((1, 128, 128), z if mode == "depth" else 1 / z) for z in zs])
        loss, _ = losses.depth_aware_scale_loss(scaled, dd, f, k, depth_mode=mode)
        sides = torch.tensor([round(k_true * ff / z * s) for ff, z in zip(fs, zs)], dtype=torch.float64)
        expected = torch.log(sides / torch.tensor([k_true * ff / z for ff, z in zip(fs, zs)], dtype=torch.float64)).square().mean()
        assert float(loss) == pytest.approx(float(expected), rel=1e-4)
        assert float(expected) == pytest.approx(math.log(s) ** 2, rel=0.05)  # rounding of sides


def test_weighted_median_and_mean():
    d = torch.tensor([1.0, 2.0, 3.0, 4.0, 100.0]).view(1, 1, 1, 5)
    m = torch.ones(1, 1, 1, 5)
    med, valid = masked_depth_statistic(d, m, "median")
    assert float(med) == 3.0 and bool(valid)
    mean, _ = masked_depth_statistic(d, m, "mean")
    assert float(mean) == pytest.approx(22.0)
    # binary mask with an even count: the lower median (torch.median's convention)
    m2 = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0]).view(1, 1, 1, 5)
    assert float(masked_depth_statistic(d, m2, "median")[0]) == float(torch.median(d[m2 > 0]))
    # soft weights: most of the weight on 4.0
    w = torch.tensor([0.1, 0.1, 0.1, 1.0, 0.1]).view(1, 1, 1, 5)
    assert float(masked_depth_statistic(d, w, "median")[0]) == 4.0
    assert float(masked_depth_statistic(d, w, "mean")[0]) == pytest.approx((0.6 + 4.0 + 10.0) / 1.4)
    # NaN pixels are left out; no weight at all → invalid
    dn = d.clone()
    dn[..., 4] = float("nan")
    assert float(masked_depth_statistic(dn, m, "mean")[0]) == pytest.approx(2.5)
    assert not bool(masked_depth_statistic(dn, torch.zeros_like(m), "median")[1])


def test_focal_mm_to_px_and_batch():
    f = losses.focal_mm_to_px(torch.tensor([24.0, 50.0]), 1000, 36.0)
    assert torch.allclose(f, torch.tensor([24 / 36 * 1000, 50 / 36 * 1000]))
    with pytest.raises(ValueError, match="sensor_width_mm"):
        losses.focal_mm_to_px(50.0, 1000, 0.0)


def test_invalid_samples_do_not_count():
    m = torch.cat([square_mask(20), square_mask(20)])
    d = torch.full((2, 1, 128, 128), 2.0)
    d[1] = float("nan")
    loss, info = losses.depth_aware_scale_loss(m, d, 100.0, 0.4, depth_mode="depth")
    assert info.valid.flatten().tolist() == [True, False]
    assert float(loss) == pytest.approx(0.0, abs=1e-10)  # sample 0: 0.4·100/2 = 20 px: consistent
    assert torch.isnan(losses.per_sample_k_obj(m, d, 100.0, depth_mode="depth")[1])
