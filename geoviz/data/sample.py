"""A Sample: everything one diagnosis needs, reconciled to the target's size, with the notices made
while loading (resizes, downscales, conversions) so a face can show them instead of hiding them."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from geoviz.data.readers import InputError, load_camera, load_depth, load_image, load_latent, load_mask

__all__ = ["Sample", "build_sample", "resize_image", "resize_mask", "resize_depth", "convert_depth", "DEFAULT_MAX_SIDE"]

DEFAULT_MAX_SIDE = 2048


@dataclass
class Sample:
    """One insertion (or material-replacement) case and any number of predictions.

    Images are float32 ``[H,W,3]`` in ``[0,1]``; the mask ``[H,W]`` in ``[0,1]``; depth maps
    ``[H,W]`` float32 with NaN where invalid, all in one convention ``depth_kind`` (``"metric"`` Z or
    ``"inverse"`` disparity); latents ``[1,16,h,w]`` tensors (None: an encoder makes them).
    ``second_runs[name]`` is another run of checkpoint ``name`` (for the scale-consistency term).
    """

    name: str
    context: np.ndarray
    target: np.ndarray
    mask: np.ndarray
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    second_runs: dict[str, np.ndarray] = field(default_factory=dict)
    target_depth: np.ndarray | None = None
    context_depth: np.ndarray | None = None
    prediction_depths: dict[str, np.ndarray] = field(default_factory=dict)
    depth_kind: str = "metric"
    camera: dict | None = None
    context_latents: torch.Tensor | None = None
    target_latents: torch.Tensor | None = None
    prediction_latents: dict[str, torch.Tensor] = field(default_factory=dict)
    k_obj: float | None = None
    notices: list[str] = field(default_factory=list)
    kind: str | None = None  # "insertion" | "material"; None: detected from the mask
    memo: dict = field(default_factory=dict, repr=False, compare=False)  # derived data (hashes, latents)

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of the target, the size every array of the sample was reconciled to."""
        return self.target.shape[0], self.target.shape[1]

    @property
    def prediction_names(self) -> list[str]:
        """The predictions' names (checkpoints), in upload order."""
        return list(self.predictions)

    def fingerprint(self, *arrays: Any) -> str:
        """A content hash of the given arrays (for caches keyed by what was computed on).

        Each array's own hash is remembered (by identity) in ``memo``: a Sample's arrays are not
        modified after it is built, and hashing 1024² images again on every evaluate costs.
        """
        h = hashlib.blake2b(digest_size=16)
        for a in arrays:
            h.update(self._array_hash(a))
        return h.hexdigest()

    def _array_hash(self, a: Any) -> bytes:
        if a is None:
            return b"<none>"
        if not isinstance(a, (np.ndarray, torch.Tensor)):
            return repr(a).encode()
        key = ("hash", id(a))
        hit = self.memo.get(key)
        if hit is not None and hit[0] is a:
            return hit[1]
        h = hashlib.blake2b(digest_size=16)
        if isinstance(a, torch.Tensor):
            h.update(str(tuple(a.shape)).encode())
            h.update(a.detach().cpu().contiguous().numpy().tobytes())
        else:
            h.update(str(a.shape).encode() + str(a.dtype).encode())
            h.update(np.ascontiguousarray(a).tobytes())
        digest = h.digest()
        self.memo[key] = (a, digest)
        return digest


# ---- resizing without surprises --------------------------------------------------------------------


def _interp(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``[B,C,H,W]`` → ``size``: area when shrinking, bicubic when growing (antialiased either way)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrinking = size[0] <= x.shape[-2] and size[1] <= x.shape[-1]
    if shrinking:
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False)


def resize_image(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``[H,W,3]`` → ``[h,w,3]`` in ``[0,1]`` (area / bicubic)."""
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()
    return _interp(x, size)[0].permute(1, 2, 0).clamp(0, 1).numpy().astype(np.float32)


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``[H,W]`` → ``[h,w]`` kept in ``[0,1]`` (area when shrinking, so coverage is preserved)."""
    x = torch.from_numpy(np.ascontiguousarray(mask))[None, None].float()
    if tuple(x.shape[-2:]) == tuple(size):
        return mask
    mode = "area" if size[0] <= x.shape[-2] and size[1] <= x.shape[-1] else "bilinear"
    kw = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(x, size=size, mode=mode, **kw)[0, 0].clamp(0, 1).numpy().astype(np.float32)


def resize_depth(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``[H,W]`` (NaN = invalid) → ``[h,w]`` without mixing valid and invalid pixels.

    Normalised convolution: valid depth and the validity itself are resized alike and divided, so
    an output pixel averages only valid inputs; one covered less than half by valid pixels is NaN.
    """
    if tuple(depth.shape) == tuple(size):
        return depth
    valid = np.isfinite(depth)
    d = torch.from_numpy(np.where(valid, depth, 0.0).astype(np.float32))[None, None]
    v = torch.from_numpy(valid.astype(np.float32))[None, None]
    shrinking = size[0] <= depth.shape[0] and size[1] <= depth.shape[1]
    mode, kw = ("area", {}) if shrinking else ("bilinear", {"align_corners": False})
    num = F.interpolate(d, size=size, mode=mode, **kw)
    den = F.interpolate(v, size=size, mode=mode, **kw)
    out = (num / den.clamp_min(1e-6))[0, 0].numpy().astype(np.float32)
    out[den[0, 0].numpy() < 0.5] = np.nan
    return out


def convert_depth(depth: np.ndarray, from_kind: str, to_kind: str) -> np.ndarray:
    """Metric Z ↔ inverse depth (``1/x``; both positive, NaN stays NaN)."""
    if from_kind == to_kind:
        return depth
    with np.errstate(divide="ignore", invalid="ignore"):
        return (1.0 / depth).astype(np.float32)


# ---- building a sample from files or arrays ---------------------------------------------------------


def _label(src: Any, fallback: str) -> str:
    if isinstance(src, (str, os.PathLike)):
        return Path(src).name
    return fallback


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        n = n or "prediction"
        if n in seen:
            seen[n] += 1
            out.append(f"{n}_{seen[n]}")
        else:
            seen[n] = 0
            out.append(n)
    return out


def build_sample(
    context,
    target,
    mask,
    predictions: dict[str, Any] | None = None,
    *,
    second_runs: dict[str, Any] | None = None,
    target_depth=None,
    context_depth=None,
    prediction_depths: dict[str, Any] | None = None,
    depth_kind: str | None = None,
    camera=None,
    context_latents=None,
    target_latents=None,
    prediction_latents: dict[str, Any] | None = None,
    k_obj: float | None = None,
    name: str = "sample",
    max_side: int = DEFAULT_MAX_SIDE,
    require_mask: bool = True,
    skip_bad_predictions: bool = False,
    kind: str | None = None,
) -> Sample:
    """Load and reconcile every input to one size: the smallest image among the target, the context
    and the predictions (usually the predictions' size) — inputs are brought down, never up — and no
    longer side than ``max_side``. Each input is a path, bytes or an array; depth entries may also be
    ``(array_or_path, kind)`` pairs. Raises :class:`InputError` naming the first bad input; with
    ``skip_bad_predictions`` an unreadable prediction is left out with a notice instead (unless none
    can be read). ``kind``: ``"insertion"``, ``"material"`` or None (detected when evaluated).
    """
    notices: list[str] = []
    tgt_label, ctx_label = _label(target, "target"), _label(context, "context")
    tgt, ctx = load_image(target, tgt_label), load_image(context, ctx_label)
    orig_size = tgt.shape[:2]
    raw_preds = _read_predictions(predictions, skip_bad_predictions, notices)
    raw_seconds = {n: load_image(src, f"second run of {n}") for n, src in (second_runs or {}).items() if n in raw_preds}
    fit = _Fit(_common_size([tgt, ctx, *raw_preds.values(), *raw_seconds.values()], max_side), max_side, notices)
    tgt, ctx = fit.image(tgt, tgt_label), fit.image(ctx, ctx_label)
    m = fit.mask(mask, require_mask)
    preds = {n: fit.image(img, f"prediction {n}") for n, img in raw_preds.items()}
    seconds = {n: fit.image(img, f"second run of {n}") for n, img in raw_seconds.items()}
    depths = _Depths(depth_kind, notices)
    if target_depth is not None:
        depths.read("target", target_depth, _label(target_depth, "target depth"))
    if context_depth is not None:
        depths.read("context", context_depth, _label(context_depth, "context depth"))
    for n, src in (prediction_depths or {}).items():
        if n not in preds:
            notices.append(f"depth for '{n}' has no matching prediction and is ignored")
            continue
        depths.read(f"pred:{n}", src, _label(src if not isinstance(src, tuple) else src[0], f"depth of {n}"))
    z_ctx, z_tgt, z_preds = _read_latents(context_latents, target_latents, prediction_latents, preds, orig_size)
    if k_obj is not None and (not np.isfinite(k_obj) or k_obj <= 0):
        raise InputError("k_obj", f"must be a positive number, got {k_obj}", "calibrate it, or leave it empty")
    return Sample(
        name=name, context=ctx, target=tgt, mask=m, predictions=preds, second_runs=seconds,
        target_depth=depths.fit("target", fit), context_depth=depths.fit("context", fit),
        prediction_depths={n: depths.fit(f"pred:{n}", fit) for n in preds if f"pred:{n}" in depths.raw},
        depth_kind=depths.common, camera=_read_camera(camera, orig_size, fit.size, notices), context_latents=z_ctx,
        target_latents=z_tgt, prediction_latents=z_preds, k_obj=k_obj, notices=notices, kind=kind,
    )


def _read_predictions(predictions: dict | None, skip_bad: bool, notices: list[str]) -> dict[str, np.ndarray]:
    """Every prediction's image by unique name; an unreadable one raises, or (``skip_bad``) is left
    out with a notice unless none can be read."""
    raw: dict[str, np.ndarray] = {}
    names = _unique_names(list((predictions or {}).keys()))
    for n, src in zip(names, (predictions or {}).values()):
        try:
            raw[n] = load_image(src, f"prediction {n}")
        except InputError as e:
            if not skip_bad:
                raise
            notices.append(f"{e} — left out; the other predictions are diagnosed")
    if predictions and not raw:
        raise InputError("predictions", "none could be read (see the messages above)", "upload readable images")
    return raw


@dataclass
class _Fit:
    """Brings inputs to the common ``size`` (H, W), saying so in ``notices``."""

    size: tuple[int, int]
    max_side: int
    notices: list[str]

    def image(self, img: np.ndarray, label: str) -> np.ndarray:
        if img.shape[:2] == self.size:
            return img
        size = self.size
        why = f"longest side limit {self.max_side}" if max(size) == self.max_side and max(img.shape[:2]) > self.max_side \
            else "the smallest input's size; inputs are brought down, never up"
        self.notices.append(f"{label}: {img.shape[1]}×{img.shape[0]} resized down to {size[1]}×{size[0]} ({why})")
        return resize_image(img, size)

    def mask(self, mask, required: bool) -> np.ndarray:
        label = _label(mask, "mask")
        m = load_mask(mask, label)
        if m.shape != self.size:
            self.notices.append(f"{label}: {m.shape[1]}×{m.shape[0]} resized to {self.size[1]}×{self.size[0]} (kept in [0,1])")
            m = resize_mask(m, self.size)
        if required and not (m > 0.5).any():
            raise InputError(label, "is empty: no pixel above 0.5", "draw the region, or upload a mask with white inside")
        if (m > 0.5).all():
            self.notices.append(f"{label}: covers the whole image — terms on the background have nothing to compare")
        return m


class _Depths:
    """Depth maps read as given, then brought to one convention (the target's, else the first given)."""

    def __init__(self, depth_kind: str | None, notices: list[str]):
        self.kind, self.notices = depth_kind, notices
        self.raw: dict[str, tuple[np.ndarray, str]] = {}

    def read(self, key: str, src, label: str) -> None:
        kind = self.kind
        if isinstance(src, tuple):
            src, kind = src
        d, k = load_depth(src, label, kind=kind)
        invalid = float(np.isnan(d).mean())
        if invalid >= 0.01:
            self.notices.append(f"{label}: {100 * invalid:.0f}% of its pixels are invalid (NaN, infinite, zero or "
                                "negative) and are left out of the depth terms")
        self.raw[key] = (d, k)

    @property
    def common(self) -> str:
        return self.raw["target"][1] if "target" in self.raw else next((k for _, k in self.raw.values()), "metric")

    def fit(self, key: str, fit: _Fit) -> np.ndarray | None:
        if key not in self.raw:
            return None
        d, k = self.raw[key]
        label, size = key.replace("pred:", "depth of "), fit.size
        if k != self.common:
            self.notices.append(f"{label}: {k} depth converted to {self.common} (1/x) to match the target depth")
            d = convert_depth(d, k, self.common)
        if d.shape != size:
            self.notices.append(f"{label}: {d.shape[1]}×{d.shape[0]} resized to {size[1]}×{size[0]} without mixing "
                                "invalid pixels")
            d = resize_depth(d, size)
        return d


def _read_camera(camera, orig_size: tuple[int, int], size: tuple[int, int], notices: list[str]) -> dict | None:
    """The intrinsics, f_px rescaled when the images were brought down."""
    if camera is None:
        return None
    cam = load_camera(camera, width=orig_size[1], name=_label(camera, "camera"))
    if size != orig_size:
        cam = dict(cam, f_px=cam["f_px"] * size[1] / orig_size[1])
        notices.append(f"camera: f_px scaled to {cam['f_px']:.1f} for the {size[1]}×{size[0]} images")
    return cam


def _read_latents(context_latents, target_latents, prediction_latents: dict | None, preds: dict,
                  orig_size: tuple[int, int]):
    """``(z_ctx, z_tgt, {prediction: z})`` of the uploaded latents; InputError when shapes differ."""

    def read(src, label):
        return None if src is None else load_latent(src, image_size=orig_size, name=label)

    z_ctx = read(context_latents, _label(context_latents, "context latents"))
    z_tgt = read(target_latents, _label(target_latents, "target latents"))
    z_preds = {n: read(src, _label(src, f"latents of {n}")) for n, src in (prediction_latents or {}).items() if n in preds}
    shapes = {tuple(z.shape) for z in [z_ctx, z_tgt, *z_preds.values()] if z is not None}
    if len(shapes) > 1:
        raise InputError("latents", f"the uploaded latents differ in shape ({', '.join(map(str, sorted(shapes)))})",
                         "upload latents of one resolution")
    return z_ctx, z_tgt, z_preds


def _common_size(images: list[np.ndarray], max_side: int) -> tuple[int, int]:
    """``(H, W)`` every input is brought to: the smallest image's (by pixel count; the first of equals),
    scaled down so its longer side is at most ``max_side``."""
    smallest = min(images, key=lambda a: a.shape[0] * a.shape[1])
    h, w = smallest.shape[:2]
    if max(h, w) > max_side:
        f = max_side / max(h, w)
        h, w = max(1, round(h * f)), max(1, round(w * f))
    return h, w
