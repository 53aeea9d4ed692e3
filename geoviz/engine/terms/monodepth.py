"""The 004 G2-MonoDepth terms: absolute and relative depth L1, the multi-scale gradient and the
scale-shift invariant comparison, on the region the specification masks."""

from __future__ import annotations

import torch

import losses
import losses.catalog
from geoviz.engine.terms.base import TermInputs, TermResult, memo, result_of, to_numpy
from geoviz.engine.terms.depth import depth_missing
from geoviz.engine.terms.params import params_key
from losses.monodepth import StandardizeData, WeightedMSGradLoss

__all__ = ["monodepth_region", "mono_part"]


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


def mono_part(part: str):
    """The ``compute`` of one 004 term (``adepth``, ``rdepth``, ``rgrad``, ``ssi``)."""
    def compute(inp: TermInputs, p: dict) -> TermResult:
        missing = depth_missing(inp)
        if missing:
            return TermResult(None, skipped=missing, input="depth")
        d = inp.leaf("depth")
        region = monodepth_region(inp, p)
        key = params_key(p, ("monodepth",))
        if part == "ssi":
            value = losses.ssi_loss(d, inp.depth_tgt, region)
            cmap = losses.ssi_loss(d, inp.depth_tgt, region, reduction="none")
        else:  # the three G2 parts come from one call (and one map call), shared through the memo
            value = getattr(memo(inp, ("g2", key), lambda: losses.g2_monodepth_loss(d, inp.depth_tgt, region)), part)
            cmap = getattr(memo(inp, ("g2_maps", key), lambda: losses.g2_monodepth_loss(
                d, inp.depth_tgt, region, reduction="none")), part)

        def shared():
            with torch.no_grad():
                sd, sg = StandardizeData()(inp.depth_pred, inp.depth_tgt, region)
                per_scale = {}
                for s in (1, 2, 4, 8):
                    per_scale[str(s)] = float(WeightedMSGradLoss(scales=(s,))(sd, sg, region))
                return {"standardized_pred": to_numpy(sd), "standardized_target": to_numpy(sg), "rgrad_per_scale": per_scale,
                        "region": to_numpy(region)}

        extras = memo(inp, ("mono_extras", params_key(p, ("monodepth",))), shared)
        return result_of(value, d, "pixel", "depth", cmap, dict(extras))

    return compute


# ---- 003 texture -------------------------------------------------------------------------------------


