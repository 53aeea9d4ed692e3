"""002 — latent-space geometry losses for object insertion (Flux Kontext latents ``[B,16,h,w]``).

The formulas the document names but does not write out are fixed in ``../shared/specs/README.md``;
each function's docstring restates its own. ``e`` below is the per-pixel channel error
``mean_c (z_pred − z_tgt)²`` (``channel_reduce="sum"``: the sum), ``M`` the latent mask in
``[0,1]``, ``M_bin = M > 0.5``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch.autograd.function import once_differentiable

from .buffers import fresh_buffer
from .masks import as_4d, binarize, boundary_band, compute_dtype, dilate, full_precision

__all__ = [
    "weighted_masked_mse_latent",
    "background_preservation_mse_latent",
    "ChangeMaskStats",
    "soft_change_mask_from_latents",
    "dice_loss",
    "area_ratio_loss",
    "boundary_loss",
    "restrict_to_roi",
    "reference_mask",
]

Reduction = Literal["mean", "none"]


def _latents(z_pred: torch.Tensor, z_other: torch.Tensor, other_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if z_pred.dim() != 4 or z_other.dim() != 4:
        raise ValueError(
            f"latents must be [B,C,h,w]; got z_pred {tuple(z_pred.shape)}, {other_name} {tuple(z_other.shape)}"
        )
    if z_pred.shape[1:] != z_other.shape[1:]:
        raise ValueError(
            f"z_pred {tuple(z_pred.shape)} and {other_name} {tuple(z_other.shape)} differ in channels or size"
        )
    dtype = compute_dtype(z_pred, z_other)
    return z_pred.to(dtype), z_other.to(device=z_pred.device, dtype=dtype)


class _ChannelSquaredDistance(torch.autograd.Function):
    """``Σ_c (a − b)²``: ``[B,C,h,w]`` × 2 → ``[B,1,h,w]``; keeps only ``a − b`` for a one-pass
    backward (half the time of autograd's square + reduction on the CPU). The channel sum
    accumulates channel by channel into the output (no squared full-size temporary), and the
    full-size tensors come from :func:`fresh_buffer`: 1.4× faster forward+backward than
    ``diff.square().sum(1)`` at ``[8,16,128,128]`` on the CPU."""

    @staticmethod
    def forward(ctx, a, b):
        diff = torch.sub(a, b, out=fresh_buffer(torch.broadcast_shapes(a.shape, b.shape), a))
        ctx.save_for_backward(diff)
        out = torch.mul(diff[:, :1], diff[:, :1])
        for c in range(1, diff.shape[1]):
            out.addcmul_(diff[:, c : c + 1], diff[:, c : c + 1])
        return out

    @staticmethod
    @once_differentiable  # a second derivative through it would be silently wrong: refuse it
    def backward(ctx, grad):
        (diff,) = ctx.saved_tensors
        grad_a = torch.mul(diff, 2.0 * grad, out=fresh_buffer(diff.shape, diff))
        return grad_a, (-grad_a if ctx.needs_input_grad[1] else None)


def _channel_error(a: torch.Tensor, b: torch.Tensor, channel_reduce: str) -> torch.Tensor:
    """``[B,C,h,w]`` × 2 → ``[B,1,h,w]`` squared error reduced over channels (mean or sum)."""
    sq = _ChannelSquaredDistance.apply(a, b)
    if channel_reduce == "mean":
        return sq / a.shape[1]
    if channel_reduce == "sum":
        return sq
    raise ValueError(f"channel_reduce must be 'mean' or 'sum'; got {channel_reduce!r}")


def _per_sample_weighted_mean(err: torch.Tensor, weight: torch.Tensor, eps: float, reduction: Reduction):
    """``Σ w·e / max(Σ w, eps)`` per sample, then the batch mean; ``"none"``: the contribution map."""
    wsum = weight.sum(dim=(1, 2, 3), keepdim=True).clamp_min(eps)
    contrib = err * weight / (wsum * err.shape[0])
    if reduction == "none":
        return contrib
    if reduction == "mean":
        return contrib.sum()
    raise ValueError(f"reduction must be 'mean' or 'none'; got {reduction!r}")


@full_precision
def weighted_masked_mse_latent(
    z_pred: torch.Tensor,
    z_tgt: torch.Tensor,
    mask_latent: torch.Tensor,
    band_r: int = 1,
    w_in: float = 1.0,
    w_band: float = 6.0,
    w_out: float = 0.2,
    channel_reduce: Literal["mean", "sum"] = "mean",
    eps: float = 1e-8,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Boundary-weighted masked MSE between predicted and target latents.

    ``W = band·w_band + (1 − band)·(M·w_in + (1 − M)·w_out)`` with ``band = boundary_band(M_bin, band_r)``;
    per sample ``Σ W·e / Σ W``, then the batch mean.

    Args:
        z_pred, z_tgt: ``[B,C,h,w]`` latents.
        mask_latent: ``[B,1,h,w]`` mask in ``[0,1]`` at latent resolution (see ``downsample_mask_area``).
        reduction: ``"mean"`` → scalar; ``"none"`` → ``[B,1,h,w]`` contribution map summing to it.

    Example:
        >>> z = torch.randn(2, 16, 32, 32); m = torch.zeros(2, 1, 32, 32); m[..., 8:24, 8:24] = 1
        >>> float(weighted_masked_mse_latent(z, z, m))
        0.0
    """
    z_pred, z_tgt = _latents(z_pred, z_tgt, "z_tgt")
    m = as_4d(mask_latent, z_pred, name="mask_latent", dtype=z_pred.dtype).clamp(0.0, 1.0)
    band = boundary_band(binarize(m), band_r)
    weight = band * w_band + (1.0 - band) * (m * w_in + (1.0 - m) * w_out)
    return _per_sample_weighted_mean(_channel_error(z_pred, z_tgt, channel_reduce), weight, eps, reduction)


@full_precision
def background_preservation_mse_latent(
    z_pred: torch.Tensor,
    z_ctx: torch.Tensor,
    mask_latent: torch.Tensor,
    band_r: int = 1,
    channel_reduce: Literal["mean", "sum"] = "mean",
    eps: float = 1e-8,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """MSE against the context latents on the sure background ``1 − dilate(M_bin, band_r)``.

    Per sample ``Σ outside·e / max(Σ outside, eps)`` with ``e`` against ``z_ctx``, then the batch mean
    (0 for a sample whose mask covers everything).

    Args:
        z_pred, z_ctx: ``[B,C,h,w]`` latents.
        mask_latent: ``[B,1,h,w]`` insertion mask in ``[0,1]``.
        reduction: ``"mean"`` → scalar; ``"none"`` → ``[B,1,h,w]`` contribution map.
    """
    z_pred, z_ctx = _latents(z_pred, z_ctx, "z_ctx")
    m = as_4d(mask_latent, z_pred, name="mask_latent", dtype=z_pred.dtype).clamp(0.0, 1.0)
    outside = 1.0 - dilate(binarize(m), band_r)
    return _per_sample_weighted_mean(_channel_error(z_pred, z_ctx, channel_reduce), outside, eps, reduction)


@dataclass
class ChangeMaskStats:
    """Statistics behind a soft change mask, each ``[B,1,1,1]`` and detached.

    ``tau``/``s`` are the sigmoid's threshold and width actually used; ``mean_bg``/``std_bg`` the
    sure-background statistics of ``D`` they were estimated from.
    """

    tau: torch.Tensor
    s: torch.Tensor
    mean_bg: torch.Tensor
    std_bg: torch.Tensor


def _as_stat(value, like: torch.Tensor) -> torch.Tensor:
    """A float or a per-sample tensor → ``[B,1,1,1]`` on ``like``'s device and dtype."""
    t = torch.as_tensor(value, dtype=like.dtype, device=like.device).reshape(-1, 1, 1, 1)
    return t.expand(like.shape[0], 1, 1, 1)


@full_precision
def soft_change_mask_from_latents(
    z_pred: torch.Tensor,
    z_ctx: torch.Tensor,
    mask_latent: torch.Tensor | None = None,
    band_r: int = 1,
    k_sigma: float = 2.0,
    tau: float | torch.Tensor | None = None,
    s: float | torch.Tensor | None = None,
    *,
    temperature: float = 1.0,
    s_min: float | None = None,
    eps: float = 1e-6,
) -> tuple[torch.Tensor, ChangeMaskStats, torch.Tensor]:
    """Differentiable mask of where the latents changed: ``M_hat = sigmoid((D − tau)/s)``.

    ``D = ‖z_pred − z_ctx‖₂`` over channels. On the sure background ``1 − dilate(M_bin, band_r)``
    (every pixel when no mask is given, or when the mask leaves no background) per sample:
    ``σ = std_bg(D)``, ``tau = mean_bg(D) + k_sigma·σ``, ``s = σ·temperature``. The statistics are
    detached; ``tau``/``s`` given explicitly override them.

    Options beyond the document (defaults reproduce it):
        temperature: divides the sigmoid's width. As written (1.0) every background pixel at the
            background mean gets ``sigmoid(−k_sigma) ≈ 0.12``, and on a background several times the
            object's area this leakage dominates Dice and area; 0.25 makes it ``sigmoid(−8)``.
        s_min: a floor ``σ = max(std_bg, s_min·max(D))`` (a fraction of the sample's largest ``D``),
            so an exactly unchanged background gives ``sigmoid(−k_sigma/temperature)``, not 0.5.
        eps: the absolute floor of ``σ`` that keeps the division finite.

    Recommended (geoviz's defaults): ``temperature=0.25, s_min=0.05``, and Dice / area / boundary
    against :func:`reference_mask` with ``reference="target"``. Measured on real photographs, the
    document's settings put the sizes read off this mask 40–60 % too large (the leakage counts as
    object); the defaults here stay the document's so a drop-in behaves as written.

    Args:
        z_pred, z_ctx: ``[B,C,h,w]`` latents.
        mask_latent: ``[B,1,h,w]`` insertion mask in ``[0,1]``, or None.

    Returns:
        ``(M_hat [B,1,h,w], ChangeMaskStats, D [B,1,h,w])``.
    """
    z_pred, z_ctx = _latents(z_pred, z_ctx, "z_ctx")
    # sqrt of a clamped sum: where z_pred == z_ctx (an untouched background) the gradient is 0, not
    # NaN; and a channel sum is several times faster than vector_norm over dim 1 on the CPU.
    sq = _ChannelSquaredDistance.apply(z_pred, z_ctx)
    dist = sq.clamp_min(torch.finfo(sq.dtype).tiny).sqrt()
    d = dist.detach()
    if mask_latent is None:
        bg = torch.ones_like(d)
    else:
        m = as_4d(mask_latent, z_pred, name="mask_latent", dtype=z_pred.dtype).clamp(0.0, 1.0)
        bg = 1.0 - dilate(binarize(m), band_r)
        no_bg = bg.sum(dim=(1, 2, 3), keepdim=True) == 0
        bg = torch.where(no_bg, torch.ones_like(bg), bg)
    n_bg = bg.sum(dim=(1, 2, 3), keepdim=True)
    mean_bg = (d * bg).sum(dim=(1, 2, 3), keepdim=True) / n_bg
    std_bg = (((d - mean_bg).square() * bg).sum(dim=(1, 2, 3), keepdim=True) / n_bg).sqrt()
    sigma = std_bg
    if s_min is not None:
        sigma = torch.maximum(sigma, s_min * d.amax(dim=(1, 2, 3), keepdim=True))
    sigma = sigma.clamp_min(eps)
    tau_t = mean_bg + k_sigma * sigma if tau is None else _as_stat(tau, d)
    s_t = sigma * temperature if s is None else _as_stat(s, d).clamp_min(eps)
    m_hat = torch.sigmoid((dist - tau_t) / s_t)
    return m_hat, ChangeMaskStats(tau=tau_t, s=s_t, mean_bg=mean_bg, std_bg=std_bg), dist


def _pair_masks(pred: torch.Tensor, target: torch.Tensor, pred_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    p = as_4d(pred, name=pred_name)
    t = as_4d(target, p, name="target_mask", dtype=p.dtype)
    return p, t


@full_precision
def dice_loss(
    pred_mask: torch.Tensor,
    target_mask: torch.Tensor,
    eps: float = 1.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Soft Dice loss: per sample ``1 − (2Σpt + eps)/(Σp + Σt + eps)``, batch mean.

    ``eps`` is in pixels of area (1.0 = one latent pixel): both masks empty give 0, and gradients
    stay bounded by ``1/eps`` even then. The loss is exactly a pixel sum,
    ``Σ (p + t − 2pt)/(Σp + Σt + eps)`` — the soft disagreement — which ``reduction="none"`` returns
    as a ``[B,1,h,w]`` contribution map (divided by ``B``).

    Args:
        pred_mask: ``[B,1,h,w]`` soft mask (e.g. ``M_hat``).
        target_mask: ``[B,1,h,w]`` mask in ``[0,1]``.

    Example:
        >>> a = torch.zeros(1, 1, 8, 8); a[..., :4, :] = 1
        >>> round(float(dice_loss(a, a, eps=0.0)), 6)
        0.0
    """
    p, t = _pair_masks(pred_mask, target_mask, "pred_mask")
    denom = (p.sum(dim=(1, 2, 3), keepdim=True) + t.sum(dim=(1, 2, 3), keepdim=True) + eps)
    if eps == 0.0:
        denom = denom.clamp_min(torch.finfo(p.dtype).tiny)
    contrib = (p + t - 2.0 * p * t) / (denom * p.shape[0])
    if reduction == "none":
        return contrib
    if reduction == "mean":
        return contrib.sum()
    raise ValueError(f"reduction must be 'mean' or 'none'; got {reduction!r}")


@full_precision
def area_ratio_loss(pred_mask: torch.Tensor, target_mask: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Area mismatch as a squared log-ratio: per sample ``log((Σp + eps)/(Σt + eps))²``, batch mean.

    An object scaled by ``s`` has area ``s²`` times the target's, so the loss is ``(2 log s)²``.
    ``eps`` is in pixels of area (one pixel by default). Not a pixel sum, so there is no contribution
    map; the gradient map is its visual.

    Args:
        pred_mask, target_mask: ``[B,1,h,w]`` masks in ``[0,1]``.

    Example:
        >>> t = torch.zeros(1, 1, 100, 100); t[..., :50, :50] = 1
        >>> p = torch.zeros(1, 1, 100, 100); p[..., :40, :40] = 1
        >>> round(float(area_ratio_loss(p, t, eps=0.0)), 4)  # (2·log 0.8)²
        0.1991
    """
    p, t = _pair_masks(pred_mask, target_mask, "pred_mask")
    ratio = (p.sum(dim=(1, 2, 3)) + eps) / (t.sum(dim=(1, 2, 3)) + eps)
    return ratio.log().square().mean()


@full_precision
def boundary_loss(
    pred_soft_mask: torch.Tensor,
    signed_distance_map: torch.Tensor,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Boundary loss (Kervadec et al.): the mean of ``p·phi`` over every element.

    ``phi`` is the signed distance map of the *target* mask (positive outside, negative inside), so
    probability mass outside the target costs its distance and mass inside earns it; the loss is
    negative near the optimum, which is expected.

    Args:
        pred_soft_mask: ``[B,1,h,w]`` soft mask (e.g. ``M_hat``).
        signed_distance_map: ``[B,1,h,w]`` from ``signed_distance_map_from_mask``.
        reduction: ``"mean"`` → scalar; ``"none"`` → ``[B,1,h,w]`` contribution map.
    """
    p = as_4d(pred_soft_mask, name="pred_soft_mask")
    phi = as_4d(signed_distance_map, p, name="signed_distance_map", dtype=p.dtype)
    contrib = p * phi / p.numel()
    if reduction == "none":
        return contrib
    if reduction == "mean":
        return contrib.sum()
    raise ValueError(f"reduction must be 'mean' or 'none'; got {reduction!r}")


def restrict_to_roi(soft_mask: torch.Tensor, mask_latent: torch.Tensor, roi_r: int | None) -> torch.Tensor:
    """Zero a soft change mask beyond ``roi_r`` latent pixels of the insertion mask.

    The region-of-interest option of ``../shared/specs/README.md`` for Dice / area / boundary inputs:
    it removes the background leakage of ``M_hat`` that biases them toward shrunken objects.
    ``roi_r=None`` returns the input unchanged. ``[B,1,h,w]`` → ``[B,1,h,w]``.
    """
    if roi_r is None:
        return soft_mask
    m = as_4d(mask_latent, soft_mask, name="mask_latent", dtype=soft_mask.dtype).clamp(0.0, 1.0)
    return soft_mask * dilate(binarize(m), max(int(roi_r), 0))


def reference_mask(
    mask_latent: torch.Tensor,
    z_tgt: torch.Tensor | None = None,
    z_ctx: torch.Tensor | None = None,
    reference: Literal["mask", "target"] = "mask",
    roi_r: int | None = None,
    **change_mask_kw,
) -> torch.Tensor:
    """What Dice, area ratio and boundary loss compare a change mask ``M_hat`` with.

    ``"mask"`` (the document): the insertion mask itself. ``"target"`` (an option beyond it): the
    change mask of the *target's* latents against the context's, made by the same detector with the
    same settings (``change_mask_kw`` as :func:`soft_change_mask_from_latents`, then ``roi_r``) and
    detached. On 8×8-pixel latent patches the detector marks every patch the object touches, so
    ``M_hat`` is about half a patch wider all round than the area-downsampled mask, and against the
    mask these terms are smallest for an object a few per cent *too small*; against the target's
    own change mask that bias cancels at the right size. ``[B,1,h,w]`` out. Recommended:
    ``"target"`` (geoviz's default); the default here stays the document's ``"mask"``.
    """
    if reference == "mask":
        return mask_latent
    if reference != "target":
        raise ValueError(f"reference must be 'mask' or 'target'; got {reference!r}")
    if z_tgt is None or z_ctx is None:
        raise ValueError("reference='target' needs z_tgt and z_ctx (the target's and the context's latents)")
    with torch.no_grad():
        m_ref, _, _ = soft_change_mask_from_latents(z_tgt, z_ctx, mask_latent, **change_mask_kw)
        return restrict_to_roi(m_ref, mask_latent, roi_r)
