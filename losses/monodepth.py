"""004 — G2-MonoDepth losses: absolute, relative (mean + MAD standardised) and multi-scale gradient.

``total = adepth + rdepth + 0.5·rgrad``:

* ``adepth = WeightedDataLoss(depth, gt, mask)``: per-image masked mean of ``|d − g|``, batch mean.
* ``rdepth = WeightedDataLoss(StandardizeData(depth, gt, mask))``: the same on maps standardised by
  their masked mean and mean absolute deviation.
* ``rgrad = WeightedMSGradLoss(sta_depth, sta_gt, mask)``: at scales 1, 2, 4, 8 (average-pooled,
  mask pooled and binarised above 1), ``Σ (|Sobel_x Δ| + |Sobel_y Δ|)·m / (Σ m + 1e-6)`` over the whole
  batch; the mean over scales.

On finite inputs the numbers are the document's, to float32 rounding. Non-finite pixels (NaN/Inf in
either map) are left out, which the document's code does not do (it returns NaN): a pixel needs both
maps finite, a pooled pixel needs its whole block finite, a Sobel response needs its whole 3×3
neighbourhood finite. ``StandardizeData`` returns NaN where its inputs were not finite so that the
terms after it leave those pixels out too.

``ssi_loss`` is the scale-and-shift-invariant comparison the document contrasts with ``rdepth``.

**These are the specification's formulas, not the official G2-MonoDepth code's.** The official
repository (Wang-xjtu/G2-MonoDepth, ``src/losses.py``) differs in five ways, so its numbers are not
these (on generic inputs the two gradient losses differ by about 3×):

1. its data loss pools the batch, ``Σ|h·(o − t)| / (Σh + 1e-6)`` over every image at once, where the
   document (and this module) takes each image's masked mean and then the batch mean;
2. its training uses one mask for the absolute term and another for the relative and gradient terms
   (here one ``mask`` serves all three; pass the terms separately to use two);
3. its gradient loss zeroes the residual outside the mask before the Sobel filter, where the document
   weights the Sobel response by the mask;
4. its Sobel convolution is unpadded and it downsamples by nearest sampling, where the document pads
   and average-pools (with the mask pooled and binarised);
5. it divides the sum over the four scales once, by the full-resolution mask sum, where the document
   normalises each scale by its own mask sum and averages the scales.

A model trained with the official loss and diagnosed here is measured by the specification's terms:
compare runs with each other, not with the official loss's logged values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from .buffers import fresh_buffer
from .masks import as_4d, compute_dtype, full_precision

__all__ = [
    "WeightedDataLoss",
    "StandardizeData",
    "WeightedMSGradLoss",
    "G2Terms",
    "g2_monodepth_loss",
    "ssi_loss",
    "sobel",
]

Reduction = Literal["mean", "none"]
_EMPTY = 1e-6  # what the document writes into an all-zero mask sum


def _prepare(depth, gt, mask, name="depth"):
    dtype = compute_dtype(depth, gt)
    d = as_4d(depth, name=name, dtype=dtype)
    g = as_4d(gt, d, name="gt", dtype=dtype)
    m = as_4d(mask, d, name="mask", dtype=dtype).detach()
    return d, g, m


def _clean_difference(d: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(d − g with non-finite → 0, valid bool)``; both ``[B,1,H,W]``."""
    e = d - g
    valid = torch.isfinite(e)
    return torch.where(valid, e, torch.zeros_like(e)), valid


def _central_difference(x: torch.Tensor, dim: int, out: torch.Tensor) -> torch.Tensor:
    """``out[i] ← x[i+1] − x[i−1]`` along ``dim`` with zero padding; ``out`` has ``x``'s shape."""
    n = x.shape[dim]
    if n == 1:
        return out.zero_()
    if n > 2:
        torch.sub(x.narrow(dim, 2, n - 2), x.narrow(dim, 0, n - 2), out=out.narrow(dim, 1, n - 2))
    out.narrow(dim, 0, 1).copy_(x.narrow(dim, 1, 1))
    torch.neg(x.narrow(dim, n - 2, 1), out=out.narrow(dim, n - 1, 1))
    return out


def _smooth_121(x: torch.Tensor, dim: int, out: torch.Tensor) -> torch.Tensor:
    """``out[i] ← x[i−1] + 2x[i] + x[i+1]`` along ``dim`` with zero padding."""
    n = x.shape[dim]
    torch.mul(x, 2.0, out=out)
    if n > 1:
        out.narrow(dim, 1, n - 1).add_(x.narrow(dim, 0, n - 1))
        out.narrow(dim, 0, n - 1).add_(x.narrow(dim, 1, n - 1))
    return out


def _sobel_into(x: torch.Tensor, axis: str, scratch: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``out ← Sobel_axis(x)`` (zero padding) using ``scratch``; both buffers have ``x``'s shape."""
    diff_dim, smooth_dim = (-1, -2) if axis == "x" else (-2, -1)
    return _smooth_121(_central_difference(x, diff_dim, scratch), smooth_dim, out)


def sobel(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sobel responses with zero padding, equal to ``conv2d(x, K, padding=1)`` for the 3×3 kernels
    ``K_x = [[-1,0,1],[-2,0,2],[-1,0,1]]`` and ``K_y = K_xᵀ``, computed separably by slicing
    (differentiable; the training path uses buffer-reusing twins of these steps).

    ``[B,1,H,W]`` → ``(gx, gy)``, each ``[B,1,H,W]``. Both operators are antisymmetric, so their
    adjoints are ``−sobel``.
    """
    p = F.pad(x, (1, 1, 1, 1))
    tx = p[..., :, 2:] - p[..., :, :-2]  # [H+2, W]
    ty = p[..., 2:, :] - p[..., :-2, :]  # [H, W+2]
    gx = tx[..., :-2, :] + 2.0 * tx[..., 1:-1, :] + tx[..., 2:, :]
    gy = ty[..., :, :-2] + 2.0 * ty[..., :, 1:-1] + ty[..., :, 2:]
    return gx, gy


def _view_prefix(buf: torch.Tensor, shape) -> torch.Tensor:
    """A contiguous view of the first ``prod(shape)`` elements of ``buf`` (buffer reuse across scales)."""
    n = 1
    for k in shape:
        n *= k
    return buf.reshape(-1)[:n].view(shape)


def _per_sample_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``Σ_{c,h,w} a·b`` per sample, ``[B,...]`` × 2 → ``[B]``, without a full-size temporary.

    On the CPU a float32 sample is summed in float64, a piece of ``_PIECE`` elements at a time: the
    BLAS float32 dot accumulates along the vector, so its error grows with the pixel count (8.6e-5
    relative on one 512² SSI on an AVX-512 machine, where float64 pieces leave only the result's own
    rounding). cuBLAS reduces in a tree and keeps float32."""
    if a.device.type != "cpu" or a.dtype == torch.float64:
        return torch.stack([torch.dot(a[i].reshape(-1), b[i].reshape(-1)) for i in range(a.shape[0])])
    out = []
    for i in range(a.shape[0]):
        x, y = a[i].reshape(-1), b[i].reshape(-1)
        acc = torch.zeros((), dtype=torch.float64, device=a.device)
        for s in range(0, x.numel(), _PIECE):
            acc = acc + torch.dot(x[s:s + _PIECE].double(), y[s:s + _PIECE].double())
        out.append(acc.to(a.dtype))
    return torch.stack(out)


# Elements per piece when a CPU pass goes through a scratch buffer: 1 MiB of float32 stays in the
# cache between the ops on it, and the buffer is allocated once. A fresh full-size tensor costs more
# than the arithmetic on it (on these machines a new 32 MiB tensor's first write takes ~3× a write
# into an existing one: page faults). On CUDA the piece is a whole sample.
_PIECE = 1 << 18


def _piece_size(x: torch.Tensor) -> int:
    """Elements per piece of one sample of ``x`` (``[B,...]``): ``_PIECE`` on the CPU, a whole sample on CUDA."""
    n = x[0].numel() if x.shape[0] else 0
    return n if x.device.type != "cpu" else min(n, _PIECE)


def _pieces(x: torch.Tensor):
    """``(i, a, b)`` for sample ``i``'s flat elements ``a:b``, in pieces of :func:`_piece_size`."""
    n = x[0].numel() if x.shape[0] else 0
    step = _piece_size(x)
    for i in range(x.shape[0]):
        for a in range(0, n, max(step, 1)):
            yield i, a, min(n, a + step)


def _mask_count(w: torch.Tensor) -> torch.Tensor:
    """Per-sample weight sum ``[B]``, with the document's ``1e-6`` for an empty mask."""
    n = w.sum(dim=(1, 2, 3))
    return torch.where(n == 0, torch.full_like(n, _EMPTY), n)


def _finite_difference(d: torch.Tensor, g: torch.Tensor, w: torch.Tensor):
    """``(e, w)`` with ``e = d − g``; where some pixel is not finite, ``e`` is zeroed and ``w`` cut
    there. One host sync (is the sum finite?) spares the all-finite case two full passes."""
    e = d - g
    if not bool(torch.isfinite(e.sum())):
        valid = torch.isfinite(e)
        e.masked_fill_(~valid, 0.0)
        w = w * valid
    return e, w


def _masked_l1_pass(x: torch.Tensor, y: torch.Tensor | None, w: torch.Tensor, grad: torch.Tensor | None = None,
                    coef: torch.Tensor | None = None) -> torch.Tensor:
    """``Σ |x − y|·w`` (``Σ |x|·w`` for ``y=None``) per sample, ``[B,...]`` → ``[B]``, in cache-sized
    pieces through one small scratch buffer (no full-size temporary); with ``grad`` given
    (``[B,...]``, contiguous) the same pass writes ``sign(x − y)·w·coef[b]`` into it.

    The piece's sign is written where its gradient goes and turned into the gradient in place while
    it is still in the cache, so the inputs are read once.
    """
    b = x.shape[0]
    xf, wf = x.reshape(b, -1), w.reshape(b, -1)
    yf = y.reshape(b, -1) if y is not None else None
    out = grad.view(b, -1) if grad is not None else None
    buf = torch.empty(_piece_size(x), dtype=x.dtype, device=x.device)
    sums = [[] for _ in range(b)]
    for i, a, e in _pieces(x):
        piece = buf[: e - a]
        diff = xf[i, a:e] if yf is None else torch.sub(xf[i, a:e], yf[i, a:e], out=piece)
        if out is None:
            sums[i].append(torch.dot(torch.abs(diff, out=piece), wf[i, a:e]))
            continue
        g = torch.sign(diff, out=out[i, a:e]).mul_(wf[i, a:e])
        sums[i].append(torch.dot(g, diff))  # sign(x)·w·x = |x|·w
        g.mul_(coef[i])
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    return torch.stack([torch.stack(s).sum() if s else zero for s in sums])


class _MaskedL1Fn(torch.autograd.Function):
    """(depth, gt) → mean_b Σ|d − g|·w / Σw (weights constant).

    When a gradient will be wanted (``with_grad``), the forward pass computes it too, for an upstream
    gradient of 1, in the same pass over the inputs (:func:`_masked_l1_pass`); backward hands that
    tensor over (scaled by the upstream gradient unless it is 1) and drops its own reference, so
    nothing else aliases it. A second backward (``retain_graph``) recomputes the sign from the
    inputs. The gradient is the one full-size tensor allocated, on huge pages where possible
    (:func:`fresh_buffer`). A non-finite pixel makes the sum non-finite (``inf·0`` is NaN too); then
    the pass is redone with those pixels' weights cut and backward recomputes.
    """

    @staticmethod
    def forward(ctx, depth, gt, mask, with_grad: bool):
        b = depth.shape[0]
        count = _mask_count(mask)
        grad = fresh_buffer(depth.shape, depth) if with_grad else None
        total = _masked_l1_pass(depth, gt, mask, grad, 1.0 / (count * b))
        w = mask
        if not bool(torch.isfinite(total.sum())):  # one host sync
            grad = None
            e, w = _finite_difference(depth, gt, mask)
            total = _per_sample_dot(e.abs_(), w)
            count = _mask_count(w)
            del e
        ctx.save_for_backward(depth, gt, w, count)
        ctx.had_non_finite = w is not mask
        ctx.grad = grad
        return (total / count).mean()

    @staticmethod
    @once_differentiable  # a second derivative through it would be silently wrong: refuse it
    def backward(ctx, g_out):
        grad, ctx.grad = ctx.grad, None
        if grad is not None:
            if g_out.device.type != "cpu" or float(g_out) != 1.0:  # a host read only on the CPU
                grad.mul_(g_out)
        else:
            depth, gt, w, count = ctx.saved_tensors
            b = depth.shape[0]
            grad = fresh_buffer(depth.shape, depth)
            _masked_l1_pass(depth, gt, w, grad, g_out / (count * b))
            if ctx.had_non_finite:  # sign(NaN)·0 is NaN: those pixels have weight 0 and get no gradient
                grad = torch.nan_to_num_(grad, nan=0.0, posinf=0.0, neginf=0.0)
        need_d, need_g = ctx.needs_input_grad[:2]
        return (grad if need_d else None), (torch.neg(grad) if need_g else None), None, None


class WeightedDataLoss(nn.Module):
    """Masked L1: per image ``Σ |d − g|·m / Σ m`` (an empty mask counts as ``1e-6``), batch mean.

    ``forward(depth [B,1,H,W], gt [B,1,H,W], mask [B,1,H,W], reduction="mean")`` → scalar, or with
    ``reduction="none"`` the ``[B,1,H,W]`` contribution map. Pixels where either map is not finite
    have zero weight. The scalar path is a custom autograd function whose one full-size tensor is
    the gradient.

    Args:
        grad_in_forward: when grad mode is on and an input requires a gradient, compute the gradient
            in the forward pass, in the same pass over the inputs as the loss; backward then only
            hands it over (about 1.2× faster on the CPU). It holds one input-sized tensor from
            forward to backward; ``False`` computes it in backward instead, for a graph whose peak
            memory matters more (:func:`g2_monodepth_loss` does so).

    Example:
        >>> d = torch.zeros(1, 1, 4, 4); m = torch.ones(1, 1, 4, 4)
        >>> float(WeightedDataLoss()(d + 0.5, d, m))
        0.5
    """

    def __init__(self, grad_in_forward: bool = True):
        super().__init__()
        self.grad_in_forward = grad_in_forward

    @full_precision
    def forward(self, depth, gt, mask, reduction: Reduction = "mean"):
        """``[B,1,H,W]`` maps and mask → scalar (``"mean"``) or the ``[B,1,H,W]`` contribution map
        (``"none"``, summing to the scalar)."""
        d, g, m = _prepare(depth, gt, mask)
        if m.shape != d.shape:
            m = m.expand_as(d)
        if reduction == "mean":
            with_grad = self.grad_in_forward and torch.is_grad_enabled() and (d.requires_grad or g.requires_grad)
            return _MaskedL1Fn.apply(d, g, m.contiguous(), with_grad)
        if reduction != "none":
            raise ValueError(f"reduction must be 'mean' or 'none'; got {reduction!r}")
        e, valid = _clean_difference(d, g)
        w = m * valid
        return e.abs() * (w / (_mask_count(w).view(-1, 1, 1, 1) * e.shape[0]))


class _StandardizeFn(torch.autograd.Function):
    """x → (x − μ)/σ with masked mean μ and mean absolute deviation σ (+eps); weights constant.

    Backward, with ``u`` the output, ``t = sign(u)``, ``M = Σ w``, ``t̄ = Σ w·t / M``:
    ``∂L/∂x = G/σ − w·(ΣG + (t − t̄)·Σ G·u)/(M·σ)``.
    """

    @staticmethod
    def forward(ctx, x, w, eps):
        count = _mask_count(w)
        shape = (-1,) + (1,) * (x.dim() - 1)
        mean = (_per_sample_dot(x, w) / count).view(shape)
        u = torch.sub(x, mean, out=fresh_buffer(x.shape, x))
        scale = (_masked_l1_pass(u, None, w) / count + eps).view(shape)
        u.div_(scale)
        ctx.save_for_backward(u, w, count.view(shape), scale)
        return u

    @staticmethod
    @once_differentiable  # a second derivative through it would be silently wrong: refuse it
    def backward(ctx, grad_u):
        u, w, count, scale = ctx.saved_tensors
        dims = tuple(range(1, u.dim()))
        shape = count.shape
        t = torch.sign(u, out=fresh_buffer(u.shape, u))
        t_mean = _per_sample_dot(t, w).view(shape) / count
        sum_g = grad_u.sum(dim=dims, keepdim=True)
        sum_gu = _per_sample_dot(grad_u, u).view(shape)
        denom = count * scale
        t.sub_(t_mean).mul_(sum_gu / denom).add_(sum_g / denom).mul_(w).neg_()
        return t.addcdiv_(grad_u, scale), None, None


class StandardizeData(nn.Module):
    """Robust standardisation of both maps: ``(x − μ)/(σ_MAD + 1e-6)`` over the mask.

    ``μ = Σ x·m / Σ m``, ``σ_MAD = Σ |x − μ|·m / Σ m`` per image (``Σ m = 0`` counts as ``1e-6``),
    over pixels where both maps are finite. ``forward(depth, gt, mask) → (sta_depth, sta_gt)``, each
    ``[B,1,H,W]``, NaN where either input was not finite. Differentiable through ``μ`` and ``σ``
    (a custom autograd function with the closed-form backward).
    """

    eps = 1e-6

    @full_precision
    def forward(self, depth, gt, mask):
        """``[B,1,H,W]`` maps and mask → ``(sta_depth, sta_gt)``, each ``[B,1,H,W]``."""
        d, g, m = _prepare(depth, gt, mask)
        if m.shape != d.shape:
            m = m.expand_as(d)
        m = m.contiguous()
        finite = bool(torch.isfinite(d.sum() + g.sum()))  # one host sync; see _finite_difference
        if finite:
            return _StandardizeFn.apply(d, m, self.eps), _StandardizeFn.apply(g, m, self.eps)
        valid = torch.isfinite(d) & torch.isfinite(g)
        zero = torch.zeros((), dtype=d.dtype, device=d.device)
        nan = torch.full((), float("nan"), dtype=d.dtype, device=d.device)
        w = m * valid
        return tuple(
            torch.where(valid, _StandardizeFn.apply(torch.where(valid, x, zero), w, self.eps), nan)
            for x in (d, g)
        )


def _pool_valid(valid: torch.Tensor, scale: int) -> torch.Tensor:
    """A pooled pixel is valid when its whole block was; float ``[B,1,H/s,W/s]``."""
    v = valid.to(torch.float32)
    if scale > 1:
        v = -F.max_pool2d(-v, scale, scale)
    return v


def _sobel_valid(v: torch.Tensor) -> torch.Tensor:
    """A Sobel response is valid when its 3×3 neighbourhood is (zero padding counts as valid)."""
    return -F.max_pool2d(-v, 3, 1, 1)


def _scale_inputs(e, valid, mask, scale):
    """Pooled difference and the weight of each Sobel response at one scale (the document's mask
    rule: the mask itself at scale 1, pooled and binarised above); ``valid=None`` means all finite."""
    if scale > 1:
        e_s = F.avg_pool2d(e, scale, scale)
        m_s = (F.avg_pool2d(mask, scale, scale) > 0.5).to(e.dtype)
    else:
        e_s, m_s = e, mask
    if valid is not None:
        m_s = m_s * _sobel_valid(_pool_valid(valid, scale)).to(e.dtype)
    return e_s, m_s


def _abs_dot(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``Σ |x|·w``, taking ``|x|`` in place (``x`` is a scratch buffer)."""
    return torch.dot(x.abs_().reshape(-1), w.reshape(-1))


class _MSGradFn(torch.autograd.Function):
    """(depth, gt) → multi-scale Sobel L1 (the mask is a constant).

    Keeps only the difference for backward; two scratch buffers of the full size serve every scale
    and both passes, so forward+backward allocates a handful of full-size tensors.
    """

    @staticmethod
    def forward(ctx, depth, gt, mask, scales, eps):
        e = torch.sub(depth, gt, out=fresh_buffer(depth.shape, depth))
        # A finite sum means every pixel is finite (an overflow only takes the exact slow path):
        # one host sync that saves three pooling passes per scale.
        all_valid = bool(torch.isfinite(e.sum()))
        valid = torch.isfinite(e) if not all_valid else None
        if valid is not None:
            e.masked_fill_(~valid, 0.0)
        a, b = fresh_buffer(e.shape, e), fresh_buffer(e.shape, e)
        total = e.new_zeros(())
        denoms = []
        for s in scales:
            e_s, m_s = _scale_inputs(e, valid, mask, s)
            bx, by = _view_prefix(a, e_s.shape), _view_prefix(b, e_s.shape)
            num = _abs_dot(_sobel_into(e_s, "x", bx, by), m_s)
            num = num + _abs_dot(_sobel_into(e_s, "y", bx, by), m_s)
            den = m_s.sum() + eps
            total = total + num / den
            denoms.append(den)
        del a, b
        ctx.save_for_backward(e, valid, mask, *denoms)
        ctx.scales = tuple(scales)
        return total / len(scales)

    @staticmethod
    @once_differentiable  # a second derivative through it would be silently wrong: refuse it
    def backward(ctx, g_out):
        e, valid, mask, *denoms = ctx.saved_tensors
        n = len(ctx.scales)
        grad = fresh_buffer(e.shape, e).zero_()
        a, b = fresh_buffer(e.shape, e), fresh_buffer(e.shape, e)
        for s, den in zip(ctx.scales, denoms):
            e_s, m_s = _scale_inputs(e, valid, mask, s)
            neg_coef = -g_out / (n * den * s * s)
            hs, ws = e_s.shape[-2:]
            # the average pool's adjoint spreads each coarse gradient evenly over its s×s block
            target = grad[..., : hs * s, : ws * s].view(*e.shape[:2], hs, s, ws, s)
            bx, by = _view_prefix(a, e_s.shape), _view_prefix(b, e_s.shape)
            for axis in ("x", "y"):
                sign_m = _sobel_into(e_s, axis, bx, by).sign_().mul_(m_s)
                adj = _sobel_into(sign_m, axis, bx, by)  # adjoint of Sobel is −Sobel
                target.addcmul_(adj.view(*e.shape[:2], hs, 1, ws, 1), neg_coef)
        if valid is not None:
            grad.masked_fill_(~valid, 0.0)
        need_d, need_g = ctx.needs_input_grad[:2]
        return (grad if need_d else None), (-grad if need_g else None), None, None, None


class WeightedMSGradLoss(nn.Module):
    """Multi-scale Sobel gradient L1 (scales 1, 2, 4, 8), normalised by the mask sum over the batch.

    At each scale ``s``: ``Δ = avgpool_s(depth − gt)``, ``m = avgpool_s(mask) > 0.5`` (the mask itself
    at ``s = 1``), ``L_s = Σ (|Sobel_x Δ| + |Sobel_y Δ|)·m / (Σ m + 1e-6)``; the loss is the mean of
    ``L_s``. Sobel and pooling are linear, so the difference is filtered once (the document filters
    both maps). The scalar path is a custom autograd function; ``reduction="none"`` returns the
    ``[B,1,H,W]`` contribution map (coarse scales spread evenly over their blocks).

    ``forward(depth [B,1,H,W], gt [B,1,H,W], mask [B,1,H,W], reduction="mean")``.
    """

    def __init__(self, scales: Sequence[int] = (1, 2, 4, 8)):
        super().__init__()
        self.scales = tuple(int(s) for s in scales)
        self.eps = 1e-6

    @full_precision
    def forward(self, depth, gt, mask, reduction: Reduction = "mean"):
        """``[B,1,H,W]`` maps and mask → scalar (``"mean"``) or the ``[B,1,H,W]`` contribution map
        (``"none"``, summing to the scalar)."""
        d, g, m = _prepare(depth, gt, mask)
        if reduction == "mean":
            return _MSGradFn.apply(d, g, m.contiguous(), self.scales, self.eps)
        if reduction != "none":
            raise ValueError(f"reduction must be 'mean' or 'none'; got {reduction!r}")
        e, valid = _clean_difference(d, g)
        if bool(torch.isfinite(e.sum()) & valid.all()):  # one host sync, not two
            valid = None  # all finite: skip the validity pooling (as the scalar path does)
        total = torch.zeros_like(e)
        for s in self.scales:
            e_s, m_s = _scale_inputs(e, valid, m, s)
            gx, gy = sobel(e_s)
            c = (gx.abs() + gy.abs()) * m_s / ((m_s.sum() + self.eps) * len(self.scales))
            if s > 1:
                hs, ws = c.shape[-2:]
                c = F.pad(
                    (c / (s * s)).repeat_interleave(s, dim=-2).repeat_interleave(s, dim=-1),
                    (0, e.shape[-1] - ws * s, 0, e.shape[-2] - hs * s),
                )
            total = total + c
        return total


@dataclass
class G2Terms:
    """``total = adepth + rdepth + 0.5·rgrad`` and its parts: scalars or ``[B,1,H,W]`` maps."""

    total: torch.Tensor
    adepth: torch.Tensor
    rdepth: torch.Tensor
    rgrad: torch.Tensor


# Both data terms leave their gradients to backward: held from forward to backward next to the
# standardised maps and the gradient term's buffers, they would lift the total's peak (6.9x -> 8.9x one input).
_DATA = WeightedDataLoss(grad_in_forward=False)
_STANDARDIZE = StandardizeData()


@full_precision
def g2_monodepth_loss(
    depth: torch.Tensor,
    gt: torch.Tensor,
    mask: torch.Tensor,
    scales: Sequence[int] = (1, 2, 4, 8),
    w_rgrad: float = 0.5,
    reduction: Reduction = "mean",
) -> G2Terms:
    """The G2-MonoDepth total and its three terms.

    Args:
        depth: ``[B,1,H,W]`` predicted depth. gt: ``[B,1,H,W]`` target depth.
        mask: ``[B,1,H,W]`` valid-pixel mask.
        scales: the gradient term's scales. w_rgrad: its weight in the total (document: 0.5).
        reduction: ``"mean"`` → scalars; ``"none"`` → ``[B,1,H,W]`` contribution maps.

    Example:
        >>> g = torch.rand(1, 1, 32, 32); m = torch.ones(1, 1, 32, 32)
        >>> t = g2_monodepth_loss(2 * g + 1, g, m)   # an affine copy: only the absolute term sees it
        >>> float(t.rdepth) < 1e-5 and float(t.rgrad) < 1e-4 and float(t.adepth) > 0.5
        True
    """
    d, g, m = _prepare(depth, gt, mask)
    adepth = _DATA(d, g, m, reduction=reduction)
    sta_d, sta_g = _STANDARDIZE(d, g, m)
    rdepth = _DATA(sta_d, sta_g, m, reduction=reduction)
    rgrad = WeightedMSGradLoss(scales)(sta_d, sta_g, m, reduction=reduction)
    return G2Terms(total=adepth + rdepth + w_rgrad * rgrad, adepth=adepth, rdepth=rdepth, rgrad=rgrad)


def _ssi_centred(p: torch.Tensor, t: torch.Tensor, w: torch.Tensor, n: torch.Tensor):
    """``(p − Σwp/n, t − Σwt/n)``, each ``[B,1,H,W]`` (``n`` the clamped weight sums ``[B]``)."""
    shape = (-1,) + (1,) * (p.dim() - 1)
    return p - (_per_sample_dot(p, w) / n).view(shape), t - (_per_sample_dot(t, w) / n).view(shape)


class _SSIFn(torch.autograd.Function):
    """(pred, target) → ``ssi_loss`` (target and weights constant), with the closed-form backward.

    Per image, sums over the pixels with weights ``w``: ``n = max(Σw, eps)``, ``pc = p − Σwp/n``,
    ``tc = t − Σwt/n``, ``D = max(Σw·pc², eps·n)``, ``a = Σw·pc·tc / D``, ``r = a·pc − tc``,
    ``L = Σ_b Σ w|r| / (n·B)``. With ``s = sign(r)``, ``S = Σ w·s``, ``Q = Σ w·s·pc`` and ``k = 1``
    where the variance is not clamped (else 0):

    ``∂L/∂p = w/(nB) · [a·s − a·S/n + (Q/D)·(tc − Σw·tc/n − 2k·a·(pc − Σw·pc/n))]``.

    Keeps the weights for backward and recomputes ``pc``, ``tc``, ``r`` from the inputs: four
    full-size tensors at most in either pass (plain autograd held nine).
    """

    @staticmethod
    def forward(ctx, p, t, w, eps):
        batch = p.shape[0]
        shape = (-1,) + (1,) * (p.dim() - 1)
        n = w.sum(dim=tuple(range(1, w.dim()))).clamp_min(eps)
        pc, tc = _ssi_centred(p, t, w, n)
        wpc = pc * w
        var = _per_sample_dot(wpc, pc)
        denom = torch.maximum(var, eps * n)
        scale = _per_sample_dot(wpc, tc) / denom
        r = torch.mul(pc, scale.view(shape), out=wpc).sub_(tc)  # wpc's buffer
        loss = (_per_sample_dot(r.abs_(), w) / n).sum() / batch
        ctx.save_for_backward(p, t, w, n, var, denom, scale)
        ctx.eps = eps
        return loss

    @staticmethod
    @once_differentiable  # a second derivative through it would be silently wrong: refuse it
    def backward(ctx, g_out):
        p, t, w, n, var, denom, scale = ctx.saved_tensors
        batch = p.shape[0]
        shape = (-1,) + (1,) * (p.dim() - 1)
        pc, tc = _ssi_centred(p, t, w, n)
        sw = torch.mul(pc, scale.view(shape)).sub_(tc).sign_().mul_(w)  # w·sign(r)
        big_s = sw.sum(dim=tuple(range(1, sw.dim())))
        q = _per_sample_dot(sw, pc)
        sum_pc = _per_sample_dot(pc, w)
        sum_tc = _per_sample_dot(tc, w)
        k = (var >= ctx.eps * n).to(p.dtype)  # clamp_min passes the gradient where not clamped
        gamma = q / denom
        # inner = a·s (added last, through sw) + gamma·tc − 2k·a·gamma·pc + constant, times w/(nB)
        const = -scale * big_s / n - gamma * sum_tc / n + 2.0 * k * scale * gamma * sum_pc / n
        inner = tc.mul_(gamma.view(shape)).add_(const.view(shape))
        inner.addcmul_(pc, (-2.0 * k * scale * gamma).view(shape))
        inner.mul_(w).addcmul_(sw, scale.view(shape))
        inner.mul_((g_out / (n * batch)).view(shape))
        return inner, None, None, None


@full_precision
def ssi_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    eps: float = 1e-6,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Scale-and-shift-invariant L1: align ``pred`` to ``target`` by masked least squares, then compare.

    Per image, ``(a, b) = argmin Σ m·(a·p + b − t)²`` in closed form (``a = cov(p,t)/var(p)``,
    ``b = t̄ − a·p̄``, masked), then ``Σ |a·p + b − t|·m / Σ m``; batch mean. Gradients flow through
    ``a`` and ``b``. Non-finite pixels are left out; a constant ``pred`` gets ``a = 0``.

    Args:
        pred, target: ``[B,1,H,W]`` depth or disparity. mask: ``[B,1,H,W]`` weights in ``[0,1]``.
        reduction: ``"mean"`` → scalar; ``"none"`` → ``[B,1,H,W]`` contribution map.

    Example:
        >>> t = torch.rand(2, 1, 16, 16); m = torch.ones(2, 1, 16, 16)
        >>> float(ssi_loss(3 * t - 2, t, m)) < 1e-5
        True
    """
    p, t, m = _prepare(pred, target, mask, name="pred")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none'; got {reduction!r}")
    if m.shape != p.shape:
        m = m.expand_as(p)
    w = m.clamp(0.0, 1.0)
    if not bool(torch.isfinite(p.sum() + t.sum())):  # one host sync; see _finite_difference
        valid = torch.isfinite(p) & torch.isfinite(t)
        zero = torch.zeros((), dtype=p.dtype, device=p.device)
        p, t = torch.where(valid, p, zero), torch.where(valid, t, zero)
        w = w * valid
    if reduction == "mean" and not t.requires_grad:
        return _SSIFn.apply(p, t, w, eps)
    # the map, or a differentiable target: plain autograd (a few more full-size temporaries)
    n_safe = w.sum(dim=(1, 2, 3), keepdim=True).clamp_min(eps)
    p_mean = (p * w).sum(dim=(1, 2, 3), keepdim=True) / n_safe
    t_mean = (t * w).sum(dim=(1, 2, 3), keepdim=True) / n_safe
    pc = p - p_mean
    var = (pc.square() * w).sum(dim=(1, 2, 3), keepdim=True)
    cov = (pc * (t - t_mean) * w).sum(dim=(1, 2, 3), keepdim=True)
    scale = cov / var.clamp_min(eps * n_safe)
    contrib = (scale * pc + t_mean - t).abs() * w / (n_safe * p.shape[0])
    return contrib if reduction == "none" else contrib.sum()
