"""What is diagnosed, at the top of the page: the context, the target with the mask's outline, the
prediction inspected and a thumbnail of every checkpoint (clicking one inspects it). ``views`` is
plain Python; ``build`` and ``wire`` put it on the page."""

from __future__ import annotations

from dataclasses import replace

import gradio as gr
import numpy as np
from PIL import Image
from scipy.ndimage import binary_dilation, binary_erosion

from geoviz.app.page import FOCUS, HIDDEN, Page
from geoviz.app.state import Focus, Session, Update

__all__ = ["VIEWS", "views", "build", "wire", "with_outline", "thumbnails"]

VIEWS = {"session": ("shown_context", "shown_target", "thumbs"), "prediction": ("shown_pred",)}
OUTLINE = np.array([1.0, 0.15, 0.6], np.float32)  # magenta: visible on most photographs
THUMB_SIDE = 160  # px: the gallery shows them at about 100


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


def thumbnails(session: Session) -> list[tuple[Image.Image, str]]:
    """Every checkpoint's prediction, at most :data:`THUMB_SIDE` px, captioned with its name (its
    total and scale are on its card, above), in the report's order."""
    out = []
    for p in session.report.predictions:
        img = session.prediction_image(p).copy()
        img.thumbnail((THUMB_SIDE, THUMB_SIDE))
        out.append((img, p))
    return out


def views(session: Session, focus: Focus, kinds) -> dict:
    """``shown_context``, ``shown_target`` and ``thumbs`` (session); ``shown_pred`` (prediction)."""
    out = {}
    s = session.sample
    if "session" in kinds:
        out["shown_context"] = s.context
        out["shown_target"] = with_outline(s.target, s.mask)
        out["thumbs"] = thumbnails(session)
    if "prediction" in kinds:
        out["shown_pred"] = s.predictions[focus.pred_in(session)]
    return out


def build(page: Page) -> None:
    """Three images and the checkpoints' thumbnails in a row."""
    with gr.Row(equal_height=True, elem_id="shown_images"):
        kw = dict(interactive=False, height=220, buttons=[], show_label=True)
        page.add("shown_context", gr.Image(label="context", elem_id="shown_context", **kw))
        page.add("shown_target", gr.Image(label="target · mask outlined", elem_id="shown_target", **kw))
        page.add("shown_pred", gr.Image(label="prediction inspected", elem_id="shown_pred", **kw))
        page.add("thumbs", gr.Gallery(label="checkpoints · click one", elem_id="thumbs", columns=2,
                                      height=220, allow_preview=False, object_fit="contain", buttons=[],
                                      interactive=False, format="jpeg"))


def wire(page: Page) -> None:
    """Clicking a thumbnail inspects that checkpoint (as the inspect list does)."""
    outputs = ["inspect", *page.outputs_of("inspect", "prediction")]

    def on_thumb(v, evt):
        session = v.state
        preds = session.report.predictions if session is not None else []
        if evt is None or not isinstance(evt.index, int) or not 0 <= evt.index < len(preds):
            return {}
        session.inspect = preds[evt.index]
        focus = replace(v.focus(), pred=session.inspect)  # the list still holds the one inspected before
        return {"inspect": Update.of(session.inspect), **page.compose(session, focus, ["inspect", "prediction"])}

    page.on(page["thumbs"].select, on_thumb, ["state", *FOCUS], outputs, special=("evt",), **HIDDEN)
