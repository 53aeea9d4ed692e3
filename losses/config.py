"""The training-loop half of the weights config the dashboard exports.

    {"version": 1, "weights": {term: w}, "params": {group: {name: value}}}

:class:`GeometryLoss` turns it into a callable: given the tensors a training step has, it returns
the weighted total and a dict of the terms (for logging). A term with a non-zero weight whose inputs
are absent is refused with an error naming the term and the missing inputs; a zero-weight term is
not computed at all. Term names, parameter groups and defaults are the dashboard's (``geoviz``
takes :data:`DEFAULT_PARAMS` from here), so a config means the same thing on both sides.

Example::

    loss_fn = losses.GeometryLoss.from_config("weights.json")
    total, terms = loss_fn(z_pred=z_pred, z_tgt=z_tgt, z_ctx=z_ctx, mask=mask_px)
    total.backward()
    log({f"loss/{k}": float(v) for k, v in terms.items()})
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .depth import depth_consistency_loss
from .latent import (
    area_ratio_loss,
    background_preservation_mse_latent,
    boundary_loss,
    dice_loss,
    reference_mask,
    restrict_to_roi,
    soft_change_mask_from_latents,
    weighted_masked_mse_latent,
)
from .masks import downsample_mask_area
from .monodepth import g2_monodepth_loss, ssi_loss
from .scale import depth_aware_scale_loss, per_sample_k_obj
from .sdm import signed_distance_map_from_mask
from .texture import ACFPeriodLoss, LogPolarAlignLoss, ScaleConsistencyLoss, SpectralPeriodLoss

__all__ = ["DEFAULT_PARAMS", "TERM_NAMES", "TERM_INPUTS", "CONFIG_VERSION", "GeometryLoss", "depth_at"]

CONFIG_VERSION = 1

# The documents' defaults (003's example sets the spectral band term at half the peak term's weight).
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "change_mask": {"k_sigma": 2.0, "band_r": 1, "temperature": 1.0, "s_min": None, "roi_r": None,
                    "reference": "mask"},
    "latent_mse": {"band_r": 1, "w_in": 1.0, "w_band": 6.0, "w_out": 0.2, "channel_reduce": "mean"},
    "background": {"band_r": 1},
    "boundary": {"normalize": True},
    "depth_consistency": {"outside_dilate_r": 1, "edge_band_r": 1, "beta": 0.1},
    "depth_scale": {"k_obj": None, "depth_stat": "median"},
    "monodepth": {"region": "all"},
    "texture_spectral": {"r_bins": 256, "tau": 0.06, "band_sigma": 0.15, "w_peak": 1.0, "w_band": 0.5, "min_bin": 2},
    "texture_log_polar": {"out_r": 128, "out_t": 180, "r_min": 0.01},
    "texture_acf": {"r_bins": 256, "tau": 0.08, "min_rel": 0.03, "max_rel": 0.6},
}

# what each term reads (names of GeometryLoss.__call__'s keyword arguments)
TERM_INPUTS: dict[str, tuple[str, ...]] = {
    "latent_mse": ("z_pred", "z_tgt", "mask"),
    "latent_background": ("z_pred", "z_ctx", "mask"),
    "latent_dice": ("z_pred", "z_ctx", "mask"),
    "latent_area": ("z_pred", "z_ctx", "mask"),
    "latent_boundary": ("z_pred", "z_ctx", "mask"),
    "depth_inside": ("depth_pred", "depth_tgt", "mask"),
    "depth_outside": ("depth_pred", "depth_tgt", "mask"),
    "depth_edge": ("depth_pred", "depth_tgt", "mask"),
    "depth_scale": ("z_pred", "z_ctx", "mask", "depth_pred", "f_px"),
    "mono_adepth": ("depth_pred", "depth_tgt", "mask"),
    "mono_rdepth": ("depth_pred", "depth_tgt", "mask"),
    "mono_rgrad": ("depth_pred", "depth_tgt", "mask"),
    "mono_ssi": ("depth_pred", "depth_tgt", "mask"),
    "pixel_masked_mse": ("image_pred", "image_tgt", "mask"),
    "texture_spectral": ("image_pred", "image_tgt", "mask"),
    "texture_log_polar": ("image_pred", "image_tgt", "mask"),
    "texture_scale_consistency": ("image_pred", "image_pred2", "mask"),
    "texture_acf": ("image_pred", "image_tgt", "mask"),
}
TERM_NAMES = tuple(TERM_INPUTS)


def resolve(params: dict | None) -> dict[str, dict[str, Any]]:
    """The documents' defaults with ``params`` laid over them (unknown names are an error)."""
    params = params or {}
    out = {}
    for group, defaults in DEFAULT_PARAMS.items():
        given = dict(params.get(group) or {})
        unknown = set(given) - set(defaults)
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)} in params.{group}")
        out[group] = {**defaults, **given}
    unknown_groups = set(params) - set(DEFAULT_PARAMS)
    if unknown_groups:
        raise ValueError(f"unknown parameter group(s) {sorted(unknown_groups)}")
    return out


def depth_at(depth: torch.Tensor, size) -> torch.Tensor:
    """Area-resize a ``[B,1,H,W]`` depth map with NaNs without mixing invalid pixels (NaN where a
    cell is under half valid) — how depth meets latent-resolution masks."""
    valid = torch.isfinite(depth).to(depth.dtype)
    num = F.interpolate(torch.where(valid > 0, depth, torch.zeros_like(depth)), size=tuple(size), mode="area")
    den = F.interpolate(valid, size=tuple(size), mode="area")
    out = num / den.clamp_min(1e-6)
    return torch.where(den >= 0.5, out, torch.full_like(out, float("nan")))


@dataclass
class _Step:
    """One call's inputs and the work its terms share (the change mask, the SDM, the depth terms)."""

    values: dict[str, Any]
    params: dict[str, dict[str, Any]]
    memo: dict = field(default_factory=dict)

    def __getitem__(self, key):
        return self.values[key]

    def memo_get(self, key, fn):
        if key not in self.memo:
            self.memo[key] = fn()
        return self.memo[key]

    def mask_latent(self) -> torch.Tensor:
        z = self.values["z_pred"]
        return self.memo_get("mask_latent", lambda: downsample_mask_area(self.values["mask"], z.shape[-2:]).to(z))

    def change_mask(self) -> torch.Tensor:
        def make():
            cm = self.params["change_mask"]
            m_lat = self.mask_latent()
            m_hat, _, _ = soft_change_mask_from_latents(
                self.values["z_pred"], self.values["z_ctx"], m_lat, band_r=cm["band_r"], k_sigma=cm["k_sigma"],
                temperature=cm["temperature"], s_min=cm["s_min"])
            return restrict_to_roi(m_hat, m_lat, cm["roi_r"])

        return self.memo_get("change_mask", make)

    def reference(self) -> torch.Tensor:
        """What Dice/area/boundary compare the change mask with (``change_mask.reference``)."""
        def make():
            cm = self.params["change_mask"]
            return reference_mask(self.mask_latent(), self.values.get("z_tgt"), self.values.get("z_ctx"),
                                  reference=cm["reference"], roi_r=cm["roi_r"], band_r=cm["band_r"],
                                  k_sigma=cm["k_sigma"], temperature=cm["temperature"], s_min=cm["s_min"])

        return self.memo_get("reference", make)

    def depth_terms(self):
        q = self.params["depth_consistency"]
        return self.memo_get("depth", lambda: depth_consistency_loss(
            self.values["depth_pred"], self.values["depth_tgt"], self.values["mask"], outside_dilate_r=q["outside_dilate_r"],
            edge_band_r=q["edge_band_r"], beta=q["beta"]))

    def region(self) -> torch.Tensor:
        m = self.values["mask"]
        m = m if m.dim() == 4 else m.view(m.shape[0] if m.dim() == 3 else 1, 1, *m.shape[-2:])
        region = self.params["monodepth"]["region"]
        if region == "inside":
            return m
        if region == "outside":
            return 1.0 - (m > 0.5).to(m.dtype)
        return torch.ones_like(m)

    def g2(self):
        return self.memo_get("g2", lambda: g2_monodepth_loss(self.values["depth_pred"], self.values["depth_tgt"], self.region()))


def _depth_scale(s: _Step) -> torch.Tensor:
    q = s.params["depth_scale"]
    m_hat = s.change_mask()
    h, w = m_hat.shape[-2:]
    width = s.values.get("image_width") or s.values["mask"].shape[-1]
    f_lat = s["f_px"] * w / width  # focal length in latent pixels: k_obj stays resolution-free
    mode = "depth" if s.values.get("depth_kind", "metric") == "metric" else "inv_depth"
    k = q["k_obj"] if q["k_obj"] is not None else s.values.get("k_obj")
    if k is None:
        if s.values.get("depth_tgt") is None:
            raise ValueError("depth_scale needs k_obj (in params.depth_scale or as k_obj=…) or depth_tgt to calibrate on")
        k = per_sample_k_obj(s.reference(), depth_at(s["depth_tgt"], (h, w)), f_lat, depth_mode=mode,
                             depth_stat=q["depth_stat"])
    loss, _ = depth_aware_scale_loss(m_hat, depth_at(s["depth_pred"], (h, w)), f_lat, k, depth_mode=mode,
                                     depth_stat=q["depth_stat"])
    return loss


def _spectral(s: _Step) -> torch.Tensor:
    q = s.params["texture_spectral"]
    return SpectralPeriodLoss(**q)(s["image_pred"], s["image_tgt"], s["mask"])


def _boundary_excess(s: _Step) -> torch.Tensor:
    """``boundary_loss(M̂, φ) − boundary_loss(ref, φ)``: the boundary loss less its value at a perfect
    prediction (whose change mask is the reference itself). The raw loss is negative near its optimum
    (φ < 0 inside) and drove totals below zero; the offset is a constant, so the gradient is the
    document's. The dashboard shows the same number."""
    ref = s.reference()
    phi = signed_distance_map_from_mask(ref > 0.5, normalize=s.params["boundary"]["normalize"]).to(s.mask_latent())
    return boundary_loss(s.change_mask(), phi) - boundary_loss(ref, phi).detach()


_TERMS = {
    "latent_mse": lambda s: weighted_masked_mse_latent(s["z_pred"], s["z_tgt"], s.mask_latent(), **s.params["latent_mse"]),
    "latent_background": lambda s: background_preservation_mse_latent(s["z_pred"], s["z_ctx"], s.mask_latent(),
                                                                      **s.params["background"]),
    "latent_dice": lambda s: dice_loss(s.change_mask(), s.reference()),
    "latent_area": lambda s: area_ratio_loss(s.change_mask(), s.reference()),
    "latent_boundary": lambda s: _boundary_excess(s),
    "depth_inside": lambda s: s.depth_terms().inside,
    "depth_outside": lambda s: s.depth_terms().outside,
    "depth_edge": lambda s: s.depth_terms().edge,
    "depth_scale": _depth_scale,
    "mono_adepth": lambda s: s.g2().adepth,
    "mono_rdepth": lambda s: s.g2().rdepth,
    "mono_rgrad": lambda s: s.g2().rgrad,
    "mono_ssi": lambda s: ssi_loss(s["depth_pred"], s["depth_tgt"], s.region()),
    "pixel_masked_mse": lambda s: F.mse_loss(s["image_pred"] * s["mask"], s["image_tgt"] * s["mask"]),
    "texture_spectral": _spectral,
    "texture_log_polar": lambda s: LogPolarAlignLoss(**s.params["texture_log_polar"])(s["image_pred"], s["image_tgt"], s["mask"]),
    "texture_scale_consistency": lambda s: ScaleConsistencyLoss(
        **{k: s.params["texture_spectral"][k] for k in ("r_bins", "tau", "min_bin")})(s["image_pred"], s["image_pred2"], s["mask"]),
    "texture_acf": lambda s: ACFPeriodLoss(**s.params["texture_acf"])(s["image_pred"], s["image_tgt"], s["mask"]),
}


class GeometryLoss(torch.nn.Module):
    """The weighted sum of geometry terms a weights config asks for.

    ``forward(**inputs) -> (total, terms)`` with keyword inputs (any subset; each term says what it
    reads in :data:`TERM_INPUTS`):

    * ``z_pred``, ``z_tgt``, ``z_ctx`` — latents ``[B,16,h,w]``;
    * ``mask`` — the insertion mask at any resolution ``[B,1,H,W]`` (area-downsampled to the latents);
    * ``depth_pred``, ``depth_tgt`` — ``[B,1,H,W]``, ``depth_kind`` ``"metric"`` (default) or
      ``"inverse"``; ``f_px`` — focal length in pixels of ``image_width`` (default: the mask's width);
      ``k_obj`` — when not in the params (else calibrated on ``depth_tgt``);
    * ``image_pred``, ``image_tgt``, ``image_pred2`` — images ``[B,3,H,W]`` for the texture terms.

    ``terms`` holds every computed term's (unweighted) value; zero-weight terms are skipped.
    ``latent_boundary`` is the boundary loss less its value at a perfect prediction (0 = perfect; the
    gradient is :func:`boundary_loss`'s), as the dashboard and the CLI show it.
    """

    def __init__(self, weights: dict[str, float], params: dict | None = None):
        super().__init__()
        unknown = set(weights) - set(TERM_NAMES)
        if unknown:
            raise ValueError(f"unknown term(s) {sorted(unknown)}; known: {list(TERM_NAMES)}")
        self.weights = {t: float(w) for t, w in weights.items()}
        self.params = resolve(params)

    @classmethod
    def from_config(cls, config: dict | str | Path) -> GeometryLoss:
        """From the dashboard's ``weights.json`` (a path) or its parsed dict."""
        if not isinstance(config, dict):
            config = json.loads(Path(config).read_text(encoding="utf-8"))
        if config.get("version") != CONFIG_VERSION:
            raise ValueError(f"weights config version {config.get('version')!r} is not supported (expected {CONFIG_VERSION})")
        return cls(config.get("weights") or {}, config.get("params") or {})

    def active_terms(self) -> list[str]:
        """The terms with a non-zero weight, in the dashboard's order (the ones ``forward`` computes)."""
        return [t for t in TERM_NAMES if self.weights.get(t, 0.0) != 0.0]

    def forward(self, **inputs) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Keyword tensors (see the class docstring) → ``(total, terms)``: the weighted sum (a scalar
        on the inputs' device, differentiable) and each active term's unweighted value. Raises
        ValueError naming every active term whose inputs are missing (None counts as missing)."""
        given = {k for k, v in inputs.items() if v is not None}
        missing = {t: [i for i in TERM_INPUTS[t] if i not in given] for t in self.active_terms()}
        missing = {t: m for t, m in missing.items() if m}
        if missing:
            lines = "; ".join(f"{t} needs {', '.join(m)}" for t, m in missing.items())
            raise ValueError(f"terms with a non-zero weight lack inputs: {lines} (give them, or set their weight to 0)")
        step = _Step({k: v for k, v in inputs.items() if v is not None}, self.params)
        terms: dict[str, torch.Tensor] = {}
        total = None
        for t in self.active_terms():
            value = _TERMS[t](step)
            terms[t] = value
            contribution = self.weights[t] * value
            total = contribution if total is None else total + contribution
        if total is None:
            ref = next((v for v in inputs.values() if isinstance(v, torch.Tensor)), None)
            total = torch.zeros((), device=None if ref is None else ref.device)
        return total, terms
