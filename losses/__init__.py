"""geoviz losses: the geometry loss terms of the five specifications, as drop-in PyTorch functions.

Pure PyTorch (SciPy for the CPU signed distance map); no import of ``geoviz``. Every public name
of ``../shared/specs/README.md`` is importable from here::

    import losses
    m_lat = losses.downsample_mask_area(mask_px, z_pred.shape[-2:])
    m_hat, stats, _ = losses.soft_change_mask_from_latents(z_pred, z_ctx, m_lat)
    loss = losses.dice_loss(m_hat, m_lat) + 0.2 * losses.area_ratio_loss(m_hat, m_lat)
"""

from .config import GeometryLoss
from .depth import DepthConsistencyTerms, depth_consistency_loss, depth_gradients, weighted_smooth_l1
from .latent import (
    ChangeMaskStats,
    area_ratio_loss,
    background_preservation_mse_latent,
    boundary_loss,
    dice_loss,
    reference_mask,
    restrict_to_roi,
    soft_change_mask_from_latents,
    weighted_masked_mse_latent,
)
from .masks import boundary_band, dilate, downsample_mask_area, erode
from .monodepth import G2Terms, StandardizeData, WeightedDataLoss, WeightedMSGradLoss, g2_monodepth_loss, ssi_loss
from .scale import (
    DepthScaleLossInfo,
    depth_aware_scale_loss,
    estimate_k_obj_from_dataset,
    focal_mm_to_px,
    per_sample_k_obj,
)
from .sdm import signed_distance_map_from_mask
from .texture import (
    ACFPeriodLoss,
    LogPolarAlignLoss,
    ScaleConsistencyLoss,
    SpectralPeriodLoss,
    acf_period,
    dominant_frequency,
)

__all__ = [
    "GeometryLoss",
    "DepthConsistencyTerms",
    "depth_consistency_loss",
    "depth_gradients",
    "weighted_smooth_l1",
    "dilate",
    "erode",
    "boundary_band",
    "downsample_mask_area",
    "focal_mm_to_px",
    "depth_aware_scale_loss",
    "DepthScaleLossInfo",
    "estimate_k_obj_from_dataset",
    "per_sample_k_obj",
    "weighted_masked_mse_latent",
    "background_preservation_mse_latent",
    "soft_change_mask_from_latents",
    "ChangeMaskStats",
    "dice_loss",
    "area_ratio_loss",
    "signed_distance_map_from_mask",
    "boundary_loss",
    "restrict_to_roi",
    "reference_mask",
    "SpectralPeriodLoss",
    "LogPolarAlignLoss",
    "ScaleConsistencyLoss",
    "ACFPeriodLoss",
    "dominant_frequency",
    "acf_period",
    "WeightedDataLoss",
    "StandardizeData",
    "WeightedMSGradLoss",
    "G2Terms",
    "g2_monodepth_loss",
    "ssi_loss",
]
