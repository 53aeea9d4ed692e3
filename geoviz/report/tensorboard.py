"""A Report into TensorBoard (a ``torch.utils.tensorboard.SummaryWriter``) or a W&B run, next to the
training run's other curves: the weighted terms, the total and the estimated scale as scalars, the
weighted total's map over the prediction and the change mask as images.

Tags, per sample (``<s>``): ``geoviz/<s>/total``, ``geoviz/<s>/scale`` (the estimated scale s of the
object, 1 = as the mask asks), ``geoviz/<s>/term/<term>`` (weight · value), ``geoviz/<s>/raw/<term>``
(the term's own value), and the images ``geoviz/<s>/total_map`` and ``geoviz/<s>/change_mask``.
A report of several checkpoints logged at one step puts the checkpoint in the tag
(``geoviz/<s>/<checkpoint>/total``).

Example (in a training loop)::

    from torch.utils.tensorboard import SummaryWriter
    from geoviz.report.tensorboard import log_report
    writer = SummaryWriter("runs/insertion")
    log_report(writer, geoviz.evaluate(sample), step=1200)
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from geoviz.engine.combine import combine
from geoviz.engine.evaluate import Report
from geoviz.engine.weights import preset, preset_for
from geoviz.report.figures import DIVERGING, as_pil, overlay_image

__all__ = ["log_report", "checkpoint_step", "report_scalars", "report_images"]


def checkpoint_step(name: str) -> int | None:
    """The training step a checkpoint's name ends in: ``step_000500`` → 500, ``ckpt-1200`` → 1200,
    ``3000`` → 3000; None for a name that ends in no step (``scale_0.90``, ``best``)."""
    m = re.search(r"(?<![\d.])(\d+)$", name)
    return int(m.group(1)) if m else None


def _tag(sample: str, ck: str | None, what: str) -> str:
    named = [re.sub(r"[^\w.\-]+", "_", p) for p in (sample, *([ck] if ck else []))]  # no "/" inside a name
    return "/".join(["geoviz", *named, what])


def report_scalars(report: Report, weights: dict[str, float] | None = None,
                   in_tag: bool = False) -> dict[str, dict[str, float]]:
    """``{checkpoint: {tag: value}}``: each checkpoint's total, estimated scale, weighted and raw term
    values (skipped terms left out). ``weights`` None: the preset of the report's kind (as the
    dashboard starts). ``in_tag``: the checkpoint's name in each tag."""
    weights = weights if weights is not None else preset(preset_for(report.kind))
    c = combine(report, weights)
    out: dict[str, dict[str, float]] = {}
    for ck in report.predictions:
        key = ck if in_tag else None
        row = {_tag(report.sample_name, key, "total"): float(c.totals[ck])}
        scale = report.scales.get(ck)
        if scale is not None and scale.estimate is not None and np.isfinite(scale.estimate):
            row[_tag(report.sample_name, key, "scale")] = float(scale.estimate)
        for t, v in report.values[ck].items():
            if v is None:
                continue
            row[_tag(report.sample_name, key, f"raw/{t}")] = float(v)
            if weights.get(t, 0.0):
                row[_tag(report.sample_name, key, f"term/{t}")] = float(c.weighted[ck][t])
        out[ck] = row
    return out


def _change_mask(report: Report, ck: str) -> np.ndarray | None:
    for r in report.results[ck].values():
        m = (r.extras or {}).get("m_hat_used")
        if m is not None:
            return np.asarray(m, dtype=np.float32).reshape(np.shape(m)[-2:])
    return None


def report_images(report: Report, weights: dict[str, float] | None = None, sample=None,
                  in_tag: bool = False) -> dict[str, dict[str, np.ndarray]]:
    """``{checkpoint: {tag: [H,W,3] uint8}}``: the weighted total's contribution map over the
    prediction (the full image when ``sample``, the :class:`~geoviz.data.sample.Sample`, is given;
    else the report's thumbnail) and the soft change mask (white = changed), where they exist."""
    weights = weights if weights is not None else preset(preset_for(report.kind))
    c = combine(report, weights)
    out: dict[str, dict[str, np.ndarray]] = {}
    for ck in report.predictions:
        key = ck if in_tag else None
        image = sample.predictions.get(ck) if sample is not None else None
        if image is None:
            image = report.thumbnails.get(ck)
        size = report.image_size if image is None else None
        row = {}
        total = c.contribution[ck]
        if total is not None:
            row[_tag(report.sample_name, key, "total_map")] = np.asarray(
                overlay_image(image, total, size, colorscale=DIVERGING, symmetric=True))
        m = _change_mask(report, ck)
        if m is not None:
            grey = as_pil(np.repeat(np.clip(m, 0, 1)[..., None], 3, axis=2)).resize(
                (report.image_size[1], report.image_size[0]), 0)  # nearest: latent cells stay cells
            row[_tag(report.sample_name, key, "change_mask")] = np.asarray(grey)
        out[ck] = row
    return out


def _is_wandb(writer) -> bool:
    return hasattr(writer, "log") and not hasattr(writer, "add_scalar")


def log_report(writer, report: Report, step: int | None = None, *, weights: dict[str, float] | None = None,
               sample=None, images: bool = True) -> dict[int, dict[str, float]]:
    """Log ``report`` into ``writer``: a ``SummaryWriter`` (``add_scalar``, ``add_image``) or a W&B run
    (``run.log``, ``wandb.Image``). Returns ``{step: {tag: value}}``, the scalars logged.

    Args:
        step: the step every checkpoint of the report is logged at (a training loop's step; several
            checkpoints then carry their name in the tags). None: each at the step its name ends
            in (:func:`checkpoint_step`), or its place in the report for names without one.
        weights: term → weight (default: the preset of the report's kind).
        sample: the Sample the report was made of, for full-size images (else thumbnails).
        images: log the images too (per checkpoint: the weighted total's map, the change mask).

    W&B wants steps that only grow: log a W&B run in step order (a training loop does).
    """
    in_tag = step is not None and len(report.predictions) > 1
    scalars = report_scalars(report, weights, in_tag)
    pictures = report_images(report, weights, sample, in_tag) if images else {}
    logged: dict[int, dict[str, float]] = {}
    for i, ck in enumerate(report.predictions):
        at = step if step is not None else (checkpoint_step(ck) if checkpoint_step(ck) is not None else i)
        logged.setdefault(int(at), {}).update(scalars[ck])
        if _is_wandb(writer):
            import wandb  # only when the caller hands a W&B run: wandb is an optional extra

            payload: dict[str, Any] = dict(scalars[ck])
            payload.update({tag: wandb.Image(img) for tag, img in pictures.get(ck, {}).items()})
            writer.log(payload, step=int(at))
            continue
        for tag, value in scalars[ck].items():
            writer.add_scalar(tag, value, int(at))
        for tag, img in pictures.get(ck, {}).items():
            writer.add_image(tag, img, int(at), dataformats="HWC")
    if hasattr(writer, "flush"):
        writer.flush()
    return logged
