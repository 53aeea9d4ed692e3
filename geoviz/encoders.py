"""Images → latents for the 002 terms.

The latent terms need ``z_ctx``, ``z_tgt`` and ``z_pred``. In order: latents the person uploaded;
otherwise an encoder. The offline default is :class:`ProxyEncoder` — *proxy latents*, labelled so
wherever they are shown. Real encoders implement the same small interface (``name``, ``label``,
``is_proxy``, ``encode``).
"""

from __future__ import annotations

import functools
import math
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["LatentEncoder", "ProxyEncoder", "latent_size", "images_to_tensor", "encode_sample"]

LATENT_CHANNELS = 16
PATCH = 8


class LatentEncoder(Protocol):
    name: str
    label: str
    is_proxy: bool

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """``[B,3,H,W]`` in ``[0,1]`` → ``[B,16,h,w]`` on the images' device."""


def latent_size(height: int, width: int) -> tuple[int, int]:
    """The Flux latent grid of an image: 1/8 of each side (at least 1)."""
    return max(1, round(height / PATCH)), max(1, round(width / PATCH))


@functools.lru_cache(maxsize=8)
def _projection(seed: int, device: str, dtype: torch.dtype) -> torch.Tensor:
    """A fixed ``[16, 192]`` matrix with orthonormal rows, scaled by ``sqrt(192/16)``."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(PATCH * PATCH * 3, LATENT_CHANNELS, generator=g, dtype=torch.float64)
    q, _ = torch.linalg.qr(a)  # [192, 16], orthonormal columns
    scale = math.sqrt(PATCH * PATCH * 3 / LATENT_CHANNELS)
    return (q.T * scale).to(device=device, dtype=dtype).contiguous()


class ProxyEncoder:
    """Proxy latents on Flux's grid: 8×8 pixel patches (``pixel_unshuffle``) projected to 16 channels
    by a fixed, seeded orthonormal matrix scaled so squared distances are preserved on average.

    Not a VAE: it has no notion of content, only of where and how much the pixels changed — which is
    what the 002 geometry terms read. Values are in the range of pixel values mapped to ``[-1,1]``.
    """

    name = "proxy"
    label = "proxy latents (8×8 patches, orthonormal projection — not Flux's VAE)"
    is_proxy = True

    def __init__(self, seed: int = 0):
        self.seed = seed

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        b, c, h, w = images.shape
        lh, lw = latent_size(h, w)
        x = images * 2.0 - 1.0
        if (h, w) != (lh * PATCH, lw * PATCH):
            x = F.interpolate(x, size=(lh * PATCH, lw * PATCH), mode="area" if h >= lh * PATCH else "bilinear")
        patches = F.pixel_unshuffle(x, PATCH)  # [B, 192, lh, lw]
        q = _projection(self.seed, str(images.device), images.dtype)
        return torch.einsum("kc,bchw->bkhw", q, patches)


def images_to_tensor(*images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """``[H,W,3]`` arrays → ``[N,3,H,W]`` float32 tensor on ``device``."""
    arr = np.stack(images).astype(np.float32)
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous().to(device)


def encode_sample(sample, encoder: LatentEncoder, device: torch.device | str = "cpu"):
    """Latents for context, target and every prediction: the uploaded ones, the encoder for the rest.

    Returns ``(z_ctx, z_tgt, {name: z_pred}, sources)``, latents ``[1,16,h,w]`` on ``device`` and
    ``sources`` naming where each came from (``"uploaded"`` or the encoder's name).
    """
    pending = {}
    if sample.context_latents is None:
        pending["context"] = sample.context
    if sample.target_latents is None:
        pending["target"] = sample.target
    for n, img in sample.predictions.items():
        if n not in sample.prediction_latents:
            pending[f"pred:{n}"] = img
    encoded = {}
    if pending:
        with torch.no_grad():
            z = encoder.encode(images_to_tensor(*pending.values(), device=device))
        encoded = {k: z[i : i + 1] for i, k in enumerate(pending)}
    sources = {}

    def pick(key, uploaded):
        if uploaded is not None:
            sources[key] = "uploaded"
            return uploaded.to(device)
        sources[key] = encoder.name
        return encoded[key]

    z_ctx = pick("context", sample.context_latents)
    z_tgt = pick("target", sample.target_latents)
    z_preds = {n: pick(f"pred:{n}", sample.prediction_latents.get(n)) for n in sample.predictions}
    sizes = {tuple(z.shape[-2:]) for z in [z_ctx, z_tgt, *z_preds.values()]}
    if len(sizes) > 1:
        from .io import InputError

        raise InputError("latents", f"uploaded latents {sorted(sizes)} do not match the encoded ones",
                         "upload latents for every image, or none")
    return z_ctx, z_tgt, z_preds, sources
