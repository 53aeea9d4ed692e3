"""What is diagnosed, at the top of the page: the context, the target with the mask's outline, and
the prediction inspected. ``views`` is plain Python; ``build`` puts it on the page."""

from __future__ import annotations

import gradio as gr
import numpy as np
from scipy.ndimage import binary_dilation, binary_erosion

from geoviz.app.page import Page
from geoviz.app.state import Focus, Session

__all__ = ["VIEWS", "views", "build", "wire", "with_outline"]

VIEWS = {"session": ("shown_context", "shown_target"), "prediction": ("shown_pred",)}
OUTLINE = np.array([1.0, 0.15, 0.6], np.float32)  # magenta: visible on most photographs


def with_outline(image: np.ndarray, mask: np.ndarray, width: int = 2) -> np.ndarray:
    """``image`` ``[H, W, 3]`` in [0, 1] with the boundary of ``mask > 0.5`` drawn ``width`` px wide."""
    inside = mask > 0.5
    # 4-neighbour steps out and in; the image's frame is not a boundary (erosion's border counts as inside)
    grown = binary_dilation(inside, iterations=width)
    shrunk = binary_erosion(inside, iterations=width, border_value=1)
    edge = grown & ~shrunk
    out = np.array(image, dtype=np.float32, copy=True)
    out[edge] = OUTLINE
    return out


def views(session: Session, focus: Focus, kinds) -> dict:
    """``shown_context`` and ``shown_target`` (session); ``shown_pred`` (prediction)."""
    out = {}
    s = session.sample
    if "session" in kinds:
        out["shown_context"] = s.context
        out["shown_target"] = with_outline(s.target, s.mask)
    if "prediction" in kinds:
        out["shown_pred"] = s.predictions[focus.pred_in(session)]
    return out


def build(page: Page) -> None:
    """Three images in a row."""
    with gr.Row(equal_height=True, elem_id="shown_images"):
        kw = dict(interactive=False, height=220, buttons=[], show_label=True)
        page.add("shown_context", gr.Image(label="context", elem_id="shown_context", **kw))
        page.add("shown_target", gr.Image(label="target · mask outlined", elem_id="shown_target", **kw))
        page.add("shown_pred", gr.Image(label="prediction inspected", elem_id="shown_pred", **kw))


def wire(page: Page) -> None:
    """Nothing of its own: its images follow the session and the inspected prediction."""
