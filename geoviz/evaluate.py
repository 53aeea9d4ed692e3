"""Sample + params → Report (every term on every prediction, computed once and cached);
combine(report, weights) → totals and weighted maps without calling any term.

The cache is keyed by (term, the content of the inputs the term reads, the parameter groups it
reads, encoder, device), so changing one parameter recomputes only the terms that read it and a
second ``evaluate`` of the same inputs recomputes nothing. It is an LRU bounded by the bytes of the
maps it holds (``GEOVIZ_CACHE_MB``, default 512 MB).
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .encoders import LatentEncoder, ProxyEncoder, encode_sample
from .sample import Sample
from .scale_readout import ScaleReadout, detect_kind, read_scales
from .terms import REGISTRY, TermInputs, TermResult, gradient_display, params_key, resolve_params

__all__ = ["Report", "Combined", "evaluate", "combine", "resolve_device", "resolve_kind", "scale_readouts",
           "RESULT_CACHE", "ResultCache", "KINDS"]

KINDS = ("insertion", "material")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else the CPU."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but CUDA is not available here; use 'cpu' or 'auto'")
    return dev


def _nbytes(result: TermResult) -> int:
    n = 0
    for a in (result.contribution, result.gradient, result.gradient_full, *result.extras.values()):
        if isinstance(a, np.ndarray):
            n += a.nbytes
    return n


class ResultCache:
    """A thread-safe LRU of TermResults bounded by the bytes of their arrays."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._data: OrderedDict[tuple, tuple[TermResult, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple) -> TermResult | None:
        """The TermResult stored under ``key`` (marked most recently used), or None; counts a hit or a miss."""
        with self._lock:
            item = self._data.get(key)
            if item is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: tuple, value: TermResult) -> None:
        """Store ``value`` under ``key`` (replacing any previous entry), then evict least recently used
        entries while the held bytes exceed ``max_bytes`` — the newest entry is always kept, even alone
        over the limit."""
        size = _nbytes(value)
        with self._lock:
            if key in self._data:
                self._bytes -= self._data.pop(key)[1]
            self._data[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes and len(self._data) > 1:
                _, (_, s) = self._data.popitem(last=False)
                self._bytes -= s

    def clear(self) -> None:
        """Drop every entry (the ``hits`` / ``misses`` counters are kept)."""
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._data)

    @property
    def nbytes(self) -> int:
        """Bytes of the NumPy arrays held (each result's maps, full gradient and array extras)."""
        return self._bytes


RESULT_CACHE = ResultCache(int(os.environ.get("GEOVIZ_CACHE_MB", "512")) * 2**20)


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


class _ReadoutCache:
    """A thread-safe LRU of scale readouts by content (kind and the four images' hashes): a readout
    is a few numbers, so thousands cost nothing, and the same files loaded again — a dataset
    reopened, a bundle restored, a link opened — are not read again."""

    def __init__(self, max_entries: int = 4096):
        self.max_entries = max_entries
        self._data: OrderedDict[tuple, ScaleReadout] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> ScaleReadout | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
            return hit

    def put(self, key: tuple, value: ScaleReadout) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)


READOUT_CACHE = _ReadoutCache()


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


def _tensor(a: np.ndarray | None, device, channels_last: bool = False) -> torch.Tensor | None:
    if a is None:
        return None
    t = torch.from_numpy(np.ascontiguousarray(a)).float()
    t = t.permute(2, 0, 1)[None] if channels_last else t[None, None]
    return t.to(device)


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
        sample: from :func:`geoviz.io.load_sample` or :func:`geoviz.sample.build_sample`.
        params: ``{group: {name: value}}``; missing entries take the tool's defaults (:data:`geoviz.terms.TOOL_PARAMS`).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``…
        encoder: makes latents the sample does not carry (default: proxy latents).
        cache: where results are remembered across calls (None: no caching).
        progress: called as ``progress(done, total, prediction)`` before each prediction.
        depth_estimator, depth_source, align_depth: estimate prediction depths (``"estimate missing"``
            or ``"estimate all"``) with e.g. :func:`geoviz.depth_models.load_depth_anything_v2_small`,
            aligned onto the target depth (see :func:`geoviz.depth_models.with_estimated_depth`).
        kind: ``"insertion"``, ``"material"`` or None / ``"auto"`` (see :func:`resolve_kind`); decides
            how each prediction's scale is read (``Report.scales``).
    """
    if not sample.predictions:
        raise ValueError("the sample has no prediction to evaluate: add at least one predicted image")
    p = resolve_params(params)
    dev = resolve_device(device)
    kind_used, kind_reason = resolve_kind(sample, kind)
    depth_info: dict[str, dict] = {}
    if depth_estimator is not None and depth_source != "uploaded":
        from .depth_models import with_estimated_depth

        sample, depth_info = with_estimated_depth(sample, depth_estimator, depth_source, align_depth, dev,
                                                  outside_r=p["depth_consistency"]["outside_dilate_r"])
    enc = encoder or ProxyEncoder()
    names = list(terms) if terms is not None else list(REGISTRY)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown term(s) {unknown}; known: {list(REGISTRY)}")

    fp = sample.fingerprint
    shared_fp = {
        "images": fp(sample.context, sample.target, sample.mask),
        "target_depth": fp(sample.target_depth, sample.depth_kind),
        "latents": fp(sample.context_latents, sample.target_latents),
        "camera": fp(None if sample.camera is None else sample.camera.get("f_px"), sample.k_obj),
    }
    z_ctx = z_tgt = z_preds = None
    sources: dict[str, str] = {}
    results: dict[str, dict[str, TermResult]] = {}
    timings: dict[str, float] = {}
    notices = list(sample.notices)
    latent_size = None
    for i, pred in enumerate(sample.predictions):
        if progress is not None:
            progress(i, len(sample.predictions), pred)
        t0 = time.perf_counter()
        pred_fp = fp(sample.predictions[pred], sample.prediction_depths.get(pred), sample.second_runs.get(pred),
                     sample.prediction_latents.get(pred))
        keys = {}
        todo = []
        for name in names:
            term = REGISTRY[name]
            key = (name, pred_fp, shared_fp["images"], shared_fp["target_depth"], shared_fp["latents"],
                   shared_fp["camera"], params_key(p, term.groups), _encoder_id(enc), dev.type)
            keys[name] = key
            hit = cache.get(key) if cache is not None else None
            if hit is None:
                todo.append(name)
            else:
                results.setdefault(pred, {})[name] = hit
        if todo:
            if z_ctx is None:
                z_ctx, z_tgt, z_preds, sources = _encoded(sample, enc, dev)
                if any(v != "uploaded" for v in sources.values()):
                    notices.append(f"latents: {enc.label}")
            inp = TermInputs(
                name=pred,
                device=dev,
                image_pred=_tensor(sample.predictions[pred], dev, True),
                image_tgt=_tensor(sample.target, dev, True),
                image_ctx=_tensor(sample.context, dev, True),
                mask=_tensor(sample.mask, dev),
                z_ctx=z_ctx,
                z_tgt=z_tgt,
                z_pred=z_preds[pred],
                mask_lat=_latent_mask(sample, z_ctx.shape[-2:], dev),
                latent_source=sources.get(f"pred:{pred}", enc.name),
                depth_pred=_tensor(sample.prediction_depths.get(pred), dev),
                depth_tgt=_tensor(sample.target_depth, dev),
                depth_kind=sample.depth_kind,
                f_px=None if sample.camera is None else float(sample.camera["f_px"]),
                k_obj=sample.k_obj,
                second_run=_tensor(sample.second_runs.get(pred), dev, True),
            )
            for name in todo:
                res = REGISTRY[name].compute(inp, p)
                results.setdefault(pred, {})[name] = res
                if cache is not None:
                    cache.put(keys[name], res)
            latent_size = tuple(z_ctx.shape[-2:])
        results[pred] = {n: results[pred][n] for n in names}
        timings[pred] = time.perf_counter() - t0
    if latent_size is None:
        from .encoders import latent_size as _ls

        latent_size = (sample.context_latents.shape[-2:] if sample.context_latents is not None else _ls(*sample.size))
    scales = scale_readouts(sample, kind_used, dev)
    thumbs = {"context": _thumbnail(sample.context), "target": _thumbnail(sample.target),
              "mask": _thumbnail(np.repeat(sample.mask[..., None], 3, axis=2))}
    thumbs.update({f"pred:{n}": _thumbnail(img) for n, img in sample.predictions.items()})
    return Report(
        sample_name=sample.name, predictions=list(sample.predictions), terms=names, results=results, params=p,
        image_size=sample.size, latent_size=tuple(int(v) for v in latent_size), encoder=enc.name,
        latent_sources=sources, device=str(dev), notices=notices, timings=timings, thumbnails=thumbs,
        depth_info=depth_info, kind=kind_used, kind_reason=kind_reason, scales=scales,
    )


def _encoder_id(enc) -> str:
    """What distinguishes one encoder's latents from another's (name, seed or weights)."""
    return getattr(enc, "cache_id", None) or f"{enc.name}:{getattr(enc, 'seed', '')}"


def _encoded(sample: Sample, enc: LatentEncoder, dev: torch.device):
    """The sample's latents from ``enc``, remembered on the sample (per encoder, seed, device and the
    set of predictions) so a parameter change does not encode again."""
    key = ("latents", _encoder_id(enc), str(dev), tuple(sample.predictions))
    if key not in sample.memo:
        sample.memo[key] = encode_sample(sample, enc, dev)
    return sample.memo[key]


def _latent_mask(sample: Sample, size, device) -> torch.Tensor:
    import losses

    return losses.downsample_mask_area(torch.from_numpy(sample.mask), tuple(int(s) for s in size)).to(device)


# ---- combine ---------------------------------------------------------------------------------------


class Combined:
    """Weighted view of a Report, computed by :func:`combine` without calling any term.

    Eager (cheap): ``totals[pred]`` — Σ weight·value over computed terms; ``weighted[pred][term]`` —
    weight·value (None where skipped); ``shares[pred][term]`` — |weighted| / Σ|weighted|;
    ``mapped_total[pred]`` — the part of the total from terms that have contribution maps.

    Maps (computed on first access, then kept): ``contribution[pred]`` — the weighted sum of
    contribution maps at image resolution (latent maps spread evenly over their blocks, so it sums
    to ``mapped_total[pred]``); ``gradient[pred][input]`` — the weighted sum of the full gradients
    per input (``latent``, ``depth``, ``image``), shown signed for depth and as the channel norm
    otherwise. A dashboard touches only the prediction it shows.
    """

    def __init__(self, report: Report, weights: dict[str, float], totals, weighted, shares, mapped_total):
        self.report, self.weights = report, weights
        self.totals, self.weighted, self.shares, self.mapped_total = totals, weighted, shares, mapped_total
        self.contribution = _LazyMaps(lambda pred: self._contribution(pred), report.predictions)
        self.gradient = _LazyMaps(lambda pred: self._gradient(pred), report.predictions)

    def _contribution(self, pred: str) -> np.ndarray | None:
        latent_sum = pixel_sum = None
        for t, r in self.report.results[pred].items():
            w = self.weights[t]
            if r.value is None or w == 0.0 or r.contribution is None:
                continue
            if r.space == "latent":
                latent_sum = r.contribution * w if latent_sum is None else latent_sum + r.contribution * w
            else:
                pixel_sum = r.contribution * w if pixel_sum is None else pixel_sum + r.contribution * w
        if latent_sum is not None:
            spread = _spread_to_pixels(latent_sum.astype(np.float32), self.report.image_size)
            pixel_sum = spread if pixel_sum is None else pixel_sum + spread
        return pixel_sum

    def _gradient(self, pred: str) -> dict[str, np.ndarray]:
        grads: dict[str, np.ndarray] = {}
        for t, r in self.report.results[pred].items():
            w = self.weights[t]
            if r.value is None or w == 0.0 or r.gradient_full is None:
                continue
            g = grads.get(r.input)
            grads[r.input] = r.gradient_full * w if g is None else g + r.gradient_full * w
        return {k: gradient_display(v) for k, v in grads.items()}


class _LazyMaps(dict):
    """``{prediction: value}`` filled on first access by ``make(prediction)``."""

    def __init__(self, make, keys):
        super().__init__()
        self._make, self._keys = make, list(keys)

    def __missing__(self, key):
        if key not in self._keys:
            raise KeyError(key)
        value = self[key] = self._make(key)
        return value

    def __contains__(self, key):
        return key in self._keys

    def __iter__(self):
        return iter(self._keys)

    def __len__(self):
        return len(self._keys)

    def keys(self):
        return list(self._keys)

    def items(self):
        return [(k, self[k]) for k in self._keys]

    def values(self):
        return [self[k] for k in self._keys]


def _spread_to_pixels(latent_map: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """A latent-resolution contribution map → image resolution, keeping its sum."""
    h, w = latent_map.shape
    x = torch.from_numpy(latent_map)[None, None]
    up = F.interpolate(x, size=image_size, mode="nearest")[0, 0].numpy()
    return up * (h * w) / (image_size[0] * image_size[1])


def combine(report: Report, weights: dict[str, float]) -> Combined:
    """Weight a Report: totals, weighted values and shares now, maps on demand; calls no term.
    Terms missing from ``weights`` weigh 0."""
    unknown = [t for t in weights if t not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown term(s) in weights: {unknown}")
    w = {t: float(weights.get(t, 0.0)) for t in report.terms}
    totals, weighted, shares, mapped = {}, {}, {}, {}
    for pred in report.predictions:
        res = report.results[pred]
        wv = {t: (w[t] * r.value if r.value is not None else None) for t, r in res.items()}
        weighted[pred] = wv
        totals[pred] = float(sum(v for v in wv.values() if v is not None))
        mag = sum(abs(v) for v in wv.values() if v is not None)
        shares[pred] = {t: (abs(v) / mag if (v is not None and mag > 0) else 0.0) for t, v in wv.items()}
        mapped[pred] = float(sum(w[t] * r.value for t, r in res.items()
                                 if r.value is not None and r.contribution is not None))
    return Combined(report, w, totals, weighted, shares, mapped)
