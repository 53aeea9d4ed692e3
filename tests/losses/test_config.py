"""losses.GeometryLoss refuses terms whose inputs are absent unless their weight is 0, refuses
unknown names, and backpropagates (its numbers against the engine: tests/geoviz/test_geometry_loss.py)."""

import pytest
import torch

import losses


def test_missing_inputs_are_refused_unless_weight_is_zero():
    z = torch.randn(1, 16, 8, 8)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1
    fn = losses.GeometryLoss({"latent_mse": 1.0, "depth_edge": 0.5, "texture_acf": 0.0})
    with pytest.raises(ValueError, match="depth_edge needs depth_pred, depth_tgt"):
        fn(z_pred=z, z_tgt=z, mask=mask)
    ok = losses.GeometryLoss({"latent_mse": 1.0, "depth_edge": 0.0})
    z_pred = (z + 0.1).requires_grad_(True)
    total, terms = ok(z_pred=z_pred, z_tgt=z, mask=mask)
    assert list(terms) == ["latent_mse"]
    total.backward()
    assert torch.isfinite(z_pred.grad).all() and z_pred.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="unknown term"):
        losses.GeometryLoss({"nope": 1.0})
    with pytest.raises(ValueError, match="params.change_mask"):
        losses.GeometryLoss({}, {"change_mask": {"nope": 1}})
