"""Property-based tests (hypothesis) of every loss term, on random inputs.

``test_properties.py`` checks fixed inputs (one shape, five hand-picked mask/depth cases, gradcheck).
Here hypothesis draws the inputs instead: batch 1–4, H and W in 8–96 (odd sizes too), latent grids of
1/8 or 1/4 of that, soft masks of every kind (empty, full, soft-edged box, thresholded or soft noise
blob, a single pixel — a different kind per batch element), depths with random fractions of NaN, ±Inf,
zero and negative pixels (up to all of them), depth and latent magnitudes over several decades, and
random, striped or constant images. Properties:

1. every term in ``terms_table.CASES`` returns a finite scalar whose gradient with respect to the
   term's input is finite everywhere (also at the non-finite input pixels);
2. a term's ``reduction="none"`` contribution map is finite and sums to the scalar.

(That ``combine`` is linear in the weights is in ``tests/geoviz/test_combine_properties.py``.)

The strategy draws a small :class:`Spec` (the shape, kinds, fractions and a seed) and the tensors are
built from it with a seeded generator: hypothesis prints and shrinks the spec, not megabytes of floats.
``derandomize=True`` makes every run draw the same examples (reproducible in CI).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from terms_table import CASES

import losses

SETTINGS = dict(
    deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
# The texture terms zero-pad to a 1024² FFT (losses.spectral.MIN_FFT) whatever the image size, so one
# example costs 0.1–1 s; every other term costs milliseconds. Examples per property keep the file
# within about a minute on two CPU cores.
EXAMPLES_CHEAP = 40
EXAMPLES_FFT = 6
EXAMPLES_MAPS = 40

MASK_KINDS = ("empty", "full", "box", "blob", "pixel")
INVALID_KINDS = ("nan", "inf", "-inf", "zero", "negative")
IMAGE_KINDS = ("noise", "stripes", "constant")
DEPTH_PATTERNS = ("noisy", "equal", "flat")


@dataclass(frozen=True)
class Spec:
    """Everything that decides one example's tensors (printed by hypothesis when a property fails)."""

    b: int
    h: int
    w: int
    lat_factor: int  # latent grid = max(1, round(side / lat_factor))
    mask_kinds: tuple[str, ...]  # one per batch element
    mask_softness: float  # box edge ramp in px (1 = hard) / blob sigmoid width (0 = thresholded)
    depth_scale: float
    depth_pattern: str  # "noisy" (d_pred ≈ d_tgt), "equal" (zero error) or "flat" (a constant d_pred)
    pred_invalid: float  # fraction of non-finite / non-positive d_pred pixels
    pred_invalid_kinds: tuple[str, ...]
    tgt_invalid: float
    tgt_invalid_kinds: tuple[str, ...]
    latent_scale: float
    latent_change: float  # how much z_tgt differs from z_ctx inside the mask
    latent_noise: float  # how much z_pred differs from z_tgt (0: the background is exactly unchanged)
    image_kind: str
    dtype: str
    seed: int

    @property
    def lat(self) -> tuple[int, int]:
        return max(1, round(self.h / self.lat_factor)), max(1, round(self.w / self.lat_factor))


@st.composite
def specs(draw, dtypes=("float32", "float64")) -> Spec:
    b = draw(st.integers(1, 4))
    # odd sizes are drawn as often as even ones; the extremes 8 and 96 are hypothesis' favourites anyway
    h, w = draw(st.integers(8, 96)), draw(st.integers(8, 96))
    # No term documents a minimum latent size: 1×1 (an 8-px side at factor 8) is allowed and drawn.
    # Factor 8 is the Flux grid the dashboard uses (16 latent channels, one per 8 px), 4 what terms_table uses.
    lat_factor = draw(st.sampled_from((8, 4)))
    mask_kinds = tuple(draw(st.lists(st.sampled_from(MASK_KINDS), min_size=b, max_size=b)))
    fractions = st.sampled_from((0.0, 0.01, 0.3, 0.9, 1.0))
    kinds = st.lists(st.sampled_from(INVALID_KINDS), min_size=1, max_size=3, unique=True).map(tuple)
    return Spec(
        b=b, h=h, w=w, lat_factor=lat_factor, mask_kinds=mask_kinds,
        mask_softness=draw(st.sampled_from((0.0, 1.0, 3.0, 8.0))),
        depth_scale=draw(st.sampled_from((1e-3, 1.0, 1e3))),
        depth_pattern=draw(st.sampled_from(DEPTH_PATTERNS)),
        pred_invalid=draw(fractions), pred_invalid_kinds=draw(kinds),
        tgt_invalid=draw(fractions), tgt_invalid_kinds=draw(kinds),
        latent_scale=draw(st.sampled_from((1e-3, 1.0, 30.0))),
        latent_change=draw(st.sampled_from((0.0, 2.0))),
        latent_noise=draw(st.sampled_from((0.0, 0.2, 1.0))),
        image_kind=draw(st.sampled_from(IMAGE_KINDS)),
        dtype=draw(st.sampled_from(dtypes)),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


def _mask(kind: str, h: int, w: int, softness: float, g: torch.Generator) -> torch.Tensor:
    """One ``[H,W]`` soft mask in ``[0,1]`` (float64)."""
    r = lambda *s: torch.rand(*s, generator=g, dtype=torch.float64)  # noqa: E731
    if kind == "empty":
        return torch.zeros(h, w, dtype=torch.float64)
    if kind == "full":
        return torch.ones(h, w, dtype=torch.float64)
    if kind == "pixel":
        m = torch.zeros(h, w, dtype=torch.float64)
        m[int(r(()) * h), int(r(()) * w)] = 1.0
        return m
    if kind == "box":
        y0, y1 = sorted((float(r(())) * h, float(r(())) * h))
        x0, x1 = sorted((float(r(())) * w, float(r(())) * w))
        s = max(softness, 1.0)
        yy = torch.arange(h, dtype=torch.float64).view(-1, 1) + 0.5
        xx = torch.arange(w, dtype=torch.float64).view(1, -1) + 0.5
        ramp = lambda a, lo, hi: ((a - lo) / s + 0.5).clamp(0, 1) * ((hi - a) / s + 0.5).clamp(0, 1)  # noqa: E731
        return ramp(yy, y0, y1) * ramp(xx, x0, x1)
    if kind == "blob":
        coarse = torch.randn(1, 1, max(2, h // 8), max(2, w // 8), generator=g, dtype=torch.float64)
        noise = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)[0, 0]
        level = float(r(()) * 2 - 1)
        if softness == 0.0:
            return (noise > level).double()
        return torch.sigmoid((noise - level) / (0.1 * softness))
    raise ValueError(kind)


def _spoil(d: torch.Tensor, fraction: float, kinds: tuple[str, ...], g: torch.Generator) -> torch.Tensor:
    """Replace a random ``fraction`` of the pixels by NaN, ±Inf, 0 or negative values."""
    if fraction == 0.0:
        return d
    hit = torch.rand(d.shape, generator=g, dtype=torch.float64) < fraction
    if fraction == 1.0:
        hit[:] = True
    which = torch.randint(len(kinds), d.shape, generator=g)
    values = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"), "zero": 0.0}
    out = d.clone()
    for i, kind in enumerate(kinds):
        sel = hit & (which == i)
        out[sel] = -d[sel] if kind == "negative" else values[kind]
    return out


def _images(spec: Spec, g: torch.Generator) -> torch.Tensor:
    b, h, w = spec.b, spec.h, spec.w
    if spec.image_kind == "constant":
        return torch.rand(b, 3, 1, 1, generator=g, dtype=torch.float64).expand(b, 3, h, w).clone()
    if spec.image_kind == "stripes":
        period = 2.0 + 14.0 * torch.rand(b, 1, 1, 1, generator=g, dtype=torch.float64)
        angle = math.pi * torch.rand(b, 1, 1, 1, generator=g, dtype=torch.float64)
        yy = torch.arange(h, dtype=torch.float64).view(1, 1, -1, 1)
        xx = torch.arange(w, dtype=torch.float64).view(1, 1, 1, -1)
        phase = (xx * torch.cos(angle) + yy * torch.sin(angle)) * (2 * math.pi / period)
        img = 0.5 + 0.4 * torch.sin(phase) + 0.05 * torch.rand(b, 3, h, w, generator=g, dtype=torch.float64)
        return img.clamp(0, 1)
    return torch.rand(b, 3, h, w, generator=g, dtype=torch.float64)


def build(spec: Spec) -> dict[str, torch.Tensor]:
    """The inputs ``terms_table.make_inputs`` returns (same keys), drawn from ``spec``."""
    g = torch.Generator().manual_seed(spec.seed)
    b, h, w = spec.b, spec.h, spec.w
    lh, lw = spec.lat
    mask = torch.stack([_mask(k, h, w, spec.mask_softness, g) for k in spec.mask_kinds])[:, None]
    lmask = losses.downsample_mask_area(mask, (lh, lw))

    d_tgt = spec.depth_scale * (0.5 + 3.0 * torch.rand(b, 1, h, w, generator=g, dtype=torch.float64))
    jitter = torch.rand(b, 1, h, w, generator=g, dtype=torch.float64) - 0.5
    d_pred = d_tgt * (1 + 0.2 * jitter) + 0.05 * spec.depth_scale
    if spec.depth_pattern == "equal":
        d_pred = d_tgt.clone()
    elif spec.depth_pattern == "flat":
        d_pred = torch.full_like(d_tgt, 2.0 * spec.depth_scale)
    d_pred = _spoil(d_pred, spec.pred_invalid, spec.pred_invalid_kinds, g)
    d_tgt = _spoil(d_tgt, spec.tgt_invalid, spec.tgt_invalid_kinds, g)

    randn = lambda: torch.randn(b, 16, lh, lw, generator=g, dtype=torch.float64)  # noqa: E731
    z_ctx = spec.latent_scale * randn()
    z_tgt = z_ctx + spec.latent_scale * spec.latent_change * lmask * randn()
    z_pred = z_tgt + spec.latent_scale * spec.latent_noise * randn()

    img_tgt = _images(spec, g)
    img_pred = (img_tgt + 0.1 * torch.rand(b, 3, h, w, generator=g, dtype=torch.float64)).clamp(0, 1)
    out = dict(
        mask=mask, lmask=lmask, d_tgt=d_tgt, d_pred=d_pred, z_ctx=z_ctx, z_tgt=z_tgt, z_pred=z_pred,
        img_tgt=img_tgt, img_pred=img_pred, img_pred2=img_pred.flip(-1),
    )
    dtype = getattr(torch, spec.dtype)
    return {k: v.to(dtype) for k, v in out.items()}


FFT = [c for c in CASES if c.fft]
CHEAP = [c for c in CASES if not c.fft]
MAPPED = [c for c in CASES if c.map_fn is not None]


def _check_finite_value_and_gradient(case, spec: Spec) -> None:
    x = build(spec)
    x[case.wrt] = x[case.wrt].detach().requires_grad_(True)
    value = case.fn(x)
    assert value.dim() == 0, (case.name, tuple(value.shape))
    assert bool(torch.isfinite(value)), (case.name, float(value.detach()))
    (grad,) = torch.autograd.grad(value, x[case.wrt], allow_unused=True)
    if grad is not None:  # None: the value does not depend on the input here (e.g. an empty mask)
        assert grad.shape == x[case.wrt].shape
        bad = ~torch.isfinite(grad)
        assert not bool(bad.any()), (case.name, int(bad.sum()), "non-finite gradient entries")


# Property 1 — float32 and float64 are both drawn: float32 is the dtype the terms run in for training
# (where overflow / underflow of the eps clamps would show), float64 the one gradcheck uses.
@pytest.mark.parametrize("case", CHEAP, ids=[c.name for c in CHEAP])
@settings(max_examples=EXAMPLES_CHEAP, **SETTINGS)
@given(spec=specs())
def test_value_and_gradient_are_finite(case, spec):
    _check_finite_value_and_gradient(case, spec)


@pytest.mark.parametrize("case", FFT, ids=[c.name for c in FFT])
@settings(max_examples=EXAMPLES_FFT, **SETTINGS)
@given(spec=specs())
def test_value_and_gradient_are_finite_fft(case, spec):
    _check_finite_value_and_gradient(case, spec)


# Property 2 — float64, so the only difference between the scalar path (custom backward, BLAS dot
# products) and the map path (plain autograd) is summation order; the contract ("a [B,1,h,w]
# contribution map summing to it", e.g. losses.depth_consistency_loss, losses.dice_loss) is a plain sum.
@pytest.mark.parametrize("case", MAPPED, ids=[c.name for c in MAPPED])
@settings(max_examples=EXAMPLES_MAPS, **SETTINGS)
@given(spec=specs(dtypes=("float64",)))
def test_contribution_map_sums_to_value(case, spec):
    x = build(spec)
    value, cmap = case.fn(x), case.map_fn(x)
    assert cmap.dtype == torch.float64
    assert cmap.shape[:2] == (spec.b, 1)
    assert bool(torch.isfinite(cmap).all()), case.name
    scale = max(abs(float(value)), float(cmap.abs().sum()), 1e-12)
    assert abs(float(cmap.sum()) - float(value)) <= 1e-5 * scale, (case.name, float(cmap.sum()), float(value))
