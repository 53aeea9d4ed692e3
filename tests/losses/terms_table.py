"""Every loss term of `losses` as (name, input builder, scalar function, differentiated input), so the
property tests (gradcheck, empty regions, autocast, contribution maps) run over all of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

import losses
import losses.texture as T


def make_inputs(b=2, h=32, w=40, dtype=torch.float32, mask_kind="box", seed=0, depth_kind="finite", lat=(8, 10)):
    """Tensors for every family: images, depths, masks (pixel and latent), latents, camera."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.rand(*s, generator=g, dtype=torch.float64)  # noqa: E731
    mask = torch.zeros(b, 1, h, w, dtype=torch.float64)
    if mask_kind == "box":
        mask[..., h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 1.0
        mask[..., h // 4, w // 4 : 3 * w // 4] = 0.5  # a soft row
    elif mask_kind == "full":
        mask[:] = 1.0
    elif mask_kind == "one":
        mask[..., h // 2, w // 2] = 1.0
    elif mask_kind != "empty":
        raise ValueError(mask_kind)
    lh, lw = lat
    lmask = losses.downsample_mask_area(mask, (lh, lw))
    if mask_kind in ("one",):
        lmask = torch.zeros_like(lmask)
        lmask[..., lh // 2, lw // 2] = 1.0
    d_tgt = 1.0 + 3.0 * r(b, 1, h, w)
    d_pred = d_tgt * (1 + 0.1 * (r(b, 1, h, w) - 0.5)) + 0.05
    if depth_kind == "nan":
        d_pred = torch.full_like(d_pred, float("nan"))
        d_tgt = torch.full_like(d_tgt, float("nan"))
    elif depth_kind == "some_nan":
        d_pred[0, 0, 3, 4] = float("nan")
        d_tgt[-1, 0, 5, 6] = float("inf")
    z_ctx = torch.randn(b, 16, lh, lw, generator=g, dtype=torch.float64)
    z_tgt = z_ctx + 2.0 * lmask * torch.randn(b, 16, lh, lw, generator=g, dtype=torch.float64)
    z_pred = z_tgt + 0.2 * torch.randn(b, 16, lh, lw, generator=g, dtype=torch.float64)
    img_tgt = r(b, 3, h, w)
    img_pred = (img_tgt + 0.1 * r(b, 3, h, w)).clamp(0, 1)
    out = dict(
        mask=mask, lmask=lmask, d_tgt=d_tgt, d_pred=d_pred, z_ctx=z_ctx, z_tgt=z_tgt, z_pred=z_pred,
        img_tgt=img_tgt, img_pred=img_pred, img_pred2=img_pred.flip(-1),
    )
    return {k: v.to(dtype) for k, v in out.items()}


@dataclass
class TermCase:
    name: str
    wrt: str  # the input the gradient is taken with respect to
    fn: Callable[[dict], torch.Tensor]
    map_fn: Callable[[dict], torch.Tensor] | None = None  # reduction="none" contribution map
    fft: bool = False  # FFT-based: gradcheck in fast mode


def _m_hat(x):
    """A soft change mask with fixed tau/s (the estimated statistics are detached by design, so a
    numerical gradient would see them move; the default path is its own case below)."""
    m_hat, _, _ = losses.soft_change_mask_from_latents(x["z_pred"], x["z_ctx"], x["lmask"], tau=2.5, s=0.7)
    return m_hat


def _sdm(x):
    phi = losses.signed_distance_map_from_mask(x["lmask"] > 0.5, normalize=True)  # float32, a constant
    return phi.double() if x["lmask"].dtype == torch.float64 else phi


CASES = [
    TermCase("depth.total", "d_pred", lambda x: losses.depth_consistency_loss(x["d_pred"], x["d_tgt"], x["mask"]).total,
             lambda x: losses.depth_consistency_loss(x["d_pred"], x["d_tgt"], x["mask"], reduction="none").total),
    TermCase("depth.inside", "d_pred", lambda x: losses.depth_consistency_loss(x["d_pred"], x["d_tgt"], x["mask"], conf_pred=x["mask"] * 0 + 0.7).inside,
             lambda x: losses.depth_consistency_loss(x["d_pred"], x["d_tgt"], x["mask"], conf_pred=x["mask"] * 0 + 0.7, reduction="none").inside),
    TermCase("depth.outside", "d_pred", lambda x: losses.depth_consistency_loss(x["d_pred"], x["d_tgt"], x["mask"], outside_dilate_r=2).outside,
             lambda x: losses.depth_consistency_loss(x["d_pred"], x["d_tgt"], x["mask"], outside_dilate_r=2, reduction="none").outside),
    TermCase("depth.edge", "d_pred", lambda x: losses.depth_consistency_loss(x["d_pred"], x["d_tgt"], x["mask"], edge_band_r=2).edge,
             lambda x: losses.depth_consistency_loss(x["d_pred"], x["d_tgt"], x["mask"], edge_band_r=2, reduction="none").edge),
    TermCase("scale.depth_aware", "z_pred",
             lambda x: losses.depth_aware_scale_loss(_m_hat(x), losses.downsample_mask_area(x["d_tgt"], x["lmask"].shape[-2:]).nan_to_num(2.0) * 0 + 2.0, 100.0, 0.1, depth_mode="depth")[0]),
    TermCase("scale.depth_aware_mean_undetached", "d_pred",
             lambda x: losses.depth_aware_scale_loss(x["mask"], x["d_pred"], 100.0, 0.1, depth_mode="inv_depth", depth_stat="mean", detach_depth=False)[0]),
    TermCase("latent.mse", "z_pred", lambda x: losses.weighted_masked_mse_latent(x["z_pred"], x["z_tgt"], x["lmask"]),
             lambda x: losses.weighted_masked_mse_latent(x["z_pred"], x["z_tgt"], x["lmask"], reduction="none")),
    TermCase("latent.background", "z_pred", lambda x: losses.background_preservation_mse_latent(x["z_pred"], x["z_ctx"], x["lmask"]),
             lambda x: losses.background_preservation_mse_latent(x["z_pred"], x["z_ctx"], x["lmask"], reduction="none")),
    TermCase("latent.dice", "z_pred", lambda x: losses.dice_loss(_m_hat(x), x["lmask"]),
             lambda x: losses.dice_loss(_m_hat(x), x["lmask"], reduction="none")),
    TermCase("latent.area", "z_pred", lambda x: losses.area_ratio_loss(_m_hat(x), x["lmask"])),
    TermCase("latent.boundary", "z_pred", lambda x: losses.boundary_loss(_m_hat(x), _sdm(x)),
             lambda x: losses.boundary_loss(_m_hat(x), _sdm(x), reduction="none")),
    TermCase("latent.change_mask_default", "z_pred",
             lambda x: losses.soft_change_mask_from_latents(x["z_pred"], x["z_ctx"], x["lmask"], temperature=0.5, s_min=0.05)[0].mean()),
    TermCase("mono.adepth", "d_pred", lambda x: losses.WeightedDataLoss()(x["d_pred"], x["d_tgt"], x["mask"]),
             lambda x: losses.WeightedDataLoss()(x["d_pred"], x["d_tgt"], x["mask"], reduction="none")),
    TermCase("mono.rdepth", "d_pred", lambda x: losses.g2_monodepth_loss(x["d_pred"], x["d_tgt"], x["mask"]).rdepth,
             lambda x: losses.g2_monodepth_loss(x["d_pred"], x["d_tgt"], x["mask"], reduction="none").rdepth),
    TermCase("mono.rgrad", "d_pred", lambda x: losses.g2_monodepth_loss(x["d_pred"], x["d_tgt"], x["mask"]).rgrad,
             lambda x: losses.g2_monodepth_loss(x["d_pred"], x["d_tgt"], x["mask"], reduction="none").rgrad),
    TermCase("mono.total", "d_pred", lambda x: losses.g2_monodepth_loss(x["d_pred"], x["d_tgt"], x["mask"]).total,
             lambda x: losses.g2_monodepth_loss(x["d_pred"], x["d_tgt"], x["mask"], reduction="none").total),
    TermCase("mono.ssi", "d_pred", lambda x: losses.ssi_loss(x["d_pred"], x["d_tgt"], x["mask"]),
             lambda x: losses.ssi_loss(x["d_pred"], x["d_tgt"], x["mask"], reduction="none")),
    TermCase("texture.spectral", "img_pred", lambda x: T.SpectralPeriodLoss()(x["img_pred"], x["img_tgt"], x["mask"]), fft=True),
    TermCase("texture.log_polar", "img_pred", lambda x: T.LogPolarAlignLoss()(x["img_pred"], x["img_tgt"], x["mask"]), fft=True),
    TermCase("texture.scale_consistency", "img_pred", lambda x: T.ScaleConsistencyLoss()(x["img_pred"], x["img_pred2"], x["mask"]), fft=True),
    TermCase("texture.acf", "img_pred", lambda x: T.ACFPeriodLoss()(x["img_pred"], x["img_tgt"], x["mask"]), fft=True),
]
