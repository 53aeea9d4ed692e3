"""The catalog's per-sample values: for each term that has them, sample i of a batch is the value of
sample i alone, and (where the loss is a batch mean) the loss is their mean."""

import pytest
import torch

from losses.catalog import CATALOG, Step, resolve


def _batch(n: int = 3, size: int = 64):
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    mask = ((yy - 32).abs() < 14) & ((xx - 30).abs() < 16)
    mask = mask.float()[None, None]
    periods = torch.tensor([6.0, 7.5, 9.0])[:n]
    stripes = torch.stack([0.5 + 0.4 * torch.sin(2 * torch.pi * (xx + 0.3 * yy) / p) for p in periods])[:, None]
    image_pred = (stripes.expand(-1, 3, -1, -1) + 0.02 * torch.randn(n, 3, size, size, generator=g)).clamp(0, 1)
    image_tgt = (0.5 + 0.4 * torch.sin(2 * torch.pi * (xx + 0.3 * yy) / 7.5))[None, None].expand(1, 3, -1, -1)
    z_ctx = torch.randn(1, 16, size // 8, size // 8, generator=g)
    z_pred = z_ctx + torch.randn(n, 16, size // 8, size // 8, generator=g) * torch.tensor([0.5, 1.0, 2.0])[:n, None, None, None]
    depth_tgt = torch.full((1, 1, size, size), 3.0)
    depth_pred = depth_tgt * torch.tensor([0.9, 1.0, 1.2])[:n, None, None, None]
    return dict(image_pred=image_pred, image_tgt=image_tgt, mask=mask, z_ctx=z_ctx, z_pred=z_pred, z_tgt=z_pred[:1],
                depth_tgt=depth_tgt, depth_pred=depth_pred, f_px=60.0, k_obj=0.4, image_width=size)


def _one(values: dict, i: int) -> dict:
    batched = ("image_pred", "z_pred", "depth_pred")
    return {k: (v[i : i + 1] if k in batched else v) for k, v in values.items()}


@pytest.mark.parametrize("name", [n for n, e in CATALOG.items() if e.per_sample is not None])
def test_per_sample_is_each_sample_alone(name):
    entry, params, values = CATALOG[name], resolve(None), _batch()
    per = entry.per_sample(Step(dict(values), params))
    assert per.shape == (3,)
    alone = torch.stack([entry.value(Step(_one(values, i), params)).reshape(()) for i in range(3)])
    assert torch.allclose(per, alone, rtol=1e-4, atol=1e-7), (per, alone)
    assert len(set(per.tolist())) > 1  # the samples differ: the check could fail
    if name != "depth_scale":  # 001 averages over its valid samples only
        paired = dict(values, image_tgt=values["image_tgt"].expand(3, -1, -1, -1), z_tgt=values["z_tgt"].expand(3, -1, -1, -1))
        assert torch.allclose(entry.value(Step(paired, params)), per.mean(), rtol=1e-4, atol=1e-7)
