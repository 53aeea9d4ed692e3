"""Regenerate ``tests/data/golden_depth.npz`` from the specifications' reference code.

    python bench/make_golden.py

Inputs are random (seeded) finite tensors; outputs are what the documents' own code computes on
them (000 ``depth_consistency_loss``; 004 ``WeightedDataLoss``, ``StandardizeData`` +
``WeightedDataLoss``, ``WeightedMSGradLoss`` and the Trainer's total). The tests compare the
project's losses with these numbers to 1e-5 relative.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import spec_reference  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "golden_depth.npz"

CASES_000 = [
    # (shape, mask kind, conf, outside_dilate_r, edge_band_r, beta, w_inside, w_outside, w_edge)
    ((1, 1, 16, 16), "binary", False, 1, 1, 0.1, 1.0, 0.5, 0.5),
    ((2, 1, 32, 48), "soft", False, 1, 1, 0.1, 1.0, 0.5, 0.5),
    ((2, 1, 32, 48), "soft", True, 1, 1, 0.1, 1.0, 0.5, 0.5),
    ((3, 1, 17, 29), "binary", True, 2, 1, 0.3, 1.0, 0.5, 0.5),
    ((2, 1, 40, 40), "soft", False, 1, 3, 0.02, 0.7, 1.3, 2.0),
    ((1, 1, 64, 64), "blob", True, 3, 2, 0.5, 1.0, 0.5, 0.5),
    ((2, 1, 23, 31), "blob", False, 0, 2, 0.1, 1.0, 0.5, 0.5),
    ((4, 1, 12, 20), "soft", True, 1, 0, 1.0, 1.0, 0.5, 0.5),
]
CASES_004 = [
    # (shape, mask kind)
    ((1, 1, 16, 16), "binary"),
    ((2, 1, 32, 48), "binary"),
    ((2, 1, 37, 45), "soft"),
    ((3, 1, 64, 64), "blob"),
    ((1, 1, 50, 70), "ones"),
    ((2, 1, 24, 24), "sparse"),
]


def make_mask(shape, kind, g):
    b, _, h, w = shape
    if kind == "binary":
        return (torch.rand(shape, generator=g) > 0.5).float()
    if kind == "soft":
        return (torch.rand(shape, generator=g) > 0.6).float() * torch.rand(shape, generator=g)
    if kind == "ones":
        return torch.ones(shape)
    if kind == "sparse":
        return (torch.rand(shape, generator=g) > 0.95).float()
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    m = torch.zeros(shape)
    for i in range(b):
        cy, cx = torch.randint(h // 4, 3 * h // 4, (1,), generator=g), torch.randint(w // 4, 3 * w // 4, (1,), generator=g)
        r = float(min(h, w)) / 4
        m[i, 0] = (((yy - cy) ** 2 + (xx - cx) ** 2) < r * r).float()
    return m


def main() -> None:
    ref0, ref4 = spec_reference.load_000(), spec_reference.load_004()
    g = torch.Generator().manual_seed(20261122)
    data: dict[str, np.ndarray] = {}
    for i, (shape, kind, use_conf, r_out, r_edge, beta, wi, wo, we) in enumerate(CASES_000):
        d_pred = torch.randn(shape, generator=g) * 0.5 + 2.0
        d_tgt = torch.randn(shape, generator=g) * 0.5 + 2.0
        mask = make_mask(shape, kind, g)
        conf = torch.rand(shape, generator=g) if use_conf else None
        terms = ref0.depth_consistency_loss(
            d_pred, d_tgt, mask, conf_pred=conf, outside_dilate_r=r_out, edge_band_r=r_edge,
            beta=beta, w_inside=wi, w_outside=wo, w_edge=we,
        )
        key = f"c000_{i}"
        data[f"{key}_d_pred"], data[f"{key}_d_tgt"], data[f"{key}_mask"] = d_pred.numpy(), d_tgt.numpy(), mask.numpy()
        if conf is not None:
            data[f"{key}_conf"] = conf.numpy()
        data[f"{key}_params"] = np.array([r_out, r_edge, beta, wi, wo, we], dtype=np.float64)
        data[f"{key}_out"] = np.array([float(terms.total), float(terms.inside), float(terms.outside), float(terms.edge)])
    for i, (shape, kind) in enumerate(CASES_004):
        depth = torch.rand(shape, generator=g) * 5.0 + 0.5
        gt = depth * (1.0 + 0.2 * torch.randn(shape, generator=g)) + 0.3
        mask = make_mask(shape, kind, g)
        total, adepth, rdepth, rgrad = ref4.g2_total(depth, gt, mask)
        sd, sg = ref4.StandardizeData()(depth, gt, mask)
        key = f"c004_{i}"
        data[f"{key}_depth"], data[f"{key}_gt"], data[f"{key}_mask"] = depth.numpy(), gt.numpy(), mask.numpy()
        data[f"{key}_out"] = np.array([float(total), float(adepth), float(rdepth), float(rgrad)])
        if i < 3:  # the standardised maps themselves, for a few cases
            data[f"{key}_sta_depth"], data[f"{key}_sta_gt"] = sd.numpy(), sg.numpy()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **data)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(CASES_000)} + {len(CASES_004)} cases)")


if __name__ == "__main__":
    main()
