"""Sample + params → Report: every term on every prediction, computed once and cached, and each
prediction's scale readout. Weighting a Report is :func:`geoviz.engine.combine.combine`.

The cache (:mod:`geoviz.engine.cache`) is keyed by (term, the content of the inputs the term reads, the parameter groups it
reads, encoder, device), so changing one parameter recomputes only the terms that read it and a
second ``evaluate`` of the same inputs recomputes nothing. It is an LRU bounded by the bytes of the
maps it holds (``GEOVIZ_CACHE_MB``, default 512 MB).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from geoviz.data.sample import Sample
from geoviz.engine.cache import READOUT_CACHE, RESULT_CACHE, ResultCache
from geoviz.engine.inputs import encoded, encoder_id, latent_mask, to_tensor
from geoviz.engine.scale import ScaleReadout, detect_kind, read_scales
from geoviz.engine.terms import REGISTRY, TermInputs, TermResult, params_key, resolve_params
from geoviz.models.choice import resolve_device
from geoviz.models.depth import with_estimated_depth
from geoviz.models.encoders import LatentEncoder, ProxyEncoder
from geoviz.models.encoders import latent_size as encoder_latent_size

__all__ = ["Report", "evaluate", "estimate_depths", "resolve_kind", "scale_readouts", "term_inputs", "KINDS"]

KINDS = ("insertion", "material")


@dataclass
class Report:
    """Every term on every prediction of one sample.

    ``results[prediction][term] → TermResult``; ``values[prediction][term] → float | None`` (None where
    skipped). ``image_size`` and ``latent_size`` give the two map resolutions; ``notices`` what the
    loading and encoding did; ``timings`` seconds per prediction. ``kind`` is the sample's kind
    (``"insertion"`` or ``"material"``) and ``kind_reason`` how it was decided; ``scales[prediction]``
    the :class:`~geoviz.scale_readout.ScaleReadout` of each prediction (read off the images: it does
    not depend on ``params``).
    """

    sample_name: str
    predictions: list[str]
    terms: list[str]
    results: dict[str, dict[str, TermResult]]
    params: dict[str, dict[str, Any]]
    image_size: tuple[int, int]
    latent_size: tuple[int, int]
    encoder: str
    latent_sources: dict[str, str]
    device: str
    notices: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    thumbnails: dict[str, np.ndarray] = field(default_factory=dict)
    depth_info: dict[str, dict] = field(default_factory=dict)  # estimated depths: source, scale, shift
    kind: str = "insertion"
    kind_reason: str = ""
    scales: dict[str, ScaleReadout] = field(default_factory=dict)

    @property
    def values(self) -> dict[str, dict[str, float | None]]:
        """``{prediction: {term: value}}`` read from ``results`` (None where the term was skipped)."""
        return {p: {t: r.value for t, r in res.items()} for p, res in self.results.items()}

    def skipped(self) -> dict[str, dict[str, str]]:
        """``{prediction: {term: reason}}`` for every skipped term."""
        return {p: {t: r.skipped for t, r in res.items() if r.skipped} for p, res in self.results.items()}


def resolve_kind(sample: Sample, kind: str | None = None) -> tuple[str, str]:
    """``(kind, why)``: ``kind`` when given (``"insertion"`` / ``"material"``; ``None`` or ``"auto"``
    detects it), else the sample's own ``kind``, else :func:`~geoviz.scale_readout.detect_kind` of
    its mask."""
    kind = kind if kind not in (None, "auto") else sample.kind
    if kind is None:
        detected, why = detect_kind(sample.mask)
        return detected, f"detected: {why}"
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)} or 'auto', got {kind!r}")
    return kind, "chosen"


def scale_readouts(sample: Sample, kind: str, device: str | torch.device = "cpu") -> dict[str, ScaleReadout]:
    """Each prediction's scale readout, remembered on the sample and in :data:`READOUT_CACHE` (per
    kind and image content): it reads only the images, so a parameter change does not read it again."""
    out, todo = {}, {}
    for name, img in sample.predictions.items():
        key = ("scale", kind, sample.fingerprint(img, sample.context, sample.target, sample.mask))
        hit = sample.memo.get(key) or READOUT_CACHE.get(key)
        if hit is not None:
            sample.memo[key] = out[name] = hit
        else:
            todo[name] = (key, img)
    if todo:
        fresh = read_scales(kind, sample.context, sample.target, sample.mask, {n: img for n, (_, img) in todo.items()},
                            device=device)
        for name, (key, _) in todo.items():
            sample.memo[key] = out[name] = fresh[name]
            READOUT_CACHE.put(key, fresh[name])
    return {n: out[n] for n in sample.predictions}


def _thumbnail(img: np.ndarray, side: int = 128) -> np.ndarray:
    h, w = img.shape[:2]
    f = side / max(h, w)
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None]
    small = F.interpolate(x, size=(max(1, round(h * f)), max(1, round(w * f))), mode="area")
    return (small[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)


def estimate_depths(sample: Sample, params: dict | None, device: str | torch.device, depth_estimator=None,
                    depth_source: str = "uploaded", align_depth: bool = True) -> tuple[Sample, dict[str, dict]]:
    """The sample with its prediction depths estimated (``depth_source`` ``"estimate missing"`` or
    ``"estimate all"``; ``"uploaded"`` or no estimator: unchanged), aligned onto the target depth
    outside the object, and ``{prediction: {source, scale, shift}}``. :func:`evaluate` does this
    itself; the faces call it when they keep the sample (the dashboard shows and bundles it)."""
    if depth_estimator is None or depth_source == "uploaded":
        return sample, {}
    p = resolve_params(params)
    return with_estimated_depth(sample, depth_estimator, depth_source, align_depth, resolve_device(device),
                                outside_r=p["depth_consistency"]["outside_dilate_r"])



def _shared_fingerprints(sample: Sample) -> tuple:
    """What every prediction's cache key shares: the images and mask, target depth, latents, camera."""
    fp = sample.fingerprint
    return (fp(sample.context, sample.target, sample.mask), fp(sample.target_depth, sample.depth_kind),
            fp(sample.context_latents, sample.target_latents),
            fp(None if sample.camera is None else sample.camera.get("f_px"), sample.k_obj))


class _Latents:
    """The sample's latents, encoded on first need (a fully cached evaluation encodes nothing)."""

    def __init__(self, sample: Sample, encoder: LatentEncoder, device: torch.device):
        self.sample, self.encoder, self.device = sample, encoder, device
        self.z_ctx = self.z_tgt = self.z_preds = None
        self.sources: dict[str, str] = {}
        self.notices: list[str] = []
        self.size: tuple[int, int] | None = None

    def get(self):
        """``(z_ctx, z_tgt, {prediction: z_pred}, sources)``."""
        if self.z_ctx is None:
            self.z_ctx, self.z_tgt, self.z_preds, self.sources = encoded(self.sample, self.encoder, self.device)
            if any(v != "uploaded" for v in self.sources.values()):
                self.notices.append(f"latents: {self.encoder.label}")
            self.size = tuple(self.z_ctx.shape[-2:])
        return self.z_ctx, self.z_tgt, self.z_preds, self.sources


def term_inputs(sample: Sample, pred: str, dev: torch.device, latents: _Latents) -> TermInputs:
    """The tensors the terms of prediction ``pred`` read, on ``dev``."""
    z_ctx, z_tgt, z_preds, sources = latents.get()
    return TermInputs(
        name=pred, device=dev, image_pred=to_tensor(sample.predictions[pred], dev, True),
        image_tgt=to_tensor(sample.target, dev, True), image_ctx=to_tensor(sample.context, dev, True),
        mask=to_tensor(sample.mask, dev), z_ctx=z_ctx, z_tgt=z_tgt, z_pred=z_preds[pred],
        mask_lat=latent_mask(sample, z_ctx.shape[-2:], dev), latent_source=sources.get(f"pred:{pred}", latents.encoder.name),
        depth_pred=to_tensor(sample.prediction_depths.get(pred), dev), depth_tgt=to_tensor(sample.target_depth, dev),
        depth_kind=sample.depth_kind, f_px=None if sample.camera is None else float(sample.camera["f_px"]),
        k_obj=sample.k_obj, second_run=to_tensor(sample.second_runs.get(pred), dev, True),
    )


def evaluate(
    sample: Sample,
    params: dict | None = None,
    device: str | torch.device = "auto",
    *,
    encoder: LatentEncoder | None = None,
    terms: list[str] | None = None,
    cache: ResultCache | None = RESULT_CACHE,
    progress: Callable[[int, int, str], None] | None = None,
    depth_estimator=None,
    depth_source: str = "uploaded",
    align_depth: bool = True,
    kind: str | None = None,
) -> Report:
    """Compute every term (or ``terms``) for every prediction of ``sample``.

    Args:
        sample: from :func:`geoviz.load_sample` or :func:`geoviz.build_sample`.
        params: ``{group: {name: value}}``; missing entries take the tool's defaults (:data:`geoviz.engine.terms.TOOL_PARAMS`).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``…
        encoder: makes latents the sample does not carry (default: proxy latents).
        cache: where results are remembered across calls (None: no caching).
        progress: called as ``progress(done, total, prediction)`` before each prediction.
        depth_estimator, depth_source, align_depth: estimate prediction depths (``"estimate missing"``
            or ``"estimate all"``) with e.g. :func:`geoviz.models.depth.load_depth_anything_v2_small`,
            aligned onto the target depth (see :func:`estimate_depths`).
        kind: ``"insertion"``, ``"material"`` or None / ``"auto"`` (see :func:`resolve_kind`); decides
            how each prediction's scale is read (``Report.scales``).
    """
    if not sample.predictions:
        raise ValueError("the sample has no prediction to evaluate: add at least one predicted image")
    p = resolve_params(params)
    dev = resolve_device(device)
    kind_used, kind_reason = resolve_kind(sample, kind)
    sample, depth_info = estimate_depths(sample, p, dev, depth_estimator, depth_source, align_depth)
    enc = encoder or ProxyEncoder()
    names = list(terms) if terms is not None else list(REGISTRY)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown term(s) {unknown}; known: {list(REGISTRY)}")

    shared_fp = _shared_fingerprints(sample)
    latents = _Latents(sample, enc, dev)
    results: dict[str, dict[str, TermResult]] = {}
    timings: dict[str, float] = {}
    for i, pred in enumerate(sample.predictions):
        if progress is not None:
            progress(i, len(sample.predictions), pred)
        t0 = time.perf_counter()
        pred_fp = sample.fingerprint(sample.predictions[pred], sample.prediction_depths.get(pred),
                                     sample.second_runs.get(pred), sample.prediction_latents.get(pred))
        keys = {name: (name, pred_fp, *shared_fp, params_key(p, REGISTRY[name].groups), encoder_id(enc), dev.type)
                for name in names}
        results[pred] = {name: hit for name in names if (hit := cache.get(keys[name]) if cache is not None else None)}
        todo = [name for name in names if name not in results[pred]]
        if todo:
            inp = term_inputs(sample, pred, dev, latents)
            for name in todo:
                results[pred][name] = res = REGISTRY[name].compute(inp, p)
                if cache is not None:
                    cache.put(keys[name], res)
        results[pred] = {n: results[pred][n] for n in names}
        timings[pred] = time.perf_counter() - t0
    notices = list(sample.notices) + latents.notices
    latent_size = latents.size or (sample.context_latents.shape[-2:] if sample.context_latents is not None
                                   else encoder_latent_size(*sample.size))
    scales = scale_readouts(sample, kind_used, dev)
    thumbs = {"context": _thumbnail(sample.context), "target": _thumbnail(sample.target),
              "mask": _thumbnail(np.repeat(sample.mask[..., None], 3, axis=2))}
    thumbs.update({f"pred:{n}": _thumbnail(img) for n, img in sample.predictions.items()})
    sources = latents.sources
    return Report(
        sample_name=sample.name, predictions=list(sample.predictions), terms=names, results=results, params=p,
        image_size=sample.size, latent_size=tuple(int(v) for v in latent_size), encoder=enc.name,
        latent_sources=sources, device=str(dev), notices=notices, timings=timings, thumbnails=thumbs,
        depth_info=depth_info, kind=kind_used, kind_reason=kind_reason, scales=scales,
    )


