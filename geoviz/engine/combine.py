"""combine(report, weights) → totals, weighted values and shares, and weighted maps — pure and
cheap: no term is called, so a weight slider costs only this."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from geoviz.engine.evaluate import Report
from geoviz.engine.terms import REGISTRY, gradient_display

__all__ = ["Combined", "combine"]


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
    if not isinstance(weights, dict):
        raise TypeError(f"weights must be a dict {{term: weight}}, got {type(weights).__name__}; "
                        "for a preset's weights use geoviz.preset(name)")
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
