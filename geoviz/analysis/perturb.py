"""Synthetic predictions with a known geometric error, made from a sample's own target and mask.

* Insertion (:func:`insertion_perturbations`): the inserted object — the target inside the mask — is
  scaled by ``s`` about its ground contact point (the bottom centre of the mask) and shifted by
  ``(dx, dy)`` pixels, then composited onto the context (premultiplied alpha, so the mask's
  anti-aliased edge stays soft). Its depth is the target's depth under the moved object over the
  background depth (the context's, else the target's with the mask filled from the nearest outside
  pixel): the object keeps its contact point, so its depth values do not change with ``s``.
* Material (:func:`material_perturbations`): the material inside the mask is resampled about the
  mask's centroid, its period multiplied by ``s`` and rotated by ``θ``; where that reaches past the
  material (``s < 1``, corners of a rotation) the texture is mirrored at the mask's bounding box.

Every transform of a call is one ``F.grid_sample`` over the batch: ``[N,3,H,W]`` images out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["Transform", "Perturbed", "contact_point", "mask_centroid", "insertion_perturbations",
           "material_perturbations", "background_depth"]


@dataclass(frozen=True)
class Transform:
    """Output pixel ``p`` shows the source at ``anchor + R(−θ)·(p − anchor − shift)/s``."""

    scale: float = 1.0
    dx: float = 0.0
    dy: float = 0.0
    degrees: float = 0.0


@dataclass
class Perturbed:
    """``images [N,3,H,W]`` in [0,1]; ``depths [N,1,H,W]`` (NaN invalid) or None; ``masks [N,1,H,W]``
    where the moved object (insertion) or the material (material) now is."""

    images: torch.Tensor
    depths: torch.Tensor | None
    masks: torch.Tensor


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask > 0.5)
    if ys.size == 0:
        raise ValueError("the mask is empty: a sweep needs the region of the object or material")
    return int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())


def contact_point(mask: np.ndarray) -> tuple[float, float]:
    """``(x, y)`` in pixel-edge coordinates (pixel ``i`` spans ``[i, i+1]``): the middle of the mask's
    bounding box horizontally, its bottom edge vertically — where an object stands on the ground."""
    y0, y1, x0, x1 = _bbox(mask)
    return (x0 + x1 + 1) / 2.0, float(y1 + 1)


def mask_centroid(mask: np.ndarray) -> tuple[float, float]:
    """``(x, y)`` coverage-weighted centroid in pixel-edge coordinates."""
    _bbox(mask)
    ys, xs = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]]
    w = mask.astype(np.float64)
    return float((w * (xs + 0.5)).sum() / w.sum()), float((w * (ys + 0.5)).sum() / w.sum())


def _source_coords(transforms: list[Transform], anchor: tuple[float, float], size: tuple[int, int],
                   device, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Source pixel-edge coordinates ``(x, y)``, each ``[N,H,W]``, of every output pixel centre."""
    h, w = size
    ax, ay = anchor
    ys = torch.arange(h, device=device, dtype=dtype).add_(0.5).view(1, h, 1)
    xs = torch.arange(w, device=device, dtype=dtype).add_(0.5).view(1, 1, w)
    p = torch.tensor([[t.scale, t.dx, t.dy, math.radians(t.degrees)] for t in transforms], device=device, dtype=dtype)
    s, dx, dy, th = (p[:, i].view(-1, 1, 1) for i in range(4))
    u, v = xs - ax - dx, ys - ay - dy
    cos, sin = torch.cos(th), torch.sin(th)
    # R(−θ)·(u, v): rotating the output by +θ means sampling the source rotated back
    return ax + (cos * u + sin * v) / s, ay + (-sin * u + cos * v) / s


def _grid(x: torch.Tensor, y: torch.Tensor, origin: tuple[float, float], size: tuple[int, int]) -> torch.Tensor:
    """Pixel-edge coordinates → ``grid_sample``'s normalised grid for a source of ``size`` placed at
    ``origin`` (align_corners=False: −1 and 1 are the source's outer edges)."""
    h, w = size
    return torch.stack([(x - origin[0]) * (2.0 / w) - 1.0, (y - origin[1]) * (2.0 / h) - 1.0], dim=-1)


def _tensor(a: np.ndarray, device) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    return (t.permute(2, 0, 1) if t.dim() == 3 else t[None])[None].to(device)


def background_depth(target_depth: np.ndarray, mask: np.ndarray, context_depth: np.ndarray | None = None,
                     grow: int = 2) -> np.ndarray:
    """The scene's depth without the object: the context's when known, else the target's with the
    (slightly grown) mask and any invalid pixel filled from the nearest valid outside pixel."""
    if context_depth is not None:
        return context_depth
    from scipy.ndimage import binary_dilation, distance_transform_edt

    hole = binary_dilation(mask > 0.5, iterations=grow) | ~np.isfinite(target_depth)
    if hole.all():
        return np.full_like(target_depth, np.nan)
    _, (iy, ix) = distance_transform_edt(hole, return_indices=True)
    return target_depth[iy, ix]


def insertion_perturbations(context: np.ndarray, target: np.ndarray, mask: np.ndarray, transforms: list[Transform],
                            target_depth: np.ndarray | None = None, context_depth: np.ndarray | None = None,
                            device: str | torch.device = "cpu") -> Perturbed:
    """The target's object moved by each transform about its contact point, over the context.

    Args: images ``[H,W,3]``, mask ``[H,W]`` in [0,1], depths ``[H,W]`` (NaN invalid), N transforms.
    """
    size = mask.shape
    anchor = contact_point(mask)
    x, y = _source_coords(transforms, anchor, size, device)
    grid = _grid(x, y, (0.0, 0.0), size)
    m = _tensor(mask, device)
    premult = torch.cat([_tensor(target, device) * m, m], dim=1).expand(len(transforms), -1, -1, -1)
    moved = F.grid_sample(premult, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    obj, m_s = moved[:, :3], moved[:, 3:].clamp(0.0, 1.0)
    images = (_tensor(context, device) * (1.0 - m_s) + obj).clamp(0.0, 1.0)
    depths = None
    if target_depth is not None:
        bg = _tensor(background_depth(target_depth, mask, context_depth), device)
        d = torch.nan_to_num(_tensor(target_depth, device), nan=0.0)
        valid = torch.isfinite(_tensor(target_depth, device)).float()
        # nearest keeps depth edges sharp; the object is where the moved coverage is over half
        src = torch.cat([d, valid, m], dim=1).expand(len(transforms), -1, -1, -1)
        dn = F.grid_sample(src, grid, mode="nearest", padding_mode="zeros", align_corners=False)
        on_object = (m_s > 0.5) & (dn[:, 2:3] > 0.5)
        obj_depth = torch.where(dn[:, 1:2] > 0.5, dn[:, :1], torch.full_like(dn[:, :1], math.nan))
        depths = torch.where(on_object, obj_depth, bg.expand_as(obj_depth))
    return Perturbed(images, depths, m_s)


def material_perturbations(target: np.ndarray, mask: np.ndarray, transforms: list[Transform],
                           target_depth: np.ndarray | None = None, device: str | torch.device = "cpu") -> Perturbed:
    """The target with the material inside the mask rescaled/rotated about the mask's centroid.

    The geometry does not change, so the depths are the target's.
    """
    size = mask.shape
    y0, y1, x0, x1 = _bbox(mask)
    crop = _tensor(target[y0 : y1 + 1, x0 : x1 + 1], device)
    x, y = _source_coords(transforms, mask_centroid(mask), size, device)
    grid = _grid(x, y, (float(x0), float(y0)), (y1 + 1 - y0, x1 + 1 - x0))
    texture = F.grid_sample(crop.expand(len(transforms), -1, -1, -1), grid, mode="bilinear",
                            padding_mode="reflection", align_corners=False)
    m = _tensor(mask, device)
    images = (_tensor(target, device) * (1.0 - m) + texture * m).clamp(0.0, 1.0)
    depths = None if target_depth is None else _tensor(target_depth, device).expand(len(transforms), -1, -1, -1)
    return Perturbed(images, depths, m.expand(len(transforms), -1, -1, -1))
