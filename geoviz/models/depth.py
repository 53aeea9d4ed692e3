"""image → depth for the depth terms: Depth Anything V2 Small (relative inverse depth).

The backbone is timm's ``vit_small_patch14_dinov2`` (DINOv2 ViT-S/14, 518 px); the DPT head is
written here after the paper's design. The official checkpoint ``depth_anything_v2_vits.pth``
(Apache-2.0, Hugging Face Hub ``depth-anything/Depth-Anything-V2-Small``) loads strictly, keys as
they are: the backbone under ``pretrained.`` (timm's names), the head under ``depth_head.``;
``pretrained.mask_token`` (DINOv2's masked-token embedding, unused at inference) is kept as a
parameter so the file's keys and ours are the same set.

At sizes other than 518×518 the position embedding is resized the way DINOv2's own code does —
bicubic, no antialiasing, ``scale_factor = (n + 0.1)/37`` per axis — not timm's
``dynamic_img_size`` (exact grid, antialiased), which changes the output.

Weights: a local ``.pth`` / ``.safetensors`` (``weights=``, ``--depth-weights``, or
``$GEOVIZ_DEPTH_WEIGHTS``), else the Hub through ``huggingface_hub`` when the machine is online (once,
into its cache). Offline without weights: :class:`WeightsUnavailable` says how to get them.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from geoviz.data.memo import SharedMemo
from geoviz.models.checkpoints import hub_file, load_strict, read_state_dict

__all__ = ["DepthAnythingV2Small", "load_depth_anything_v2_small", "DepthEstimator",
           "HUB_REPO", "HUB_FILE", "with_estimated_depth", "align_scale_shift", "DEPTH_SOURCES"]

HUB_REPO = "depth-anything/Depth-Anything-V2-Small"
HUB_FILE = "depth_anything_v2_vits.pth"
ENV_WEIGHTS = "GEOVIZ_DEPTH_WEIGHTS"
PATCH = 14
INPUT_SIZE = 518
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class _ResidualConvUnit(nn.Module):
    """ReLU → 3×3 conv → ReLU → 3×3 conv, plus the input."""

    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x):
        return self.conv2(F.relu(self.conv1(F.relu(x)))) + x


class _FusionBlock(nn.Module):
    """Adds the skip path (through a residual unit), refines, upsamples (×2 or to ``size``), projects."""

    def __init__(self, features: int):
        super().__init__()
        self.resConfUnit1 = _ResidualConvUnit(features)
        self.resConfUnit2 = _ResidualConvUnit(features)
        self.out_conv = nn.Conv2d(features, features, 1)

    def forward(self, x, skip=None, size=None):
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        kw = {"size": size} if size is not None else {"scale_factor": 2}
        x = F.interpolate(x, **kw, mode="bilinear", align_corners=True)
        return self.out_conv(x)


class _Scratch(nn.Module):
    def __init__(self, in_channels: list[int], features: int):
        super().__init__()
        for i, c in enumerate(in_channels, start=1):
            setattr(self, f"layer{i}_rn", nn.Conv2d(c, features, 3, padding=1, bias=False))
        for i in range(1, 5):
            setattr(self, f"refinenet{i}", _FusionBlock(features))
        self.output_conv1 = nn.Conv2d(features, features // 2, 3, padding=1)
        self.output_conv2 = nn.Sequential(nn.Conv2d(features // 2, 32, 3, padding=1), nn.ReLU(),
                                          nn.Conv2d(32, 1, 1), nn.ReLU(), nn.Identity())


class DPTHead(nn.Module):
    """Four token maps → reassembled at strides 4, 8, 16, 32 of the patch grid → fused top-down →
    one-channel map at the input resolution (``14·patch_h × 14·patch_w``)."""

    def __init__(self, in_channels: int = 384, features: int = 64, out_channels=(48, 96, 192, 384)):
        super().__init__()
        self.projects = nn.ModuleList([nn.Conv2d(in_channels, c, 1) for c in out_channels])
        self.resize_layers = nn.ModuleList([
            nn.ConvTranspose2d(out_channels[0], out_channels[0], 4, stride=4),
            nn.ConvTranspose2d(out_channels[1], out_channels[1], 2, stride=2),
            nn.Identity(),
            nn.Conv2d(out_channels[3], out_channels[3], 3, stride=2, padding=1),
        ])
        self.scratch = _Scratch(list(out_channels), features)

    def forward(self, tokens: list[torch.Tensor], patch_h: int, patch_w: int) -> torch.Tensor:
        layers = []
        for i, t in enumerate(tokens):
            x = t.transpose(1, 2).reshape(t.shape[0], t.shape[-1], patch_h, patch_w)
            layers.append(self.resize_layers[i](self.projects[i](x)))
        s = self.scratch
        l1, l2, l3, l4 = (getattr(s, f"layer{i + 1}_rn")(x) for i, x in enumerate(layers))
        p4 = s.refinenet4(l4, size=l3.shape[-2:])
        p3 = s.refinenet3(p4, l3, size=l2.shape[-2:])
        p2 = s.refinenet2(p3, l2, size=l1.shape[-2:])
        p1 = s.refinenet1(p2, l1)
        out = s.output_conv1(p1)
        out = F.interpolate(out, size=(patch_h * PATCH, patch_w * PATCH), mode="bilinear", align_corners=True)
        return s.output_conv2(out)


# ---- the model ---------------------------------------------------------------------------------------


def dinov2_pos_embed(pos_embed: torch.Tensor, grid_h: int, grid_w: int, offset: float = 0.1) -> torch.Tensor:
    """DINOv2's own position-embedding resize for a ``grid_h × grid_w`` patch grid.

    ``pos_embed`` ``[1, 1+N, C]`` (class token first, ``N`` a square). Bicubic without antialias,
    with ``scale_factor = ((grid + offset)/sqrt(N))`` per axis (the offset avoids a floor error);
    returned unchanged when the grid is the trained one.
    """
    n = pos_embed.shape[1] - 1
    side = int(math.isqrt(n))
    if grid_h == side and grid_w == side:
        return pos_embed
    cls, patches = pos_embed[:, :1], pos_embed[:, 1:].float()
    dim = patches.shape[-1]
    grid = patches.reshape(1, side, side, dim).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, scale_factor=((grid_h + offset) / side, (grid_w + offset) / side), mode="bicubic",
                         antialias=False)
    if grid.shape[-2:] != (grid_h, grid_w):
        raise RuntimeError(f"position embedding resized to {tuple(grid.shape[-2:])}, expected {(grid_h, grid_w)}")
    patches = grid.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, dim).to(pos_embed.dtype)
    return torch.cat([cls, patches], dim=1)


class DepthAnythingV2Small(nn.Module):
    """Depth Anything V2 Small: ``forward(x)`` with ``x`` ``[B,3,H,W]`` normalised, ``H`` and ``W``
    multiples of 14 → relative inverse depth ``[B,1,H,W]`` (≥ 0). Use :class:`DepthEstimator` for
    images in ``[0,1]`` of any size."""

    intermediate_layers = (2, 5, 8, 11)

    def __init__(self):
        super().__init__()
        import timm

        self.pretrained = timm.create_model("vit_small_patch14_dinov2", pretrained=False, img_size=INPUT_SIZE, num_classes=0)
        # in the official file (DINOv2's masked-modelling token); unused here, kept so the keys match
        self.pretrained.mask_token = nn.Parameter(torch.zeros(1, self.pretrained.embed_dim))
        self.depth_head = DPTHead(self.pretrained.embed_dim, 64, (48, 96, 192, 384))

    def tokens(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Patch tokens after blocks 2, 5, 8, 11, each through the final norm: ``[B, N, 384]``."""
        vit = self.pretrained
        b, _, h, w = x.shape
        gh, gw = h // PATCH, w // PATCH
        t = vit.patch_embed.proj(x).flatten(2).transpose(1, 2)
        t = torch.cat([vit.cls_token.expand(b, -1, -1), t], dim=1)
        t = t + dinov2_pos_embed(vit.pos_embed, gh, gw)
        out = []
        for i, block in enumerate(vit.blocks):
            t = block(t)
            if i in self.intermediate_layers:
                out.append(vit.norm(t)[:, 1:])
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B,3,H,W]`` float, ImageNet-normalised, ``H`` and ``W`` multiples of 14 → relative inverse
        depth ``[B,1,H,W]`` (≥ 0, arbitrary scale and shift). Differentiable (no ``no_grad`` here).

        Raises ``ValueError`` when ``H`` or ``W`` is not a multiple of 14 (use :class:`DepthEstimator`)."""
        h, w = x.shape[-2:]
        if h % PATCH or w % PATCH:
            raise ValueError(f"input {h}×{w} is not a multiple of {PATCH}; use DepthEstimator for any size")
        return F.relu(self.depth_head(self.tokens(x), h // PATCH, w // PATCH))


class DepthEstimator(nn.Module):
    """Images ``[B,3,H,W]`` in ``[0,1]`` → relative inverse depth ``[B,1,H,W]`` at the images' size.

    Preprocessing as the original: each side scaled so the shorter is ≥ 518 (keeping the aspect),
    rounded to a multiple of 14 (not below 518), bicubic; ImageNet mean/std. The output is resized
    back bilinearly (align_corners=True). No confidence map: the model has none we could call honest.
    """

    name = "depth_anything_v2_small"
    label = "Depth Anything V2 Small (relative inverse depth)"
    kind = "inverse"

    def __init__(self, model: DepthAnythingV2Small, input_size: int = INPUT_SIZE):
        super().__init__()
        self.model = model.eval()
        self.input_size = input_size
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    @staticmethod
    def network_size(height: int, width: int, input_size: int = INPUT_SIZE) -> tuple[int, int]:
        """``(height, width)`` the network runs at for an image of ``height × width`` pixels: scaled so the
        shorter side is ``input_size``, each side rounded to a multiple of 14 (rounded up instead when the
        nearest multiple would fall below ``input_size``)."""
        scale = max(input_size / height, input_size / width)

        def fit(v: float) -> int:
            y = round(v / PATCH) * PATCH
            return y if y >= input_size else math.ceil(v / PATCH) * PATCH

        return fit(height * scale), fit(width * scale)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` ``[B,3,H,W]`` in ``[0,1]`` (any float dtype, on the model's device) → relative inverse depth
        ``[B,1,H,W]`` float32 at the images' size (≥ 0; larger = nearer). Runs under ``torch.no_grad()``.

        Raises ``ValueError`` when ``images`` is not ``[B,3,H,W]``."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be [B,3,H,W]; got {tuple(images.shape)}")
        h, w = images.shape[-2:]
        nh, nw = self.network_size(h, w, self.input_size)
        x = F.interpolate(images.float(), size=(nh, nw), mode="bicubic", align_corners=False).clamp_(0, 1)
        x = (x - self.mean.to(x.device)) / self.std.to(x.device)
        depth = self.model(x)
        return F.interpolate(depth, size=(h, w), mode="bilinear", align_corners=True)


def load_depth_anything_v2_small(weights: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> DepthEstimator:
    """Depth Anything V2 Small, ready to call: ``estimator(images [B,3,H,W] in [0,1]) → [B,1,H,W]``
    relative inverse depth.

    Args:
        weights: the official ``.pth`` (or a ``.safetensors`` with the same keys); None: ``$GEOVIZ_DEPTH_WEIGHTS``,
            else the Hub's ``depth-anything/Depth-Anything-V2-Small`` (cached by ``huggingface_hub``).
        device: where it runs.

    Raises:
        WeightsUnavailable: offline without weights (the message says how to get them).
        InputError: a file that is not the checkpoint (named, with the first key differences).
    """
    if weights is None:
        weights = os.environ.get(ENV_WEIGHTS) or hub_file(HUB_REPO, HUB_FILE, ENV_WEIGHTS, "Depth Anything V2 Small",
                                                             "--depth-weights")
    path = Path(weights)
    model = DepthAnythingV2Small()
    load_strict(model, read_state_dict(path), path.name)
    return DepthEstimator(model).to(device).eval()


# ---- using an estimator on a sample -------------------------------------------------------------------

DEPTH_SOURCES = ("uploaded", "estimate missing", "estimate all")
_ESTIMATES = SharedMemo(maxsize=64)  # (estimator id, image hash) → [H,W] estimate


def _estimate(estimator, image, sample, device):
    """The estimator's map of one image ``[H,W]`` (cached per estimator and image content)."""
    import numpy as np

    def make():
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].to(device)
        return estimator(x)[0, 0].float().cpu().numpy()

    return _ESTIMATES.get_or_make((id(estimator), sample._array_hash(image)), make)


def align_scale_shift(estimate, reference, region) -> tuple[float, float]:
    """Least-squares ``(a, b)`` with ``a·estimate + b ≈ reference`` over ``region`` where both are finite."""
    import numpy as np

    ok = region & np.isfinite(estimate) & np.isfinite(reference)
    if ok.sum() < 2:
        return 1.0, 0.0
    e, r = estimate[ok].astype(np.float64), reference[ok].astype(np.float64)
    ec = e - e.mean()
    var = float((ec * ec).sum())
    a = float((ec * (r - r.mean())).sum() / var) if var > 0 else 0.0
    return a, float(r.mean() - a * e.mean())


def with_estimated_depth(sample, estimator, source: str = "estimate missing", align: bool = True,
                         device: str | torch.device = "cpu", outside_r: int = 1):
    """A copy of ``sample`` whose missing (or all) prediction depths come from ``estimator``.

    Estimates are relative inverse depth. Against an uploaded target depth they are aligned by
    least-squares scale and shift onto it (in inverse depth) inside the sure-outside region, where
    prediction and target should agree, then expressed in the target's convention; without a target
    depth the target's is estimated too and the comparison stays in relative inverse depth.
    Returns ``(sample, info)`` with ``info[name] = {"source", "scale", "shift"}``.
    """
    import dataclasses

    import numpy as np
    from scipy.ndimage import binary_dilation

    if source not in DEPTH_SOURCES:
        raise ValueError(f"depth source must be one of {DEPTH_SOURCES}; got {source!r}")
    info: dict[str, dict] = {}
    if source == "uploaded" or estimator is None:
        return sample, info
    todo = [n for n in sample.predictions if source == "estimate all" or n not in sample.prediction_depths]
    if not todo:
        return sample, info
    notices = list(sample.notices)
    target_depth, kind = sample.target_depth, sample.depth_kind
    estimated_target = target_depth is None
    if estimated_target:
        target_depth, kind = _estimate(estimator, sample.target, sample, device), "inverse"
        info["target"] = {"source": estimator.name}
        notices.append(f"target depth: estimated by {estimator.label}")
    outside = ~binary_dilation(sample.mask > 0.5, iterations=max(outside_r, 1)) if outside_r >= 0 else np.ones_like(sample.mask, bool)
    ref_inv = target_depth if kind == "inverse" else 1.0 / target_depth
    depths = dict(sample.prediction_depths) if not estimated_target else {}
    for name in sample.predictions:
        # with an estimated target every prediction is estimated too (an uploaded map is another scale)
        if name not in todo and not estimated_target:
            continue
        est = _estimate(estimator, sample.predictions[name], sample, device)
        a, b = (1.0, 0.0)
        if align:
            a, b = align_scale_shift(est, ref_inv, outside)
        inv = a * est + b
        if kind == "metric":
            with np.errstate(divide="ignore", invalid="ignore"):
                d = np.where(inv > 0, 1.0 / inv, np.nan).astype(np.float32)
        else:
            d = inv.astype(np.float32)
        depths[name] = d
        info[name] = {"source": estimator.name, "scale": a, "shift": b, "aligned": bool(align)}
    notices.append(f"prediction depth: {len(info) - int(estimated_target)} map(s) estimated by {estimator.label}"
                   + (", aligned (scale, shift) onto the target outside the mask" if align else ""))
    # the images are the same: their scale readouts carry over (they read no depth)
    kept = {k: v for k, v in sample.memo.items() if isinstance(k, tuple) and k[:1] == ("scale",)}
    return dataclasses.replace(sample, target_depth=target_depth, depth_kind=kind, prediction_depths=depths,
                               notices=notices, memo=kept), info
