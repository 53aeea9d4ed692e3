"""The 002 terms on latents: the soft change mask (shared by four terms), weighted MSE, background
preservation, Dice, area ratio and the signed-distance boundary term."""

from __future__ import annotations

import torch

import losses
import losses.catalog
from geoviz.engine.terms.base import TermInputs, TermResult, memo, result_of, to_numpy
from geoviz.engine.terms.params import params_key

__all__ = ["change_mask", "reference", "latent_mse", "latent_background", "latent_dice", "latent_area", "boundary_perfect", "latent_boundary"]


def change_mask(inp: TermInputs, p: dict):
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
                "m_hat": to_numpy(m_hat),
                "m_hat_used": to_numpy(used),
                "mask_latent": to_numpy(inp.mask_lat),
                "latent_distance": to_numpy(dist),
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
                extras["reference_mask"] = to_numpy(ref)
        return used, extras

    return memo(inp, ("change_mask", params_key(p, ("change_mask",))), make)


def reference(inp: TermInputs, p: dict) -> torch.Tensor:
    """What Dice/area/boundary compare the change mask with: the latent mask, or (option
    ``change_mask.reference = "target"``) the target's own change mask, ``[1,1,h,w]``."""
    cm = p["change_mask"]
    return memo(inp, ("reference", params_key(p, ("change_mask",))), lambda: losses.reference_mask(
        inp.mask_lat, inp.z_tgt, inp.z_ctx, reference=cm["reference"], roi_r=cm["roi_r"], band_r=cm["band_r"],
        k_sigma=cm["k_sigma"], temperature=cm["temperature"], s_min=cm["s_min"]))


# ---- 002 latent geometry -----------------------------------------------------------------------------


def latent_mse(inp: TermInputs, p: dict) -> TermResult:
    """002 weighted masked MSE on latents (boundary band ×6, background ×0.2) with its weight map."""
    q = p["latent_mse"]
    z = inp.leaf("latent")
    kw = dict(band_r=q["band_r"], w_in=q["w_in"], w_band=q["w_band"], w_out=q["w_out"], channel_reduce=q["channel_reduce"])
    value = losses.weighted_masked_mse_latent(z, inp.z_tgt, inp.mask_lat, **kw)
    cmap = losses.weighted_masked_mse_latent(z, inp.z_tgt, inp.mask_lat, reduction="none", **kw)
    with torch.no_grad():
        m = inp.mask_lat
        band = losses.boundary_band((m > 0.5).float(), q["band_r"])
        weight = band * q["w_band"] + (1 - band) * (m * q["w_in"] + (1 - m) * q["w_out"])
    extras = {"weight_map": to_numpy(weight), "boundary_band": to_numpy(band), "latent_source": inp.latent_source}
    return result_of(value, z, "latent", "latent", cmap, extras)


def latent_background(inp: TermInputs, p: dict) -> TermResult:
    """002 background preservation: MSE against the context latents outside dilate(mask)."""
    r = p["background"]["band_r"]
    z = inp.leaf("latent")
    value = losses.background_preservation_mse_latent(z, inp.z_ctx, inp.mask_lat, band_r=r)
    cmap = losses.background_preservation_mse_latent(z, inp.z_ctx, inp.mask_lat, band_r=r, reduction="none")
    outside = 1.0 - losses.dilate((inp.mask_lat > 0.5).float(), r)
    return result_of(value, z, "latent", "latent", cmap, {"outside": to_numpy(outside), "latent_source": inp.latent_source})


def latent_dice(inp: TermInputs, p: dict) -> TermResult:
    """002 soft Dice between the change mask and the target mask, with the change mask's diagnostics."""
    m_hat, extras = change_mask(inp, p)
    ref = reference(inp, p)
    value = losses.dice_loss(m_hat, ref)
    cmap = losses.dice_loss(m_hat, ref, reduction="none")
    return result_of(value, inp.leaf("latent"), "latent", "latent", cmap, dict(extras))


def latent_area(inp: TermInputs, p: dict) -> TermResult:
    """002 area ratio (log ΣM̂/ΣM)²."""
    m_hat, extras = change_mask(inp, p)
    value = losses.area_ratio_loss(m_hat, reference(inp, p))
    return result_of(value, inp.leaf("latent"), "latent", "latent", None, dict(extras))


def boundary_perfect(inp: TermInputs, p: dict, phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(value, map)`` of the boundary loss at a perfect prediction — one whose change mask is the
    reference itself: ``mean(ref·φ)`` and its ``[B,1,h,w]`` contribution map. It is negative (φ < 0
    inside), which is why the dashboard shows the loss as its excess over this value."""
    ref = reference(inp, p)
    return losses.boundary_loss(ref, phi), losses.boundary_loss(ref, phi, reduction="none")


def latent_boundary(inp: TermInputs, p: dict) -> TermResult:
    """The boundary loss as its excess over a perfect prediction's (0 = perfect, the raw
    ``mean(M̂·φ)`` in ``extras["raw_value"]``): the raw value is negative near its optimum and would
    drive totals below zero. The gradient is the raw loss's (the offset is a constant)."""
    m_hat, extras = change_mask(inp, p)
    phi = memo(inp, ("sdm", params_key(p, ("change_mask", "boundary"))), lambda: losses.signed_distance_map_from_mask(
        reference(inp, p) > 0.5, normalize=p["boundary"]["normalize"]).to(inp.mask_lat))
    raw = losses.boundary_loss(m_hat, phi)
    cmap = losses.boundary_loss(m_hat, phi, reduction="none")
    perfect, perfect_map = boundary_perfect(inp, p, phi)
    band = losses.boundary_band((inp.mask_lat > 0.5).float(), 1)
    return result_of(raw - perfect.detach(), inp.leaf("latent"), "latent", "latent", cmap - perfect_map.detach(),
                   dict(extras, sdm=to_numpy(phi), boundary_band=to_numpy(band), raw_value=float(raw.detach()),
                        perfect_value=float(perfect)))


# ---- 000 depth consistency ---------------------------------------------------------------------------

