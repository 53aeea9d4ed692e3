"""The scale readout: how big each checkpoint made the object, or the material's period, read off
the images alone — the question a user comes with, answered independently of the loss parameters
being tuned.

* **Insertion** (:func:`insertion_scale`): the object's linear size in the prediction relative to the
  target's. The target's object (the target inside the mask) is registered onto the prediction:
  scaled by ``s`` about its contact point (the mask's bottom centre) and shifted by ``(dx, dy)``,
  composited onto the context (whose colour is first matched to the prediction's background, so a
  global colour drift does not read as a change), and compared with the prediction under a robust
  (Geman–McClure) penalty, so pixels whose appearance differs — a regenerated texture, a highlight —
  cost a bounded amount and the silhouette decides. The search starts from the change region's area
  and centroid, scans ``s``, then refines ``(s, dx, dy)`` by a pattern search. A free shift makes a
  scale about the centre (or any point) the same answer.
* **Material** (:func:`material_scale`): the period ratio prediction / target (1.25 = tiles 25 %
  larger). The log-radial power spectra of the two textures inside the (tapered) mask are aligned
  by the shift along ``log f`` that best superposes them (a shift by ``log r`` is a period ratio
  ``r``); this reads the scale of the spectrum as a whole, so random textures with no clean peak
  (grass, gravel) are read as well as periodic ones (brick).

A readout that cannot be trusted is declined with its reason (``estimate`` None) — never an
uncalibrated number presented as an estimate.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

__all__ = ["ScaleReadout", "insertion_scale", "material_scale", "read_scales", "detect_kind", "SCALE_RANGE"]

SCALE_RANGE = (0.25, 4.0)  # the scales the insertion search considers
_OBJECT_SIDE = 96  # the registration runs where the object's longer side is at most this many pixels
_ALPHA = 0.5  # the appearance's share of the registration cost (the silhouette has the rest)
_MIN_FIT = 0.3  # below this share of the change explained, the registration does not read the object
# above this rms residual (over the rms structure of the target's spectrum) the spectra do not match at
# any shift: measured 0.01–0.53 for one texture at ratios 0.8–1.25, 0.52–2.6 for another texture
_MAX_MISMATCH = 0.8


@dataclass
class ScaleReadout:
    """One prediction's scale: ``estimate`` (None when declined), the ``method``, ``reliable`` and,
    when declined or unreliable, the ``reason``; ``details`` holds the fit's numbers (shift, fit
    quality, the search's range)."""

    kind: str
    estimate: float | None
    method: str
    reliable: bool
    reason: str | None = None
    details: dict = field(default_factory=dict)

    def short(self) -> str:
        """``"scale 1.00"``, or ``"scale ?"`` when declined (the reason is in :attr:`reason`)."""
        return "scale ?" if self.estimate is None else f"scale {self.estimate:.2f}"

    @property
    def csv_method(self) -> str:
        """What the CSV's ``scale_method`` column holds: the method, or the reason it was declined."""
        return self.method if self.estimate is not None else f"declined: {self.reason}"

    def to_dict(self) -> dict:
        """A JSON-ready copy (for bundles and API clients)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ScaleReadout:
        """The inverse of :meth:`to_dict`."""
        return cls(**{k: d.get(k) for k in ("kind", "estimate", "method", "reliable", "reason")},
                   details=dict(d.get("details") or {}))


def _declined(kind: str, method: str, reason: str, **details) -> ScaleReadout:
    return ScaleReadout(kind, None, method, False, reason, details)


# ---- the sample's kind ---------------------------------------------------------------------------


def detect_kind(mask: np.ndarray) -> tuple[str, str]:
    """``(kind, why)``: ``"material"`` when the mask looks like a surface — it touches two image
    borders or covers over 30 % of the image — else ``"insertion"`` (an object stands inside the
    image). A guess from the mask alone; the dashboard and the CLI let the user choose."""
    m = mask > 0.5
    borders = int(m[0].any()) + int(m[-1].any()) + int(m[:, 0].any()) + int(m[:, -1].any())
    share = float(m.mean())
    if borders >= 2:
        return "material", f"the mask touches {borders} image borders (a surface)"
    if share > 0.3:
        return "material", f"the mask covers {100 * share:.0f}% of the image (a surface)"
    return "insertion", f"the mask is a region inside the image ({100 * share:.0f}% of it): an object"


# ---- insertion -------------------------------------------------------------------------------------


def _chw(a: np.ndarray, device) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    return (t.permute(2, 0, 1) if t.dim() == 3 else t[None]).to(device)


def _bbox(m: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(m)
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def _colour_match(ctx: torch.Tensor, pred: torch.Tensor, background: np.ndarray) -> torch.Tensor:
    """The context with a per-channel gain and offset fitted (robustly: reweighted least squares)
    onto the prediction over ``background`` ``[H,W]`` bool, so a global colour drift is not a change.
    ``ctx``, ``pred``: ``[3,H,W]``. At most ~20k background pixels are used (a regular subsample)."""
    idx = np.flatnonzero(background)
    idx = torch.from_numpy(idx[:: max(1, len(idx) // 20000)]).to(ctx.device)
    x, y = ctx.flatten(1)[:, idx], pred.flatten(1)[:, idx]  # [3,N]
    w = torch.ones_like(x[0])
    gain = torch.ones(3, device=ctx.device)
    offset = torch.zeros(3, device=ctx.device)
    for _ in range(4):
        sw = w.sum().clamp_min(1e-6)
        mx, my = (x * w).sum(1) / sw, (y * w).sum(1) / sw
        vx = ((x - mx[:, None]) ** 2 * w).sum(1) / sw
        cxy = ((x - mx[:, None]) * (y - my[:, None]) * w).sum(1) / sw
        gain = torch.where(vx > 1e-6, cxy / vx.clamp_min(1e-6), torch.ones_like(vx)).clamp(0.5, 2.0)
        offset = my - gain * mx
        r = (y - gain[:, None] * x - offset[:, None]).square().sum(0).sqrt()
        scale = 3.0 * r.median().clamp_min(2e-3)
        w = 1.0 / (1.0 + (r / scale) ** 2)  # Cauchy weights: the grown object and other changes weigh little
    return (ctx * gain[:, None, None] + offset[:, None, None]).clamp(0, 1)


def _distance(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """``‖a − b‖`` over channels of two ``[3,H,W]`` images, as NumPy ``[H,W]``."""
    return (a - b).square().sum(0).sqrt().cpu().numpy()


class _Registration:
    """The cost of placing the target's object at ``(log s, dx, dy)`` in the prediction, on a region
    of interest; every candidate of a call is one ``grid_sample`` batch."""

    def __init__(self, ctx_bg: torch.Tensor, context: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                 pred: torch.Tensor, anchor: tuple[float, float], roi: tuple[int, int, int, int], c: float):
        y0, y1, x0, x1 = roi
        self.pred = pred[:, y0:y1, x0:x1]
        self.bg = ctx_bg[:, y0:y1, x0:x1]
        # the premultiplied object [1,4,H,W]: the target less the context it covers (target · mask would
        # keep the background mixed into the anti-aliased edge)
        obj = torch.minimum((target - context * (1.0 - mask)).clamp_min(0.0), mask.expand_as(target))
        self.src = torch.cat([obj, mask], dim=0)[None]
        self.size = mask.shape[-2:]
        self.anchor = anchor
        ys = torch.arange(y0, y1, device=pred.device, dtype=torch.float32).add_(0.5)
        xs = torch.arange(x0, x1, device=pred.device, dtype=torch.float32).add_(0.5)
        self.ys, self.xs = ys.view(1, -1, 1), xs.view(1, 1, -1)
        self.c2 = c * c
        r2 = (self.bg - self.pred).square().sum(dim=0)
        self.changed = r2 / (r2 + self.c2)  # [h,w] the soft "the prediction differs from the background here"
        self.evaluations = 0

    def composites(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``params [N,3]`` (log s, dx, dy) → ``(images [N,3,h,w], coverage [N,1,h,w])`` on the ROI."""
        s = params[:, 0].exp().view(-1, 1, 1)
        dx, dy = params[:, 1].view(-1, 1, 1), params[:, 2].view(-1, 1, 1)
        ax, ay = self.anchor
        sx = ax + (self.xs - ax - dx) / s  # output x = anchor + s·(source − anchor) + shift
        sy = ay + (self.ys - ay - dy) / s
        h, w = self.size
        grid = torch.stack([(sx * (2.0 / w) - 1.0).expand(-1, sy.shape[1], -1),
                            (sy * (2.0 / h) - 1.0).expand(-1, -1, sx.shape[2])], dim=-1)
        moved = F.grid_sample(self.src.expand(len(params), -1, -1, -1), grid, mode="bilinear",
                              padding_mode="zeros", align_corners=False)
        cover = moved[:, 3:].clamp(0, 1)
        return self.bg * (1 - cover) + moved[:, :3], cover

    def cost(self, params: torch.Tensor) -> torch.Tensor:
        """Each candidate's cost ``[N]``: the sum over the ROI of

        ``α·ρ(‖prediction − composite‖) + (1 − α)·(q_θ − q)²``

        with ``ρ(r) = r²/(r² + c²)``, ``q = ρ(‖prediction − background‖)`` (the prediction changed
        here) and ``q_θ = ρ(‖composite − background‖)`` (the candidate changes it here). The first
        part is the appearance, the second the silhouette of the change: an object the model drew
        anew, in other colours, is still placed by where the prediction changed."""
        self.evaluations += len(params)
        img, _ = self.composites(params)
        r2 = (img - self.pred).square().sum(dim=1)
        photo = r2 / (r2 + self.c2)
        m2 = (img - self.bg).square().sum(dim=1)
        q_theta = m2 / (m2 + self.c2)
        silhouette = (q_theta - self.changed).square()
        return (_ALPHA * photo + (1.0 - _ALPHA) * silhouette).sum(dim=(1, 2))

    def empty_cost(self) -> float:
        """The cost of no object at all (the context alone): ``q_θ = 0`` and the composite is the background."""
        return float((_ALPHA * self.changed + (1.0 - _ALPHA) * self.changed.square()).sum())


def _pattern_search(reg: _Registration, start: torch.Tensor, steps: tuple[float, float, float],
                    bounds: tuple[float, float], iterations: int = 40) -> tuple[torch.Tensor, float]:
    """Minimise ``reg.cost`` from ``start`` [3] by a compass search (move to the best neighbour; halve
    the steps when none is better) until the scale step is below 0.05 %."""
    # the six axis neighbours, and the four that move scale and vertical shift together (an object
    # scaled about its bottom moves its middle: the two are coupled)
    offsets = torch.tensor([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1],
                            [1, 0, 1], [1, 0, -1], [-1, 0, 1], [-1, 0, -1]], dtype=torch.float32, device=start.device)
    step = torch.tensor(steps, dtype=torch.float32, device=start.device)
    best = start.clone()
    best_cost = float(reg.cost(best[None])[0])
    for _ in range(iterations):
        cand = best[None] + offsets * step
        cand[:, 0] = cand[:, 0].clamp(*bounds)
        costs = reg.cost(cand)
        i = int(torch.argmin(costs))
        if float(costs[i]) < best_cost - 1e-9:
            best, best_cost = cand[i].clone(), float(costs[i])
        else:
            step = step / 2
            if float(step[0]) < 5e-4:
                break
    return best, best_cost


def _downscaled(arrays: list[torch.Tensor], f: float, shape: tuple[int, int]) -> list[torch.Tensor]:
    if f >= 1.0:
        return arrays
    size = (max(8, round(shape[0] * f)), max(8, round(shape[1] * f)))
    return [F.interpolate(a[None], size=size, mode="area")[0] for a in arrays]


class _Level:
    """The sample at one working resolution: context, target, mask, the object's box and where its
    background is — shared by every prediction — and, after :meth:`for_prediction`, one prediction
    with the context colour-matched to it and its change map."""

    def __init__(self, ctx, tgt, mask, f):
        self.f = f
        self.shape = mask.shape[-2:]
        self.ctx, self.tgt, self.m = _downscaled([ctx, tgt, mask], f, self.shape)
        self.mb = (self.m[0] > 0.5).cpu().numpy()
        self.ok = bool(self.mb.any())
        if not self.ok:
            return
        by0, by1, bx0, bx1 = _bbox(self.mb)
        self.obj = max(by1 - by0, bx1 - bx0)
        self.anchor = ((bx0 + bx1) / 2.0, float(by1))
        outside = ndi.distance_transform_edt(~self.mb)
        self.near = outside <= max(2, round(0.75 * self.obj))
        far = outside > 2
        self.bg_pixels = far & ~self.near if (far & ~self.near).sum() > 100 else far
        self.d_tgt = _distance(self.tgt, self.ctx)

    def for_prediction(self, pred: torch.Tensor) -> _Level:
        """A copy of this level holding ``pred`` (``[3,H,W]`` at full resolution)."""
        import copy

        out = copy.copy(self)
        (out.pred,) = _downscaled([pred], self.f, self.shape)
        out.ctx_bg = _colour_match(out.ctx, out.pred, out.bg_pixels)
        out.d_pred = _distance(out.pred, out.ctx_bg)
        return out

    def registration(self, c: float, box: tuple[float, float, float, float]) -> _Registration:
        """The registration on ``box`` (y0, y1, x0, x1 in this level's pixels, clipped to the image)."""
        h, w = self.mb.shape
        y0, y1, x0, x1 = box
        roi = (max(0, int(y0)), min(h, int(math.ceil(y1))), max(0, int(x0)), min(w, int(math.ceil(x1))))
        return _Registration(self.ctx_bg, self.ctx, self.tgt, self.m, self.pred, self.anchor, roi, c)

    def placed_box(self, params, margin: float) -> tuple[float, float, float, float]:
        """The mask's box moved by ``params`` (log s, dx, dy), grown by ``margin`` × its size."""
        y0, y1, x0, x1 = _bbox(self.mb)
        ax, ay = self.anchor
        s, dx, dy = math.exp(float(params[0])), float(params[1]), float(params[2])
        ny0, ny1 = ay + s * (y0 - ay) + dy, ay + s * (y1 - ay) + dy
        nx0, nx1 = ax + s * (x0 - ax) + dx, ax + s * (x1 - ax) + dx
        g = margin * max(ny1 - ny0, nx1 - nx0) + 3
        return min(y0, ny0) - g, max(y1, ny1) + g, min(x0, nx0) - g, max(x1, nx1) + g


def _rho_floor(reg: _Registration, d_bg: np.ndarray) -> float:
    """The cost a perfect placement still pays on the ROI: the noise's ρ, from the background."""
    r2 = d_bg.astype(np.float64) ** 2
    return float(np.mean(r2 / (r2 + reg.c2))) * reg.pred.shape[-1] * reg.pred.shape[-2]


def insertion_scale(context: np.ndarray, target: np.ndarray, mask: np.ndarray, prediction: np.ndarray,
                    device: str | torch.device = "cpu") -> ScaleReadout:
    """The object's linear size in ``prediction`` relative to ``target`` (see the module docstring).

    Args:
        context, target, prediction: ``[H,W,3]`` float in [0,1], one size.
        mask: ``[H,W]`` in [0,1], the object in the target.

    Returns a :class:`ScaleReadout`; declined (``estimate`` None) when the prediction shows no object
    near the mask, or when no placement of the target's object explains the change.

    Cost: a coarse scan where the object is 48 px, a compass search where it is 96 px (measured
    0.07–0.17 s per prediction at 512² on 2 CPU threads).
    """
    return _InsertionReader(context, target, mask, device)(prediction)


_INSERTION_METHOD = "registration of the target's object (scale about its contact point + shift)"


class _InsertionReader:
    """One sample's context, target and mask at the two working resolutions, prepared once; calling
    it with a prediction ``[H,W,3]`` reads that prediction's scale."""

    def __init__(self, context, target, mask, device):
        self.dev = torch.device(device)
        m_bin = mask > 0.5
        self.problem = None if m_bin.any() else "the mask is empty"
        if self.problem:
            return
        y0, y1, x0, x1 = _bbox(m_bin)
        side = max(y1 - y0, x1 - x0)
        full = [_chw(a, self.dev) for a in (context, target, mask)]
        self.fine = _Level(*full, min(1.0, _OBJECT_SIDE / side))
        self.coarse = _Level(*full, min(1.0, _OBJECT_SIDE / 2 / side))
        if not (self.fine.ok and self.coarse.ok):
            self.problem = "the mask is too small at the working resolution"

    def __call__(self, prediction: np.ndarray) -> ScaleReadout:
        if self.problem:
            return _declined("insertion", _INSERTION_METHOD, self.problem)
        pred = _chw(prediction, self.dev)
        return _read_insertion(self.fine.for_prediction(pred), self.coarse.for_prediction(pred), self.dev)


def _read_insertion(fine: _Level, coarse: _Level, dev: torch.device) -> ScaleReadout:
    """The registration (see :func:`insertion_scale`) on a prediction's two levels."""
    method = _INSERTION_METHOD
    noise = float(np.median(fine.d_pred[fine.bg_pixels]))
    c = max(3.0 * noise, 0.03)
    thr = max(2.0 * c, 0.06)
    lv = coarse
    changed_t = (lv.d_tgt > thr) & ndi.binary_dilation(lv.mb, iterations=1)
    changed_p = (lv.d_pred > thr) & lv.near
    if changed_t.sum() < 4:  # the target's object looks like its background: its silhouette is the mask
        changed_t = lv.mb
    area_t, area_p = float(changed_t.sum()), float(changed_p.sum())
    if area_p < 0.03 * area_t:
        return _declined("insertion", method, "the prediction shows no object near the mask (is it gone?)",
                         changed_share=area_p / max(area_t, 1.0))
    s0 = math.sqrt(area_p / area_t)
    lo, hi = math.log(SCALE_RANGE[0]), math.log(SCALE_RANGE[1])
    # coarse: scan log s around the area's guess, each scale placed so the change centroids coincide,
    # and a pixel either way
    ty, tx = np.nonzero(changed_t)
    py, px = np.nonzero(changed_p)
    a = np.array(lv.anchor)
    ct = np.array([tx.mean() + 0.5, ty.mean() + 0.5]) - a
    cp = np.array([px.mean() + 0.5, py.mean() + 0.5]) - a
    us = np.clip(np.log(s0) + np.arange(-0.5, 0.5001, 0.025), lo, hi)
    placed = [[u, *(cp - np.exp(u) * ct)] for u in us]
    reg = lv.registration(c, lv.placed_box(placed[-1], 0.1))
    costs = reg.cost(torch.tensor(placed, dtype=torch.float32, device=dev))
    # the three best scales, each with its shift moved by 1.5 px either way
    cand = torch.tensor([[placed[i][0], placed[i][1] + ex, placed[i][2] + ey] for i in torch.argsort(costs)[:3].tolist()
                         for ex in (-1.5, 0.0, 1.5) for ey in (-1.5, 0.0, 1.5)], dtype=torch.float32, device=dev)
    best = cand[int(torch.argmin(reg.cost(cand)))]
    evaluations = reg.evaluations
    # fine: a pattern search from the coarse optimum, its shift in fine pixels
    k = fine.f / coarse.f
    start = torch.stack([best[0], best[1] * k, best[2] * k])
    reg = fine.registration(c, fine.placed_box(start, 0.1))
    best, best_cost = _pattern_search(reg, start, (0.01, 1.0, 1.0), (lo, hi))
    empty = reg.empty_cost()
    floor = min(_rho_floor(reg, fine.d_pred[fine.bg_pixels]), best_cost)
    fit = (empty - best_cost) / (empty - floor) if empty > floor else 0.0
    s = float(best[0].exp())
    details = {"fit": fit, "dx_px": float(best[1]) / fine.f, "dy_px": float(best[2]) / fine.f, "area_guess": s0,
               "evaluations": evaluations + reg.evaluations, "noise": noise}
    if fit < _MIN_FIT:
        return _declined("insertion", method, f"no placement of the target's object explains the change "
                         f"({100 * fit:.0f}% explained)", **details)
    if not (SCALE_RANGE[0] * 1.001 < s < SCALE_RANGE[1] / 1.001):
        return _declined("insertion", method, f"the object is outside {SCALE_RANGE[0]:g}–{SCALE_RANGE[1]:g}× "
                         "the target's size", **details)
    return ScaleReadout("insertion", s, method, True, None, details)


# ---- material --------------------------------------------------------------------------------------


def _luma(img: np.ndarray) -> np.ndarray:
    return (0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2]).astype(np.float32)


def _window(mask: np.ndarray, taper: float) -> np.ndarray:
    """The mask with its edge tapered (a raised cosine over ``taper`` pixels inside it)."""
    inside = mask > 0.5
    dist = ndi.distance_transform_edt(inside)
    ramp = np.clip(dist / taper, 0.0, 1.0)
    return (0.5 - 0.5 * np.cos(np.pi * ramp)).astype(np.float32)


def _log_radial_spectrum(lum: np.ndarray, window: np.ndarray, u: np.ndarray, pad: int) -> np.ndarray:
    """The log of the radially averaged power spectrum of ``(lum − windowed mean)·window`` at the
    log-frequencies ``u = ln f`` (``f`` normalised, 1 at Nyquist), zero-padded to ``pad``²."""
    w_sum = window.sum()
    x = (lum - (lum * window).sum() / w_sum) * window
    spec = np.abs(np.fft.rfft2(x, s=(pad, pad))) ** 2
    fy = np.fft.fftfreq(pad)[:, None] * 2.0
    fx = np.fft.rfftfreq(pad)[None, :] * 2.0
    fr = np.sqrt(fy**2 + fx**2)
    ok = (fr > 0) & (fr <= 1.0)
    edges = np.concatenate([u[:1] - (u[1] - u[0]) / 2, (u[1:] + u[:-1]) / 2, u[-1:] + (u[1] - u[0]) / 2])
    idx = np.digitize(np.log(fr[ok]), edges) - 1
    good = (idx >= 0) & (idx < len(u))
    total = np.bincount(idx[good], weights=spec[ok][good], minlength=len(u))
    count = np.bincount(idx[good], minlength=len(u))
    prof = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    prof = np.log(np.maximum(prof, 1e-20 * max(np.nanmax(prof), 1e-30)))
    # fill empty bins (the lowest frequencies have few samples), then smooth over ±1 %
    valid = np.isfinite(prof)
    prof = np.interp(u, u[valid], prof[valid])
    return ndi.gaussian_filter1d(prof, 2.0)


def material_scale(target: np.ndarray, mask: np.ndarray, prediction: np.ndarray, *,
                   memo: dict | None = None) -> ScaleReadout:
    """The period ratio prediction / target of the material inside ``mask`` (see the module
    docstring). Images ``[H,W,3]`` in [0,1], mask ``[H,W]``. Declined when the target's texture
    has no structure at the sizes the region can show (its spectrum is a power law or flat).
    ``memo``: a dict shared by the calls on one sample's predictions (the target's spectrum is
    computed once)."""
    method = "alignment of the log-radial power spectra"
    inside = mask > 0.5
    if inside.sum() < 256:
        return _declined("material", method, "the material region is too small (under 256 pixels)")
    y0, y1, x0, x1 = _bbox(inside)
    extent = min(y1 - y0, x1 - x0)
    crop = (slice(y0, y1), slice(x0, x1))
    window = _window(mask[crop], taper=max(4.0, 0.06 * extent))
    pad = 1 << int(math.ceil(math.log2(2 * max(y1 - y0, x1 - x0))))
    # periods from 1/4 of the region's side down to 3.3 px (finer detail is what a decoder blurs)
    f_lo, f_hi = 8.0 / extent, 0.6
    if f_lo >= f_hi / 2:
        return _declined("material", method, "the material region is too small to show a period")
    du = 0.005
    max_shift = math.log(2.5)
    u = np.arange(math.log(f_lo) - max_shift, math.log(f_hi) + max_shift + du, du)
    if memo is None or "target_spectrum" not in memo:
        lt = _log_radial_spectrum(_luma(target)[crop], window, u, pad)
        if memo is not None:
            memo["target_spectrum"] = lt
    lt = memo["target_spectrum"] if memo is not None else lt
    lp = _log_radial_spectrum(_luma(prediction)[crop], window, u, pad)
    band = (u >= math.log(f_lo)) & (u <= math.log(f_hi))
    shifts = np.arange(-round(max_shift / du), round(max_shift / du) + 1)
    costs = np.full(len(shifts), np.inf)
    up = lp[band]
    # the difference less its best offset and f² term: a contrast change is an offset, a blur (or a
    # sharpening: a decoder's, a JPEG's) is −(πσf)² in the log spectrum; neither is a period change
    f2 = np.exp(2 * u[band])
    basis = np.stack([np.ones_like(f2), f2 / f2.max()], axis=1)
    proj = basis @ np.linalg.pinv(basis)
    for k, sh in enumerate(shifts):
        idx = np.nonzero(band)[0] + sh
        if idx[0] < 0 or idx[-1] >= len(u):
            continue
        diff = up - lt[idx]
        costs[k] = float(np.mean((diff - proj @ diff) ** 2))
    k = int(np.argmin(costs))
    delta = shifts[k] * du
    if 0 < k < len(costs) - 1 and np.isfinite(costs[k - 1]) and np.isfinite(costs[k + 1]):
        c0, c1, c2 = costs[k - 1], costs[k], costs[k + 1]
        den = c0 - 2 * c1 + c2
        if den > 0:
            delta += du * 0.5 * (c0 - c2) / den
    # how much structure the target's spectrum has beyond a power law, and how sharply the shift is fixed
    ut = u[band]
    coef = np.polyfit(ut, lt[band], 1)
    structure = float(np.std(lt[band] - np.polyval(coef, ut)))
    finite = costs[np.isfinite(costs)]
    contrast = float(np.median(finite) / max(costs[k], 1e-12))
    ratio = math.exp(delta)
    mismatch = math.sqrt(max(float(costs[k]), 0.0)) / max(structure, 1e-12)
    details = {"structure": structure, "contrast": contrast, "mismatch": mismatch,
               "band_periods_px": [2.0 / f_hi, 2.0 / f_lo]}
    if structure < 0.05 or contrast < 1.5:
        return _declined("material", method, "the texture has no structure at the sizes this region shows "
                         "(its spectrum is a featureless power law)", **details)
    if mismatch > _MAX_MISMATCH:
        return _declined("material", method, "the prediction's texture does not match the target's at any "
                         f"period (residual {mismatch:.2f} of the target's spectral structure)", **details)
    if abs(delta) >= max_shift - 2 * du:
        return _declined("material", method, f"the period ratio is outside 1/{math.exp(max_shift):g}–"
                         f"{math.exp(max_shift):g}", **details)
    return ScaleReadout("material", ratio, method, True, None, details)


def read_scales(kind: str, context: np.ndarray, target: np.ndarray, mask: np.ndarray,
                predictions: dict[str, np.ndarray], device: str | torch.device = "cpu") -> dict[str, ScaleReadout]:
    """Each prediction's :class:`ScaleReadout` for a sample of ``kind`` (``"insertion"`` or ``"material"``)."""
    if kind == "material":
        memo: dict = {}
        return {n: material_scale(target, mask, p, memo=memo) for n, p in predictions.items()}
    if kind != "insertion":
        raise ValueError(f"kind must be 'insertion' or 'material', got {kind!r}")
    with torch.no_grad():
        reader = _InsertionReader(context, target, mask, device)  # the shared work once per sample
        return {n: reader(p) for n, p in predictions.items()}
