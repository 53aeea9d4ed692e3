"""Shared texture-spectrum helpers for 003: luma, apodisation, radial spectra, soft peaks, the
autocorrelation (Wiener–Khinchin) and log-polar sampling. All differentiable in the image.

Conventions (``../shared/specs/README.md``):

* Images ``[B,C,H,W]`` with ``C ∈ {1,3,4}`` reduce to Rec. 601 luma ``[B,1,H,W]`` (alpha ignored).
* *Normalised radial frequency* ``f ∈ [0,1]`` is 1 at the Nyquist frequency along an axis
  (0.5 cycles/pixel); the period in pixels is ``2/f``. ``r_bins`` bins of equal width cover
  ``[0,1]`` (bin ``b`` is centred at ``(b + 0.5)/r_bins``); corners beyond 1 are dropped.
* Before any FFT the region is apodised: the window is the soft mask with its edges tapered
  (a linear ramp over ``taper`` pixels inside the mask's edge, from a box filter of the binarised
  mask); the window-weighted mean is subtracted and the result multiplied by the window.
* The FFT is zero-padded to at least ``MIN_FFT`` samples per side (4× at 256²), so a change of a
  few per cent in period moves the peak across bins.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from .masks import as_4d, compute_dtype

__all__ = [
    "MIN_FFT",
    "luma",
    "taper_window",
    "apodise",
    "fft_size",
    "power_spectrum",
    "radial_profile",
    "bin_frequencies",
    "soft_peak",
    "prominence",
    "RadialSpectrum",
    "radial_spectrum",
    "angular_energy",
    "log_polar",
    "autocorrelation",
]

MIN_FFT = 1024
_LUMA = (0.299, 0.587, 0.114)


class _LumaFn(torch.autograd.Function):
    """``[B,3|4,H,W]`` → ``Σ_c k_c·x_c`` ``[B,1,H,W]``. Backward writes ``k_c·grad`` straight into
    each channel of one fresh tensor (autograd's slice-and-add backward zero-fills and re-adds the
    full ``[B,C,H,W]`` three times: ~0.2 s of a 1.8 s texture loss at ``[8,3,1024²]``)."""

    @staticmethod
    def forward(ctx, x):
        ctx.channels = x.shape[1]
        y = x[:, 0:1] * _LUMA[0]
        return y.add_(x[:, 1:2], alpha=_LUMA[1]).add_(x[:, 2:3], alpha=_LUMA[2])

    @staticmethod
    def backward(ctx, grad):
        if grad.requires_grad:  # create_graph: the same, differentiably (the map is linear)
            parts = [grad * k for k in _LUMA] + [torch.zeros_like(grad)] * (ctx.channels - 3)
            return torch.cat(parts, dim=1)
        b, _, h, w = grad.shape
        out = torch.empty((b, ctx.channels, h, w), dtype=grad.dtype, device=grad.device)
        for c, k in enumerate(_LUMA):
            torch.mul(grad, k, out=out[:, c : c + 1])
        if ctx.channels == 4:
            out[:, 3:4].zero_()  # alpha is ignored
        return out


def luma(img: torch.Tensor) -> torch.Tensor:
    """Rec. 601 luma. ``[B,1|3|4,H,W]`` (or ``[H,W]``, ``[B,H,W]``) → ``[B,1,H,W]`` float."""
    x = as_4d(img, name="image", channels=None)
    c = x.shape[1]
    if c == 1:
        return x
    if c in (3, 4):
        return _LumaFn.apply(x)
    raise ValueError(f"image must have 1, 3 or 4 channels; got shape {tuple(img.shape)}")


def _box_mean(x: torch.Tensor, r: int, dim: int) -> torch.Tensor:
    """Mean over ``[i−r, i+r]`` along ``dim`` with zeros beyond the border (cumulative sums, O(N))."""
    n = x.shape[dim]
    pad = [0, 0] * (x.dim() - 1 - (dim % x.dim())) + [r + 1, r]
    cs = F.pad(x, pad).cumsum(dim=dim)
    return (cs.narrow(dim, 2 * r + 1, n) - cs.narrow(dim, 0, n)) / (2 * r + 1)


def default_taper(height: int, width: int) -> int:
    """The taper width in pixels: 1/32 of the shorter side, at least 2."""
    return max(2, round(min(height, width) / 32))


def taper_window(mask: torch.Tensor, taper: int | None = None) -> torch.Tensor:
    """The apodisation window: the soft mask times a ramp from 0 at its edge to 1 ``taper`` px inside.

    ``[B,1,H,W]`` → ``[B,1,H,W]`` (a constant: no gradient). The ramp is ``clamp(2·box(M_bin) − 1, 0, 1)``
    with a box of half-width ``taper`` — 0 on a straight edge (and on the image border), 1 beyond
    ``taper`` px inside. The box runs on a grid ``taper/4`` times coarser and is upsampled
    bilinearly: the ramp is smooth, and this keeps it cheap at 1024². ``taper=0`` returns the mask.
    """
    m = mask.detach()
    if taper is None:
        taper = default_taper(*m.shape[-2:])
    if taper <= 0:
        return m
    binary = (m > 0.5).to(m.dtype)
    coarse = max(1, taper // 4)
    small = F.avg_pool2d(binary, coarse, ceil_mode=True) if coarse > 1 else binary
    r = max(1, round(taper / coarse))
    box = _box_mean(_box_mean(small, r, -1), r, -2)
    if coarse > 1:
        box = F.interpolate(box, scale_factor=coarse, mode="bilinear", align_corners=False)
        box = box[..., : m.shape[-2], : m.shape[-1]]
    return m * (2.0 * box - 1.0).clamp_(0.0, 1.0)


def _group_mask(mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The mask as ``[Bm,1,H,W]`` in ``[0,1]`` on ``x``'s device, ``Bm`` dividing ``x``'s batch."""
    m = as_4d(mask, name="mask", dtype=x.dtype).to(x.device).clamp(0.0, 1.0)
    if x.shape[0] % m.shape[0] or m.shape[-2:] != x.shape[-2:]:
        raise ValueError(
            f"mask {tuple(m.shape)} does not fit the images {tuple(x.shape)}: give one mask per image "
            "(or one for all) of the image's height and width"
        )
    return m


def apodise(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """``(x − mean_w(x))·w``: zero-mean inside the window, so the DC bin carries nothing.

    ``x``, ``window``: ``[B,1,H,W]`` → ``[B,1,H,W]``. An empty window gives zeros.
    """
    wsum = window.sum(dim=(1, 2, 3), keepdim=True)
    mean = (x * window).sum(dim=(1, 2, 3), keepdim=True) / wsum.clamp_min(torch.finfo(x.dtype).tiny)
    return (x - mean) * window


def fft_size(height: int, width: int, extra: int = 0, minimum: int = MIN_FFT) -> int:
    """Square FFT side: a 2·3·5-smooth length ≥ ``max(H, W) + extra`` and ≥ ``minimum``."""
    from scipy.fft import next_fast_len

    return int(next_fast_len(max(height, width, minimum - extra) + extra, real=True))


def power_spectrum(a: torch.Tensor, n: int) -> torch.Tensor:
    """``|rfft2(a, s=(n, n))|²``: ``[B,1,H,W]`` → ``[B,1,n,n//2+1]`` (zero-padded, onesided)."""
    spec = torch.fft.rfft2(a, s=(n, n))
    return spec.real.square() + spec.imag.square()


@functools.lru_cache(maxsize=32)
def _frequency_grid(n: int, device: str, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised radial frequency and angle in ``[0, π)`` of each rfft2 sample, ``[n, n//2+1]``."""
    fy = torch.fft.fftfreq(n, dtype=torch.float64).view(n, 1)
    fx = torch.fft.rfftfreq(n, dtype=torch.float64).view(1, n // 2 + 1)
    radius = 2.0 * torch.sqrt(fx.square() + fy.square())
    angle = torch.remainder(torch.atan2(fy, fx.expand(n, -1)), math.pi)
    return radius.to(device=device, dtype=dtype), angle.to(device=device, dtype=dtype)


@functools.lru_cache(maxsize=32)
def _splat(n: int, bins: int, kind: str, device: str, dtype: torch.dtype):
    """Linear splatting of every rfft2 sample onto ``bins`` bins of radius (``[0,1]``) or angle
    (``[0, π)``, circular). Returns ``(idx0, w0, idx1, w1, counts)``, the first four flat ``[N]``."""
    radius, angle = _frequency_grid(n, device, dtype)
    radius, angle = radius.reshape(-1), angle.reshape(-1)
    if kind == "radius":
        pos = radius * bins - 0.5
        keep = radius <= 1.0
    else:
        pos = angle / math.pi * bins - 0.5
        keep = torch.ones_like(radius, dtype=torch.bool)
    i0 = torch.floor(pos)
    frac = pos - i0
    i0 = i0.long()
    i1 = i0 + 1
    w0, w1 = (1.0 - frac) * keep, frac * keep
    if kind == "radius":
        w0 = torch.where(i0 >= 0, w0, torch.zeros_like(w0))
        w1 = torch.where(i1 < bins, w1, torch.zeros_like(w1))
        i0, i1 = i0.clamp(0, bins - 1), i1.clamp(0, bins - 1)
    else:
        i0, i1 = i0 % bins, i1 % bins
    counts = torch.zeros(bins, dtype=dtype, device=device)
    counts.index_add_(0, i0, w0).index_add_(0, i1, w1)
    return i0, w0, i1, w1, counts


def _binned_mean(values: torch.Tensor, n: int, bins: int, kind: str, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``values`` (``[B,1,n,n//2+1]``) per radial or angular bin → ``[B, bins]``."""
    i0, w0, i1, w1, counts = _splat(n, bins, kind, str(values.device), values.dtype)
    flat = values.reshape(values.shape[0], -1)
    if weight is not None:
        w0, w1 = w0 * weight, w1 * weight
    out = values.new_zeros(values.shape[0], bins)
    out = out.index_add(1, i0, flat * w0).index_add(1, i1, flat * w1)
    return out / counts.clamp_min(1e-12)


def radial_profile(power: torch.Tensor, n: int, r_bins: int) -> torch.Tensor:
    """Mean power per radial frequency bin: ``[B,1,n,n//2+1]`` → ``[B, r_bins]``."""
    return _binned_mean(power, n, r_bins, "radius")


def angular_energy(power: torch.Tensor, n: int, n_angles: int, f_min: float, f_max: float = 1.0) -> torch.Tensor:
    """Mean power per orientation bin over ``[0, π)``, counting frequencies in ``[f_min, f_max]``.

    ``[B,1,n,n//2+1]`` → ``[B, n_angles]``; bin ``j`` is centred at ``(j + 0.5)·π/n_angles``.
    """
    radius, _ = _frequency_grid(n, str(power.device), power.dtype)
    band = ((radius >= f_min) & (radius <= f_max)).to(power.dtype).reshape(-1)
    return _binned_mean(power, n, n_angles, "angle", weight=band)


def bin_frequencies(r_bins: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Centres of the radial bins, ``[r_bins]``, in normalised frequency."""
    return (torch.arange(r_bins, device=device, dtype=dtype) + 0.5) / r_bins


def soft_peak(profile: torch.Tensor, centres: torch.Tensor, tau: float) -> torch.Tensor:
    """Soft-argmax: ``Σ softmax((P/P_max)/tau)·centre``, ``[B, K]`` × ``[K]`` → ``[B]``.

    Normalising by the maximum (not a log) keeps the estimate on the peak: a broad softmax or a log
    profile drags it toward the mean frequency (measured 10–80 % off).
    """
    peak = profile.amax(dim=1, keepdim=True).clamp_min(torch.finfo(profile.dtype).tiny)
    weights = torch.softmax(profile / peak / tau, dim=1)
    return (weights * centres).sum(dim=1)


def prominence(profile: torch.Tensor, half_width: int) -> torch.Tensor:
    """Excess power over the profile's lower envelope: ``P − baseline`` (baseline detached).

    The baseline is a morphological opening of ``log P`` over ``2·half_width + 1`` bins (it erases
    peaks narrower than that), smoothed by a box of the same width. A periodic pattern's peak is
    narrow; the broad hump of tile-to-tile colour variation or of lighting is not — and in a radial
    *mean* the directional peak is diluted over its ring while the hump is not, so on raw power the
    hump can win. Excess *power* (not a ratio) still ranks a fundamental above its weaker harmonics.
    ``[B, K]`` → ``[B, K]``.
    """
    with torch.no_grad():
        k = 2 * half_width + 1
        floor = profile.amax(dim=1, keepdim=True).clamp_min(torch.finfo(profile.dtype).tiny) * 1e-12
        logp = torch.log(profile + floor).unsqueeze(1)

        def pad(x):
            return F.pad(x, (half_width, half_width), mode="replicate")

        lower = -F.max_pool1d(pad(-logp), k, stride=1)
        opened = F.max_pool1d(pad(lower), k, stride=1)
        baseline = torch.exp(F.avg_pool1d(pad(opened), k, stride=1)).squeeze(1)
    return profile - baseline


def prominence_half_width(height: int, width: int, r_bins: int) -> int:
    """Bins a spectral peak spans on each side (≈ 4/N cycles per pixel, ×1.5), at least 3."""
    return max(3, math.ceil(1.5 * r_bins * 4.0 / min(height, width)))


class RadialSpectrum:
    """The radial power spectrum of an apodised image and its soft peak.

    Attributes: ``freqs [r_bins]`` (bin centres), ``profile [B, r_bins]`` (mean power),
    ``prominence [B, r_bins]`` (excess over its lower envelope within ``min_bin:max_bin``, 0 outside),
    ``peak [B]`` (soft-argmax frequency of the prominence over bins ``min_bin:max_bin``), ``power`` (the onesided spectrum
    ``[B,1,n,n//2+1]``) and ``n`` (the FFT side).
    """

    def __init__(self, freqs, profile, prominence, peak, power, n):
        self.freqs, self.profile, self.prominence = freqs, profile, prominence
        self.peak, self.power, self.n = peak, power, n


def radial_spectrum(
    img: torch.Tensor,
    mask: torch.Tensor,
    r_bins: int = 256,
    tau: float = 0.06,
    min_bin: int = 2,
    max_bin: int | None = None,
    taper: int | None = None,
) -> RadialSpectrum:
    """Luma → taper window → apodise → zero-padded rfft2 → radial profile → prominence → soft peak.

    Args:
        img: ``[B,C,H,W]`` image(s). mask: ``[Bm,1,H,W]`` region in ``[0,1]``; ``Bm`` divides ``B`` and
            image ``i`` uses mask ``i mod Bm`` (so pred and target batches can share theirs).
        r_bins, tau, min_bin, max_bin: the profile's bins and the soft peak (bins
            ``min_bin:max_bin``, Python slice semantics; ``None`` = up to Nyquist).
        taper: the window's taper width in px (default 1/32 of the shorter side).
    """
    x = luma(img)
    x = x.to(compute_dtype(x))
    window = taper_window(_group_mask(mask, x), taper)
    n = fft_size(*x.shape[-2:])
    power = power_spectrum(apodise(x, window.repeat(x.shape[0] // window.shape[0], 1, 1, 1)), n)
    profile = radial_profile(power, n, r_bins)
    freqs = bin_frequencies(r_bins, device=x.device, dtype=x.dtype)
    sl = slice(min_bin, max_bin)
    # the envelope is taken over the searched bins only: the DC bins would drag it down at the start
    prom = torch.zeros_like(profile)
    prom[:, sl] = prominence(profile[:, sl], prominence_half_width(*x.shape[-2:], r_bins))
    peak = soft_peak(prom[:, sl], freqs[sl], tau)
    return RadialSpectrum(freqs, profile, prom, peak, power, n)


def log_polar(amplitude: torch.Tensor, n: int, out_r: int, out_t: int, r_min: float) -> torch.Tensor:
    """Sample a onesided spectrum on a log-polar grid with ``grid_sample`` (bilinear).

    ``amplitude``: ``[B,1,n,n//2+1]`` as from ``rfft2``. Returns ``[B,1,out_t,out_r]``: rows are
    angles ``θ_j = j·π/out_t`` over ``[0, π)``, columns radii ``exp(linspace(log r_min, 0, out_r))`` in
    normalised frequency. A point with a negative x-frequency is read at its mirror (``|F(−k)| = |F(k)|``
    for a real image), so the half plane suffices.
    """
    shifted = torch.fft.fftshift(amplitude, dim=-2)  # rows: fy from −n/2 to n/2−1
    grid = _log_polar_grid(n, out_r, out_t, r_min, str(amplitude.device), amplitude.dtype)
    return F.grid_sample(
        shifted, grid.expand(amplitude.shape[0], -1, -1, -1), mode="bilinear", padding_mode="zeros", align_corners=True
    )


@functools.lru_cache(maxsize=16)
def _log_polar_grid(n: int, out_r: int, out_t: int, r_min: float, device: str, dtype: torch.dtype) -> torch.Tensor:
    radii = torch.exp(torch.linspace(math.log(r_min), 0.0, out_r, dtype=torch.float64)) / 2.0  # cycles/px
    theta = torch.arange(out_t, dtype=torch.float64) * (math.pi / out_t)
    fx = radii.view(1, -1) * torch.cos(theta).view(-1, 1)
    fy = radii.view(1, -1) * torch.sin(theta).view(-1, 1)
    flip = fx < 0
    fx, fy = torch.where(flip, -fx, fx), torch.where(flip, -fy, fy)
    col = fx * n  # 0 … n/2
    row = fy * n + n // 2  # fftshift puts fy = 0 at row n//2
    gx = col / (n // 2) * 2.0 - 1.0
    gy = row / (n - 1) * 2.0 - 1.0
    return torch.stack([gx, gy], dim=-1).unsqueeze(0).to(device=device, dtype=dtype)


def autocorrelation(a: torch.Tensor, window: torch.Tensor, max_lag: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Overlap-normalised linear autocorrelation of an apodised signal, for lags up to ``max_lag``.

    Wiener–Khinchin on a zero-padded FFT (no circular wrap): ``acf = irfft2(|rfft2(a)|²)``, divided by
    the window's own autocorrelation (the overlap count, so distant lags are not damped) and by the
    result at lag 0. Lags whose overlap is under 5 % of the full overlap are set to 0.

    Args:
        a: ``[B,1,H,W]`` apodised signal. window: ``[Bw,1,H,W]`` the window (constant); ``Bw``
            divides ``B`` and signal ``i`` uses window ``i mod Bw``.
        max_lag: the largest lag in pixels needed.

    Returns:
        ``(acf, power)``: ``acf`` ``[B,1,max_lag+1,2·max_lag+1]`` over lags ``ly ∈ [0, max_lag]``
        (rows) × ``lx ∈ [−max_lag, max_lag]`` (columns; ``lx = 0`` at column ``max_lag``) — the other
        half plane is its mirror — and ``power`` the onesided spectrum ``[B,1,n,n//2+1]``.
    """
    h, w = a.shape[-2:]
    n = fft_size(h, w, extra=max_lag + 1, minimum=0)
    rows = slice(0, max_lag + 1)

    def half_plane(corr: torch.Tensor) -> torch.Tensor:
        return torch.cat([corr[..., rows, n - max_lag :], corr[..., rows, : max_lag + 1]], dim=-1)

    power = power_spectrum(a, n)
    acf = half_plane(torch.fft.irfft2(power, s=(n, n)))
    with torch.no_grad():
        overlap = half_plane(torch.fft.irfft2(power_spectrum(window, n), s=(n, n)))
        overlap = overlap.repeat(a.shape[0] // window.shape[0], 1, 1, 1)
        full = overlap[..., :1, max_lag : max_lag + 1]
        reliable = overlap > 0.05 * full
        overlap = torch.where(reliable, overlap, torch.ones_like(overlap))
    per_pixel = torch.where(reliable, acf / overlap, torch.zeros_like(acf))
    zero_lag = per_pixel[..., :1, max_lag : max_lag + 1]
    return per_pixel / zero_lag.clamp_min(torch.finfo(a.dtype).tiny), power
