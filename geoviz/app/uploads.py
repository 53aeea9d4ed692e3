"""What the inputs panel holds, turned into a Sample, and the parameter controls' values into params.

Plain data (no Gradio): Gradio hands the handlers file paths, dicts and numbers; this module reads
them. Every bad input raises :class:`InputError` naming it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import losses
from geoviz.data.readers import InputError, load_image
from geoviz.data.sample import Sample, build_sample
from geoviz.engine.terms import PARAM_GROUPS

__all__ = ["Uploads", "MASK_SOURCES", "path_of", "paths_of", "replace_with_upload", "mask_from_editor",
           "RESTORED_BOXES", "names_of", "restored_record", "left_from_restore", "BOX_LABELS",
           "with_upload_replaced", "predictions_replaced", "matching_predictions",
           "mask_from_difference", "with_kind", "params_from_controls", "control_value", "PARAM_CONTROLS"]

# where the mask comes from: the control's choices, in the order the page shows them
MASK_SOURCES = {"upload": "uploaded file", "drawn": "drawn on the target", "difference": "|target − context|"}
PARAM_CONTROLS: list[tuple[str, Any]] = [(g, p) for g, ps in PARAM_GROUPS.items() for p in ps]


def path_of(f) -> str | None:
    """The file path in whatever Gradio hands over (a path, a dict, a file object, a list of them)."""
    if f is None:
        return None
    if isinstance(f, (list, tuple)):
        return path_of(f[0]) if f else None
    return getattr(f, "name", None) or (f.get("path") if isinstance(f, dict) else str(f))


def paths_of(files) -> list[str]:
    """Every file path in a multi-file box's value."""
    if not files:
        return []
    if not isinstance(files, (list, tuple)):
        files = [files]
    return [p for p in (path_of(f) for f in files) if p]


def replace_with_upload(files, seen: list[str]) -> tuple[list[str], list[str]]:
    """Gradio's multi-file box adds an upload to the files already in it; a new upload of checkpoints
    replaces them instead (mixing two uploads' checkpoints silently diagnoses both). ``seen``: the
    paths in the box before this upload. Returns the box's new value and the new ``seen``."""
    current, seen = paths_of(files), list(seen or [])
    # the box appends the upload after what it held. Compared by file name: the files a restored
    # session put in the box reach the handler from Gradio's cache, under another folder
    names, seen_names = names_of(current), names_of(seen)
    if seen and len(current) > len(seen):
        if names[: len(seen)] == seen_names:  # the upload follows what the box held
            current = current[len(seen):]
        elif names[-len(seen):] == seen_names:
            # the upload handler has already answered (``seen`` is the upload) but its answer has not
            # reached the browser yet, whose box still shows old + new: the new are the last ones
            current = current[-len(seen):]
    return current, current


# the boxes a restored session fills beside context and target; what it put there belongs to its sample
RESTORED_BOXES = ("mask_file", "preds", "target_depth", "pred_depths", "latents", "camera_file")
BOX_LABELS = {"mask_file": "mask", "preds": "predictions", "target_depth": "target depth",
              "pred_depths": "prediction depths", "latents": "latents", "camera_file": "camera.json", "k_obj": "k_obj"}


def names_of(files) -> list[str]:
    """The file names in a file box's value (Gradio hands a restored file back from its cache, under
    another folder, so a box is compared by names)."""
    return [Path(p).name for p in paths_of(files)]


def contents_of(files) -> list[str]:
    """A digest of each file in a box's value, sorted: what the box holds, wherever Gradio keeps it."""
    return sorted(hashlib.sha1(Path(p).read_bytes()).hexdigest() for p in paths_of(files) if Path(p).is_file())


def restored_record(boxes: dict) -> dict:
    """What a restore put in the boxes (``boxes``: context, target, RESTORED_BOXES and k_obj → their
    values), to tell later whether the user has replaced it: file digests per box, k_obj's value."""
    record = {box: contents_of(boxes[box]) for box in ("context", "target", *RESTORED_BOXES) if boxes.get(box)}
    if boxes.get("k_obj") is not None:
        record["k_obj"] = boxes["k_obj"]
    return record


def left_from_restore(values: dict, record: dict) -> list[str]:
    """The boxes that still hold what a restore put there although the context or the target is
    new (``values``: box → current value): the user started another sample, and those were the
    restored sample's. Empty while context and target are the restored ones.

    Decided when the user diagnoses, not when the new image arrives: clearing boxes on an upload
    would race the user's next upload and could erase it."""
    if not record or all(contents_of(values.get(box)) == record.get(box) for box in ("context", "target")):
        return []
    def same(box):
        return values.get(box) == record[box] if box == "k_obj" else contents_of(values.get(box)) == record[box]
    return [box for box in (*RESTORED_BOXES, "k_obj") if box in record and same(box)]


def matching_predictions(files, predictions) -> list[str] | None:
    """The files of a per-checkpoint box (depths, latents) whose stem names one of ``predictions``
    (or context_latents / target_latents): after new predictions replace the old, the old
    checkpoints' depths and latents would otherwise fail as "matches no prediction"."""
    names = {Path(p).stem for p in paths_of(predictions)} | {"context_latents", "target_latents"}
    kept = [p for p in paths_of(files) if Path(p).stem in names]
    return kept or None


def predictions_replaced(predictions, seen: list[str], depths, latents) -> tuple[list[str], Any, Any]:
    """The prediction box, the prediction depths and the latents after an upload of checkpoints
    (:func:`replace_with_upload`; the old checkpoints' depths and latents dropped). Unchanged values
    are returned as they came."""
    new, _ = replace_with_upload(predictions, seen)
    if new == paths_of(predictions):
        return predictions, depths, latents
    return new, matching_predictions(depths, new), matching_predictions(latents, new)


def with_upload_replaced(uploads: Uploads, seen: list[str]) -> Uploads:
    """``uploads`` as the prediction box's upload handler leaves it (:func:`predictions_replaced`).
    Diagnose applies it too: a click right after an upload can reach the server before that
    handler's answer reaches the box, or after it but before it reaches the browser."""
    new, depths, latents = predictions_replaced(uploads.predictions, seen, uploads.prediction_depths, uploads.latents)
    if new is uploads.predictions:
        return uploads
    return dataclasses.replace(uploads, predictions=new, prediction_depths=depths, latents=latents)


def mask_from_editor(editor: dict | None) -> np.ndarray | None:
    """The drawn mask ``[H, W]`` in {0, 1}: alpha of the editor's first layer (any stroke counts as
    inside); None when nothing is drawn."""
    if not editor or not editor.get("layers"):
        return None
    layer = editor["layers"][0]
    if layer is None:
        return None
    arr = np.asarray(layer)
    alpha = arr[..., 3] if arr.ndim == 3 and arr.shape[2] == 4 else arr
    m = (alpha > 0).astype(np.float32)
    return m if m.any() else None


def mask_from_difference(context: np.ndarray, target: np.ndarray, threshold: float) -> np.ndarray:
    """``mean_c |target − context| > threshold`` ``[H, W]``, closed by one pixel to fill speckle."""
    diff = np.abs(target - context).mean(axis=2)
    m = torch.from_numpy((diff > threshold).astype(np.float32))[None, None]
    return losses.erode(losses.dilate(m, 1), 1)[0, 0].numpy()


def with_kind(sample: Sample, kind: str | None) -> Sample:
    """``sample`` with its kind set (``"auto"`` / None: detected when evaluated); the same object when
    unchanged, else a copy sharing its arrays and memo (the scale readouts are keyed by kind)."""
    kind = None if kind in (None, "", "auto") else kind
    return sample if sample.kind == kind else dataclasses.replace(sample, kind=kind)


@dataclass
class Uploads:
    """The inputs panel's values as Gradio hands them (paths or file dicts, numbers, the editor's
    dict). :meth:`to_sample` reads them."""

    context: Any = None
    target: Any = None
    mask_source: str = "upload"  # a key of MASK_SOURCES
    mask_file: Any = None
    mask_editor: dict | None = None
    diff_threshold: float = 0.04
    predictions: Any = None
    target_depth: Any = None
    prediction_depths: Any = None
    depth_kind: str | None = None  # "auto (from file name)", "metric" or "inverse"
    latents: Any = None
    camera_file: Any = None
    f_px: float | None = None
    f_mm: float | None = None
    sensor_width_mm: float | None = None
    k_obj: float | None = None
    sample_kind: str | None = None

    def mask(self, ctx: str, tgt: str):
        """The mask from the chosen source: a path, or an array ``[H, W]``."""
        if self.mask_source == "drawn":
            mask = mask_from_editor(self.mask_editor)
            if mask is None:
                raise InputError("drawn mask", "nothing is drawn", "paint the region on the target, or upload a mask")
            return mask
        if self.mask_source == "difference":
            return mask_from_difference(load_image(ctx, Path(ctx).name), load_image(tgt, Path(tgt).name),
                                        float(self.diff_threshold))
        mask = path_of(self.mask_file)
        if not mask:
            raise InputError("mask", "missing", "upload a mask, draw it, or derive it from |target − context|")
        return mask

    def camera(self):
        """camera.json's path, or the intrinsics typed in, or None."""
        if path_of(self.camera_file):
            return path_of(self.camera_file)
        if self.f_px:
            return {"f_px": self.f_px}
        if self.f_mm and self.sensor_width_mm:
            return {"f_mm": self.f_mm, "sensor_width_mm": self.sensor_width_mm}
        return None

    def to_sample(self) -> Sample:
        """A Sample named after the target file's stem (InputError names the first bad input; an
        unreadable prediction is left out with a notice, the others are diagnosed)."""
        ctx, tgt = path_of(self.context), path_of(self.target)
        if not ctx:
            raise InputError("context", "missing", "upload the context image (the scene before the edit)")
        if not tgt:
            raise InputError("target", "missing", "upload the target image (the scene after the edit)")
        pred_paths = paths_of(self.predictions)
        if not pred_paths:
            raise InputError("predictions", "none uploaded", "upload one or more predicted images (file name = checkpoint)")
        second = {Path(p).stem[:-2]: p for p in pred_paths if Path(p).stem.endswith("~2")}
        predictions = {Path(p).stem: p for p in pred_paths if not Path(p).stem.endswith("~2")}
        mask = self.mask(ctx, tgt)
        pd_map = {Path(p).stem: p for p in paths_of(self.prediction_depths)}
        unmatched = sorted(set(pd_map) - set(predictions))
        if unmatched:
            raise InputError(f"prediction depth {unmatched[0]}", "matches no prediction's file name",
                             f"name it like a prediction ({', '.join(sorted(predictions))})")
        lat = {Path(p).stem: p for p in paths_of(self.latents)}
        stray = sorted(set(lat) - {"context_latents", "target_latents", *predictions})
        if stray:  # a latent file nobody would use is a naming mistake, not something to drop silently
            raise InputError(f"latents {stray[0]}", "match neither context_latents, target_latents nor a prediction",
                             f"name them context_latents, target_latents or like a prediction "
                             f"({', '.join(sorted(predictions))})")
        k_obj = self.k_obj
        return build_sample(
            context=ctx, target=tgt, mask=mask, predictions=predictions, second_runs=second,
            target_depth=path_of(self.target_depth), prediction_depths=pd_map,
            depth_kind=None if (self.depth_kind or "").startswith("auto") else self.depth_kind, camera=self.camera(),
            context_latents=lat.pop("context_latents", None), target_latents=lat.pop("target_latents", None),
            prediction_latents={k: v for k, v in lat.items() if k in predictions},
            k_obj=float(k_obj) if k_obj not in (None, "") and float(k_obj) > 0 else None,
            name=Path(tgt).stem or "upload", skip_bad_predictions=True,
            kind=None if self.sample_kind in (None, "", "auto") else self.sample_kind,
        )


def params_from_controls(values: list) -> dict:
    """The params panel's values (in PARAM_CONTROLS order) → a params dict. An optional parameter's
    control is a text box: empty means off (None), anything else must be a number."""
    out: dict[str, dict] = {}
    for (group, p), v in zip(PARAM_CONTROLS, values):
        if p.kind == "bool":
            v = bool(v)
        elif p.kind == "choice":
            pass
        elif v is None or (isinstance(v, str) and not v.strip()):
            v = None
        else:
            try:
                number = float(v)
            except (TypeError, ValueError):
                raise InputError(f"params.{group}.{p.name}", f"{v!r} is not a number",
                                 "type a number, or leave it empty to switch it off" if p.optional else "type a number") from None
            v = int(round(number)) if p.kind == "int" and number == round(number) else number
        out.setdefault(group, {})[p.name] = v
    return out


def control_value(p, value):
    """A parameter's value as its control shows it: an optional one as text (empty when off)."""
    if p.optional:
        return "" if value is None else format(value, "g")
    return value
