"""`ssi_loss` (004's scale-and-shift-invariant comparison): known answers, an independent NumPy
least-squares reference, and its closed-form backward against plain autograd on every branch
(clamped variance, empty and one-pixel masks, weights outside [0, 1], non-finite pixels)."""

from pathlib import Path

import numpy as np
import pytest
import torch

import losses


def numpy_ssi(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """Weighted least squares per image with numpy's lstsq, then the weighted mean |residual|."""
    per_image = []
    for p, t, m in zip(pred, target, mask):
        w = np.clip(m, 0, 1) * np.isfinite(p) * np.isfinite(t)
        p, t = np.nan_to_num(p, posinf=0, neginf=0).ravel(), np.nan_to_num(t, posinf=0, neginf=0).ravel()
        sw = np.sqrt(w.ravel())
        (a, b), *_ = np.linalg.lstsq(np.stack([p * sw, sw], 1), t * sw, rcond=None)
        per_image.append(float((w.ravel() * np.abs(a * p + b - t)).sum() / w.sum()))
    return float(np.mean(per_image))


def inputs(b=3, h=19, w=23, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = 1 + 3 * torch.rand(b, 1, h, w, generator=g, dtype=torch.float64)
    p = 0.4 * t + 0.2 * torch.rand(b, 1, h, w, generator=g, dtype=torch.float64) + 1.0
    m = torch.rand(b, 1, h, w, generator=g, dtype=torch.float64)
    return p, t, m


def test_known_answers():
    p, t, m = inputs()
    assert float(losses.ssi_loss(2.5 * t - 7.0, t, m)) < 1e-12  # an exact affine copy
    # a constant prediction: a = 0, b = the weighted mean of the target → its mean absolute deviation
    const = torch.full_like(p, 3.0)
    w = m.numpy()
    tt = t.numpy()
    mean = (w * tt).sum(axis=(1, 2, 3), keepdims=True) / w.sum(axis=(1, 2, 3), keepdims=True)
    want = float(np.mean((w * np.abs(tt - mean)).sum(axis=(1, 2, 3)) / w.sum(axis=(1, 2, 3))))
    assert float(losses.ssi_loss(const, t, m)) == pytest.approx(want, rel=1e-9)


def test_equals_weighted_least_squares():
    p, t, m = inputs(seed=3)
    p[0, 0, 2, 3] = float("nan")
    t[2, 0, 4, 5] = float("inf")
    want = numpy_ssi(p.numpy(), t.numpy(), m.numpy())
    assert float(losses.ssi_loss(p, t, m)) == pytest.approx(want, rel=1e-9)
    assert float(losses.ssi_loss(p, t, m, reduction="none").sum()) == pytest.approx(want, rel=1e-9)


def _mask(kind, like):
    m = torch.zeros_like(like)
    h, w = like.shape[-2:]
    if kind == "soft":
        m = torch.rand(like.shape, generator=torch.Generator().manual_seed(1), dtype=like.dtype)
    elif kind == "out_of_range":
        m[..., : h // 2, :] = 1.7
        m[..., h // 2 :, : w // 2] = -0.3
        m[..., h // 2 :, w // 2 :] = 0.6
    elif kind == "one":
        m[..., h // 2, w // 2] = 1.0
    elif kind == "tiny":  # Σw below eps: the count is clamped, and Σw·(t − t̄) is no longer 0
        m[..., 1, 1] = 3e-7
        m[..., 2, 5] = 4e-7
    elif kind == "full":
        m[:] = 1.0
    elif kind != "empty":
        raise ValueError(kind)
    return m


@pytest.mark.parametrize("mask_kind", ["soft", "out_of_range", "one", "tiny", "full", "empty"])
@pytest.mark.parametrize("pred_kind", ["affine_noise", "constant", "nearly_constant", "non_finite"])
@pytest.mark.parametrize("b", [1, 3])
def test_closed_form_backward_equals_autograd(mask_kind, pred_kind, b):
    p, t, _ = inputs(b=b, seed=7)
    m = _mask(mask_kind, p)
    if pred_kind == "constant":
        p = torch.full_like(p, 2.0)  # zero variance: the clamped branch, zero gradient
    elif pred_kind == "nearly_constant":
        p = 2.0 + 1e-5 * (p - 2.0)  # 0 < variance < eps·n: clamped, with a gradient
    elif pred_kind == "non_finite":
        p[0, 0, 1, 1] = float("nan")
        t[-1, 0, 2, 2] = float("-inf")
    a = p.clone().requires_grad_(True)
    value = losses.ssi_loss(a, t, m)  # the custom function
    (ga,) = torch.autograd.grad(value, a)
    c = p.clone().requires_grad_(True)
    reference = losses.ssi_loss(c, t, m, reduction="none").sum()  # plain autograd
    (gc,) = torch.autograd.grad(reference, c)
    assert float(value.detach()) == pytest.approx(float(reference.detach()), rel=1e-12, abs=1e-15)
    assert bool(torch.isfinite(ga).all())
    # atol: a constant pred's gradient is zero up to float64 roundoff of its centring, which is
    # 1.3e-13 on an AVX-512 machine (and under 1e-13 on others); the gradients here are ~1e-3
    assert torch.allclose(ga, gc, rtol=1e-9, atol=1e-12), float((ga - gc).abs().max())


def test_gradients_of_pred_and_target_together():
    """A target that needs a gradient takes the autograd path; both gradients are right."""
    p, t, m = inputs(b=2, h=7, w=9, seed=11)
    p.requires_grad_(True)
    t.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, y: losses.ssi_loss(x, y, m), (p, t), eps=1e-6, atol=1e-6)


def test_custom_function_under_gradcheck_with_a_clamped_image():
    p, t, m = inputs(b=2, h=8, w=8, seed=5)
    m[1] = 0.0
    m[1, 0, 3, 3] = 1.0  # image 1: one pixel, variance 0 → clamped
    p.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: losses.ssi_loss(x, t, m), (p,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("term", ["ssi", "adepth", "g2", "depth_consistency"])
def test_second_derivatives_are_refused_not_wrong(term):
    """The closed-form backward passes are first-order only: asking for a graph through them raises."""
    p, t, m = inputs(b=2, h=8, w=8)
    p.requires_grad_(True)
    fn = {"ssi": lambda: losses.ssi_loss(p, t, m), "adepth": lambda: losses.WeightedDataLoss()(p, t, m),
          "g2": lambda: losses.g2_monodepth_loss(p, t, m).total,
          "depth_consistency": lambda: losses.depth_consistency_loss(p, t, m).total}[term]
    (g,) = torch.autograd.grad(fn(), p, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable|does not require grad"):
        g.sum().backward()


def test_a_float32_ssi_of_a_real_depth_map_keeps_float32_accuracy():
    """The per-sample sums accumulate in float64 on the CPU: a float32 BLAS dot over the demo's 512²
    depth drifted by 8.6e-5 relative from the float64 value on an AVX-512 machine (1e-6 now)."""
    assets = Path(__file__).resolve().parents[2] / "assets" / "insert_box"

    def depth(path):
        with np.load(path) as z:
            return torch.from_numpy(z[z.files[0]]).double()[None, None]

    t = depth(assets / "target_depth.npz")
    for path in sorted((assets / "pred_depth").glob("*.npz")):
        p = depth(path)
        m = torch.ones_like(p)
        exact = float(losses.ssi_loss(p, t, m))
        assert float(losses.ssi_loss(p.float(), t.float(), m.float())) == pytest.approx(exact, rel=1e-5), path.name
