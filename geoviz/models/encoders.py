"""Images → latents for the 002 terms.

The latent terms need ``z_ctx``, ``z_tgt`` and ``z_pred``. In order: latents the person uploaded;
otherwise an encoder. The offline default is :class:`ProxyEncoder` — *proxy latents*, labelled so
wherever they are shown. Real encoders implement the same small interface (``name``, ``label``,
``is_proxy``, ``encode``).
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from geoviz.data.readers import InputError
from geoviz.models.checkpoints import hub_file, load_strict, read_state_dict

__all__ = ["LatentEncoder", "ProxyEncoder", "TAEF1Encoder", "load_taef1", "latent_size", "images_to_tensor", "encode_sample",
           "taef1_encoder_layers", "taef1_decoder_layers"]

LATENT_CHANNELS = 16
PATCH = 8


class LatentEncoder(Protocol):
    """What :func:`encode_sample` and :func:`geoviz.evaluate.evaluate` need of an encoder: ``name`` (recorded
    as the latents' source, and part of the cache key), ``label`` (shown to people), ``is_proxy`` (True
    when the latents are not a real VAE's) and ``encode``."""

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
        """``images`` ``[B,3,H,W]`` in ``[0,1]`` → proxy latents ``[B,16,h,w]`` with the images' device and
        dtype, ``(h, w) =`` :func:`latent_size` ``(H, W)`` (the images are resized to ``8h × 8w`` first when
        their sides are not multiples of 8). Differentiable: gradients flow back to ``images``."""
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
        raise InputError("latents", f"uploaded latents {sorted(sizes)} do not match the encoded ones",
                         "upload latents for every image, or none")
    return z_ctx, z_tgt, z_preds, sources


# ---- TAEF1: the tiny autoencoder for FLUX latents -------------------------------------------------------

TAEF1_REPO = "madebyollin/taef1"
TAEF1_HUB_FILE = "diffusion_pytorch_model.safetensors"
TAEF1_ENV_ENCODER = "GEOVIZ_TAEF1_ENCODER"
TAEF1_ENV_DECODER = "GEOVIZ_TAEF1_DECODER"


def _conv(n_in: int, n_out: int, **kw):
    import torch.nn as nn

    return nn.Conv2d(n_in, n_out, 3, padding=1, **kw)


class _TAEBlock(torch.nn.Module):
    """Three 3×3 convs with ReLUs between, a residual (1×1 when the width changes), a ReLU after."""

    def __init__(self, n_in: int, n_out: int):
        import torch.nn as nn

        super().__init__()
        self.conv = nn.Sequential(_conv(n_in, n_out), nn.ReLU(), _conv(n_out, n_out), nn.ReLU(), _conv(n_out, n_out))
        self.skip = nn.Conv2d(n_in, n_out, 1, bias=False) if n_in != n_out else nn.Identity()
        self.fuse = nn.ReLU()

    def forward(self, x):
        return self.fuse(self.conv(x) + self.skip(x))


class _Clamp(torch.nn.Module):
    """Soft clamp of latents to ±3: ``tanh(x/3)·3`` (no weights)."""

    def forward(self, x):
        return torch.tanh(x / 3) * 3


def taef1_encoder_layers(latent_channels: int = LATENT_CHANNELS):
    """TAESD's encoder shape: a conv, then three ×½ stages of three residual blocks, a conv to the
    latent channels (each key ``N.…`` of the official ``taef1_encoder.pth``)."""
    import torch.nn as nn

    layers = [_conv(3, 64), _TAEBlock(64, 64)]
    for _ in range(3):
        layers += [_conv(64, 64, stride=2, bias=False), _TAEBlock(64, 64), _TAEBlock(64, 64), _TAEBlock(64, 64)]
    layers.append(_conv(64, latent_channels))
    return nn.Sequential(*layers)


def taef1_decoder_layers(latent_channels: int = LATENT_CHANNELS):
    """TAESD's decoder shape: soft clamp, a conv, three ×2 stages (three blocks, nearest upsample, a
    conv), one block, a conv to RGB."""
    import torch.nn as nn

    layers = [_Clamp(), _conv(latent_channels, 64), nn.ReLU()]
    for _ in range(3):
        layers += [_TAEBlock(64, 64), _TAEBlock(64, 64), _TAEBlock(64, 64), nn.Upsample(scale_factor=2),
                   _conv(64, 64, bias=False)]
    layers += [_TAEBlock(64, 64), _conv(64, 3)]
    return nn.Sequential(*layers)


def _taef1_from_diffusers(sd: dict, part: str) -> dict:
    """Diffusers' AutoencoderTiny keys → the bare taesd ones: encoder ``encoder.layers.N.x`` → ``N.x``;
    decoder ``decoder.layers.N.x`` → ``(N+1).x`` (diffusers applies the clamp outside its layers)."""
    prefix = f"{part}.layers."
    out = {}
    for k, v in sd.items():
        if not k.startswith(prefix):
            continue
        idx, rest = k[len(prefix):].split(".", 1)
        out[f"{int(idx) + (1 if part == 'decoder' else 0)}.{rest}"] = v
    return out


class TAEF1Encoder:
    """Real Flux latents from TAEF1 (MIT, ``madebyollin/taef1``): ``encode(images [B,3,H,W] in [0,1])``
    → ``[B,16,H/8,W/8]``, approximately Flux's *normalised* latents ``(z − 0.1159)·0.3611``; and
    ``decode(latents)`` → images in ``[0,1]`` when decoder weights were given."""

    name = "taef1"
    label = "TAEF1 latents (tiny autoencoder for FLUX)"
    is_proxy = False

    def __init__(self, encoder, decoder=None, device: str | torch.device = "cpu", cache_id: str = "taef1"):
        self.encoder = encoder.to(device).eval()
        self.decoder = None if decoder is None else decoder.to(device).eval()
        self.device = torch.device(device)
        self.cache_id = cache_id  # results computed with other weights must not be reused

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` ``[B,3,H,W]`` in ``[0,1]`` (clamped) → TAEF1 latents ``[B,16,h,w]`` float32 on the images'
        device, ``(h, w) =`` :func:`latent_size` ``(H, W)`` (the images are resized to ``8h × 8w`` first when
        their sides are not multiples of 8). Runs on ``self.device`` in float32, without gradients."""
        b, c, h, w = images.shape
        lh, lw = latent_size(h, w)
        x = images.to(self.device, torch.float32)
        if (h, w) != (lh * PATCH, lw * PATCH):
            x = F.interpolate(x, size=(lh * PATCH, lw * PATCH), mode="area" if h >= lh * PATCH else "bilinear")
        return self.encoder(x.clamp(0, 1)).to(images.device)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """``latents`` ``[B,16,h,w]`` (normalised, as :meth:`encode` gives them) → images ``[B,3,8h,8w]``
        float32 in ``[0,1]`` on the latents' device, without gradients.

        Raises ``ValueError`` when the encoder was loaded without decoder weights."""
        if self.decoder is None:
            raise ValueError("TAEF1 was loaded without decoder weights: pass decoder_weights to decode")
        return self.decoder(latents.to(self.device, torch.float32)).clamp(0, 1).to(latents.device)


def load_taef1(encoder_weights=None, decoder_weights=None, device: str | torch.device = "cpu") -> TAEF1Encoder:
    """TAEF1 from the official ``taef1_encoder.pth`` / ``taef1_decoder.pth`` (bare state dicts) or the
    Hub's diffusers-format ``diffusion_pytorch_model.safetensors`` (both parts in one file: pass it as
    ``encoder_weights`` and the decoder comes with it). None: ``$GEOVIZ_TAEF1_ENCODER`` /
    ``$GEOVIZ_TAEF1_DECODER``, else the Hub (``madebyollin/taef1``) when online. Loads strictly."""
    encoder_weights = encoder_weights or os.environ.get(TAEF1_ENV_ENCODER)
    decoder_weights = decoder_weights or os.environ.get(TAEF1_ENV_DECODER)
    if encoder_weights is None:
        encoder_weights = hub_file(TAEF1_REPO, TAEF1_HUB_FILE, TAEF1_ENV_ENCODER, "TAEF1", "--taef1-weights")
    enc_path = Path(encoder_weights)
    sd = read_state_dict(enc_path)
    encoder = taef1_encoder_layers()
    decoder = None
    if any(k.startswith("encoder.layers.") for k in sd):  # diffusers format: both parts
        load_strict(encoder, _taef1_from_diffusers(sd, "encoder"), enc_path.name)
        dec_sd = _taef1_from_diffusers(sd, "decoder")
        if dec_sd:
            decoder = taef1_decoder_layers()
            load_strict(decoder, dec_sd, enc_path.name)
        extra = [k for k in sd if not k.startswith(("encoder.layers.", "decoder.layers."))]
        if extra:
            raise InputError(enc_path.name, f"has keys outside encoder/decoder (e.g. {extra[0]})", "use the official file")
    else:
        load_strict(encoder, sd, enc_path.name)
    if decoder_weights is not None:
        dec_path = Path(decoder_weights)
        decoder = taef1_decoder_layers()
        load_strict(decoder, read_state_dict(dec_path), dec_path.name)
    stat = enc_path.stat()
    return TAEF1Encoder(encoder, decoder, device, cache_id=f"taef1:{enc_path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
