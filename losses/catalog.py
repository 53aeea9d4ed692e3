"""THE table of geometry terms: one :class:`CatalogEntry` per term — its name, family, document,
the inputs it reads, its starter weight, the parameter groups it reads (defaults in
:data:`DEFAULT_PARAMS`) and its value from those inputs. :class:`~losses.config.GeometryLoss` and
geoviz's engine (presets, sliders, CSV columns, sweeps, bundles) read this table; a new term is one
:func:`register` here plus its presentation in ``geoviz.engine.terms``.

A value function takes a :class:`Step` (one call's inputs, the resolved parameters and the work the
terms share) and returns the term's scalar, differentiable with respect to its inputs::

    entry = CATALOG["latent_dice"]
    value = entry.value(Step({"z_pred": z, "z_ctx": zc, "z_tgt": zt, "mask": m}, resolve(None)))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from losses.depth import depth_consistency_loss
from losses.latent import (
    area_ratio_loss,
    background_preservation_mse_latent,
    boundary_loss,
    dice_loss,
    reference_mask,
    restrict_to_roi,
    soft_change_mask_from_latents,
    weighted_masked_mse_latent,
)
from losses.masks import downsample_mask_area
from losses.monodepth import g2_monodepth_loss, ssi_loss
from losses.scale import depth_aware_scale_loss, per_sample_k_obj
from losses.sdm import signed_distance_map_from_mask
from losses.texture import ACFPeriodLoss, LogPolarAlignLoss, ScaleConsistencyLoss, SpectralPeriodLoss

__all__ = ["CatalogEntry", "CATALOG", "DEFAULT_PARAMS", "TERM_INPUTS", "Step", "register", "resolve", "depth_at",
           "INPUT_NAMES"]

# the keyword inputs a term may read (GeometryLoss.__call__'s arguments)
INPUT_NAMES = ("z_pred", "z_tgt", "z_ctx", "mask", "depth_pred", "depth_tgt", "f_px", "image_pred", "image_tgt",
               "image_pred2")

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


@dataclass(frozen=True)
class CatalogEntry:
    """One geometry term: ``name``; ``family`` (``latent``, ``depth``, ``scale``, ``monodepth``,
    ``texture``); ``spec`` (its document, ``"000"``–``"004"``); ``inputs`` (the keyword inputs it
    reads, of :data:`INPUT_NAMES`); ``default_weight`` (the document's starter); ``groups`` (the
    parameter groups it reads); ``value(step) -> scalar tensor``; ``per_sample(step) -> [B]``, each
    sample's value of a batch (NaN where one has none), for terms whose value is not the mean of
    one-sample calls' values computed cheaply otherwise (None: call ``value`` one sample at a time)."""

    name: str
    family: str
    spec: str
    inputs: tuple[str, ...]
    default_weight: float
    groups: tuple[str, ...]
    value: Callable[[Step], torch.Tensor]
    per_sample: Callable[[Step], torch.Tensor] | None = None





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
class Step:
    """One call's inputs and the work its terms share (the change mask, the SDM, the depth terms)."""

    values: dict[str, Any]
    params: dict[str, dict[str, Any]]
    memo: dict = field(default_factory=dict)

    def __getitem__(self, key):
        return self.values[key]

    def memo_get(self, key, fn):
        """``fn()`` computed once per step under ``key``."""
        if key not in self.memo:
            self.memo[key] = fn()
        return self.memo[key]

    def mask_latent(self) -> torch.Tensor:
        """The mask area-downsampled to the latent grid, ``[B,1,h,w]``."""
        z = self.values["z_pred"]
        return self.memo_get("mask_latent", lambda: downsample_mask_area(self.values["mask"], z.shape[-2:]).to(z))

    def change_mask(self) -> torch.Tensor:
        """The soft change mask M̂ ``[B,1,h,w]`` (within the ROI when ``roi_r`` is set)."""
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
        """000's inside / outside / edge terms, computed together."""
        q = self.params["depth_consistency"]
        return self.memo_get("depth", lambda: depth_consistency_loss(
            self.values["depth_pred"], self.values["depth_tgt"], self.values["mask"], outside_dilate_r=q["outside_dilate_r"],
            edge_band_r=q["edge_band_r"], beta=q["beta"]))

    def region(self) -> torch.Tensor:
        """The pixels 004 compares (``monodepth.region``), ``[B,1,H,W]``."""
        m = self.values["mask"]
        m = m if m.dim() == 4 else m.view(m.shape[0] if m.dim() == 3 else 1, 1, *m.shape[-2:])
        region = self.params["monodepth"]["region"]
        if region == "inside":
            return m
        if region == "outside":
            return 1.0 - (m > 0.5).to(m.dtype)
        return torch.ones_like(m)

    def g2(self):
        """004's G2-MonoDepth terms, computed together."""
        return self.memo_get("g2", lambda: g2_monodepth_loss(self.values["depth_pred"], self.values["depth_tgt"], self.region()))


def _depth_scale_parts(s: Step):
    """001's change mask, its depth at the latent grid, f in latent pixels, k_obj and the depth mode."""
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
    return m_hat, depth_at(s["depth_pred"], (h, w)), f_lat, k, mode


def depth_scale_value(s: Step) -> torch.Tensor:
    """001: the mean over valid samples of (log s_pred/s_exp)²."""
    m_hat, d_lat, f_lat, k, mode = _depth_scale_parts(s)
    loss, _ = depth_aware_scale_loss(m_hat, d_lat, f_lat, k, depth_mode=mode, depth_stat=s.params["depth_scale"]["depth_stat"])
    return loss


def depth_scale_per_sample(s: Step) -> torch.Tensor:
    """001 per sample: (log s_pred/s_exp)² ``[B]``, NaN where a sample has no valid size or depth."""
    m_hat, d_lat, f_lat, k, mode = _depth_scale_parts(s)
    _, info = depth_aware_scale_loss(m_hat, d_lat, f_lat, k, depth_mode=mode, depth_stat=s.params["depth_scale"]["depth_stat"])
    ratio = torch.log((info.s_pred + 1e-6) / (info.s_exp.clamp_min(0.0) + 1e-6)).square().flatten()
    return torch.where(info.valid.flatten(), ratio, torch.full_like(ratio, float("nan")))


def _target_for(s: Step) -> torch.Tensor:
    """The target image broadcast to the predictions' batch (the texture losses pair them)."""
    pred, tgt = s["image_pred"], s["image_tgt"]
    return tgt.expand(pred.shape[0], *tgt.shape[1:]) if tgt.shape[0] != pred.shape[0] else tgt


def spectral_value(s: Step) -> torch.Tensor:
    q = s.params["texture_spectral"]
    return SpectralPeriodLoss(**q)(s["image_pred"], s["image_tgt"], s["mask"])


def boundary_excess(s: Step) -> torch.Tensor:
    """``boundary_loss(M̂, φ) − boundary_loss(ref, φ)``: the boundary loss less its value at a perfect
    prediction (whose change mask is the reference itself). The raw loss is negative near its optimum
    (φ < 0 inside) and drove totals below zero; the offset is a constant, so the gradient is the
    document's. The dashboard shows the same number."""
    ref = s.reference()
    phi = signed_distance_map_from_mask(ref > 0.5, normalize=s.params["boundary"]["normalize"]).to(s.mask_latent())
    return boundary_loss(s.change_mask(), phi) - boundary_loss(ref, phi).detach()


CATALOG: dict[str, CatalogEntry] = {e.name: e for e in [
    CatalogEntry("latent_mse", "latent", "002", ("z_pred", "z_tgt", "mask"), 1.0, ("latent_mse",),
                 lambda s: weighted_masked_mse_latent(s["z_pred"], s["z_tgt"], s.mask_latent(), **s.params["latent_mse"])),
    CatalogEntry("latent_background", "latent", "002", ("z_pred", "z_ctx", "mask"), 0.6, ("background",),
                 lambda s: background_preservation_mse_latent(s["z_pred"], s["z_ctx"], s.mask_latent(),
                                                                      **s.params["background"])),
    CatalogEntry("latent_dice", "latent", "002", ("z_pred", "z_ctx", "mask"), 0.9, ("change_mask",),
                 lambda s: dice_loss(s.change_mask(), s.reference())),
    CatalogEntry("latent_area", "latent", "002", ("z_pred", "z_ctx", "mask"), 0.2, ("change_mask",),
                 lambda s: area_ratio_loss(s.change_mask(), s.reference())),
    CatalogEntry("latent_boundary", "latent", "002", ("z_pred", "z_ctx", "mask"), 0.4, ("change_mask", "boundary"),
                 boundary_excess),
    CatalogEntry("depth_inside", "depth", "000", ("depth_pred", "depth_tgt", "mask"), 0.2 * 1.0, ("depth_consistency",),
                 lambda s: s.depth_terms().inside),
    CatalogEntry("depth_outside", "depth", "000", ("depth_pred", "depth_tgt", "mask"), 0.2 * 0.5, ("depth_consistency",),
                 lambda s: s.depth_terms().outside),
    CatalogEntry("depth_edge", "depth", "000", ("depth_pred", "depth_tgt", "mask"), 0.2 * 0.5, ("depth_consistency",),
                 lambda s: s.depth_terms().edge),
    CatalogEntry("depth_scale", "scale", "001", ("z_pred", "z_ctx", "mask", "depth_pred", "f_px"), 0.1, ("change_mask", "depth_scale"),
                 depth_scale_value, depth_scale_per_sample),
    CatalogEntry("mono_adepth", "monodepth", "004", ("depth_pred", "depth_tgt", "mask"), 1.0, ("monodepth",),
                 lambda s: s.g2().adepth),
    CatalogEntry("mono_rdepth", "monodepth", "004", ("depth_pred", "depth_tgt", "mask"), 1.0, ("monodepth",),
                 lambda s: s.g2().rdepth),
    CatalogEntry("mono_rgrad", "monodepth", "004", ("depth_pred", "depth_tgt", "mask"), 0.5, ("monodepth",),
                 lambda s: s.g2().rgrad),
    CatalogEntry("mono_ssi", "monodepth", "004", ("depth_pred", "depth_tgt", "mask"), 0.0, ("monodepth",),
                 lambda s: ssi_loss(s["depth_pred"], s["depth_tgt"], s.region())),
    CatalogEntry("pixel_masked_mse", "texture", "003", ("image_pred", "image_tgt", "mask"), 1.0, (),
                 lambda s: F.mse_loss(s["image_pred"] * s["mask"], s["image_tgt"] * s["mask"]),
                 lambda s: ((s["image_pred"] - s["image_tgt"]) * s["mask"]).square().mean(dim=(1, 2, 3))),
    CatalogEntry("texture_spectral", "texture", "003", ("image_pred", "image_tgt", "mask"), 0.1, ("texture_spectral",),
                 spectral_value,
                 lambda s: SpectralPeriodLoss(**s.params["texture_spectral"]).per_sample(s["image_pred"], _target_for(s), s["mask"])),
    CatalogEntry("texture_log_polar", "texture", "003", ("image_pred", "image_tgt", "mask"), 0.02, ("texture_log_polar",),
                 lambda s: LogPolarAlignLoss(**s.params["texture_log_polar"])(s["image_pred"], s["image_tgt"], s["mask"]),
                 lambda s: LogPolarAlignLoss(**s.params["texture_log_polar"]).per_sample(s["image_pred"], _target_for(s),
                                                                                       s["mask"])),
    CatalogEntry("texture_scale_consistency", "texture", "003", ("image_pred", "image_pred2", "mask"), 0.05, ("texture_spectral",),
                 lambda s: ScaleConsistencyLoss(
        **{k: s.params["texture_spectral"][k] for k in ("r_bins", "tau", "min_bin")})(s["image_pred"], s["image_pred2"], s["mask"])),
    CatalogEntry("texture_acf", "texture", "003", ("image_pred", "image_tgt", "mask"), 0.02, ("texture_acf",),
                 lambda s: ACFPeriodLoss(**s.params["texture_acf"])(s["image_pred"], s["image_tgt"], s["mask"]),
                 lambda s: ACFPeriodLoss(**s.params["texture_acf"]).per_sample(s["image_pred"], s["image_tgt"], s["mask"])),
]}
# what each term reads, by name (a view kept in step with CATALOG by register)
TERM_INPUTS: dict[str, tuple[str, ...]] = {name: e.inputs for name, e in CATALOG.items()}


def register(entry: CatalogEntry, param_defaults: dict[str, dict[str, Any]] | None = None) -> CatalogEntry:
    """Add a term to the catalog (``param_defaults``: new parameter groups it reads, with their
    defaults). Its name must be new, its inputs known and its groups defined."""
    if entry.name in CATALOG:
        raise ValueError(f"term {entry.name!r} is already in the catalog")
    unknown = [i for i in entry.inputs if i not in INPUT_NAMES]
    if unknown:
        raise ValueError(f"term {entry.name!r} reads unknown input(s) {unknown}; known: {list(INPUT_NAMES)}")
    for group, defaults in (param_defaults or {}).items():
        if group in DEFAULT_PARAMS:
            raise ValueError(f"parameter group {group!r} exists already")
        DEFAULT_PARAMS[group] = dict(defaults)
    missing = [g for g in entry.groups if g not in DEFAULT_PARAMS]
    if missing:
        raise ValueError(f"term {entry.name!r} reads undefined parameter group(s) {missing}")
    CATALOG[entry.name] = entry
    TERM_INPUTS[entry.name] = entry.inputs
    return entry
