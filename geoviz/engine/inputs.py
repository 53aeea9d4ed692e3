"""What the engine feeds the terms: arrays as tensors, latents from an encoder (remembered on
the sample), the mask at latent resolution. :func:`~geoviz.engine.evaluate.evaluate` and the
sweeps build their term inputs from these, so both read a sample the same way."""

from __future__ import annotations

import numpy as np
import torch

import losses
from geoviz.data.sample import Sample
from geoviz.models.encoders import LatentEncoder, encode_sample

__all__ = ["to_tensor", "encoder_id", "encoded", "latent_mask"]


def to_tensor(a: np.ndarray | None, device, channels_last: bool = False) -> torch.Tensor | None:
    """``[H,W]`` → ``[1,1,H,W]``, or ``[H,W,3]`` → ``[1,3,H,W]`` with ``channels_last``; float32 on ``device``."""
    if a is None:
        return None
    t = torch.from_numpy(np.ascontiguousarray(a)).float()
    t = t.permute(2, 0, 1)[None] if channels_last else t[None, None]
    return t.to(device)


def encoder_id(enc) -> str:
    """What distinguishes one encoder's latents from another's (name, seed or weights)."""
    return getattr(enc, "cache_id", None) or f"{enc.name}:{getattr(enc, 'seed', '')}"


def encoded(sample: Sample, enc: LatentEncoder, dev: torch.device):
    """The sample's latents from ``enc``, remembered on the sample (per encoder, seed, device and the
    set of predictions) so a parameter change does not encode again."""
    key = ("latents", encoder_id(enc), str(dev), tuple(sample.predictions))
    if key not in sample.memo:
        sample.memo[key] = encode_sample(sample, enc, dev)
    return sample.memo[key]


def latent_mask(sample: Sample, size, device) -> torch.Tensor:
    """The sample's mask area-downsampled to the latent grid ``size``: ``[1,1,h,w]`` on ``device``."""
    return losses.downsample_mask_area(torch.from_numpy(sample.mask), tuple(int(s) for s in size)).to(device)
