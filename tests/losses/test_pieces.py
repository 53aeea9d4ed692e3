"""The 004 data terms sum in cache-sized pieces on the CPU (`losses.monodepth._PIECE` elements); the
tests' inputs are smaller than one piece, so here the piece is made tiny (7 elements, not dividing a
sample) and the results are compared with plain autograd on the same inputs."""

import pytest
import torch

import losses
import losses.monodepth as M


@pytest.fixture
def tiny_pieces(monkeypatch):
    monkeypatch.setattr(M, "_PIECE", 7)


def inputs(non_finite: bool):
    g = torch.Generator().manual_seed(2)
    gt = 1 + 3 * torch.rand(3, 1, 13, 11, generator=g, dtype=torch.float64)
    depth = gt * (1 + 0.2 * (torch.rand(gt.shape, generator=g, dtype=torch.float64) - 0.5))
    depth[1, 0, 4, 4] = gt[1, 0, 4, 4]  # an exact tie: sign 0
    mask = torch.rand(gt.shape, generator=g, dtype=torch.float64)
    mask[2] = 0.0  # an empty mask
    if non_finite:
        depth[0, 0, 5, 6] = float("nan")
        gt[1, 0, 7, 2] = float("inf")
    return depth, gt, mask


@pytest.mark.parametrize("non_finite", [False, True])
def test_masked_l1_in_pieces_equals_autograd(tiny_pieces, non_finite):
    depth, gt, mask = inputs(non_finite)
    a = depth.clone().requires_grad_(True)
    value = losses.WeightedDataLoss()(a, gt, mask)
    (ga,) = torch.autograd.grad(value, a)
    b = depth.clone().requires_grad_(True)
    reference = losses.WeightedDataLoss()(b, gt, mask, reduction="none").sum()
    (gb,) = torch.autograd.grad(reference, b)
    assert float(value.detach()) == pytest.approx(float(reference.detach()), rel=1e-12)
    assert torch.allclose(ga, gb, rtol=1e-12, atol=1e-15)
    # the gradient with respect to the target is the opposite
    t = gt.clone().requires_grad_(True)
    (gt_grad,) = torch.autograd.grad(losses.WeightedDataLoss()(depth, t, mask), t)
    assert torch.allclose(gt_grad, -ga, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("non_finite", [False, True])
def test_standardize_in_pieces_equals_its_formula(tiny_pieces, non_finite):
    depth, gt, mask = inputs(non_finite)
    sta_d, sta_g = losses.StandardizeData()(depth, gt, mask)
    valid = torch.isfinite(depth) & torch.isfinite(gt)
    for x, sta in ((depth, sta_d), (gt, sta_g)):
        w = mask * valid
        x0 = torch.where(valid, x, torch.zeros_like(x))
        n = w.sum(dim=(1, 2, 3), keepdim=True)
        n = torch.where(n == 0, torch.full_like(n, 1e-6), n)
        mu = (x0 * w).sum(dim=(1, 2, 3), keepdim=True) / n
        sigma = ((x0 - mu).abs() * w).sum(dim=(1, 2, 3), keepdim=True) / n + 1e-6
        want = torch.where(valid, (x0 - mu) / sigma, torch.full_like(x, float("nan")))
        assert torch.allclose(sta, want, rtol=1e-12, atol=1e-12, equal_nan=True)


def test_g2_gradcheck_in_pieces(tiny_pieces):
    depth, gt, mask = inputs(False)
    depth = depth[:2].contiguous().requires_grad_(True)
    gt, mask = gt[:2].contiguous(), mask[:2].contiguous()
    assert torch.autograd.gradcheck(lambda d: losses.g2_monodepth_loss(d, gt, mask).total, (depth,),
                                    eps=1e-6, atol=1e-5, rtol=1e-3)
