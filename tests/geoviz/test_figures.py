"""Figures: binary maps (masks, bands, regions) travel as PNG, photographs as JPEG; the scale chart."""

import numpy as np

import geoviz.report.figures as FG
from geoviz.engine.scale import ScaleReadout


def _source(fig) -> str:
    return next(t["source"] for t in fig["data"] if t["type"] == "image")


def test_masks_and_binary_overlays_are_png_and_photographs_jpeg():
    rng = np.random.default_rng(0)
    photo = rng.random((64, 64, 3)).astype(np.float32)
    mask = np.zeros((64, 64), np.float32)
    mask[16:48, 16:48] = 1.0
    assert _source(FG.map_figure(mask)).startswith("data:image/png")  # a mask alone
    assert _source(FG.overlay_figure(photo, mask)).startswith("data:image/png")  # a band over the photo
    assert _source(FG.overlay_figure(photo, rng.random((64, 64)).astype(np.float32))).startswith("data:image/jpeg")
    assert FG.is_binary(mask) and not FG.is_binary(mask + 0.5 * (mask > 2) + np.eye(64, dtype=np.float32) * 0.3)


def test_scale_by_step_orders_checkpoints_and_names_the_declined():
    scales = {"step_200": ScaleReadout("insertion", 0.95, "m", True),
              "step_100": ScaleReadout("insertion", 1.02, "m", True),
              "step_300": ScaleReadout("insertion", None, "m", False, "the object is gone")}
    fig = FG.scale_by_step_figure(list(scales), scales, "insertion")
    trace = fig["data"][0]
    assert trace["x"] == ["step_100", "step_200", "step_300"] and trace["y"] == [1.02, 0.95, None]
    assert "declined: step_300" in fig["layout"]["title"]["text"]
