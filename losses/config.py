"""The training-loop half of the weights config the dashboard exports.

    {"version": 1, "weights": {term: w}, "params": {group: {name: value}}}

:class:`GeometryLoss` turns it into a callable: given the tensors a training step has, it returns
the weighted total and a dict of the terms (for logging). A term with a non-zero weight whose inputs
are absent is refused with an error naming the term and the missing inputs; a zero-weight term is
not computed at all. Term names, parameter groups and defaults are the dashboard's (``geoviz``
takes :data:`DEFAULT_PARAMS` from here), so a config means the same thing on both sides.

Example::

    loss_fn = losses.GeometryLoss.from_config("weights.json")
    total, terms = loss_fn(z_pred=z_pred, z_tgt=z_tgt, z_ctx=z_ctx, mask=mask_px)
    total.backward()
    log({f"loss/{k}": float(v) for k, v in terms.items()})
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from losses.catalog import CATALOG, DEFAULT_PARAMS, TERM_INPUTS, Step, depth_at, resolve

__all__ = ["DEFAULT_PARAMS", "TERM_NAMES", "TERM_INPUTS", "CONFIG_VERSION", "GeometryLoss", "depth_at"]

CONFIG_VERSION = 1
# the built-in terms, in the dashboard's order (terms registered later are in losses.catalog.CATALOG)
TERM_NAMES = tuple(CATALOG)


class GeometryLoss(torch.nn.Module):
    """The weighted sum of geometry terms a weights config asks for.

    ``forward(**inputs) -> (total, terms)`` with keyword inputs (any subset; each term says what it
    reads in :data:`TERM_INPUTS`, from :mod:`losses.catalog`):

    * ``z_pred``, ``z_tgt``, ``z_ctx`` — latents ``[B,16,h,w]``;
    * ``mask`` — the insertion mask at any resolution ``[B,1,H,W]`` (area-downsampled to the latents);
    * ``depth_pred``, ``depth_tgt`` — ``[B,1,H,W]``, ``depth_kind`` ``"metric"`` (default) or
      ``"inverse"``; ``f_px`` — focal length in pixels of ``image_width`` (default: the mask's width);
      ``k_obj`` — when not in the params (else calibrated on ``depth_tgt``);
    * ``image_pred``, ``image_tgt``, ``image_pred2`` — images ``[B,3,H,W]`` for the texture terms.

    ``terms`` holds every computed term's (unweighted) value; zero-weight terms are skipped.
    ``latent_boundary`` is the boundary loss less its value at a perfect prediction (0 = perfect; the
    gradient is :func:`boundary_loss`'s), as the dashboard and the CLI show it.
    """

    def __init__(self, weights: dict[str, float], params: dict | None = None):
        super().__init__()
        unknown = set(weights) - set(CATALOG)
        if unknown:
            raise ValueError(f"unknown term(s) {sorted(unknown)}; known: {list(CATALOG)}")
        self.weights = {t: float(w) for t, w in weights.items()}
        self.params = resolve(params)

    @classmethod
    def from_config(cls, config: dict | str | Path) -> GeometryLoss:
        """From the dashboard's ``weights.json`` (a path) or its parsed dict."""
        if not isinstance(config, dict):
            config = json.loads(Path(config).read_text(encoding="utf-8"))
        if config.get("version") != CONFIG_VERSION:
            raise ValueError(f"weights config version {config.get('version')!r} is not supported (expected {CONFIG_VERSION})")
        return cls(config.get("weights") or {}, config.get("params") or {})

    def active_terms(self) -> list[str]:
        """The terms with a non-zero weight, in the dashboard's order (the ones ``forward`` computes)."""
        return [t for t in CATALOG if self.weights.get(t, 0.0) != 0.0]

    def forward(self, **inputs) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Keyword tensors (see the class docstring) → ``(total, terms)``: the weighted sum (a scalar
        on the inputs' device, differentiable) and each active term's unweighted value. Raises
        ValueError naming every active term whose inputs are missing (None counts as missing)."""
        given = {k for k, v in inputs.items() if v is not None}
        missing = {t: [i for i in TERM_INPUTS[t] if i not in given] for t in self.active_terms()}
        missing = {t: m for t, m in missing.items() if m}
        if missing:
            lines = "; ".join(f"{t} needs {', '.join(m)}" for t, m in missing.items())
            raise ValueError(f"terms with a non-zero weight lack inputs: {lines} (give them, or set their weight to 0)")
        step = Step({k: v for k, v in inputs.items() if v is not None}, self.params)
        terms: dict[str, torch.Tensor] = {}
        total = None
        for t in self.active_terms():
            value = CATALOG[t].value(step)
            terms[t] = value
            contribution = self.weights[t] * value
            total = contribution if total is None else total + contribution
        if total is None:
            ref = next((v for v in inputs.values() if isinstance(v, torch.Tensor)), None)
            total = torch.zeros((), device=None if ref is None else ref.device)
        return total, terms
