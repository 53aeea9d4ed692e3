"""losses.GeometryLoss built from the dashboard's weights.json gives the engine's numbers: each
term's value and the total, for the presets and both change-mask references."""

from pathlib import Path

import numpy as np
import pytest
import torch

import losses
from geoviz.data.layouts import load_sample
from geoviz.engine.combine import combine
from geoviz.engine.evaluate import evaluate
from geoviz.engine.weights import PRESETS, WeightsConfig
from geoviz.models.encoders import ProxyEncoder

ASSETS = Path(__file__).resolve().parents[2] / "assets"


def _step_inputs(sample, pred):
    to = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]  # noqa: E731
    z = ProxyEncoder().encode(torch.cat([to(sample.context), to(sample.target), to(sample.predictions[pred])]))
    return dict(
        z_ctx=z[0:1], z_tgt=z[1:2], z_pred=z[2:3], mask=torch.from_numpy(sample.mask)[None, None],
        depth_pred=torch.from_numpy(sample.prediction_depths[pred])[None, None],
        depth_tgt=torch.from_numpy(sample.target_depth)[None, None], f_px=sample.camera["f_px"],
        image_pred=to(sample.predictions[pred]), image_tgt=to(sample.target),
    )


@pytest.mark.parametrize("preset_name,reference", [("object insertion", "mask"), ("object insertion", "target"),
                                                    ("depth-supervised", "target"), ("material replacement", "mask")])
def test_config_helper_equals_the_engine(tmp_path, preset_name, reference):
    sample = load_sample(ASSETS / "insert_box")
    params = {"change_mask": {"temperature": 0.25, "s_min": 0.05, "reference": reference},
              "depth_consistency": {"beta": 0.2}}
    weights = {**PRESETS[preset_name], "texture_scale_consistency": 0.0}
    path = WeightsConfig(weights=weights, params=params).save(tmp_path / "weights.json")
    loss_fn = losses.GeometryLoss.from_config(path)
    report = evaluate(sample, params, device="cpu", cache=None)
    c = combine(report, weights)
    for pred in ("step_0500", "step_3000"):
        total, terms = loss_fn(**_step_inputs(sample, pred))
        assert set(terms) == {t for t, w in weights.items() if w != 0}
        for t, v in terms.items():
            assert float(v) == pytest.approx(report.values[pred][t], rel=1e-5, abs=1e-9), t
        assert float(total) == pytest.approx(c.totals[pred], rel=1e-5)
