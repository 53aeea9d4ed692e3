"""Every term's value for N stacked predictions in one call: :func:`batch_values`.

The sensitivity sweeps evaluate dozens of synthetic predictions of one sample. They come here as one
batch — perturbations stacked along the batch dimension of :class:`~geoviz.terms.TermInputs`
(``image_pred [N,3,H,W]``, ``z_pred [N,16,h,w]``, ``depth_pred [N,1,H,W]``; context, target and mask
keep a batch of 1) — instead of N calls of the dashboard's per-prediction ``Term.compute``, which
also builds maps and gradients. No gradients are taken here.

Each value equals what ``Term.compute`` gives for that prediction alone (``tests/geoviz/
test_term_batch.py`` checks every term). The shared work — change masks, spectra, ACFs, log-polar
maps — runs batched; the few losses that normalise over the whole batch (000's region sums, G2's
multi-scale gradient) are evaluated per slice, which at these sizes costs milliseconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import torch

import losses
from geoviz.engine.terms import (
    TermInputs,
    boundary_perfect,
    depth_scale_setup,
    monodepth_region,
    params_key,
    reference,
    resolve_params,
)
from geoviz.engine.terms.base import memo
from losses.catalog import CATALOG, Step

__all__ = ["batch_values", "batched", "change_mask", "BATCH_STATS", "BATCHED_TERMS"]

BATCH_STATS = {"calls": 0, "predictions": 0}  # how many batch calls (and predictions in them) ran


def _n(inp: TermInputs) -> int:
    return inp.image_pred.shape[0]


def _per_slice(n: int, fn: Callable[[int], torch.Tensor]) -> torch.Tensor:
    return torch.stack([fn(i).reshape(()) for i in range(n)])


def _sum_map(contribution: torch.Tensor) -> torch.Tensor:
    """A batch contribution map ``[N,1,h,w]`` (each sample's share divided by N) → ``[N]`` values."""
    return contribution.sum(dim=(1, 2, 3)) * contribution.shape[0]


def change_mask(inp: TermInputs, p: dict) -> torch.Tensor:
    """The batch's change masks ``[N,1,h,w]`` (ROI applied), shared by the terms that read them."""
    cm = p["change_mask"]

    def make():
        m_hat, _, _ = losses.soft_change_mask_from_latents(
            inp.z_pred, inp.z_ctx, inp.mask_lat, band_r=cm["band_r"], k_sigma=cm["k_sigma"],
            temperature=cm["temperature"], s_min=cm["s_min"])
        return losses.restrict_to_roi(m_hat, inp.mask_lat, cm["roi_r"])

    return memo(inp, ("batch_change_mask", params_key(p, ("change_mask",))), make)


def _latent_mse(inp, p):
    q = p["latent_mse"]
    return _sum_map(losses.weighted_masked_mse_latent(
        inp.z_pred, inp.z_tgt, inp.mask_lat, band_r=q["band_r"], w_in=q["w_in"], w_band=q["w_band"], w_out=q["w_out"],
        channel_reduce=q["channel_reduce"], reduction="none"))


def _latent_background(inp, p):
    return _sum_map(losses.background_preservation_mse_latent(
        inp.z_pred, inp.z_ctx, inp.mask_lat, band_r=p["background"]["band_r"], reduction="none"))


def _latent_dice(inp, p):
    return _sum_map(losses.dice_loss(change_mask(inp, p), reference(inp, p), reduction="none"))


def _latent_area(inp, p):
    m_hat, ref = change_mask(inp, p), reference(inp, p)
    return _per_slice(_n(inp), lambda i: losses.area_ratio_loss(m_hat[i : i + 1], ref))


def _latent_boundary(inp, p):
    phi = losses.signed_distance_map_from_mask(reference(inp, p) > 0.5, normalize=p["boundary"]["normalize"]).to(inp.mask_lat)
    perfect, _ = boundary_perfect(inp, p, phi)  # the excess over a perfect prediction, as the Report shows it
    return _sum_map(losses.boundary_loss(change_mask(inp, p), phi, reduction="none")) - perfect


def _depth_missing(inp: TermInputs) -> str | None:
    if inp.depth_tgt is None:
        return "needs target depth: upload target_depth or choose an estimator"
    if inp.depth_pred is None:
        return "needs the depth of the synthetic predictions (a target depth to warp, or an estimator)"
    return None


def _depth_part(part: str):
    def values(inp, p):
        q = p["depth_consistency"]
        kw = dict(outside_dilate_r=q["outside_dilate_r"], edge_band_r=q["edge_band_r"], beta=q["beta"])
        # 000 normalises each region by its pixel count over the whole batch: one slice at a time
        parts = memo(inp, ("batch_depth", params_key(p, ("depth_consistency",))), lambda: [
            losses.depth_consistency_loss(inp.depth_pred[i : i + 1], inp.depth_tgt, inp.mask, **kw) for i in range(_n(inp))])
        return torch.stack([getattr(t, part) for t in parts])

    return values


def _depth_scale(inp, p):
    if inp.f_px is None:
        return "needs the camera: upload camera.json or enter f_px"
    _, _, k_obj, why = depth_scale_setup(inp, p)
    if k_obj is None:
        return why
    return _catalog_per_sample("depth_scale")(inp, p)


def _g2(inp, p):
    region = monodepth_region(inp, p)
    return memo(inp, ("batch_g2", params_key(p, ("monodepth",))), lambda: [
        losses.g2_monodepth_loss(inp.depth_pred[i : i + 1], inp.depth_tgt, region) for i in range(_n(inp))])


def _mono(part: str):
    def values(inp, p):
        if part == "ssi":
            return _sum_map(losses.ssi_loss(inp.depth_pred, inp.depth_tgt, monodepth_region(inp, p), reduction="none"))
        return torch.stack([getattr(t, part) for t in _g2(inp, p)])

    return values


def _batch_step(inp: TermInputs, p: dict) -> Step:
    """The batch as one catalog Step (the N predictions stacked; context, target and mask shared)."""

    def make():
        values = {"z_pred": inp.z_pred, "z_tgt": inp.z_tgt, "z_ctx": inp.z_ctx, "mask": inp.mask,
                  "image_pred": inp.image_pred, "image_tgt": inp.image_tgt, "f_px": inp.f_px,
                  "depth_pred": inp.depth_pred, "depth_tgt": inp.depth_tgt, "depth_kind": inp.depth_kind,
                  "k_obj": inp.k_obj, "image_width": inp.image_pred.shape[-1]}
        return Step({k: v for k, v in values.items() if v is not None}, p)

    return memo(inp, ("batch_step", json.dumps(p, sort_keys=True, default=str)), make)


def _catalog_per_sample(name: str) -> Callable[[TermInputs, dict], torch.Tensor]:
    """A term's per-sample values from the catalog (``CatalogEntry.per_sample``): no formula of
    ``losses`` is re-derived here."""
    entry = CATALOG[name]

    def values(inp: TermInputs, p: dict) -> torch.Tensor:
        return entry.per_sample(_batch_step(inp, p)).reshape(-1)

    return values


_DEPTH_TERMS = {"depth_inside", "depth_outside", "depth_edge", "depth_scale", "mono_adepth", "mono_rdepth",
                "mono_rgrad", "mono_ssi"}

BATCHED_TERMS: dict[str, Callable[[TermInputs, dict], torch.Tensor | str]] = {
    "latent_mse": _latent_mse,
    "latent_background": _latent_background,
    "latent_dice": _latent_dice,
    "latent_area": _latent_area,
    "latent_boundary": _latent_boundary,
    "depth_inside": _depth_part("inside"),
    "depth_outside": _depth_part("outside"),
    "depth_edge": _depth_part("edge"),
    "depth_scale": _depth_scale,
    "mono_adepth": _mono("adepth"),
    "mono_rdepth": _mono("rdepth"),
    "mono_rgrad": _mono("rgrad"),
    "mono_ssi": _mono("ssi"),
    "pixel_masked_mse": _catalog_per_sample("pixel_masked_mse"),
    "texture_spectral": _catalog_per_sample("texture_spectral"),
    "texture_log_polar": _catalog_per_sample("texture_log_polar"),
    "texture_acf": _catalog_per_sample("texture_acf"),
}


def _one_by_one(name: str) -> Callable[[TermInputs, dict], torch.Tensor | str]:
    """A term without a batched formula here (one registered later): its catalog value, one
    prediction at a time — right, only slower."""
    entry = CATALOG[name]

    def values(inp: TermInputs, p: dict) -> torch.Tensor | str:
        if "image_pred2" in entry.inputs:
            return "compares two runs of one checkpoint; a synthetic prediction has none"
        out = []
        for i in range(_n(inp)):
            one = {"z_pred": inp.z_pred[i:i + 1], "z_tgt": inp.z_tgt, "z_ctx": inp.z_ctx, "mask": inp.mask,
                   "image_pred": inp.image_pred[i:i + 1], "image_tgt": inp.image_tgt, "f_px": inp.f_px,
                   "depth_tgt": inp.depth_tgt, "depth_kind": inp.depth_kind, "k_obj": inp.k_obj,
                   "depth_pred": None if inp.depth_pred is None else inp.depth_pred[i:i + 1],
                   "image_width": inp.image_pred.shape[-1]}
            missing = [k for k in entry.inputs if one.get(k) is None]
            if missing:
                return f"needs {', '.join(missing)}"
            out.append(entry.value(Step({k: v for k, v in one.items() if v is not None}, p)).reshape(()))
        return torch.stack(out)

    return values


def batched(name: str) -> Callable[[TermInputs, dict], torch.Tensor | str]:
    """The batched values of term ``name``: its formula here or the catalog's per-sample values, else
    its catalog value per prediction.
    (``texture_scale_consistency`` compares two runs of one checkpoint: a synthetic prediction has none.)"""
    if name in BATCHED_TERMS:
        return BATCHED_TERMS[name]
    return _catalog_per_sample(name) if CATALOG[name].per_sample is not None else _one_by_one(name)


def batch_values(inp: TermInputs, params: dict | None, names: list[str]) -> dict[str, torch.Tensor | str]:
    """``{term: values [N]}`` for the N predictions stacked in ``inp`` (NaN where a value is not
    finite), or ``{term: reason}`` for a term that cannot run on them. One call per batch;
    :data:`BATCH_STATS` counts them."""
    p = resolve_params(params)
    BATCH_STATS["calls"] += 1
    BATCH_STATS["predictions"] += _n(inp)
    out: dict[str, torch.Tensor | str] = {}
    with torch.no_grad():
        for name in names:
            fn = batched(name)
            if name in _DEPTH_TERMS and (why := _depth_missing(inp)):
                out[name] = why
                continue
            v = fn(inp, p)
            if isinstance(v, torch.Tensor):
                v = v.detach().float()
                v = torch.where(torch.isfinite(v), v, torch.full_like(v, math.nan))
            out[name] = v
    return out
