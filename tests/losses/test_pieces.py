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


def _plain_gradient(depth, gt, mask):
    """The masked L1's gradient by plain autograd on its contribution map."""
    x = depth.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(losses.WeightedDataLoss()(x, gt, mask, reduction="none").sum(), x)
    return g


@pytest.fixture
def counted_buffers(monkeypatch):
    """Counts the full-size gradient buffers the masked L1 allocates."""
    calls = []
    real = M.fresh_buffer

    def counting(shape, like):
        calls.append(tuple(shape))
        return real(shape, like)

    monkeypatch.setattr(M, "fresh_buffer", counting)
    return calls


def test_masked_l1_gradient_made_in_forward_is_handed_over_once(tiny_pieces, counted_buffers):
    """The forward pass computes the gradient (upstream 1); backward scales it by the upstream
    gradient, gives it away, and a second backward (retain_graph) recomputes it from the inputs."""
    depth, gt, mask = inputs(False)
    want = _plain_gradient(depth, gt, mask)
    x = depth.clone().requires_grad_(True)
    loss = losses.WeightedDataLoss()(x, gt, mask)
    assert len(counted_buffers) == 1  # made by the forward pass
    out = 2.5 * loss + 0.5 * loss  # upstream gradient 3, summed by autograd before backward
    (g1,) = torch.autograd.grad(out, x, retain_graph=True)
    assert len(counted_buffers) == 1
    assert torch.allclose(g1, 3 * want, rtol=1e-12, atol=1e-15)
    (g2,) = torch.autograd.grad(out, x)  # the first tensor was given away: recomputed, not rescaled
    assert len(counted_buffers) == 2
    assert torch.allclose(g2, 3 * want, rtol=1e-12, atol=1e-15)
    assert g1.data_ptr() != g2.data_ptr()
    g1.zero_()
    assert torch.allclose(g2, 3 * want, rtol=1e-12, atol=1e-15)


def test_masked_l1_can_leave_its_gradient_to_backward(tiny_pieces, counted_buffers):
    """``grad_in_forward=False`` (what the G2 total uses to keep its peak low) allocates nothing in
    forward and gives the same gradient."""
    depth, gt, mask = inputs(False)
    x = depth.clone().requires_grad_(True)
    loss = losses.WeightedDataLoss(grad_in_forward=False)(x, gt, mask)
    assert counted_buffers == []
    (2 * loss).backward()
    assert len(counted_buffers) == 1
    assert torch.allclose(x.grad, 2 * _plain_gradient(depth, gt, mask), rtol=1e-12, atol=1e-15)


def test_masked_l1_makes_no_gradient_when_none_is_wanted(counted_buffers):
    depth, gt, mask = inputs(False)
    x = depth.clone().requires_grad_(True)
    with torch.no_grad():
        losses.WeightedDataLoss()(x, gt, mask)
    losses.WeightedDataLoss()(depth, gt, mask)  # no input requires a gradient
    assert counted_buffers == []


def test_masked_l1_gradients_of_both_maps_are_separate_tensors(tiny_pieces):
    depth, gt, mask = inputs(False)
    want = _plain_gradient(depth, gt, mask)
    x, t = depth.clone().requires_grad_(True), gt.clone().requires_grad_(True)
    losses.WeightedDataLoss()(x, t, mask).backward()
    assert torch.allclose(x.grad, want, rtol=1e-12, atol=1e-15)
    assert torch.equal(t.grad, -x.grad) and t.grad.data_ptr() != x.grad.data_ptr()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_masked_l1_at_full_size(dtype):
    """Inputs of several pieces per sample and a gradient on NumPy-allocated memory (≥ 4 MiB);
    accumulated twice into ``.grad`` as a training loop does."""
    g = torch.Generator().manual_seed(5)
    gt = 1 + 3 * torch.rand(2, 1, 1024, 600, generator=g, dtype=dtype)
    depth = gt * (1 + 0.2 * (torch.rand(gt.shape, generator=g, dtype=dtype) - 0.5))
    mask = (torch.rand(gt.shape, generator=g, dtype=dtype) > 0.3).to(dtype)
    want = _plain_gradient(depth, gt, mask)
    x = depth.clone().requires_grad_(True)
    for _ in range(2):
        losses.WeightedDataLoss()(x, gt, mask).backward()
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    assert x.grad.dtype == dtype
    assert torch.allclose(x.grad, 2 * want, rtol=tol, atol=tol * float(want.abs().max()))
