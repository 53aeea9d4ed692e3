"""The registry: one entry per loss term of ``losses``, with everything a face needs to show it.

A :class:`Term` is a frozen description — family, specification, the inputs it needs, its starter
weight, the parameter groups it reads — and a ``compute(inputs, params) -> TermResult`` that returns
the value, the contribution map (for pixel-sum terms), the gradient map with respect to the term's own
input (latent, depth or image) and named extras (change mask, SDM, spectra, …). A term whose inputs
are missing returns ``skipped`` with a reason, never a silent zero.

Parameter groups (each name the ``losses`` keyword it feeds) are in :data:`PARAM_GROUPS`; a params
dict ``{group: {name: value}}`` with missing entries takes the tool's defaults, :data:`TOOL_PARAMS`
(:func:`resolve_params`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import losses
import losses.catalog
import losses.texture as T
from losses.catalog import CATALOG
from losses.config import DEFAULT_PARAMS, depth_at
from losses.monodepth import StandardizeData, WeightedMSGradLoss

__all__ = [
    "Param",
    "PARAM_GROUPS",
    "TermResult",
    "TermInputs",
    "Term",
    "Presentation",
    "PRESENTATIONS",
    "register_term",
    "catalog_compute",
    "REGISTRY",
    "FAMILIES",
    "resolve_params",
    "settings_of",
    "TOOL_PARAMS",
    "DOCUMENT_PARAMS",
    "PARAM_SETTINGS",
    "DEFAULT_SETTINGS",
    "params_key",
    "gradient_display",
    "depth_scale_setup",
    "spectral_loss",
    "monodepth_region",
    "reference",
    "boundary_perfect",
]


# ---- parameters ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """A tunable parameter: its default (the document's), kind and range, for sliders and checks."""

    name: str
    kind: str = "float"  # float | int | choice | bool; optional values allow None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple = ()
    optional: bool = False
    help: str = ""
    default: Any = None  # filled from losses.config.DEFAULT_PARAMS

    def check(self, value: Any, group: str) -> Any:
        """``value`` checked and normalised for this parameter of ``group``: None (when ``optional``), the
        value itself (``choice``, ``bool``), an ``int`` or a ``float`` within ``[low, high]`` (inclusive).

        Raises ``ValueError`` naming ``params.<group>.<name>`` for an empty, wrong-kind, non-finite,
        non-integer (``int`` kind) or out-of-range value."""
        where = f"params.{group}.{self.name}"
        if value is None:
            if self.optional:
                return None
            raise ValueError(f"{where} cannot be empty")
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"{where} must be one of {list(self.choices)}, got {value!r}")
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{where} must be true or false, got {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
            raise ValueError(f"{where} must be a number, got {value!r}")
        v = int(value) if self.kind == "int" else float(value)
        if self.kind == "int" and float(value) != v:
            raise ValueError(f"{where} must be an integer, got {value!r}")
        if (self.low is not None and v < self.low) or (self.high is not None and v > self.high):
            raise ValueError(f"{where} must be within [{self.low}, {self.high}], got {value!r}")
        return v


PARAM_GROUPS: dict[str, tuple[Param, ...]] = {
    "change_mask": (
        Param("k_sigma", low=0.0, high=6.0, step=0.1, help="tau = mean_bg + k_sigma·σ"),
        Param("band_r", "int", 0, 4, 1, help="sure background excludes dilate(mask, band_r)"),
        Param("temperature", low=0.05, high=2.0, step=0.05, help="s = σ·temperature (1 = the document)"),
        Param("s_min", low=0.0, high=0.5, step=0.01, optional=True, help="σ floor as a fraction of max D"),
        Param("roi_r", "int", 0, 32, 1, optional=True, help="Dice/area/boundary only within roi_r of the mask"),
        Param("reference", "choice", choices=("mask", "target"),
              help="Dice/area/boundary compare M̂ with the mask (document) or the target's own change mask"),
    ),
    "latent_mse": (
        Param("band_r", "int", 0, 4, 1),
        Param("w_in", low=0.0, high=10.0, step=0.1),
        Param("w_band", low=0.0, high=20.0, step=0.5),
        Param("w_out", low=0.0, high=5.0, step=0.05),
        Param("channel_reduce", "choice", choices=("mean", "sum")),
    ),
    "background": (Param("band_r", "int", 0, 4, 1),),
    "boundary": (Param("normalize", "bool", help="divide the SDM by its max |phi|"),),
    "depth_consistency": (
        Param("outside_dilate_r", "int", 0, 16, 1),
        Param("edge_band_r", "int", 0, 16, 1),
        Param("beta", low=0.0, high=5.0, step=0.01),
    ),
    "depth_scale": (
        Param("k_obj", low=0.0, high=1e6, optional=True, help="None: calibrate on this sample's target"),
        Param("depth_stat", "choice", choices=("median", "mean")),
    ),
    "monodepth": (Param("region", "choice", choices=("all", "inside", "outside"),
                        help="which pixels the 004 terms compare"),),
    "texture_spectral": (
        Param("r_bins", "int", 32, 1024, 32),
        Param("tau", low=0.005, high=1.0, step=0.005),
        Param("band_sigma", low=0.02, high=1.0, step=0.01),
        Param("w_peak", low=0.0, high=10.0, step=0.1),
        Param("w_band", low=0.0, high=10.0, step=0.1),
        Param("min_bin", "int", 0, 64, 1),
    ),
    "texture_log_polar": (
        Param("out_r", "int", 16, 512, 16),
        Param("out_t", "int", 16, 720, 4),
        Param("r_min", low=0.001, high=0.5, step=0.001),
    ),
    "texture_acf": (
        Param("r_bins", "int", 16, 1024, 16),
        Param("tau", low=0.005, high=1.0, step=0.005),
        Param("min_rel", low=0.0, high=0.5, step=0.01),
        Param("max_rel", low=0.05, high=1.0, step=0.01),
    ),
}


# The documents' defaults live in ``losses.config`` (a drop-in must behave as written). The tool's
# defaults differ in one group: the document's soft change mask leaks onto the background (every
# background latent at sigmoid(−k_sigma) ≈ 0.12), which on real photographs put the area, Dice and
# boundary minima — and the scale a reader infers from them — 40–60 % off; the leak-free settings
# (../shared/specs/README.md, "Defaults: the library is the document, the tool is right") fix it.
DOCUMENT_PARAMS: dict[str, dict[str, Any]] = {g: dict(v) for g, v in DEFAULT_PARAMS.items()}
TOOL_PARAMS: dict[str, dict[str, Any]] = {
    **{g: dict(v) for g, v in DEFAULT_PARAMS.items()},
    "change_mask": {**DEFAULT_PARAMS["change_mask"], "temperature": 0.25, "s_min": 0.05, "reference": "target"},
}
# named settings a user switches between in one click (the Params tab, ``--settings`` of the CLI)
PARAM_SETTINGS: dict[str, dict[str, dict[str, Any]]] = {"leak-free": TOOL_PARAMS, "as in the document": DOCUMENT_PARAMS}
DEFAULT_SETTINGS = "leak-free"
PARAM_GROUPS = {g: tuple(dataclasses.replace(p, default=TOOL_PARAMS[g][p.name]) for p in ps)
                for g, ps in PARAM_GROUPS.items()}
assert {g: {p.name for p in ps} for g, ps in PARAM_GROUPS.items()} == {g: set(d) for g, d in DEFAULT_PARAMS.items()}


def settings_of(params: dict) -> str:
    """The name of the :data:`PARAM_SETTINGS` entry that resolved ``params`` equal, else ``"custom"``."""
    p = resolve_params(params)
    for name, s in PARAM_SETTINGS.items():
        if p == resolve_params(s):
            return name
    return "custom"


def resolve_params(params: dict | None) -> dict[str, dict[str, Any]]:
    """Fill every group with the tool's defaults (:data:`TOOL_PARAMS`: the documents' except the
    leak-free change mask) and check names, types and ranges.

    Raises ``ValueError`` naming ``params.<group>.<name>`` for an unknown or out-of-range entry.
    """
    params = params or {}
    unknown = set(params) - set(PARAM_GROUPS)
    if unknown:
        raise ValueError(f"unknown parameter group(s) {sorted(unknown)}; known: {sorted(PARAM_GROUPS)}")
    out = {}
    for group, specs in PARAM_GROUPS.items():
        given = dict(params.get(group) or {})
        names = {p.name for p in specs}
        extra = set(given) - names
        if extra:
            raise ValueError(f"unknown parameter(s) {sorted(extra)} in params.{group}; known: {sorted(names)}")
        out[group] = {p.name: p.check(given.get(p.name, p.default), group) for p in specs}
    return out


def params_key(params: dict, groups: tuple[str, ...]) -> str:
    """A stable key of the parameter groups a term reads."""
    return json.dumps({g: params[g] for g in groups}, sort_keys=True)


# ---- inputs and results ----------------------------------------------------------------------------


@dataclass
class TermResult:
    """What one term computed on one prediction.

    ``contribution`` sums to ``value`` (pixel-sum terms only) and ``gradient`` is ∂value/∂input, both
    float32 maps at the resolution of ``space`` (``"latent"`` h×w or ``"pixel"`` H×W). ``gradient``
    is signed for one-channel inputs (depth) and the L2 norm over channels otherwise;
    ``gradient_full`` ``[C,h,w]`` keeps every channel (so weighted sums of gradients are exact).
    """

    value: float | None
    contribution: np.ndarray | None = None
    gradient: np.ndarray | None = None
    gradient_full: np.ndarray | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None
    space: str = "pixel"
    input: str = "image"  # latent | depth | image

    @property
    def ok(self) -> bool:
        """True when the term was computed (``skipped`` is None)."""
        return self.skipped is None


@dataclass
class TermInputs:
    """The tensors one prediction's terms read, on one device, plus a memo for shared work."""

    name: str
    device: torch.device
    image_pred: torch.Tensor  # [1,3,H,W]
    image_tgt: torch.Tensor
    image_ctx: torch.Tensor
    mask: torch.Tensor  # [1,1,H,W]
    z_ctx: torch.Tensor  # [1,16,h,w]
    z_tgt: torch.Tensor
    z_pred: torch.Tensor
    mask_lat: torch.Tensor  # [1,1,h,w]
    latent_source: str = "proxy"
    depth_pred: torch.Tensor | None = None  # [1,1,H,W], NaN invalid, in depth_kind
    depth_tgt: torch.Tensor | None = None
    depth_kind: str = "metric"
    f_px: float | None = None
    k_obj: float | None = None
    second_run: torch.Tensor | None = None
    memo: dict = field(default_factory=dict)

    def leaf(self, key: str) -> torch.Tensor:
        """The prediction-side input as a leaf requiring grad (one per input, shared by terms)."""
        k = ("leaf", key)
        if k not in self.memo:
            src = {"latent": self.z_pred, "depth": self.depth_pred, "image": self.image_pred}[key]
            self.memo[k] = src.detach().clone().requires_grad_(True)
        return self.memo[k]


@dataclass(frozen=True)
class Term:
    """One loss term: ``name`` (the registry key), ``family`` (``latent``, ``depth``, ``scale``,
    ``monodepth``, ``texture``), ``spec`` (its document, ``"000"``–``"004"``), ``label`` and
    ``description`` for people, ``needs`` (inputs beyond the images: ``latents``, ``depth``,
    ``camera``, ``second_run``), ``default_weight`` (the document's starter), ``groups`` (the
    parameter groups it reads), ``input`` (what its gradient is taken on: ``latent``, ``depth``,
    ``image``) and ``compute(inputs, params) -> TermResult`` with ``params`` resolved."""

    name: str
    family: str  # latent | depth | scale | monodepth | texture
    spec: str
    label: str
    needs: frozenset
    default_weight: float
    groups: tuple[str, ...]
    input: str  # latent | depth | image
    compute: Callable[[TermInputs, dict], TermResult]
    description: str = ""


# ---- helpers ---------------------------------------------------------------------------------------


def _np(t: torch.Tensor | None) -> np.ndarray | None:
    if t is None:
        return None
    return t.detach().float().cpu().numpy().squeeze().astype(np.float32, copy=False)


def gradient_display(full: np.ndarray) -> np.ndarray:
    """``[C,h,w]`` gradient → ``[h,w]``: the signed map for one channel, the channel L2 norm otherwise."""
    return full[0] if full.shape[0] == 1 else np.sqrt((full.astype(np.float32) ** 2).sum(axis=0))


def _gradient(value: torch.Tensor, leaf: torch.Tensor) -> np.ndarray:
    """∂value/∂leaf as ``[C,h,w]`` float32 (the leaf is ``[1,C,h,w]``)."""
    (g,) = torch.autograd.grad(value, leaf, retain_graph=True, allow_unused=True)
    if g is None:
        g = torch.zeros_like(leaf)
    return g[0].detach().float().cpu().numpy()


def _result(value: torch.Tensor, leaf: torch.Tensor, space: str, input_: str, contribution=None, extras=None) -> TermResult:
    v = float(value.detach())
    if not math.isfinite(v):
        return TermResult(None, skipped=f"the value is not finite ({v})", space=space, input=input_)
    full = _gradient(value, leaf)
    return TermResult(
        value=v, contribution=_np(contribution), gradient=gradient_display(full), gradient_full=full,
        extras=extras or {}, space=space, input=input_,
    )


def _memo(inp: TermInputs, key, fn):
    if key not in inp.memo:
        inp.memo[key] = fn()
    return inp.memo[key]


def _change_mask(inp: TermInputs, p: dict):
    """The soft change mask (with the ROI option) and its diagnostics, shared by four terms."""
    cm = p["change_mask"]

    def make():
        z = inp.leaf("latent")
        m_hat, stats, dist = losses.soft_change_mask_from_latents(
            z, inp.z_ctx, inp.mask_lat, band_r=cm["band_r"], k_sigma=cm["k_sigma"],
            temperature=cm["temperature"], s_min=cm["s_min"],
        )
        used = losses.restrict_to_roi(m_hat, inp.mask_lat, cm["roi_r"])
        with torch.no_grad():
            m_bin = (inp.mask_lat > 0.5).to(m_hat.dtype)
            sure_bg = 1.0 - losses.dilate(m_bin, cm["band_r"])
            n_bg = float(sure_bg.sum())
            target_area = float(inp.mask_lat.sum())
            leak_sum = float((m_hat * sure_bg).sum())
            extras = {
                "m_hat": _np(m_hat),
                "m_hat_used": _np(used),
                "mask_latent": _np(inp.mask_lat),
                "latent_distance": _np(dist),
                "tau": float(stats.tau.flatten()[0]),
                "s": float(stats.s.flatten()[0]),
                "mean_bg": float(stats.mean_bg.flatten()[0]),
                "std_bg": float(stats.std_bg.flatten()[0]),
                "leakage_mean": leak_sum / n_bg if n_bg else 0.0,
                "leakage_share_of_target": leak_sum / target_area if target_area else 0.0,
                "area_ratio_to_mask": float(used.sum()) / target_area if target_area else float("nan"),
                "latent_source": inp.latent_source,
                "reference": cm["reference"],
            }
            ref = reference(inp, p)
            ref_area = float(ref.sum())
            extras["area_ratio"] = float(used.sum()) / ref_area if ref_area else float("nan")
            if cm["reference"] != "mask":
                extras["reference_mask"] = _np(ref)
        return used, extras

    return _memo(inp, ("change_mask", params_key(p, ("change_mask",))), make)


def reference(inp: TermInputs, p: dict) -> torch.Tensor:
    """What Dice/area/boundary compare the change mask with: the latent mask, or (option
    ``change_mask.reference = "target"``) the target's own change mask, ``[1,1,h,w]``."""
    cm = p["change_mask"]
    return _memo(inp, ("reference", params_key(p, ("change_mask",))), lambda: losses.reference_mask(
        inp.mask_lat, inp.z_tgt, inp.z_ctx, reference=cm["reference"], roi_r=cm["roi_r"], band_r=cm["band_r"],
        k_sigma=cm["k_sigma"], temperature=cm["temperature"], s_min=cm["s_min"]))


# ---- 002 latent geometry -----------------------------------------------------------------------------


def _latent_mse(inp: TermInputs, p: dict) -> TermResult:
    q = p["latent_mse"]
    z = inp.leaf("latent")
    kw = dict(band_r=q["band_r"], w_in=q["w_in"], w_band=q["w_band"], w_out=q["w_out"], channel_reduce=q["channel_reduce"])
    value = losses.weighted_masked_mse_latent(z, inp.z_tgt, inp.mask_lat, **kw)
    cmap = losses.weighted_masked_mse_latent(z, inp.z_tgt, inp.mask_lat, reduction="none", **kw)
    with torch.no_grad():
        m = inp.mask_lat
        band = losses.boundary_band((m > 0.5).float(), q["band_r"])
        weight = band * q["w_band"] + (1 - band) * (m * q["w_in"] + (1 - m) * q["w_out"])
    extras = {"weight_map": _np(weight), "boundary_band": _np(band), "latent_source": inp.latent_source}
    return _result(value, z, "latent", "latent", cmap, extras)


def _latent_background(inp: TermInputs, p: dict) -> TermResult:
    r = p["background"]["band_r"]
    z = inp.leaf("latent")
    value = losses.background_preservation_mse_latent(z, inp.z_ctx, inp.mask_lat, band_r=r)
    cmap = losses.background_preservation_mse_latent(z, inp.z_ctx, inp.mask_lat, band_r=r, reduction="none")
    outside = 1.0 - losses.dilate((inp.mask_lat > 0.5).float(), r)
    return _result(value, z, "latent", "latent", cmap, {"outside": _np(outside), "latent_source": inp.latent_source})


def _latent_dice(inp: TermInputs, p: dict) -> TermResult:
    m_hat, extras = _change_mask(inp, p)
    ref = reference(inp, p)
    value = losses.dice_loss(m_hat, ref)
    cmap = losses.dice_loss(m_hat, ref, reduction="none")
    return _result(value, inp.leaf("latent"), "latent", "latent", cmap, dict(extras))


def _latent_area(inp: TermInputs, p: dict) -> TermResult:
    m_hat, extras = _change_mask(inp, p)
    value = losses.area_ratio_loss(m_hat, reference(inp, p))
    return _result(value, inp.leaf("latent"), "latent", "latent", None, dict(extras))


def boundary_perfect(inp: TermInputs, p: dict, phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(value, map)`` of the boundary loss at a perfect prediction — one whose change mask is the
    reference itself: ``mean(ref·φ)`` and its ``[B,1,h,w]`` contribution map. It is negative (φ < 0
    inside), which is why the dashboard shows the loss as its excess over this value."""
    ref = reference(inp, p)
    return losses.boundary_loss(ref, phi), losses.boundary_loss(ref, phi, reduction="none")


def _latent_boundary(inp: TermInputs, p: dict) -> TermResult:
    """The boundary loss as its excess over a perfect prediction's (0 = perfect, the raw
    ``mean(M̂·φ)`` in ``extras["raw_value"]``): the raw value is negative near its optimum and would
    drive totals below zero. The gradient is the raw loss's (the offset is a constant)."""
    m_hat, extras = _change_mask(inp, p)
    phi = _memo(inp, ("sdm", params_key(p, ("change_mask", "boundary"))), lambda: losses.signed_distance_map_from_mask(
        reference(inp, p) > 0.5, normalize=p["boundary"]["normalize"]).to(inp.mask_lat))
    raw = losses.boundary_loss(m_hat, phi)
    cmap = losses.boundary_loss(m_hat, phi, reduction="none")
    perfect, perfect_map = boundary_perfect(inp, p, phi)
    band = losses.boundary_band((inp.mask_lat > 0.5).float(), 1)
    return _result(raw - perfect.detach(), inp.leaf("latent"), "latent", "latent", cmap - perfect_map.detach(),
                   dict(extras, sdm=_np(phi), boundary_band=_np(band), raw_value=float(raw.detach()),
                        perfect_value=float(perfect)))


# ---- 000 depth consistency ---------------------------------------------------------------------------

_NEEDS_DEPTH = (
    "needs target depth: upload target_depth or choose an estimator",
    "needs the depth of this prediction: upload pred_depth/{name} or choose an estimator",
)


def _depth_missing(inp: TermInputs) -> str | None:
    if inp.depth_tgt is None:
        return _NEEDS_DEPTH[0]
    if inp.depth_pred is None:
        return _NEEDS_DEPTH[1].format(name=inp.name)
    return None


def _depth_part(part: str):
    def compute(inp: TermInputs, p: dict) -> TermResult:
        missing = _depth_missing(inp)
        if missing:
            return TermResult(None, skipped=missing, input="depth")
        q = p["depth_consistency"]
        d = inp.leaf("depth")
        kw = dict(outside_dilate_r=q["outside_dilate_r"], edge_band_r=q["edge_band_r"], beta=q["beta"])
        key = params_key(p, ("depth_consistency",))
        # the three parts come from one call (and one map call), shared through the memo
        terms = _memo(inp, ("depth_terms", key), lambda: losses.depth_consistency_loss(d, inp.depth_tgt, inp.mask, **kw))
        maps = _memo(inp, ("depth_maps", key), lambda: losses.depth_consistency_loss(
            d, inp.depth_tgt, inp.mask, reduction="none", **kw))

        def shared():
            with torch.no_grad():
                m_bin = (inp.mask > 0.5).float()
                diff = inp.depth_pred - inp.depth_tgt
                return {
                    "depth_pred": _np(inp.depth_pred),
                    "depth_target": _np(inp.depth_tgt),
                    "depth_difference": _np(diff),
                    "region_inside": _np(inp.mask),
                    "region_outside": _np(1.0 - losses.dilate(m_bin, q["outside_dilate_r"])),
                    "region_edge": _np(losses.boundary_band(m_bin, q["edge_band_r"])),
                    "depth_kind": inp.depth_kind,
                    "invalid_fraction": float((~torch.isfinite(diff)).float().mean()),
                }

        extras = _memo(inp, ("depth_extras", params_key(p, ("depth_consistency",))), shared)
        return _result(getattr(terms, part), d, "pixel", "depth", getattr(maps, part), dict(extras))

    return compute


# ---- 001 depth-aware scale ---------------------------------------------------------------------------


def depth_scale_setup(inp: TermInputs, p: dict) -> tuple[str, float, float | None, str]:
    """``(depth_mode, f_px in latent pixels, k_obj, where k_obj came from)`` for the 001 term;
    ``k_obj`` None (and the reason in place of its source) when it cannot be calibrated. Calibrated
    on the target's reference mask (see :func:`reference`), so a detector's bias cancels with it."""
    q = p["depth_scale"]
    mode = "depth" if inp.depth_kind == "metric" else "inv_depth"
    h, w = inp.mask_lat.shape[-2:]
    f_lat = inp.f_px * w / inp.image_pred.shape[-1]  # focal length in latent pixels, so k_obj is resolution-free
    if q["k_obj"] is not None:
        return mode, f_lat, float(q["k_obj"]), "given"
    if inp.k_obj is not None:
        return mode, f_lat, float(inp.k_obj), "sample"
    d_tgt = depth_at(inp.depth_tgt, (h, w))
    k = float(losses.per_sample_k_obj(reference(inp, p), d_tgt, f_lat, depth_mode=mode, depth_stat=q["depth_stat"])[0])
    if not math.isfinite(k):
        return mode, f_lat, None, "k_obj: the target has no valid depth under its mask to calibrate on; enter k_obj"
    return mode, f_lat, k, "calibrated on this sample's target"


def _depth_scale(inp: TermInputs, p: dict) -> TermResult:
    missing = _depth_missing(inp)
    if missing:
        return TermResult(None, skipped=missing, space="latent", input="latent")
    if inp.f_px is None:
        return TermResult(None, skipped="needs the camera: upload camera.json or enter f_px (or f_mm + sensor width)",
                          space="latent", input="latent")
    q = p["depth_scale"]
    mode, f_lat, k_obj, source = depth_scale_setup(inp, p)
    if k_obj is None:
        return TermResult(None, skipped=source, space="latent", input="latent")
    d_pred = depth_at(inp.depth_pred, inp.mask_lat.shape[-2:])
    m_hat, cm_extras = _change_mask(inp, p)
    value, info = losses.depth_aware_scale_loss(m_hat, d_pred, f_lat, k_obj, depth_mode=mode, depth_stat=q["depth_stat"])
    if not bool(info.valid.all()):
        return TermResult(None, skipped="the prediction has no valid depth under its change mask", space="latent", input="latent")
    extras = {
        "s_pred": float(info.s_pred.detach().flatten()[0]),
        "s_exp": float(info.s_exp.flatten()[0]),
        "depth_stat": float(info.depth_stat.flatten()[0]),
        "k_obj": float(k_obj),
        "k_obj_source": source,
        "f_px_latent": f_lat,
        "depth_mode": mode,
        "scale_ratio": float(info.s_pred.detach().flatten()[0] / info.s_exp.flatten()[0]) if float(info.s_exp.flatten()[0]) > 0 else float("nan"),
        "m_hat": cm_extras["m_hat"],
    }
    return _result(value, inp.leaf("latent"), "latent", "latent", None, extras)


# ---- 004 G2-MonoDepth --------------------------------------------------------------------------------


def monodepth_region(inp: TermInputs, p: dict) -> torch.Tensor:
    """The pixels the 004 terms compare, per ``p["monodepth"]["region"]``, as a float map shaped like
    ``inp.mask`` (``[1,1,H,W]``): ``"inside"`` the mask itself (soft values kept), ``"outside"``
    ``1 − (mask > 0.5)``, ``"all"`` ones."""
    region = p["monodepth"]["region"]
    if region == "inside":
        return inp.mask
    if region == "outside":
        return 1.0 - (inp.mask > 0.5).float()
    return torch.ones_like(inp.mask)


def _mono(part: str):
    def compute(inp: TermInputs, p: dict) -> TermResult:
        missing = _depth_missing(inp)
        if missing:
            return TermResult(None, skipped=missing, input="depth")
        d = inp.leaf("depth")
        region = monodepth_region(inp, p)
        key = params_key(p, ("monodepth",))
        if part == "ssi":
            value = losses.ssi_loss(d, inp.depth_tgt, region)
            cmap = losses.ssi_loss(d, inp.depth_tgt, region, reduction="none")
        else:  # the three G2 parts come from one call (and one map call), shared through the memo
            value = getattr(_memo(inp, ("g2", key), lambda: losses.g2_monodepth_loss(d, inp.depth_tgt, region)), part)
            cmap = getattr(_memo(inp, ("g2_maps", key), lambda: losses.g2_monodepth_loss(
                d, inp.depth_tgt, region, reduction="none")), part)

        def shared():
            with torch.no_grad():
                sd, sg = StandardizeData()(inp.depth_pred, inp.depth_tgt, region)
                per_scale = {}
                for s in (1, 2, 4, 8):
                    per_scale[str(s)] = float(WeightedMSGradLoss(scales=(s,))(sd, sg, region))
                return {"standardized_pred": _np(sd), "standardized_target": _np(sg), "rgrad_per_scale": per_scale,
                        "region": _np(region)}

        extras = _memo(inp, ("mono_extras", params_key(p, ("monodepth",))), shared)
        return _result(value, d, "pixel", "depth", cmap, dict(extras))

    return compute


# ---- 003 texture -------------------------------------------------------------------------------------


def spectral_loss(p: dict) -> T.SpectralPeriodLoss:
    """The :class:`losses.texture.SpectralPeriodLoss` configured from the ``texture_spectral`` group of
    the resolved params ``p`` (:func:`resolve_params`); shared by the 003 spectral term and the sweeps."""
    q = p["texture_spectral"]
    return T.SpectralPeriodLoss(r_bins=q["r_bins"], tau=q["tau"], band_sigma=q["band_sigma"], w_peak=q["w_peak"],
                                w_band=q["w_band"], min_bin=q["min_bin"])


def _period(f: float) -> float:
    return 2.0 / f if f > 0 else float("nan")


def _texture_spectral(inp: TermInputs, p: dict) -> TermResult:
    loss = spectral_loss(p)
    x = inp.leaf("image")
    t = loss.terms(x, inp.image_tgt, inp.mask)  # one computation gives the value and the curves
    f_pred, f_tgt = float(t["f_pred"][0].detach()), float(t["f_tgt"][0].detach())
    extras = {
        "freqs": _np(t["freqs"]),
        "profile_pred": _np(t["profile_pred"]),
        "profile_target": _np(t["profile_tgt"]),
        "prominence_pred": _np(t["prominence_pred"]),
        "prominence_target": _np(t["prominence_tgt"]),
        "peak_pred": f_pred,
        "peak_target": f_tgt,
        "period_pred_px": _period(f_pred),
        "period_target_px": _period(f_tgt),
        "peak_term": float(t["peak"][0].detach()),
        "band_term": float(t["band"][0].detach()),
        "min_bin": loss.min_bin,
        "band_sigma": loss.band_sigma,
    }
    return _result(loss.combine_terms(t), x, "pixel", "image", None, extras)


def _texture_log_polar(inp: TermInputs, p: dict) -> TermResult:
    q = p["texture_log_polar"]
    loss = T.LogPolarAlignLoss(out_r=q["out_r"], out_t=q["out_t"], r_min=q["r_min"])
    x = inp.leaf("image")
    a, b = loss.maps(x, inp.image_tgt, inp.mask)
    return _result(loss.loss_from_maps(a, b), x, "pixel", "image", None,
                   {"log_polar_pred": _np(a), "log_polar_target": _np(b), "r_min": q["r_min"]})


def _texture_scale_consistency(inp: TermInputs, p: dict) -> TermResult:
    if inp.second_run is None:
        return TermResult(None, skipped=f"needs a second run of '{inp.name}': upload it as '{inp.name}~2.png'")
    q = p["texture_spectral"]
    loss = T.ScaleConsistencyLoss(r_bins=q["r_bins"], tau=q["tau"], min_bin=q["min_bin"])
    x = inp.leaf("image")
    value = loss(x, inp.second_run, inp.mask)
    with torch.no_grad():
        f = torch.stack([T.dominant_frequency(t, inp.mask, q["r_bins"], q["tau"], q["min_bin"])[0]
                         for t in (inp.image_pred, inp.second_run)])
    return _result(value, x, "pixel", "image", None, {"peak_run1": float(f[0]), "peak_run2": float(f[1])})


def _texture_acf(inp: TermInputs, p: dict) -> TermResult:
    q = p["texture_acf"]
    loss = T.ACFPeriodLoss(r_bins=q["r_bins"], tau=q["tau"], min_rel=q["min_rel"], max_rel=q["max_rel"])
    x = inp.leaf("image")
    a, b = loss.analyse(x, inp.image_tgt, inp.mask)
    extras = {
        "lags": _np(a.lags),
        "acf_pred": _np(a.profile[0]),
        "acf_target": _np(a.profile[b]),
        "period_pred_px": float(a.period[0].detach()),
        "period_target_px": float(a.period[b].detach()),
        "lag_range": list(a.lag_range),
        "orientation_pred_deg": math.degrees(float(a.orientation[0])),
        "orientation_target_deg": math.degrees(float(a.orientation[b])),
    }
    return _result(loss.loss_from_analysis(a, b), x, "pixel", "image", None, extras)


def _pixel_masked_mse(inp: TermInputs, p: dict) -> TermResult:
    x = inp.leaf("image")
    diff = (x - inp.image_tgt) * inp.mask
    value = diff.square().mean()
    cmap = diff.square().sum(dim=1, keepdim=True) / diff.numel()
    return _result(value, x, "pixel", "image", cmap, {})


# ---- the registry ------------------------------------------------------------------------------------

_L = frozenset({"latents"})
_D = frozenset({"depth"})

@dataclass(frozen=True)
class Presentation:
    """What the dashboard needs of a catalog term beyond :mod:`losses.catalog`: ``label`` for
    people, ``needs`` (inputs beyond the images: ``latents``, ``depth``, ``camera``, ``second_run``),
    ``input`` (what its gradient is taken on: ``latent``, ``depth``, ``image``), ``compute(inputs,
    params) -> TermResult`` (maps and extras; None: the generic :func:`catalog_compute`) and a
    ``description``."""

    name: str
    label: str
    needs: frozenset
    input: str
    compute: Callable[[TermInputs, dict], TermResult] | None = None
    description: str = ""


# catalog input name -> what TermInputs holds for it (the prediction side is the gradient's leaf)
_LEAF_OF = {"z_pred": "latent", "depth_pred": "depth", "image_pred": "image"}


def _step_values(inp: TermInputs, input_: str) -> dict[str, Any]:
    values = {"z_pred": inp.z_pred, "z_tgt": inp.z_tgt, "z_ctx": inp.z_ctx, "mask": inp.mask,
              "depth_pred": inp.depth_pred, "depth_tgt": inp.depth_tgt, "f_px": inp.f_px,
              "image_pred": inp.image_pred, "image_tgt": inp.image_tgt, "image_pred2": inp.second_run,
              "depth_kind": inp.depth_kind, "k_obj": inp.k_obj, "image_width": inp.image_pred.shape[-1]}
    key = next(k for k, v in _LEAF_OF.items() if v == input_)
    if values[key] is not None:
        values[key] = inp.leaf(input_)
    return values


def catalog_compute(entry: losses.catalog.CatalogEntry, input_: str) -> Callable[[TermInputs, dict], TermResult]:
    """The generic ``compute`` of a catalog term: its value from the catalog's value function and
    its gradient with respect to ``input_`` (no contribution map, no extras). Missing inputs skip
    the term with their names."""
    def compute(inp: TermInputs, p: dict) -> TermResult:
        values = _step_values(inp, input_)
        missing = [i for i in entry.inputs if values.get(i) is None]
        if missing:
            return TermResult(None, skipped=f"needs {', '.join(missing)}", input=input_)
        value = entry.value(losses.catalog.Step({k: v for k, v in values.items() if v is not None}, p))
        space = "latent" if input_ == "latent" else "pixel"
        return _result(value, inp.leaf(input_), space, input_)

    return compute


def _param_of(name: str, default: Any) -> Param:
    """A slider/box for a parameter known only by its default (a term registered without one)."""
    if isinstance(default, bool):
        return Param(name, "bool", default=default)
    if isinstance(default, int):
        return Param(name, "int", default=default)
    return Param(name, optional=default is None, default=default)


# What the dashboard needs of each catalog term beyond the catalog (losses.catalog: family, document,
# inputs, starter weight, parameter groups, value): a label, what it needs beyond the images, the input
# its gradient is taken on, and how to compute its maps and extras. A catalog term with no
# presentation here gets the generic one (value and gradient from the catalog's value function).
PRESENTATIONS: dict[str, Presentation] = {pr.name: pr for pr in [
    Presentation("latent_mse", "weighted masked MSE", _L, "latent", _latent_mse,
                 "Reconstruction MSE on latents, boundary band weighted ×6, background ×0.2."),
    Presentation("latent_background", "background preservation", _L, "latent", _latent_background,
                 "MSE against the context latents outside dilate(mask)."),
    Presentation("latent_dice", "Dice (change mask)", _L, "latent", _latent_dice,
                 "Soft Dice between the change mask M̂ and the target mask."),
    Presentation("latent_area", "area ratio (change mask)", _L, "latent", _latent_area,
                 "(log ΣM̂/ΣM)²: an object scaled by s costs (2 log s)²."),
    Presentation("latent_boundary", "boundary (SDM)", _L, "latent", _latent_boundary,
                 "mean(M̂·φ) with φ the target's signed distance map, less its value at a perfect "
             "prediction (0 = perfect; the raw value is shown beside it)."),
    Presentation("depth_inside", "depth inside", _D, "depth", _depth_part("inside"),
                 "SmoothL1 depth match inside the mask (starter 0.2 × w_inside 1.0)."),
    Presentation("depth_outside", "depth outside", _D, "depth", _depth_part("outside"),
                 "SmoothL1 depth match outside dilate(mask) (0.2 × 0.5)."),
    Presentation("depth_edge", "depth edges", _D, "depth", _depth_part("edge"),
                 "SmoothL1 of depth gradients on the boundary band (0.2 × 0.5)."),
    Presentation("depth_scale", "depth-aware scale", _D | {"camera"}, "latent", _depth_scale,
                 "(log s_pred/s_exp)² with s_exp = k_obj·f/Z (or k_obj·f·d)."),
    Presentation("mono_adepth", "absolute depth L1", _D, "depth", _mono("adepth"),
                 "Masked mean |d − d̂| (G2 weight 1)."),
    Presentation("mono_rdepth", "relative depth L1", _D, "depth", _mono("rdepth"),
                 "L1 of mean/MAD-standardised depths (G2 weight 1)."),
    Presentation("mono_rgrad", "multi-scale gradient", _D, "depth", _mono("rgrad"),
                 "Sobel gradient L1 at scales 1,2,4,8 on standardised depth (G2 weight 0.5)."),
    Presentation("mono_ssi", "scale-shift invariant", _D, "depth", _mono("ssi"),
                 "L1 after least-squares scale and shift (the comparison 004 contrasts; no starter weight)."),
    Presentation("pixel_masked_mse", "masked pixel MSE", frozenset(), "image", _pixel_masked_mse,
                 "mse(pred·mask, target·mask): L_rec of the 003 example."),
    Presentation("texture_spectral", "spectral period", frozenset(), "image", _texture_spectral,
                 "(log f_pred/f_tgt)² + narrow-band spectrum match (003 example: 0.1)."),
    Presentation("texture_log_polar", "log-polar alignment", frozenset(), "image", _texture_log_polar,
                 "MSE of log-polar amplitude spectra (003 example: 0.02)."),
    Presentation("texture_scale_consistency", "scale consistency", frozenset({"second_run"}), "image", _texture_scale_consistency,
                 "(log f₁/f₂)² between two runs of a checkpoint (003 example: 0.05)."),
    Presentation("texture_acf", "ACF period", frozenset(), "image", _texture_acf,
                 "(log p_pred/p_tgt)² of autocorrelation periods (003 example: 0.02)."),
]}

REGISTRY: dict[str, Term] = {}
FAMILIES: dict[str, list[str]] = {}


def register_term(presentation: Presentation) -> Term:
    """Add (or refresh) the :class:`Term` of a catalog term from its presentation: the catalog gives
    family, spec, starter weight and parameter groups; the presentation the rest."""
    entry = CATALOG.get(presentation.name)
    if entry is None:
        raise ValueError(f"term {presentation.name!r} is not in losses.catalog.CATALOG; register it there first")
    for group in entry.groups:
        if group not in PARAM_GROUPS:  # a group the catalog added: its defaults are the tool's and the document's
            defaults = losses.catalog.DEFAULT_PARAMS[group]
            PARAM_GROUPS[group] = tuple(_param_of(n, v) for n, v in defaults.items())
            TOOL_PARAMS[group], DOCUMENT_PARAMS[group] = dict(defaults), dict(defaults)
    PRESENTATIONS[presentation.name] = presentation
    term = Term(entry.name, entry.family, entry.spec, presentation.label, presentation.needs, entry.default_weight,
                entry.groups, presentation.input, presentation.compute or catalog_compute(entry, presentation.input),
                presentation.description)
    REGISTRY[term.name] = term
    names = FAMILIES.setdefault(term.family, [])
    if term.name not in names:
        names.append(term.name)
    return term


for _name in CATALOG:
    register_term(PRESENTATIONS[_name])
