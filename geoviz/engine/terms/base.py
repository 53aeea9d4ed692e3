"""What a term reads and returns: :class:`TermInputs` (one prediction's tensors), :class:`TermResult`
(value, contribution and gradient maps, extras), :class:`Term` (a registered term), and the helpers
every family uses to turn a value into a result."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = ["TermResult", "TermInputs", "Term", "to_numpy", "gradient_display", "gradient_of", "result_of", "memo"]

# ---- inputs and results ----------------------------------------------------------------------------


@dataclass
class TermResult:
    """What one term computed on one prediction.

    ``contribution`` sums to ``value`` (pixel-sum terms only) and ``gradient`` is ∂value/∂input, both
    float32 maps at the resolution of ``space`` (``"latent"`` h×w or ``"pixel"`` H×W). ``gradient``
    is signed for one-channel inputs (depth) and the L2 norm over channels otherwise;
    ``gradient_full`` ``[C,h,w]`` keeps every channel (so weighted sums of gradients are exact).
    """

    value: float | None
    contribution: np.ndarray | None = None
    gradient: np.ndarray | None = None
    gradient_full: np.ndarray | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None
    space: str = "pixel"
    input: str = "image"  # latent | depth | image

    @property
    def ok(self) -> bool:
        """True when the term was computed (``skipped`` is None)."""
        return self.skipped is None


@dataclass
class TermInputs:
    """The tensors one prediction's terms read, on one device, plus a memo for shared work."""

    name: str
    device: torch.device
    image_pred: torch.Tensor  # [1,3,H,W]
    image_tgt: torch.Tensor
    image_ctx: torch.Tensor
    mask: torch.Tensor  # [1,1,H,W]
    z_ctx: torch.Tensor  # [1,16,h,w]
    z_tgt: torch.Tensor
    z_pred: torch.Tensor
    mask_lat: torch.Tensor  # [1,1,h,w]
    latent_source: str = "proxy"
    depth_pred: torch.Tensor | None = None  # [1,1,H,W], NaN invalid, in depth_kind
    depth_tgt: torch.Tensor | None = None
    depth_kind: str = "metric"
    f_px: float | None = None
    k_obj: float | None = None
    second_run: torch.Tensor | None = None
    memo: dict = field(default_factory=dict)

    def leaf(self, key: str) -> torch.Tensor:
        """The prediction-side input as a leaf requiring grad (one per input, shared by terms)."""
        k = ("leaf", key)
        if k not in self.memo:
            src = {"latent": self.z_pred, "depth": self.depth_pred, "image": self.image_pred}[key]
            self.memo[k] = src.detach().clone().requires_grad_(True)
        return self.memo[k]


@dataclass(frozen=True)
class Term:
    """One loss term: ``name`` (the registry key), ``family`` (``latent``, ``depth``, ``scale``,
    ``monodepth``, ``texture``), ``spec`` (its document, ``"000"``–``"004"``), ``label`` and
    ``description`` for people, ``needs`` (inputs beyond the images: ``latents``, ``depth``,
    ``camera``, ``second_run``), ``default_weight`` (the document's starter), ``groups`` (the
    parameter groups it reads), ``input`` (what its gradient is taken on: ``latent``, ``depth``,
    ``image``) and ``compute(inputs, params) -> TermResult`` with ``params`` resolved."""

    name: str
    family: str  # latent | depth | scale | monodepth | texture
    spec: str
    label: str
    needs: frozenset
    default_weight: float
    groups: tuple[str, ...]
    input: str  # latent | depth | image
    compute: Callable[[TermInputs, dict], TermResult]
    description: str = ""


# ---- helpers ---------------------------------------------------------------------------------------


def to_numpy(t: torch.Tensor | None) -> np.ndarray | None:
    """A tensor as a squeezed float32 array (None stays None)."""
    if t is None:
        return None
    return t.detach().float().cpu().numpy().squeeze().astype(np.float32, copy=False)


def gradient_display(full: np.ndarray) -> np.ndarray:
    """``[C,h,w]`` gradient → ``[h,w]``: the signed map for one channel, the channel L2 norm otherwise."""
    return full[0] if full.shape[0] == 1 else np.sqrt((full.astype(np.float32) ** 2).sum(axis=0))


def gradient_of(value: torch.Tensor, leaf: torch.Tensor) -> np.ndarray:
    """∂value/∂leaf as ``[C,h,w]`` float32 (the leaf is ``[1,C,h,w]``)."""
    (g,) = torch.autograd.grad(value, leaf, retain_graph=True, allow_unused=True)
    if g is None:
        g = torch.zeros_like(leaf)
    return g[0].detach().float().cpu().numpy()


def result_of(value: torch.Tensor, leaf: torch.Tensor, space: str, input_: str, contribution=None, extras=None) -> TermResult:
    """A TermResult of ``value`` with its gradient on ``leaf`` (skipped when not finite)."""
    v = float(value.detach())
    if not math.isfinite(v):
        return TermResult(None, skipped=f"the value is not finite ({v})", space=space, input=input_)
    full = gradient_of(value, leaf)
    return TermResult(
        value=v, contribution=to_numpy(contribution), gradient=gradient_display(full), gradient_full=full,
        extras=extras or {}, space=space, input=input_,
    )


def memo(inp: TermInputs, key, fn):
    """``fn()`` computed once per prediction under ``key`` (work shared by several terms)."""
    if key not in inp.memo:
        inp.memo[key] = fn()
    return inp.memo[key]


