"""The inputs panel: context, target, mask, predictions (and optional depth, latents, camera, k_obj),
the Diagnose button and the demo samples; and what Diagnose does.

Reading the inputs is :class:`geoviz.app.uploads.Uploads` (plain Python); this module lays the
controls out and wires them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import gradio as gr

from geoviz.app.components import image_upload
from geoviz.app.describe import failed_notice
from geoviz.app.page import FOCUS, HIDDEN, Page
from geoviz.app.sessions import ASSETS, follow_kind, input_files, new_session, set_weight_values
from geoviz.app.state import Update
from geoviz.app.uploads import (
    BOX_LABELS,
    MASK_SOURCES,
    RESTORED_BOXES,
    Uploads,
    left_from_restore,
    mask_from_editor,
    params_from_controls,
    path_of,
    paths_of,
    predictions_replaced,
    restored_record,
    with_upload_replaced,
)
from geoviz.data.calibration import calibrate_folder, extract_zip
from geoviz.data.layouts import first_file
from geoviz.data.readers import DEPTH_SUFFIXES
from geoviz.data.tempfiles import new_temp_dir
from geoviz.models.depth import DEPTH_SOURCES

__all__ = ["VIEWS", "views", "build", "build_examples", "wire", "uploads_of", "UPLOADS", "MODEL_CHOICES", "example_row"]

# The inputs show what the user gave; a restored session (a link, a bundle, the demo, a dataset's
# sample) puts its own inputs there, so what is diagnosed is what the boxes hold and Diagnose re-runs it
VIEWS = {"restore": ("context", "target", "mask_choice", "mask_file", "preds", "preds_seen", "target_depth",
                     "pred_depths", "depth_kind", "latents", "camera_file", "k_obj", "kind_choice", "restored")}
DEPTH_FILES = [".npy", ".npz", ".tif", ".tiff", ".png"]
# the page names of the controls an Uploads is read from, by its fields
UPLOADS = {"context": "context", "target": "target", "mask_source": "mask_choice", "mask_file": "mask_file",
           "mask_editor": "mask_editor", "diff_threshold": "diff_threshold", "predictions": "preds",
           "target_depth": "target_depth", "prediction_depths": "pred_depths", "depth_kind": "depth_kind",
           "latents": "latents", "camera_file": "camera_file", "f_px": "f_px", "f_mm": "f_mm",
           "sensor_width_mm": "sensor_w", "k_obj": "k_obj", "sample_kind": "kind_choice"}
UPLOAD_FIELDS = {name: field for field, name in UPLOADS.items()}
RECORDED = ["context", "target", *RESTORED_BOXES, "k_obj"]  # the boxes uploads.restored_record records
MODEL_CHOICES = ["depth_source", "align_depth", "latent_choice"]  # how latents and depths are obtained
# /diagnose's parameters in 0.1's order (API scripts pass them by position)
DIAGNOSE_INPUTS = ["state", "device", "context", "target", "mask_choice", "mask_file", "mask_editor", "diff_threshold",
                   "preds", "target_depth", "pred_depths", "depth_kind", "latents", "camera_file", "f_px", "f_mm",
                   "sensor_w", "k_obj", *FOCUS[1:], *MODEL_CHOICES, "kind_choice"]


def uploads_of(v) -> Uploads:
    """The inputs panel's values (a handler's Values) as an Uploads."""
    return Uploads(**{field: v[name] for field, name in UPLOADS.items()})


def views(session, focus, kinds) -> dict:
    """The session's inputs in the boxes (kind ``restore``), as files written once per sample."""
    if "restore" not in kinds:
        return {}
    files = input_files(session)
    sample = session.original or session.sample
    preds = [str(p) for p in files["predictions"]]
    has_depth = "target_depth" in files or "prediction_depths" in files
    boxes = {"mask_file": str(files["mask"]), "preds": preds, "target_depth": _path(files.get("target_depth")),
             "pred_depths": [str(p) for p in files.get("prediction_depths", [])] or None,
             "latents": [str(p) for p in files.get("latents", [])] or None, "camera_file": _path(files.get("camera")),
             "k_obj": sample.k_obj}
    return {"context": str(files["context"]), "target": str(files["named_target"]), "mask_choice": "upload",
            **boxes, "preds_seen": preds,
            "restored": restored_record({"context": files["context"], "target": files["named_target"], **boxes}),
            "depth_kind": sample.depth_kind if has_depth else "auto (from file name)",
            "kind_choice": session.kind_choice}


def _path(p) -> str | None:
    return str(p) if p is not None else None


def example_row(folder: Path) -> list:
    """A demo sample's files in the order of the examples' inputs."""
    preds = sorted(str(p) for p in (folder / "pred").glob("*.png"))
    depths = sorted(str(p) for p in (folder / "pred_depth").glob("*.np[yz]"))
    cam = folder / "camera.json"
    return [str(folder / "context.png"), str(folder / "target.png"), str(folder / "mask.png"), preds,
            str(first_file(folder, "target_depth", DEPTH_SUFFIXES)), depths, str(cam) if cam.exists() else None]


def build(page: Page) -> None:
    """The inputs panel's controls and the Diagnose button."""
    add = page.add
    with gr.Row():
        add("context", image_upload(label="context", elem_id="context", height=160))
        add("target", image_upload(label="target", elem_id="target", height=160))
    # one control says where the mask comes from; it shows that source's input only
    add("mask_choice", gr.Radio([(label, key) for key, label in MASK_SOURCES.items()], value="upload",
                                label="mask from", elem_id="mask_choice"))
    with add("mask_upload_box", gr.Group(visible=True)):
        add("mask_file", image_upload(label="mask (white = inside; RGBA uses alpha)", elem_id="mask", height=160))
    with add("mask_draw_box", gr.Group(visible=False)):
        add("mask_editor", gr.ImageEditor(type="numpy", image_mode="RGBA", label="paint the region on the target",
                                          elem_id="mask_editor", height=260))
    with add("mask_diff_box", gr.Group(visible=False)):
        add("diff_threshold", gr.Slider(0.0, 0.5, value=0.04, step=0.005, label="threshold: mean |target − context| "
                                        "above it is inside", elem_id="diff_threshold"))
    add("preds", gr.File(file_count="multiple", file_types=["image"], elem_id="preds",
                         label="predictions (file name = checkpoint; <name>~2 = a second run)"))
    with gr.Accordion("depth · latents · camera · k_obj", open=False):
        add("target_depth", gr.File(label="target depth (.npy .npz .tif, 16-bit .png in mm)", elem_id="target_depth",
                                    file_types=DEPTH_FILES))
        add("pred_depths", gr.File(file_count="multiple", label="prediction depths (file name = checkpoint)",
                                   elem_id="pred_depths", file_types=DEPTH_FILES))
        add("depth_kind", gr.Radio(["auto (from file name)", "metric", "inverse"], value="auto (from file name)",
                                   label="depth kind"))
        add("depth_source", gr.Radio(list(DEPTH_SOURCES), value="uploaded", elem_id="depth_source",
                                     label="prediction depth: uploaded maps, or estimated by Depth Anything V2 Small"))
        add("align_depth", gr.Checkbox(True, elem_id="align_depth", label="align estimated depth onto the target "
                                       "(least-squares scale and shift outside the mask)"))
        add("latent_choice", gr.Radio(["proxy", "TAEF1", "uploaded only"], value="proxy", elem_id="latent_choice",
                                      label="latents: proxy (offline), TAEF1 (real Flux latents), or uploaded only"))
        add("latents", gr.File(file_count="multiple", label="latents: context_latents.*, target_latents.*, <checkpoint>.*",
                               file_types=[".safetensors", ".pt", ".npy"], elem_id="latents"))
        add("camera_file", gr.File(label="camera.json", file_types=[".json"], elem_id="camera_file"))
        with gr.Row():
            add("f_px", gr.Number(label="f_px", elem_id="f_px", minimum=0))
            add("f_mm", gr.Number(label="f_mm", minimum=0))
            add("sensor_w", gr.Number(label="sensor width mm", minimum=0))
        with gr.Row():
            add("k_obj", gr.Number(label="k_obj (empty: calibrate on the target)", elem_id="k_obj", minimum=0))
            add("calib_zip", gr.File(label="calibrate k_obj from a .zip of samples", file_types=[".zip"],
                                     elem_id="calib_zip"))
        add("calib_md", gr.Markdown())
    add("kind_choice", gr.Radio(["auto", "insertion", "material"], value="auto", elem_id="kind_choice",
                                label="sample kind — decides the weight preset and how the scale is read"))
    add("diagnose", gr.Button("Diagnose", variant="primary", elem_id="diagnose"))
    add("preds_seen", gr.State([]))  # the prediction files already in the list: an upload replaces them
    add("restored", gr.State({}))  # what a restore put in the boxes (uploads.restored_record)


def build_examples(page: Page) -> None:
    """The demo samples: clicking one fills the inputs and diagnoses it."""
    page.add("examples", gr.Examples(
        examples=[example_row(ASSETS / "insert_box"), example_row(ASSETS / "tiles_wall")],
        inputs=page.all(["context", "target", "mask_file", "preds", "target_depth", "pred_depths", "camera_file"]),
        label="demo samples (assets/)", examples_per_page=4))


def wire(page: Page) -> None:
    """Diagnose (button, demo samples), calibration, the prediction list and the mask editor."""
    everything = page.everything()
    # "restored" and "preds_seen" are States, not the endpoint's parameters, so the API is unchanged
    inputs = [*DIAGNOSE_INPUTS, *page.weight_names(), *page.param_names(), "restored", "preds_seen"]

    def on_diagnose(v, progress):
        progress(0, desc="loading inputs")
        stale = left_from_restore({box: v[box] for box in RECORDED}, v.restored)
        if stale:  # what came with the previous (restored) sample is not this one's
            gr.Info(f"left out the previous sample's {', '.join(BOX_LABELS[b] for b in stale)}: they came with it, "
                    "not with this context and target")
        uploads = with_upload_replaced(uploads_of(v), v.preds_seen)
        sample = dataclasses.replace(uploads, **{UPLOAD_FIELDS[b]: None for b in stale}).to_sample()
        new = new_session(sample, params_from_controls(v.params()), {}, v.device, progress,
                          page.models_from(v.latent_choice, v.depth_source, v.align_depth), warn=gr.Warning)
        set_weight_values(new, v.weights())
        follow_kind(new)
        if v.state is not None:
            new.files = v.state.files
        for n in sample.notices:
            gr.Info(n)
        return {"state": new, **page.compose(new, v.focus(), ["session", "weights", "weighted"])}

    diagnosed = page.on(page["diagnose"].click, on_diagnose, inputs, everything, special=("progress",),
                        api_name="diagnose", compute=True)
    page.then_predictions(diagnosed)

    def settle_boxes(v):
        # the boxes show what was diagnosed: the previous sample's files go, and the checkpoints in
        # the box (a demo sample's too) are what the next upload replaces
        stale = left_from_restore({box: v[box] for box in RECORDED}, v.restored)
        return {"restored": {} if stale else v.restored, **{b: None for b in stale},
                "preds_seen": [] if "preds" in stale else paths_of(v.preds)}

    clearing = (settle_boxes, ["restored", *RECORDED], ["restored", "preds_seen", *RECORDED[2:]])
    page.chain(diagnosed, *clearing, **HIDDEN)
    # the page shows the results it just made: scrolled to the cards
    page.chain(diagnosed, None, [], [], js="() => document.querySelector('#totals')?.scrollIntoView({block: 'start'})")
    page.chain(diagnosed, lambda v: {"notices": failed_notice(v.state)}, ["state"], ["notices"], how="failure",
               **HIDDEN)
    examples = page["examples"]
    example_run = page.chain(examples.load_input_event, on_diagnose, inputs, everything, how="then",
                             special=("progress",), compute=True)
    page.then_predictions(example_run)
    page.chain(example_run, *clearing, **HIDDEN)

    def on_calibrate(v):
        path = path_of(v.calib_zip)
        if not path:
            return {}
        cal = calibrate_folder(extract_zip(path, new_temp_dir("calib-")))
        return {"k_obj": cal.k_obj, "calib_md": f"k_obj = **{cal.k_obj:.5g}** from {len(cal.per_sample)} samples "
                f"({cal.depth_kind} depth); per-sample k within {100 * cal.spread:.1f}% of the median"}

    page.on(page["calib_zip"].upload, on_calibrate, ["calib_zip"], ["k_obj", "calib_md"], api_name="calibrate",
            compute=True)
    preds = page["preds"]

    def on_upload(v):
        # new checkpoints replace the old; the old ones' depths and latents go with them
        new, depths, latents = predictions_replaced(v.preds, v.preds_seen, v.pred_depths, v.latents)
        return {"preds": new, "preds_seen": paths_of(new), "pred_depths": depths, "latents": latents}

    page.on(preds.upload, on_upload, ["preds", "preds_seen", "pred_depths", "latents"],
            ["preds", "preds_seen", "pred_depths", "latents"], **HIDDEN)

    page.on(preds.delete, lambda v: {"preds_seen": paths_of(v.preds)}, ["preds"], ["preds_seen"], **HIDDEN)
    page.on(preds.clear, lambda v: {"preds_seen": []}, [], ["preds_seen"], **HIDDEN)
    page.on(page["target"].change, lambda v: {"mask_editor": {"background": v.target, "layers": [],
                                                              "composite": v.target} if v.target else None},
            ["target"], ["mask_editor"], **HIDDEN)
    boxes = {"upload": "mask_upload_box", "drawn": "mask_draw_box", "difference": "mask_diff_box"}
    page.on(page["mask_choice"].change, lambda v: {box: Update.of(visible=v.mask_choice == key) for key, box in boxes.items()},
            ["mask_choice"], list(boxes.values()), **HIDDEN)
    page.on(page["mask_editor"].change,
            lambda v: {"mask_choice": "drawn"} if mask_from_editor(v.mask_editor) is not None else {},
            ["mask_editor"], ["mask_choice"], **HIDDEN)
