"""The 003 texture-scale terms: spectral period, log-polar alignment, scale consistency between two
runs, the ACF period, and the masked pixel MSE (L_rec of the 003 example)."""

from __future__ import annotations

import math

import torch

import losses.texture as T
from geoviz.engine.terms.base import TermInputs, TermResult, result_of, to_numpy

__all__ = ["spectral_loss", "texture_spectral", "texture_log_polar", "texture_scale_consistency", "texture_acf", "pixel_masked_mse"]


def spectral_loss(p: dict) -> T.SpectralPeriodLoss:
    """The :class:`losses.texture.SpectralPeriodLoss` configured from the ``texture_spectral`` group of
    the resolved params ``p`` (:func:`resolve_params`); shared by the 003 spectral term and the sweeps."""
    q = p["texture_spectral"]
    return T.SpectralPeriodLoss(r_bins=q["r_bins"], tau=q["tau"], band_sigma=q["band_sigma"], w_peak=q["w_peak"],
                                w_band=q["w_band"], min_bin=q["min_bin"])


def _period(f: float) -> float:
    return 2.0 / f if f > 0 else float("nan")


def texture_spectral(inp: TermInputs, p: dict) -> TermResult:
    """003 spectral period (log f_pred/f_tgt)² plus the narrow-band spectrum match, with both spectra."""
    loss = spectral_loss(p)
    x = inp.leaf("image")
    t = loss.terms(x, inp.image_tgt, inp.mask)  # one computation gives the value and the curves
    f_pred, f_tgt = float(t["f_pred"][0].detach()), float(t["f_tgt"][0].detach())
    extras = {
        "freqs": to_numpy(t["freqs"]),
        "profile_pred": to_numpy(t["profile_pred"]),
        "profile_target": to_numpy(t["profile_tgt"]),
        "prominence_pred": to_numpy(t["prominence_pred"]),
        "prominence_target": to_numpy(t["prominence_tgt"]),
        "peak_pred": f_pred,
        "peak_target": f_tgt,
        "period_pred_px": _period(f_pred),
        "period_target_px": _period(f_tgt),
        "peak_term": float(t["peak"][0].detach()),
        "band_term": float(t["band"][0].detach()),
        "min_bin": loss.min_bin,
        "band_sigma": loss.band_sigma,
    }
    return result_of(loss.combine_terms(t), x, "pixel", "image", None, extras)


def texture_log_polar(inp: TermInputs, p: dict) -> TermResult:
    """003 MSE of log-polar amplitude spectra."""
    q = p["texture_log_polar"]
    loss = T.LogPolarAlignLoss(out_r=q["out_r"], out_t=q["out_t"], r_min=q["r_min"])
    x = inp.leaf("image")
    a, b = loss.maps(x, inp.image_tgt, inp.mask)
    return result_of(loss.loss_from_maps(a, b), x, "pixel", "image", None,
                   {"log_polar_pred": to_numpy(a), "log_polar_target": to_numpy(b), "r_min": q["r_min"]})


def texture_scale_consistency(inp: TermInputs, p: dict) -> TermResult:
    """003 (log f₁/f₂)² between two runs of a checkpoint."""
    if inp.second_run is None:
        return TermResult(None, skipped=f"needs a second run of '{inp.name}': upload it as '{inp.name}~2.png'")
    q = p["texture_spectral"]
    loss = T.ScaleConsistencyLoss(r_bins=q["r_bins"], tau=q["tau"], min_bin=q["min_bin"])
    x = inp.leaf("image")
    value = loss(x, inp.second_run, inp.mask)
    with torch.no_grad():
        f = torch.stack([T.dominant_frequency(t, inp.mask, q["r_bins"], q["tau"], q["min_bin"])[0]
                         for t in (inp.image_pred, inp.second_run)])
    return result_of(value, x, "pixel", "image", None, {"peak_run1": float(f[0]), "peak_run2": float(f[1])})


def texture_acf(inp: TermInputs, p: dict) -> TermResult:
    """003 (log p_pred/p_tgt)² of autocorrelation periods, with both ACFs."""
    q = p["texture_acf"]
    loss = T.ACFPeriodLoss(r_bins=q["r_bins"], tau=q["tau"], min_rel=q["min_rel"], max_rel=q["max_rel"])
    x = inp.leaf("image")
    a, b = loss.analyse(x, inp.image_tgt, inp.mask)
    extras = {
        "lags": to_numpy(a.lags),
        "acf_pred": to_numpy(a.profile[0]),
        "acf_target": to_numpy(a.profile[b]),
        "period_pred_px": float(a.period[0].detach()),
        "period_target_px": float(a.period[b].detach()),
        "lag_range": list(a.lag_range),
        "orientation_pred_deg": math.degrees(float(a.orientation[0])),
        "orientation_target_deg": math.degrees(float(a.orientation[b])),
    }
    return result_of(loss.loss_from_analysis(a, b), x, "pixel", "image", None, extras)


def pixel_masked_mse(inp: TermInputs, p: dict) -> TermResult:
    """003's L_rec: mse(pred·mask, target·mask)."""
    x = inp.leaf("image")
    diff = (x - inp.image_tgt) * inp.mask
    value = diff.square().mean()
    cmap = diff.square().sum(dim=1, keepdim=True) / diff.numel()
    return result_of(value, x, "pixel", "image", cmap, {})


# ---- the registry ------------------------------------------------------------------------------------

