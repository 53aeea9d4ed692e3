"""Which model serves which input: the device, the latent encoder (proxy, TAEF1, uploaded only)
and the depth estimator, loaded once per weights file and device and shared by the dashboard, the
CLI and the sweeps. One rule for every face: :meth:`ModelChoice.resolve`."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from geoviz.data.memo import SharedMemo
from geoviz.data.readers import InputError
from geoviz.models.checkpoints import WeightsUnavailable
from geoviz.models.depth import load_depth_anything_v2_small
from geoviz.models.encoders import ProxyEncoder, load_taef1

__all__ = ["ModelChoice", "UploadedLatentsOnly", "cached_model", "resolve_device", "LATENT_SOURCES"]

LATENT_SOURCES = ("proxy", "TAEF1", "uploaded only")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else the CPU; ``"cuda"`` without CUDA is an error saying so."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but CUDA is not available here; use 'cpu' or 'auto'")
    return dev


LOADED = SharedMemo()  # (kind, weights, device) -> the loaded model


def cached_model(kind: str, weights: str | os.PathLike | None, device: str | torch.device = "cpu"):
    """A loaded estimator (``kind="depth"``) or TAEF1 encoder (``kind="taef1"``), loaded once per
    weights file and device (the dashboard and the CLI share them between requests)."""
    loaders = {"depth": lambda: load_depth_anything_v2_small(weights, device),
               "taef1": lambda: load_taef1(weights, None, device)}
    if kind not in loaders:
        raise ValueError(kind)
    return LOADED.get_or_make((kind, str(weights), str(device)), loaders[kind])


class UploadedLatentsOnly:
    """'Uploaded latents only': encoding anything is an error naming what is missing."""

    name = "uploaded"
    label = "uploaded latents only"
    is_proxy = False
    cache_id = "uploaded"

    def encode(self, images):
        """Always an :class:`InputError`: there is nothing to encode with."""
        raise InputError("latents", f"{images.shape[0]} image(s) have no uploaded latents",
                         "upload context_latents, target_latents and one per checkpoint, or choose proxy / TAEF1")


@dataclass
class ModelChoice:
    """Where latents and prediction depths come from, and the weights files the server was given."""

    latents: str = "proxy"  # one of LATENT_SOURCES ("taef1" is accepted for "TAEF1")
    depth_source: str = "uploaded"  # uploaded | estimate missing | estimate all
    align_depth: bool = True
    depth_weights: str | os.PathLike | None = None
    taef1_weights: str | os.PathLike | None = None

    def resolve(self, device: str | torch.device, strict: bool = False) -> tuple[dict, list[str]]:
        """``evaluate`` keyword arguments (``encoder``, and ``depth_estimator``/``depth_source``/
        ``align_depth`` when depth is estimated), and warnings.

        A model whose weights are unavailable: ``strict`` (the CLI, explicit) raises an
        :class:`InputError` saying how to get them; otherwise (the dashboard) the proxy latents /
        uploaded depth maps are used and a warning says so."""
        kw: dict = {"encoder": ProxyEncoder()}
        warnings: list[str] = []
        dev = str(resolve_device(device))
        latents = "TAEF1" if self.latents.lower() == "taef1" else self.latents
        if latents == "TAEF1":
            try:
                kw["encoder"] = cached_model("taef1", self.taef1_weights, dev)
            except WeightsUnavailable as e:
                if strict:
                    raise InputError("model weights", str(e)) from None
                warnings.append(f"TAEF1 unavailable, proxy latents used instead: {e}")
        elif latents == "uploaded only":
            kw["encoder"] = UploadedLatentsOnly()
        if self.depth_source != "uploaded":
            try:
                kw.update(depth_estimator=cached_model("depth", self.depth_weights, dev), depth_source=self.depth_source,
                          align_depth=self.align_depth)
            except WeightsUnavailable as e:
                if strict:
                    raise InputError("model weights", str(e)) from None
                warnings.append(f"depth estimator unavailable, uploaded depth maps only: {e}")
        return kw, warnings
