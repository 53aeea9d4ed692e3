"""Mask utilities shared by every loss family: shape promotion, morphology, area-preserving resize.

Conventions (``../shared/specs/README.md``): maps are ``[B,1,H,W]``; ``[B,H,W]`` and ``[H,W]`` are
accepted and promoted; masks are float in ``[0,1]``. Every loss computes in float32 (float64 stays
float64, so ``torch.autograd.gradcheck`` works) with autocast disabled inside, and returns that dtype.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch
import torch.nn.functional as F

__all__ = [
    "as_4d",
    "compute_dtype",
    "full_precision",
    "dilate",
    "erode",
    "boundary_band",
    "boundary_band_bool",
    "downsample_mask_area",
    "binarize",
]

_F = TypeVar("_F", bound=Callable)


def compute_dtype(*tensors: torch.Tensor | None) -> torch.dtype:
    """The dtype a loss computes in: float64 if any input is float64, else float32.

    Half and bfloat16 inputs (autocast, mixed precision) are promoted to float32: the logs, FFTs and
    normalising sums of these losses lose too much in 8-bit mantissas.
    """
    for t in tensors:
        if isinstance(t, torch.Tensor) and t.dtype == torch.float64:
            return torch.float64
    return torch.float32


def full_precision(fn: _F) -> _F:
    """Run ``fn`` with autocast disabled on the device of its first tensor argument.

    Inside, the explicit casts of :func:`as_4d` decide the dtype, so a loss called under
    ``torch.autocast(..., dtype=torch.bfloat16)`` still computes and returns float32.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        device_type = "cpu"
        for a in (*args, *kwargs.values()):
            if isinstance(a, torch.Tensor):
                device_type = a.device.type
                break
        if device_type not in ("cpu", "cuda", "xpu", "mps"):
            return fn(*args, **kwargs)
        with torch.autocast(device_type=device_type, enabled=False):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def as_4d(
    x: torch.Tensor,
    like: torch.Tensor | None = None,
    *,
    name: str,
    dtype: torch.dtype | None = None,
    channels: int | None = 1,
) -> torch.Tensor:
    """Promote ``[H,W]`` → ``[1,1,H,W]`` and ``[B,H,W]`` → ``[B,1,H,W]``; keep ``[B,C,H,W]``.

    Args:
        x: the tensor to promote.
        like: if given, ``x`` is moved to its device, a batch of 1 is expanded to its batch, and the
            spatial size must match.
        name: the argument's name, used in error messages.
        dtype: the floating dtype to cast to (default: :func:`compute_dtype` of ``x`` and ``like``).
        channels: the channel count ``x`` must have (``None``: any).

    Raises:
        ValueError: naming ``name`` when the rank, batch, channels or size do not fit.
    """
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x)
    if x.dim() == 2:
        x = x[None, None]
    elif x.dim() == 3:
        x = x.unsqueeze(1)
    elif x.dim() != 4:
        raise ValueError(f"{name} must be [H,W], [B,H,W] or [B,C,H,W]; got shape {tuple(x.shape)}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channel(s); got shape {tuple(x.shape)}")
    if like is not None:
        if x.shape[0] != like.shape[0]:
            if x.shape[0] != 1:
                raise ValueError(
                    f"{name} has batch {x.shape[0]} but the prediction has batch {like.shape[0]}"
                )
            x = x.expand(like.shape[0], -1, -1, -1)
        if x.shape[-2:] != like.shape[-2:]:
            raise ValueError(
                f"{name} is {tuple(x.shape[-2:])} but the prediction is {tuple(like.shape[-2:])}: "
                "resize it to the same height and width"
            )
        x = x.to(device=like.device)
    if dtype is None:
        dtype = compute_dtype(x, like)
    return x.to(dtype=dtype)


def binarize(mask01: torch.Tensor) -> torch.Tensor:
    """``mask > 0.5`` as a float mask of the same dtype. ``[B,1,H,W]`` → ``[B,1,H,W]``."""
    return (mask01 > 0.5).to(mask01.dtype)


def _window_extreme(x: torch.Tensor, r: int, dim: int, largest: bool) -> torch.Tensor:
    """Max (or min) over the window ``[i−r, i+r]`` along ``dim``, pixels beyond the border ignored.

    Pads with ∓inf, then doubles the covered length (1, 2, 4, … ``2^k ≤ 2r+1``) and combines two
    overlapping power-of-two windows: ``O(log r)`` elementwise passes, differentiable like
    ``torch.maximum``. Several times faster on the CPU than ``max_pool2d`` with a square kernel.
    """
    op = torch.maximum if largest else torch.minimum
    if x.dtype.is_floating_point:
        fill = float("-inf") if largest else float("inf")
    else:
        info = torch.iinfo(x.dtype)
        fill = info.min if largest else info.max
    n = x.shape[dim]
    pad = [0, 0] * (x.dim() - 1 - (dim % x.dim())) + [r, r]
    t = F.pad(x, pad, value=fill)
    length, span = 2 * r + 1, 1
    while 2 * span <= length:
        m = t.shape[dim] - span
        t = op(t.narrow(dim, 0, m), t.narrow(dim, span, m))
        span *= 2
    return op(t.narrow(dim, 0, n), t.narrow(dim, length - span, n))


def dilate(mask01: torch.Tensor, r: int) -> torch.Tensor:
    """Grey dilation by a ``(2r+1)²`` square, equal to ``max_pool2d(k=2r+1, stride=1, padding=r)``.

    ``[B,C,H,W]`` float, integer or bool → same dtype. ``r <= 0`` returns the input. Pixels beyond the border do not count.
    """
    if r <= 0:
        return mask01
    if mask01.dtype == torch.bool:
        return dilate(mask01.view(torch.uint8), r).view(torch.bool)
    return _window_extreme(_window_extreme(mask01, r, -1, True), r, -2, True)


def erode(mask01: torch.Tensor, r: int) -> torch.Tensor:
    """Grey erosion by a ``(2r+1)²`` square, equal to ``1 − dilate(1 − mask, r)``. ``[B,C,H,W]`` float, integer or bool
    → same dtype.

    Pixels beyond the border do not count, so a full mask stays full.
    """
    if r <= 0:
        return mask01
    if mask01.dtype == torch.bool:
        return erode(mask01.view(torch.uint8), r).view(torch.bool)
    return _window_extreme(_window_extreme(mask01, r, -1, False), r, -2, False)


def boundary_band(mask_bin: torch.Tensor, r: int) -> torch.Tensor:
    """The band ``dilate(m, r) − erode(m, r)`` clamped to ``[0,1]``: ``2r`` pixels wide across the contour.

    ``[B,1,H,W]`` binary → ``[B,1,H,W]`` in {0,1}. ``r <= 0`` gives zeros.

    Example:
        >>> m = torch.zeros(1, 1, 9, 9); m[..., 3:6, 3:6] = 1
        >>> int(boundary_band(m, 1).sum())  # 5×5 dilated minus the 1×1 eroded core
        24
    """
    if r <= 0:
        return torch.zeros_like(mask_bin)
    return (dilate(mask_bin, r) - erode(mask_bin, r)).clamp_(0.0, 1.0)


def boundary_band_bool(mask_bool: torch.Tensor, r: int) -> torch.Tensor:
    """:func:`boundary_band` of a bool mask, as bool (one byte per pixel; for internal weights)."""
    if r <= 0:
        return torch.zeros_like(mask_bool)
    return dilate(mask_bool, r) & ~erode(mask_bool, r)


def downsample_mask_area(mask: torch.Tensor, size: Sequence[int] | int) -> torch.Tensor:
    """Area-preserving resize of a pixel mask to latent resolution (``interpolate(mode="area")``).

    ``[H,W]``, ``[B,H,W]`` or ``[B,1,H,W]`` → ``[B,1,h,w]`` float in ``[0,1]``. When ``H/h`` and
    ``W/w`` are integers this is average pooling, so ``mask.sum() / (H·W/(h·w))`` is preserved exactly.
    Boolean masks are accepted.

    Example:
        >>> m = torch.zeros(64, 64); m[8:40, 8:24] = 1
        >>> float(downsample_mask_area(m, (8, 8)).sum() * 64)  # 32·16 pixels of area
        512.0
    """
    if isinstance(size, int):
        size = (size, size)
    m = mask.float() if mask.dtype == torch.bool else mask
    m = as_4d(m, name="mask", dtype=compute_dtype(m))
    return F.interpolate(m, size=tuple(size), mode="area").clamp_(0.0, 1.0)
