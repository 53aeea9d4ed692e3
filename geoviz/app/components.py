"""Gradio inputs whose uploads reach our loaders untouched."""

from __future__ import annotations

import types

import gradio as gr

__all__ = ["image_upload"]


def _path_only(self: gr.Image, payload):
    if payload is None or payload.path is None or (payload.url or "").startswith("data:"):
        return gr.Image.preprocess(self, payload)  # pasted images come as data URLs: Gradio decodes those
    return str(payload.path)


def image_upload(**kwargs) -> gr.Image:
    """A ``gr.Image`` (``type="filepath"``) whose uploaded file reaches ``geoviz.io`` untouched.

    ``gr.Image`` preprocessing opens the upload with Pillow and converts it (to RGB by default: a
    mask's alpha channel and a 16-bit mask's levels would be lost before we saw them) and fails on a
    broken file with Gradio's own message. Here nothing is decoded in Gradio: ``io.load_image`` /
    ``load_mask`` check the bytes, refuse bombs before decoding and name the file in their errors.
    The override is per instance: a subclass would make Gradio's component metaclass write a
    ``.pyi`` stub beside this module at import time.
    """
    component = gr.Image(type="filepath", **kwargs)
    component.preprocess = types.MethodType(_path_only, component)
    return component
