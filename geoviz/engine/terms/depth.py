"""The 000 depth-consistency terms (inside, outside, edges) and the 001 depth-aware scale term."""

from __future__ import annotations

import math

import torch

import losses
import losses.catalog
from geoviz.engine.terms.base import TermInputs, TermResult, memo, result_of, to_numpy
from geoviz.engine.terms.latent import change_mask, reference
from geoviz.engine.terms.params import params_key
from losses.config import depth_at

__all__ = ["depth_missing", "depth_part", "depth_scale_setup", "depth_scale"]

_NEEDS_DEPTH = (
    "needs target depth: upload target_depth or choose an estimator",
    "needs the depth of this prediction: upload pred_depth/{name} or choose an estimator",
)


def depth_missing(inp: TermInputs) -> str | None:
    """Why the depth terms cannot run on ``inp`` (which depth is missing), or None."""
    if inp.depth_tgt is None:
        return _NEEDS_DEPTH[0]
    if inp.depth_pred is None:
        return _NEEDS_DEPTH[1].format(name=inp.name)
    return None


def depth_part(part: str):
    """The ``compute`` of one 000 part (``inside``, ``outside``, ``edge``): the three share one call."""
    def compute(inp: TermInputs, p: dict) -> TermResult:
        missing = depth_missing(inp)
        if missing:
            return TermResult(None, skipped=missing, input="depth")
        q = p["depth_consistency"]
        d = inp.leaf("depth")
        kw = dict(outside_dilate_r=q["outside_dilate_r"], edge_band_r=q["edge_band_r"], beta=q["beta"])
        key = params_key(p, ("depth_consistency",))
        # the three parts come from one call (and one map call), shared through the memo
        terms = memo(inp, ("depth_terms", key), lambda: losses.depth_consistency_loss(d, inp.depth_tgt, inp.mask, **kw))
        maps = memo(inp, ("depth_maps", key), lambda: losses.depth_consistency_loss(
            d, inp.depth_tgt, inp.mask, reduction="none", **kw))

        def shared():
            with torch.no_grad():
                m_bin = (inp.mask > 0.5).float()
                diff = inp.depth_pred - inp.depth_tgt
                return {
                    "depth_pred": to_numpy(inp.depth_pred),
                    "depth_target": to_numpy(inp.depth_tgt),
                    "depth_difference": to_numpy(diff),
                    "region_inside": to_numpy(inp.mask),
                    "region_outside": to_numpy(1.0 - losses.dilate(m_bin, q["outside_dilate_r"])),
                    "region_edge": to_numpy(losses.boundary_band(m_bin, q["edge_band_r"])),
                    "depth_kind": inp.depth_kind,
                    "invalid_fraction": float((~torch.isfinite(diff)).float().mean()),
                }

        extras = memo(inp, ("depth_extras", params_key(p, ("depth_consistency",))), shared)
        return result_of(getattr(terms, part), d, "pixel", "depth", getattr(maps, part), dict(extras))

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


def depth_scale(inp: TermInputs, p: dict) -> TermResult:
    """001: (log s_pred/s_exp)² on the change mask's size, with the depth statistic and k_obj in its extras."""
    missing = depth_missing(inp)
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
    m_hat, cm_extras = change_mask(inp, p)
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
    return result_of(value, inp.leaf("latent"), "latent", "latent", None, extras)


# ---- 004 G2-MonoDepth --------------------------------------------------------------------------------


