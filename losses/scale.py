"""001 — depth-aware scale: tie the object's size in the image to its depth and the focal length.

Pinhole prior: an object of fixed physical size at depth ``Z`` spans ``∝ f_px / Z`` pixels. With the
size measured as ``s_pred = sqrt(Σ mask)`` and a per-object constant ``k_obj``:

* ``depth_mode="inv_depth"`` (``d ≈ 1/Z``, e.g. MiDaS / Depth Anything): ``s_exp = k_obj·f_px·d_roi``
* ``depth_mode="depth"`` (metric ``Z``): ``s_exp = k_obj·f_px / (Z_roi + eps)``

and the loss ``mean_b log((s_pred + eps)/(s_exp + eps))²``. ``d_roi`` is the mask-weighted median
(the plain lower median for a binary mask) or mean of the depth inside the mask; non-finite depth
pixels are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from .masks import as_4d, compute_dtype, full_precision

__all__ = [
    "focal_mm_to_px",
    "DepthScaleLossInfo",
    "depth_aware_scale_loss",
    "masked_depth_statistic",
    "per_sample_k_obj",
    "estimate_k_obj_from_dataset",
]

DepthMode = Literal["inv_depth", "depth"]
DepthStat = Literal["median", "mean"]


def focal_mm_to_px(focal_mm, image_width_px, sensor_width_mm) -> torch.Tensor:
    """Focal length in pixels from EXIF millimetres: ``f_px = f_mm / sensor_width_mm · width_px``.

    Each argument is a scalar or a ``[B]`` tensor; returns ``[B]`` (``[1]`` for scalars), float32
    (float64 if any input is).

    Example:
        >>> round(float(focal_mm_to_px(50.0, 1024, 36.0)), 3)  # 50 mm on a 36 mm sensor, 1024 px wide
        1422.222
    """
    tensors = [torch.as_tensor(v) for v in (focal_mm, image_width_px, sensor_width_mm)]
    device = next((t.device for t in tensors if t.device.type != "cpu"), tensors[0].device)
    dtype = compute_dtype(*tensors)
    f, w, s = (t.to(device=device, dtype=dtype).reshape(-1) for t in tensors)
    if bool((s <= 0).any()):
        raise ValueError("sensor_width_mm must be positive")
    return f * w / s


@dataclass
class DepthScaleLossInfo:
    """Per-sample quantities behind :func:`depth_aware_scale_loss`, each ``[B,1,1,1]``.

    ``valid`` is False where the sample had no finite depth under a non-empty mask; its loss is 0.
    """

    s_pred: torch.Tensor
    s_exp: torch.Tensor
    depth_stat: torch.Tensor
    valid: torch.Tensor


def _weighted_median(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Per-row weighted median: the smallest value whose cumulative weight reaches half the total.

    ``[B,N]`` values and non-negative weights → ``[B]``. For 0/1 weights this is the lower median
    (``torch.median``'s convention). Rows with zero total weight give 0. Differentiable in
    ``values`` through the selected element.
    """
    order = values.argsort(dim=1)
    v_sorted = values.gather(1, order)
    cum = weights.gather(1, order).cumsum(dim=1)
    half = 0.5 * cum[:, -1:]
    idx = torch.searchsorted(cum.contiguous(), half.contiguous()).clamp_(max=values.shape[1] - 1)
    out = v_sorted.gather(1, idx).squeeze(1)
    return torch.where(cum[:, -1] > 0, out, torch.zeros_like(out))


def masked_depth_statistic(
    depth_map: torch.Tensor, mask01: torch.Tensor, depth_stat: DepthStat = "median"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask-weighted median or mean of the finite depth inside a soft mask.

    Args:
        depth_map: ``[B,1,H,W]`` depth or inverse depth.
        mask01: ``[B,1,H,W]`` weights in ``[0,1]`` (used as constants).
        depth_stat: ``"median"`` (weighted median) or ``"mean"`` (weighted mean).

    Returns:
        ``(stat [B], valid [B] bool)``; ``valid`` is False where no finite pixel has weight.
    """
    finite = torch.isfinite(depth_map)
    w = (mask01.detach().clamp(0.0, 1.0) * finite).flatten(1)
    d = torch.where(finite, depth_map, torch.zeros_like(depth_map)).flatten(1)
    valid = w.sum(dim=1) > 0
    if depth_stat == "median":
        stat = _weighted_median(d, w)
    elif depth_stat == "mean":
        stat = (d * w).sum(dim=1) / w.sum(dim=1).clamp_min(torch.finfo(d.dtype).tiny)
    else:
        raise ValueError(f"depth_stat must be 'median' or 'mean'; got {depth_stat!r}")
    return stat, valid


def _expected_scale(stat, f_px, k_obj, depth_mode: DepthMode, eps: float) -> torch.Tensor:
    if depth_mode == "inv_depth":
        return k_obj * f_px * stat
    if depth_mode == "depth":
        return k_obj * f_px / (stat + eps)
    raise ValueError(f"depth_mode must be 'inv_depth' or 'depth'; got {depth_mode!r}")


def _per_batch(value, like: torch.Tensor, name: str) -> torch.Tensor:
    t = torch.as_tensor(value, device=like.device).to(like.dtype).reshape(-1)
    if t.numel() not in (1, like.shape[0]):
        raise ValueError(f"{name} must be a scalar or have one value per sample ({like.shape[0]}); got {t.numel()}")
    return t.expand(like.shape[0])


@full_precision
def depth_aware_scale_loss(
    pred_mask01: torch.Tensor,
    depth_map: torch.Tensor,
    f_px,
    k_obj,
    depth_mode: DepthMode = "inv_depth",
    depth_stat: DepthStat = "median",
    scale_measure: Literal["sqrt_area"] = "sqrt_area",
    detach_depth: bool = True,
    eps: float = 1e-6,
) -> tuple[torch.Tensor, DepthScaleLossInfo]:
    """Squared log-ratio of the object's size to the size its depth and focal length predict (001).

    Args:
        pred_mask01: ``[B,1,H,W]`` soft mask of the object (usually ``M_hat``). ``s_pred =
            sqrt(Σ mask)`` is differentiable in it.
        depth_map: ``[B,1,H,W]`` depth (``depth_mode="depth"``) or inverse depth, same size.
        f_px: focal length in pixels of the mask's resolution, scalar or ``[B]``.
        k_obj: the object's constant (see :func:`estimate_k_obj_from_dataset`), scalar or ``[B]``.
        depth_stat: ``"median"`` (recommended) or ``"mean"`` of the depth inside the mask; the mask
            weights of the statistic are constants, so the loss cannot move mask mass to nearer or
            farther pixels to change ``s_exp``.
        detach_depth: no gradient into the (frozen) depth estimator.

    Returns:
        ``(loss, DepthScaleLossInfo)``. The loss is the mean over samples with a valid depth
        statistic (0 when there are none).

    Example:
        >>> m = torch.zeros(1, 1, 64, 64); m[..., 16:48, 16:48] = 1   # 32 px wide
        >>> z = torch.full((1, 1, 64, 64), 2.0)                       # at 2 m
        >>> loss, info = depth_aware_scale_loss(m, z, 100.0, 0.64, depth_mode="depth")
        >>> float(loss) < 1e-10   # 0.64 m · 100 px / 2 m = 32 px
        True
    """
    if scale_measure != "sqrt_area":
        raise ValueError(f"scale_measure must be 'sqrt_area'; got {scale_measure!r}")
    mask = as_4d(pred_mask01, name="pred_mask01")
    depth = as_4d(depth_map, mask, name="depth_map", dtype=mask.dtype)
    if detach_depth:
        depth = depth.detach()
    stat, valid = masked_depth_statistic(depth, mask, depth_stat)
    f = _per_batch(f_px, mask, "f_px")
    k = _per_batch(k_obj, mask, "k_obj")
    s_exp = _expected_scale(stat, f, k, depth_mode, eps)
    # clamp keeps d sqrt/dA finite for an empty mask (its gradient is then 0).
    s_pred = mask.sum(dim=(1, 2, 3)).clamp_min(1e-12).sqrt()
    log_ratio = torch.log((s_pred + eps) / (s_exp.clamp_min(0.0) + eps))
    per_sample = torch.where(valid, log_ratio.square(), torch.zeros_like(log_ratio))
    loss = per_sample.sum() / valid.sum().clamp_min(1)
    view = (-1, 1, 1, 1)
    info = DepthScaleLossInfo(
        s_pred=s_pred.view(view), s_exp=s_exp.view(view), depth_stat=stat.view(view), valid=valid.view(view)
    )
    return loss, info


def _stack_dataset(items, name: str) -> list[torch.Tensor]:
    if isinstance(items, torch.Tensor):
        return [as_4d(items, name=name)]
    return [as_4d(torch.as_tensor(x), name=name) for x in items]


@torch.no_grad()
@full_precision
def per_sample_k_obj(
    gt_mask01: torch.Tensor | Sequence[torch.Tensor],
    depth_map: torch.Tensor | Sequence[torch.Tensor],
    f_px,
    depth_mode: DepthMode = "inv_depth",
    depth_stat: DepthStat = "median",
    eps: float = 1e-6,
) -> torch.Tensor:
    """Each sample's ``k_i``: ``s_gt/(f_px·d_roi)`` (inverse depth) or ``s_gt·Z_roi/f_px`` (metric).

    Args:
        gt_mask01: ``[B,1,H,W]``, or a sequence of ``[1,1,H_i,W_i]`` / ``[H_i,W_i]`` masks of
            different sizes (a folder of samples).
        depth_map: the matching depth maps.
        f_px: scalar or one per sample.

    Returns:
        ``[B]`` float; NaN where a sample has an empty mask or no finite depth under it.
    """
    masks = _stack_dataset(gt_mask01, "gt_mask01")
    depths = _stack_dataset(depth_map, "depth_map")
    if len(masks) == 1 and len(depths) == 1:
        masks, depths = [masks[0]], [depths[0]]
    if len(masks) != len(depths):
        raise ValueError(f"{len(masks)} masks but {len(depths)} depth maps")
    ks = []
    for m, d in zip(masks, depths):
        d = as_4d(d, m, name="depth_map", dtype=m.dtype)
        stat, valid = masked_depth_statistic(d, m, depth_stat)
        s_gt = m.clamp(0.0, 1.0).sum(dim=(1, 2, 3)).sqrt()
        ks.append((s_gt, stat, valid & (s_gt > 0)))
    s_gt = torch.cat([k[0] for k in ks])
    stat = torch.cat([k[1] for k in ks])
    valid = torch.cat([k[2] for k in ks])
    f = _per_batch(f_px, s_gt.view(-1, 1, 1, 1), "f_px")
    if depth_mode == "inv_depth":
        k = s_gt / (f * stat)
    elif depth_mode == "depth":
        k = s_gt * (stat + eps) / f
    else:
        raise ValueError(f"depth_mode must be 'inv_depth' or 'depth'; got {depth_mode!r}")
    return torch.where(valid & torch.isfinite(k), k, torch.full_like(k, float("nan")))


def estimate_k_obj_from_dataset(
    gt_mask01: torch.Tensor | Sequence[torch.Tensor],
    depth_map: torch.Tensor | Sequence[torch.Tensor],
    f_px,
    depth_mode: DepthMode = "inv_depth",
    depth_stat: DepthStat = "median",
) -> torch.Tensor:
    """Calibrate ``k_obj``: the median over samples of :func:`per_sample_k_obj` (robust to outliers).

    Samples with an empty mask or no finite depth are left out; the median of an even count is the
    mean of the two middle values. Returns a 0-d tensor (NaN if no sample is usable).

    Example:
        >>> m = torch.zeros(3, 1, 64, 64); m[0, :, :20, :20] = 1; m[1, :, :10, :10] = 1; m[2, :, :40, :40] = 1
        >>> z = torch.tensor([2.0, 4.0, 1.0]).view(3, 1, 1, 1).expand(3, 1, 64, 64)
        >>> round(float(estimate_k_obj_from_dataset(m, z, 100.0, depth_mode="depth")), 4)
        0.4
    """
    k = per_sample_k_obj(gt_mask01, depth_map, f_px, depth_mode=depth_mode, depth_stat=depth_stat)
    return torch.nanquantile(k, 0.5)
