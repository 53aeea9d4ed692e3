"""000 — depth consistency for object insertion: inside the mask, outside it, and on its boundary.

``L = w_inside·L_in + w_outside·L_out + w_edge·L_edge`` with SmoothL1 ``ρ`` (``beta``):

* ``L_in   = Σ ρ(e)·w / Σ w``,   ``w = M·V·C``
* ``L_out  = Σ ρ(e)·w / Σ w``,   ``w = (1 − dilate(M_bin, outside_dilate_r))·V·C``
* ``L_edge = ½ Σ_{x,y} Σ ρ(∂e)·w / Σ w``, ``w = boundary_band(M_bin, edge_band_r)·V·C``

where ``e = d_pred − d_tgt``, ``C`` the optional confidence, ``V`` validity. Each weighted mean
normalises by the weight sum over the whole batch, as the document does.

Non-finite depth: the document means NaN/Inf pixels to be ignored, but its code multiplies them by a
zero weight and returns NaN. Here a pixel with a non-finite ``d_pred`` or ``d_tgt`` has zero weight,
and so does a forward-difference pair that touches one; nothing non-finite reaches a sum. On finite
inputs the numbers are the document's (its forward differences pad the last row/column with 0, which
still counts in the band's weight sum — kept).

Speed and memory: the scalar path is a custom autograd function that keeps only ``e`` and three
bit-masks for backward and reduces with BLAS dot products, so forward+backward touches a few
full-size temporaries instead of the dozens autograd would save.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from .buffers import fresh_buffer
from .masks import as_4d, boundary_band_bool, compute_dtype, dilate, full_precision

__all__ = ["DepthConsistencyTerms", "depth_consistency_loss", "depth_gradients", "weighted_smooth_l1"]


@dataclass
class DepthConsistencyTerms:
    """The parts of :func:`depth_consistency_loss`: scalars, or ``[B,1,H,W]`` contribution maps."""

    total: torch.Tensor
    inside: torch.Tensor
    outside: torch.Tensor
    edge: torch.Tensor


def depth_gradients(depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along x and y, zero-padded on the last column / row to keep the size.

    ``[...,H,W]`` → ``(dx, dy)``, each ``[...,H,W]``: ``dx[..., j] = d[..., j+1] − d[..., j]``.
    """
    dx = F.pad(depth[..., :, 1:] - depth[..., :, :-1], (0, 1, 0, 0))
    dy = F.pad(depth[..., 1:, :] - depth[..., :-1, :], (0, 0, 0, 1))
    return dx, dy


def _smooth_l1(x: torch.Tensor, beta: float) -> torch.Tensor:
    """``ρ(x)``: ``0.5x²/β`` for ``|x| < β``, else ``|x| − 0.5β`` (L1 for ``β = 0``)."""
    return F.smooth_l1_loss(x, torch.zeros_like(x), reduction="none", beta=beta)


@full_precision
def weighted_smooth_l1(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor,
    *,
    beta: float = 0.1,
    eps: float = 1e-8,
) -> torch.Tensor:
    """``Σ ρ(pred − target)·w / max(Σ w, eps)`` over every element; non-finite pairs get zero weight.

    Args:
        pred, target, weight: tensors of one shape (weight broadcastable).
    """
    dtype = compute_dtype(pred, target)
    diff = pred.to(dtype) - target.to(dtype)
    valid = torch.isfinite(diff)
    w = weight.to(dtype) * valid
    per = _smooth_l1(torch.where(valid, diff, torch.zeros_like(diff)), beta)
    return (per * w).sum() / w.sum().clamp_min(eps)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``Σ a·b`` as one fused reduction (no full-size temporary)."""
    return torch.dot(a.reshape(-1), b.reshape(-1))


def _rho_into(x: torch.Tensor, beta: float, out: torch.Tensor) -> torch.Tensor:
    """``out ← ρ(x)`` (SmoothL1 against 0; ``out`` may be ``x``) without a temporary; returns ``out``."""
    zero = x.new_zeros(()).expand_as(x)
    return torch.ops.aten.smooth_l1_loss.out(x, zero, 0, float(beta), out=out)


def _rho_grad_inplace(x: torch.Tensor, beta: float) -> torch.Tensor:
    """``x ← ρ'(x)`` = ``clamp(x/β, −1, 1)`` (``sign(x)`` for ``β = 0``); returns ``x``."""
    if beta <= 0:
        return x.sign_()
    return x.div_(beta).clamp_(-1.0, 1.0)


def _forward_difference(e: torch.Tensor, dim: int, out: torch.Tensor) -> torch.Tensor:
    """``out ← e[i+1] − e[i]`` along ``dim``, 0 on the last row/column (the document's padding)."""
    n = e.shape[dim]
    if n > 1:
        torch.sub(e.narrow(dim, 1, n - 1), e.narrow(dim, 0, n - 1), out=out.narrow(dim, 0, n - 1))
    out.narrow(dim, n - 1, 1).zero_()
    return out


class _DepthConsistencyFn(torch.autograd.Function):
    """(d_pred, d_tgt) → (L_in, L_out, L_edge) for fixed weight maps (no gradient to the weights).

    The four weights are full-size maps: inside, outside, and the band weights of the x- and y-pairs
    (a pair's weight is at its first pixel; the zero-padded last column/row keeps its weight, as in
    the document). Forward and backward reuse two buffers, so the peak is a few full-size tensors.
    """

    @staticmethod
    def forward(ctx, d_pred, d_tgt, e, w_in, w_out, w_x, w_y, beta, eps):
        buf = _rho_into(e, beta, fresh_buffer(e.shape, e))
        sums = [_dot(buf, w_in), _dot(buf, w_out)]
        for dim, w in ((-1, w_x), (-2, w_y)):
            pair = _forward_difference(e, dim, buf)
            sums.append(_dot(_rho_into(pair, beta, pair), w))
        del buf
        dens = [w.sum().clamp_min(eps) for w in (w_in, w_out, w_x, w_y)]
        ctx.save_for_backward(e, w_in, w_out, w_x, w_y, *dens)
        ctx.beta = beta
        l_in, l_out = sums[0] / dens[0], sums[1] / dens[1]
        l_edge = 0.5 * (sums[2] / dens[2] + sums[3] / dens[3])
        return l_in, l_out, l_edge

    @staticmethod
    @once_differentiable  # a second derivative through it would be silently wrong: refuse it
    def backward(ctx, g_in, g_out, g_edge):
        e, w_in, w_out, w_x, w_y, d_in, d_out, d_x, d_y = ctx.saved_tensors
        beta = ctx.beta
        # inside and outside share ρ'(e): grad = ρ'(e)·(g_in/W_in·w_in + g_out/W_out·w_out)
        tmp = torch.mul(w_in, g_in / d_in, out=fresh_buffer(e.shape, e))
        tmp.addcmul_(w_out, g_out / d_out)
        grad = _rho_grad_inplace(fresh_buffer(e.shape, e).copy_(e), beta).mul_(tmp)
        for dim, w, den in ((-1, w_x, d_x), (-2, w_y, d_y)):
            n = e.shape[dim]
            if n < 2:
                continue
            pair = _rho_grad_inplace(_forward_difference(e, dim, tmp), beta)
            pair.mul_(w).mul_(0.5 * g_edge / den)
            head = pair.narrow(dim, 0, n - 1)
            grad.narrow(dim, 1, n - 1).add_(head)
            grad.narrow(dim, 0, n - 1).sub_(head)
        del tmp
        need_pred, need_tgt = ctx.needs_input_grad[:2]
        return (grad if need_pred else None), (-grad if need_tgt else None), *([None] * 7)


def _maps(d_pred, d_tgt, w_in, w_out, w_x, w_y, beta, eps):
    """Contribution maps ``[B,1,H,W]`` of the three parts (plain autograd; for the dashboard)."""
    diff = d_pred - d_tgt
    e = torch.where(torch.isfinite(diff), diff, torch.zeros_like(diff))
    r = _smooth_l1(e, beta)
    in_map = r * w_in / w_in.sum().clamp_min(eps)
    out_map = r * w_out / w_out.sum().clamp_min(eps)
    dx, dy = depth_gradients(e)
    edge_map = 0.5 * (
        _smooth_l1(dx, beta) * w_x / w_x.sum().clamp_min(eps)
        + _smooth_l1(dy, beta) * w_y / w_y.sum().clamp_min(eps)
    )
    return in_map, out_map, edge_map


@full_precision
def depth_consistency_loss(
    d_pred: torch.Tensor,
    d_tgt: torch.Tensor,
    mask: torch.Tensor,
    *,
    conf_pred: torch.Tensor | None = None,
    outside_dilate_r: int = 1,
    edge_band_r: int = 1,
    beta: float = 0.1,
    w_inside: float = 1.0,
    w_outside: float = 0.5,
    w_edge: float = 0.5,
    eps: float = 1e-8,
    reduction: Literal["mean", "none"] = "mean",
) -> DepthConsistencyTerms:
    """Depth consistency of a predicted depth map with the target's (000).

    Args:
        d_pred: ``[B,1,H,W]`` (or ``[B,H,W]``, ``[H,W]``) depth or disparity of the prediction,
            prepared like ``d_tgt``. Gradients flow to it (and to ``d_tgt``).
        d_tgt: the target's depth, same size.
        mask: insertion mask in ``[0,1]``, same size; a batch of 1 is broadcast.
        conf_pred: optional confidence of ``d_pred`` in ``[0,1]``.
        outside_dilate_r: the sure-outside region excludes ``dilate(M_bin, r)``.
        edge_band_r: half-width of the boundary band for the gradient term.
        beta: SmoothL1 threshold between the quadratic and the L1 regime.
        w_inside, w_outside, w_edge: weights of the three parts in ``total``.
        reduction: ``"mean"`` → scalars; ``"none"`` → ``[B,1,H,W]`` contribution maps whose sums are
            those scalars.

    Returns:
        ``DepthConsistencyTerms(total, inside, outside, edge)``. Mask and confidence are weights,
        not differentiated.

    Example:
        >>> d = torch.rand(2, 1, 32, 32); m = torch.zeros(2, 1, 32, 32); m[..., 8:20, 8:20] = 1
        >>> t = depth_consistency_loss(d + 0.05, d, m)
        >>> round(float(t.inside), 6)  # ρ(0.05) = 0.5·0.05²/0.1
        0.0125
    """
    dtype = compute_dtype(d_pred, d_tgt)
    d_pred = as_4d(d_pred, name="d_pred", dtype=dtype)
    d_tgt = as_4d(d_tgt, d_pred, name="d_tgt", dtype=dtype)
    m = as_4d(mask, d_pred, name="mask", dtype=dtype).detach()
    conf = None
    if conf_pred is not None:
        conf = as_4d(conf_pred, d_pred, name="conf_pred", dtype=dtype).detach().clamp(0.0, 1.0)
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none'; got {reduction!r}")

    with torch.no_grad():
        e = d_pred.detach() - d_tgt.detach()
        # One host sync decides the fast path: a finite sum means every pixel is finite (an overflow
        # only sends us down the exact slow path), and a mask already in [0,1] needs no clamp copy.
        total_e, m_min, m_max = torch.stack([e.sum(), m.amin(), m.amax()]).tolist()
        if m_min < 0.0 or m_max > 1.0:
            m = m.clamp(0.0, 1.0)
        if m.shape != e.shape:
            m = m.expand_as(e).contiguous()
        m_bin = m > 0.5
        w_out = (~dilate(m_bin, outside_dilate_r)).to(dtype)
        band = boundary_band_bool(m_bin, edge_band_r).to(dtype)
        del m_bin
        w_in, w_x, w_y = m, band, band
        if not math.isfinite(total_e) or conf is not None:
            valid = torch.isfinite(e)
            e.masked_fill_(~valid, 0.0)
            base = valid.to(dtype) if conf is None else conf * valid
            w_in, w_out, band = m * base, w_out.mul_(base), band.mul_(base)
            w_x, w_y = band.clone(), band.clone()
            h, w = e.shape[-2:]
            w_x[..., : w - 1].mul_(valid[..., 1:])  # a pair needs both of its pixels finite
            w_y[..., : h - 1, :].mul_(valid[..., 1:, :])

    if reduction == "none":
        in_map, out_map, edge_map = _maps(d_pred, d_tgt, w_in, w_out, w_x, w_y, beta, eps)
        total = w_inside * in_map + w_outside * out_map + w_edge * edge_map
        return DepthConsistencyTerms(total=total, inside=in_map, outside=out_map, edge=edge_map)
    l_in, l_out, l_edge = _DepthConsistencyFn.apply(d_pred, d_tgt, e, w_in, w_out, w_x, w_y, float(beta), float(eps))
    total = w_inside * l_in + w_outside * l_out + w_edge * l_edge
    return DepthConsistencyTerms(total=total, inside=l_in, outside=l_out, edge=l_edge)
