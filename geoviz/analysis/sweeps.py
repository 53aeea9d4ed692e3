"""Scale-, shift- and rotation-response curves of every term, for choosing weights that hold size.

A loss value says little about whether a term will keep an object at its mask's size; how it
responds to a *known* scale error does. :func:`scale_sweep` (object insertion) scales the sample's
own object by ``s`` about its ground contact point and shifts it by ``(dx, dy)``;
:func:`period_sweep` (material replacement) rescales the material's period by ``s`` and rotates it.
Every applicable term is computed on each synthetic prediction with the current params, latents
from the chosen encoder and depth from the chosen source — in batches (perturbations stacked along
the batch dimension, one :func:`geoviz.term_batch.batch_values` call per batch).

A :class:`Sweep` holds the raw curves; :meth:`Sweep.total` weights them (no term is called again,
so weight sliders redraw instantly) and :attr:`Sweep.responses` says, per term, where its minimum
is, how sharply it rises at ±5 % and whether it is flagged (minimum off ``s = 1 ± tolerance``).
The sample's real predictions ride in the first batch, so each is placed on the curves at its
estimated scale — the scale readout of :mod:`geoviz.scale_readout`, the same number as on its card.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from geoviz.analysis.perturb import Perturbed, Transform, insertion_perturbations, material_perturbations
from geoviz.analysis.term_batch import batch_values, change_mask
from geoviz.data.sample import Sample
from geoviz.engine.evaluate import scale_readouts
from geoviz.engine.inputs import encoder_id, latent_mask, to_tensor
from geoviz.engine.scale import ScaleReadout, detect_kind
from geoviz.engine.terms import REGISTRY, TermInputs, reference, resolve_params, spectral_loss
from geoviz.models.choice import resolve_device
from geoviz.models.depth import with_estimated_depth
from geoviz.models.encoders import LatentEncoder, ProxyEncoder, images_to_tensor

__all__ = ["Sweep", "Curve", "Response", "scale_sweep", "period_sweep", "guess_kind", "analyse_response",
           "DEFAULT_SCALES", "MATERIAL_FAMILIES"]

DEFAULT_SCALES = tuple(float(v) for v in np.linspace(0.7, 1.3, 25))
DEFAULT_SHIFTS = tuple(float(v) for v in np.linspace(-0.2, 0.2, 9))  # fractions of the mask's width/height
DEFAULT_ANGLES = tuple(float(v) for v in np.linspace(-45.0, 45.0, 19))
MATERIAL_FAMILIES = ("latent", "texture")  # a material change leaves the geometry, hence depth, alone
_PIXEL_BUDGET = 25 * 512 * 512  # pixels per batch: the default 25-step sweep at 512² is one batch


@dataclass
class Curve:
    """One axis of a sweep: ``x`` (scale, pixels of shift, degrees) and each term's values on it
    (NaN where a value was not finite)."""

    axis: str
    x: list[float]
    values: dict[str, list[float]]


@dataclass
class Response:
    """How one term responds to scale, from its curve.

    ``argmin``: the scale at its minimum (parabola through the lowest sample and its neighbours);
    ``curvature``: ``d²v/ds²`` at ``s = 1`` (quadratic fit over ``|s − 1| ≤ 0.1``); ``rise_5``: the
    mean increase at ``s = 0.95`` and ``1.05`` over ``v(1)``; ``rise_5_relative``: that over ``|v(1)|``
    (None when ``v(1)`` is about 0); ``rise_5_of_range``: that over the rise at the sweep's ends (how
    much of its full penalty a 5 % error already costs); ``flagged``: the reason it is, or None.
    """

    argmin: float
    value_at_1: float
    curvature: float
    rise_5: float
    rise_5_relative: float | None
    rise_5_of_range: float | None
    flagged: str | None


@dataclass
class Sweep:
    """The response of every applicable term to known geometric errors of one sample.

    ``scales`` and ``values`` (``{term: [value per scale]}``) are the main curve; ``curves`` holds
    the others (``shift_x``/``shift_y`` in pixels for insertion, ``rotation`` in degrees for
    material); ``skipped`` names the terms that could not run and why; ``predictions[name]`` holds a
    real prediction's ``estimated_scale`` and its term ``values``.
    """

    kind: str
    sample_name: str
    scales: list[float]
    values: dict[str, list[float]]
    curves: dict[str, Curve] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    predictions: dict[str, dict] = field(default_factory=dict)
    responses: dict[str, Response] = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    encoder: str = "proxy"
    depth_source: str = "none"
    device: str = "cpu"
    batches: int = 0
    seconds: float = 0.0
    tolerance: float = 0.02

    @property
    def terms(self) -> list[str]:
        """The terms that have curves (applicable and not skipped), in the order of ``values``."""
        return list(self.values)

    def total(self, weights: dict[str, float], axis: str = "scale") -> list[float]:
        """The weighted total along ``axis`` (``"scale"`` or a key of ``curves``); terms that were
        skipped, or not finite at a point, add nothing there."""
        values = self.values if axis == "scale" else self.curves[axis].values
        n = len(self.scales if axis == "scale" else self.curves[axis].x)
        out = np.zeros(n)
        for t, v in values.items():
            w = float(weights.get(t, 0.0))
            if w:
                out += w * np.nan_to_num(np.asarray(v, dtype=float), nan=0.0)
        return out.tolist()

    def total_response(self, weights: dict[str, float]) -> Response:
        """The :class:`Response` of the weighted total's scale curve (:meth:`total` at ``weights``), with the
        sweep's ``tolerance``: where the combined loss has its minimum and whether that is flagged."""
        return analyse_response(self.scales, self.total(weights), self.tolerance)

    def flagged(self) -> dict[str, str]:
        """``{term: reason}`` for every term whose response is flagged (minimum off ``1 ± tolerance``, no
        response to scale, or too few finite values); skipped terms are in ``skipped`` instead."""
        return {t: r.flagged for t, r in self.responses.items() if r.flagged}


# ---- analysis --------------------------------------------------------------------------------------


def _interp(x: np.ndarray, y: np.ndarray, at: float) -> float:
    return float(np.interp(at, x, y)) if x[0] <= at <= x[-1] else float("nan")


def analyse_response(scales, values, tolerance: float = 0.02) -> Response:
    """Minimum, curvature and 5 % rise of one curve (see :class:`Response`)."""
    x = np.asarray(scales, dtype=float)
    y = np.asarray(values, dtype=float)
    ok = np.isfinite(y)
    if ok.sum() < 3:
        return Response(float("nan"), float("nan"), float("nan"), float("nan"), None, None, "too few finite values")
    x, y = x[ok], y[ok]
    i = int(np.argmin(y))
    argmin = float(x[i])
    if 0 < i < len(x) - 1:  # vertex of the parabola through the lowest point and its neighbours
        a, b, _ = np.polyfit(x[i - 1 : i + 2], y[i - 1 : i + 2], 2)
        if a > 0:
            argmin = float(np.clip(-b / (2 * a), x[i - 1], x[i + 1]))
    near = np.abs(x - 1.0) <= 0.1 + 1e-9
    curvature = float(2 * np.polyfit(x[near], y[near], 2)[0]) if near.sum() >= 3 else float("nan")
    v1 = _interp(x, y, 1.0)
    rise = 0.5 * (_interp(x, y, 0.95) + _interp(x, y, 1.05)) - v1
    ends = 0.5 * (y[0] + y[-1]) - v1
    span = float(y.max() - y.min())
    scale_of = max(float(np.abs(y).max()), 1e-30)
    flagged = None
    if span <= 1e-6 * scale_of or span == 0.0:
        flagged = "does not respond to scale"
    elif abs(argmin - 1.0) > tolerance:
        flagged = f"minimum at s = {argmin:.3f}, not within 1 ± {tolerance:g}"
    return Response(
        argmin=argmin, value_at_1=v1, curvature=curvature, rise_5=rise,
        rise_5_relative=rise / abs(v1) if abs(v1) > 1e-3 * max(span, 1e-30) and abs(v1) > 1e-12 else None,
        rise_5_of_range=rise / ends if ends > 1e-12 else None, flagged=flagged,
    )


# ---- the sweep machinery ---------------------------------------------------------------------------


def guess_kind(sample: Sample) -> str:
    """The sample's kind: its own ``kind`` when set, else :func:`~geoviz.scale_readout.detect_kind`
    of its mask (a surface touching two borders or covering over 30 % is a material)."""
    return sample.kind or detect_kind(sample.mask)[0]


def _applicable(kind: str, terms: list[str] | None) -> list[str]:
    names = [t for t in (terms or REGISTRY) if t != "texture_scale_consistency"]
    unknown = [t for t in names if t not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown term(s) {unknown}; known: {list(REGISTRY)}")
    if kind == "material":
        names = [t for t in names if REGISTRY[t].family in MATERIAL_FAMILIES]
    return names


class _Runner:
    """Encodes and evaluates stacked predictions of one sample, batch by batch."""

    def __init__(self, sample: Sample, params: dict, device, encoder: LatentEncoder, names: list[str],
                 depth_estimator=None, depth_source: str = "uploaded"):
        self.sample, self.params, self.dev, self.enc, self.names = sample, params, device, encoder, names
        self.depth_estimator = depth_estimator if depth_source != "uploaded" else None
        with torch.no_grad():
            z = encoder.encode(images_to_tensor(sample.context, sample.target, device=device))
        # the same encoder for context, target and every synthetic prediction (uploaded latents of the
        # real images would not be comparable with encoded ones)
        self.z_ctx, self.z_tgt = z[:1], z[1:2]
        self.mask_lat = latent_mask(sample, z.shape[-2:], device)
        self.batches = 0

    def depth_for(self, images: torch.Tensor, warped: torch.Tensor | None) -> torch.Tensor | None:
        if self.depth_estimator is None:
            return warped

        names = [f"#{i}" for i in range(images.shape[0])]
        arrays = images.permute(0, 2, 3, 1).float().cpu().numpy()
        tmp = Sample(name=self.sample.name, context=self.sample.context, target=self.sample.target, mask=self.sample.mask,
                     predictions=dict(zip(names, arrays)), target_depth=self.sample.target_depth,
                     depth_kind=self.sample.depth_kind)
        est, _ = with_estimated_depth(tmp, self.depth_estimator, "estimate all", True, self.dev,
                                      outside_r=self.params["depth_consistency"]["outside_dilate_r"])
        self.target_depth_override = est.target_depth
        return torch.stack([torch.from_numpy(est.prediction_depths[n])[None] for n in names]).to(self.dev)

    def run(self, images: torch.Tensor, depths: torch.Tensor | None):
        """``({term: [N] numpy | reason}, {"area_ratio": [N], "period_ratio": [N]})``: the values, and
        each prediction's change-mask area over the reference's and target/prediction spectral period."""
        with torch.no_grad():
            z = self.enc.encode(images)
        depths = self.depth_for(images, depths)
        s = self.sample
        target_depth = getattr(self, "target_depth_override", s.target_depth)
        inp = TermInputs(
            name="sweep", device=self.dev, image_pred=images, image_tgt=to_tensor(s.target, self.dev, True),
            image_ctx=to_tensor(s.context, self.dev, True), mask=to_tensor(s.mask, self.dev), z_ctx=self.z_ctx,
            z_tgt=self.z_tgt, z_pred=z, mask_lat=self.mask_lat, latent_source=self.enc.name, depth_pred=depths,
            depth_tgt=to_tensor(target_depth, self.dev) if target_depth is not None else None,
            depth_kind=s.depth_kind if self.depth_estimator is None or s.target_depth is not None else "inverse",
            f_px=None if s.camera is None else float(s.camera["f_px"]), k_obj=s.k_obj,
        )
        out = batch_values(inp, self.params, self.names)
        self.batches += 1
        result = {k: (v.cpu().numpy() if isinstance(v, torch.Tensor) else v) for k, v in out.items()}
        with torch.no_grad():
            area = change_mask(inp, self.params).sum(dim=(1, 2, 3)) / reference(inp, self.params).sum().clamp_min(1e-12)
            t = spectral_loss(self.params).terms(images, inp.image_tgt.expand_as(images), inp.mask)
            period_ratio = t["f_tgt"] / t["f_pred"].clamp_min(1e-12)  # period ∝ 1/frequency
        return result, {"area_ratio": area.cpu().numpy(), "period_ratio": period_ratio.cpu().numpy()}


def _batch_size(batch_size: int | None, size: tuple[int, int]) -> int:
    if batch_size is not None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        return int(batch_size)
    return max(1, _PIXEL_BUDGET // (size[0] * size[1]))


def _check_axis(name: str, values, low: float, high: float) -> list[float]:
    v = [float(x) for x in values]
    if not v:
        raise ValueError(f"{name}: give at least one value")
    bad = [x for x in v if not (math.isfinite(x) and low <= x <= high)]
    if bad:
        raise ValueError(f"{name} must be finite and within [{low:g}, {high:g}]; got {bad[:3]}")
    return v


def _sweep(kind: str, sample: Sample, axes: dict[str, tuple[list[float], list[Transform]]], params, device, encoder,
           terms, depth_estimator, depth_source, batch_size, progress, tolerance) -> Sweep:
    t0 = time.perf_counter()
    if sample.mask is None or float((sample.mask > 0.5).sum()) == 0:
        raise ValueError("the mask is empty: a sweep needs the region of the object or material")
    p = resolve_params(params)
    dev = resolve_device(device)
    enc = encoder or ProxyEncoder()
    names = _applicable(kind, terms)
    runner = _Runner(sample, p, dev, enc, names, depth_estimator, depth_source)
    jobs = [(axis, i, tr) for axis, (_, trs) in axes.items() for i, tr in enumerate(trs)]
    n_real = len(sample.predictions)
    bs = _batch_size(batch_size, sample.size)
    collected: dict[str, dict[str, list]] = {axis: {} for axis in axes}
    skipped: dict[str, str] = {}
    real: dict[str, dict] = {}
    starts = list(range(0, len(jobs), bs)) or [0]
    for b, start in enumerate(starts):
        if progress is not None:
            progress(b, len(starts), f"batch {b + 1}/{len(starts)}")
        chunk = jobs[start : start + bs]
        pert: Perturbed = _perturb(kind, sample, [tr for _, _, tr in chunk], dev)
        images, depths = pert.images, pert.depths
        with_real = b == 0 and n_real > 0
        if with_real:  # the real predictions ride along in the first batch
            real_imgs = images_to_tensor(*sample.predictions.values(), device=dev)
            images = torch.cat([images, real_imgs])
            if depths is not None:
                real_d = [sample.prediction_depths.get(n) for n in sample.predictions]
                filler = torch.full_like(depths[:1], math.nan)
                depths = torch.cat([depths, *[(to_tensor(d, dev) if d is not None else filler) for d in real_d]])
        values, extras = runner.run(images, depths)
        for j, (axis, _, _) in enumerate(chunk):
            for k in ("area_ratio", "period_ratio"):
                collected[axis].setdefault(f"#{k}", []).append(float(extras[k][j]))
        for term, v in values.items():
            if isinstance(v, str):
                skipped[term] = v
                continue
            for j, (axis, _, _) in enumerate(chunk):
                collected[axis].setdefault(term, []).append(float(v[j]))
            if with_real:
                for k, name in enumerate(sample.predictions):
                    real.setdefault(name, {"values": {}})["values"][term] = float(v[len(chunk) + k])
        if with_real:
            for k, name in enumerate(sample.predictions):
                j = len(chunk) + k
                real.setdefault(name, {"values": {}}).update(
                    area_ratio=float(extras["area_ratio"][j]), period_ratio=float(extras["period_ratio"][j]))
    if progress is not None:
        progress(len(starts), len(starts), "done")
    main_axis = next(iter(axes))
    scales = axes[main_axis][0]
    measured = {k: collected[main_axis].pop(f"#{k}") for k in ("area_ratio", "period_ratio")}
    for axis in axes:
        collected[axis].pop("#area_ratio", None), collected[axis].pop("#period_ratio", None)
    # the readouts of the diagnosis (remembered on the sample), so the sweep marks what the cards say
    readouts = scale_readouts(sample, kind, dev) if sample.predictions else {}
    for name, d in real.items():
        d.update(_placement(kind, d, readouts[name], scales, measured))
    values = {t: collected[main_axis].get(t, []) for t in names if t not in skipped}
    curves = {axis: Curve(axis, axes[axis][0], {t: collected[axis].get(t, []) for t in values}) for axis in axes if axis != main_axis}
    responses = {t: analyse_response(scales, v, tolerance) for t, v in values.items()}
    if depth_estimator is not None and depth_source != "uploaded":
        dsrc = f"estimated by {getattr(depth_estimator, 'label', 'an estimator')}"
    elif sample.target_depth is None:
        dsrc = "none"
    else:
        dsrc = "target depth moved with the object" if kind == "insertion" else "target depth (geometry unchanged)"
    return Sweep(kind=kind, sample_name=sample.name, scales=scales, values=values, curves=curves, skipped=skipped,
                 predictions=real, responses=responses, params=p, encoder=encoder_id(enc), depth_source=dsrc,
                 device=str(dev), batches=runner.batches, seconds=time.perf_counter() - t0, tolerance=tolerance)


def _placement(kind: str, pred: dict, readout: ScaleReadout, scales: list[float], measured: dict[str, list[float]]) -> dict:
    """Where a real prediction sits on the scale axis: its scale readout (read off the images, as on
    its card; None, with the reason, when declined). For an insertion, the change-mask area ratio read
    off the sweep's own area-vs-scale curve is kept beside it as ``area_calibrated`` (a diagnostic of
    the change mask, which depends on the params), and ``sqrt_area_ratio`` the raw one."""
    out = {"estimated_scale": readout.estimate, "estimate": readout.method if readout.estimate is not None
           else f"declined: {readout.reason}"}
    if kind == "insertion":
        out["sqrt_area_ratio"] = math.sqrt(max(pred["area_ratio"], 0.0))
        x, a = np.asarray(scales, float), np.asarray(measured["area_ratio"], float)
        ok = np.isfinite(a)
        x, a = x[ok], a[ok]
        if len(a) >= 2 and np.all(np.diff(a) > 0) and a[0] <= pred["area_ratio"] <= a[-1]:
            out["area_calibrated"] = float(np.interp(pred["area_ratio"], a, x))
    return out


def _perturb(kind: str, sample: Sample, transforms: list[Transform], dev) -> Perturbed:
    if kind == "insertion":
        return insertion_perturbations(sample.context, sample.target, sample.mask, transforms, sample.target_depth,
                                       sample.context_depth, dev)
    return material_perturbations(sample.target, sample.mask, transforms, sample.target_depth, dev)


def scale_sweep(sample: Sample, scales=None, params: dict | None = None, device: str | torch.device = "auto", *,
                shifts=None, encoder: LatentEncoder | None = None, terms: list[str] | None = None,
                depth_estimator=None, depth_source: str = "uploaded", batch_size: int | None = None,
                progress: Callable[[int, int, str], None] | None = None, tolerance: float = 0.02) -> Sweep:
    """Object insertion: every term against the object's scale ``s`` (and shift).

    Args:
        sample: with context, target and mask (and target depth for the depth terms).
        scales: the scales (default 0.7–1.3 in 25 steps).
        shifts: horizontal and vertical shifts as fractions of the mask's width and height (default
            −0.2…0.2 in 9 steps; ``()`` for none).
        params, device, encoder: as :func:`geoviz.evaluate.evaluate`.
        depth_estimator, depth_source: ``"uploaded"`` moves the target depth with the object;
            ``"estimate …"`` runs the estimator on every synthetic prediction.
        batch_size: predictions per batch (default: as many as 25 at 512² in pixels).
        progress: ``progress(done, total, message)`` per batch.
    """
    scales = _check_axis("scales", DEFAULT_SCALES if scales is None else scales, 0.05, 20.0)
    fracs = _check_axis("shifts", DEFAULT_SHIFTS, -1.0, 1.0) if shifts is None else (
        _check_axis("shifts", shifts, -1.0, 1.0) if len(shifts) else [])
    y0, y1 = np.nonzero((sample.mask > 0.5).any(axis=1))[0][[0, -1]] if (sample.mask > 0.5).any() else (0, 0)
    x0, x1 = np.nonzero((sample.mask > 0.5).any(axis=0))[0][[0, -1]] if (sample.mask > 0.5).any() else (0, 0)
    bw, bh = float(x1 - x0 + 1), float(y1 - y0 + 1)
    axes = {"scale": (scales, [Transform(scale=s) for s in scales])}
    if fracs:
        axes["shift_x"] = ([f * bw for f in fracs], [Transform(dx=f * bw) for f in fracs])
        axes["shift_y"] = ([f * bh for f in fracs], [Transform(dy=f * bh) for f in fracs])
    return _sweep("insertion", sample, axes, params, device, encoder, terms, depth_estimator, depth_source, batch_size,
                  progress, tolerance)


def period_sweep(sample: Sample, scales=None, params: dict | None = None, device: str | torch.device = "auto", *,
                 angles=None, encoder: LatentEncoder | None = None, terms: list[str] | None = None,
                 batch_size: int | None = None, progress: Callable[[int, int, str], None] | None = None,
                 tolerance: float = 0.02) -> Sweep:
    """Material replacement: the latent and texture terms against the material's period scale ``s``
    and rotation θ (degrees; default −45…45 in 19 steps, ``()`` for none). Arguments as
    :func:`scale_sweep`."""
    scales = _check_axis("scales", DEFAULT_SCALES if scales is None else scales, 0.05, 20.0)
    angles = _check_axis("angles", DEFAULT_ANGLES, -180.0, 180.0) if angles is None else (
        _check_axis("angles", angles, -180.0, 180.0) if len(angles) else [])
    axes = {"scale": (scales, [Transform(scale=s) for s in scales])}
    if angles:
        axes["rotation"] = (angles, [Transform(degrees=a) for a in angles])
    return _sweep("material", sample, axes, params, device, encoder, terms, None, "uploaded", batch_size, progress,
                  tolerance)
