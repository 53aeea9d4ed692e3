"""Every public name of ../shared/specs/README.md is importable from `losses`, with the documents'
signatures and defaults."""

import inspect

import losses
import losses.texture

PUBLIC = """depth_consistency_loss DepthConsistencyTerms depth_gradients weighted_smooth_l1 dilate erode
boundary_band downsample_mask_area focal_mm_to_px depth_aware_scale_loss DepthScaleLossInfo
estimate_k_obj_from_dataset weighted_masked_mse_latent background_preservation_mse_latent
soft_change_mask_from_latents dice_loss area_ratio_loss signed_distance_map_from_mask boundary_loss
SpectralPeriodLoss LogPolarAlignLoss ScaleConsistencyLoss ACFPeriodLoss WeightedDataLoss StandardizeData
WeightedMSGradLoss g2_monodepth_loss ssi_loss""".split()


def defaults(fn):
    return {k: p.default for k, p in inspect.signature(fn).parameters.items() if p.default is not inspect.Parameter.empty}


def test_every_public_name_is_importable():
    missing = [n for n in PUBLIC if not hasattr(losses, n)]
    assert missing == []
    assert callable(losses.texture.dominant_frequency) and callable(losses.texture.acf_period)


def test_documented_defaults():
    d = defaults(losses.depth_consistency_loss)
    assert {k: d[k] for k in ("conf_pred", "outside_dilate_r", "edge_band_r", "beta", "w_inside", "w_outside", "w_edge", "eps")} == \
        {"conf_pred": None, "outside_dilate_r": 1, "edge_band_r": 1, "beta": 0.1, "w_inside": 1.0, "w_outside": 0.5,
         "w_edge": 0.5, "eps": 1e-8}
    assert {k: defaults(losses.weighted_masked_mse_latent)[k] for k in ("band_r", "w_in", "w_band", "w_out", "channel_reduce")} == \
        {"band_r": 1, "w_in": 1.0, "w_band": 6.0, "w_out": 0.2, "channel_reduce": "mean"}
    assert {k: defaults(losses.soft_change_mask_from_latents)[k] for k in ("mask_latent", "band_r", "k_sigma", "tau", "s")} == \
        {"mask_latent": None, "band_r": 1, "k_sigma": 2.0, "tau": None, "s": None}
    assert defaults(losses.signed_distance_map_from_mask)["normalize"] is False
    d = defaults(losses.depth_aware_scale_loss)
    assert (d["depth_mode"], d["depth_stat"], d["scale_measure"], d["detach_depth"]) == ("inv_depth", "median", "sqrt_area", True)
    assert defaults(losses.SpectralPeriodLoss.__init__) == {"r_bins": 256, "tau": 0.06, "band_sigma": 0.15, "w_peak": 1.0,
                                                            "w_band": 1.0, "min_bin": 2, "max_bin": None}
    assert defaults(losses.LogPolarAlignLoss.__init__)["out_r"] == 128 and defaults(losses.LogPolarAlignLoss.__init__)["out_t"] == 180
    assert defaults(losses.ACFPeriodLoss.__init__) == {"r_bins": 256, "tau": 0.08, "min_rel": 0.03, "max_rel": 0.6, "w": 1.0}
    assert defaults(losses.texture.dominant_frequency) == {"r_bins": 256, "tau": 0.06, "min_bin": 2, "max_bin": None}
    assert defaults(losses.texture.acf_period) == {"r_bins": 256, "tau": 0.08, "min_rel": 0.03, "max_rel": 0.6}
    assert losses.WeightedMSGradLoss().scales == (1, 2, 4, 8)
    assert "center_override" in inspect.signature(losses.SpectralPeriodLoss.forward).parameters
