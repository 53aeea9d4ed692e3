"""003 — texture-scale losses for material replacement: hold the tile / brick period of a texture.

The document fixes the API only; the algorithms follow ``../shared/specs/README.md`` (luma,
apodisation, normalised radial frequency, soft-argmax peaks on ``P/P_max``, Wiener–Khinchin ACF,
log-polar by ``grid_sample``) and are written out in each docstring. Scale errors are squared
log-ratios of peak frequency or ACF period, so a texture rescaled by ``s`` costs ``(log s)²``.

Inputs: ``pred``, ``target`` ``[B,{1,3},H,W]`` (luma is taken), ``mask`` ``[B,1,H,W]`` in ``[0,1]``
(the material region; a batch of 1 broadcasts). Every loss returns a float32 scalar, the batch mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .masks import as_4d, compute_dtype, full_precision
from .spectral import (
    _group_mask,
    angular_energy,
    apodise,
    autocorrelation,
    fft_size,
    log_polar,
    luma,
    power_spectrum,
    radial_spectrum,
    taper_window,
)

__all__ = [
    "dominant_frequency",
    "ACFAnalysis",
    "acf_analysis",
    "acf_period",
    "SpectralPeriodLoss",
    "LogPolarAlignLoss",
    "ScaleConsistencyLoss",
    "ACFPeriodLoss",
]

_TINY = 1e-12


def _pair(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, names=("pred", "target")):
    """Luma of both images stacked ``[2B,1,H,W]`` and their shared mask ``[B,1,H,W]``."""
    a = luma(pred)
    b = luma(target)
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} {tuple(pred.shape)} and {names[1]} {tuple(target.shape)} differ in size")
    dtype = compute_dtype(a, b)
    a, b = a.to(dtype), b.to(device=a.device, dtype=dtype)
    m = as_4d(mask, a, name="mask", dtype=dtype).clamp(0.0, 1.0)
    return torch.cat([a, b], dim=0), m


@full_precision
def dominant_frequency(
    img: torch.Tensor,
    mask: torch.Tensor,
    r_bins: int = 256,
    tau: float = 0.06,
    min_bin: int = 2,
    max_bin: int | None = None,
) -> torch.Tensor:
    """Normalised frequency of the spectral peak inside the mask (soft-argmax), ``[B]``.

    The period in pixels is ``2 / dominant_frequency``. Differentiable in ``img``.

    Example:
        >>> x = torch.arange(256.0)
        >>> img = (torch.sin(2 * math.pi * x / 16) > 0).float().expand(1, 1, 256, 256)  # 16 px stripes
        >>> p = 2 / dominant_frequency(img, torch.ones(1, 1, 256, 256))
        >>> bool(abs(float(p) - 16) < 0.5)
        True
    """
    return radial_spectrum(img, mask, r_bins, tau, min_bin, max_bin).peak


@dataclass
class ACFAnalysis:
    """What :func:`acf_analysis` found, for plotting and for :func:`acf_period`.

    ``lags [K]`` px, ``profile [B,K]`` the orientation-weighted radial ACF (1 at lag 0), ``period [B]``
    the refined period, ``peak_index [B]`` the selected bin, ``lag_range`` ``(min, max)`` px searched,
    ``orientation [B]`` the dominant spectral orientation in radians (``[0, π)``).
    """

    lags: torch.Tensor
    profile: torch.Tensor
    period: torch.Tensor
    peak_index: torch.Tensor
    lag_range: tuple[float, float]
    orientation: torch.Tensor


def _first_significant_peak(profile: torch.Tensor, lags: torch.Tensor, lag_min: float, lag_max: float) -> torch.Tensor:
    """Index of the first significant ACF peak after the central lobe, ``[B,K]`` → ``[B]`` (no grad).

    A candidate is a local maximum with lag in ``[lag_min, lag_max]`` that comes after the central
    lobe (after the profile first falls below 0.5 or turns up at a local minimum); the first
    candidate at least half as high as the best one wins. Without candidates: the highest point in
    the lag range.
    """
    r = profile.detach()
    k = r.shape[1]
    left = F.pad(r, (1, 0), value=float("inf"))[:, :k]
    right = F.pad(r, (0, 1), value=float("inf"))[:, 1:]
    local_max = (r >= left) & (r > right)
    local_min = (r <= left) & (r < right)
    in_range = ((lags >= lag_min) & (lags <= lag_max)).unsqueeze(0)
    past_lobe = torch.cummax(((r < 0.5) | local_min).to(torch.int8), dim=1).values.bool()
    cand = local_max & in_range & past_lobe
    best = torch.where(cand, r, torch.full_like(r, -math.inf)).amax(dim=1, keepdim=True)
    significant = cand & (r >= best - 0.5 * best.abs())
    first = torch.argmax(significant.to(torch.int8), dim=1)
    fallback = torch.argmax(torch.where(in_range, r, torch.full_like(r, -math.inf)), dim=1)
    return torch.where(significant.any(dim=1), first, fallback)


def _local_soft_argmax(profile: torch.Tensor, lags: torch.Tensor, index: torch.Tensor, tau: float) -> torch.Tensor:
    """Soft-argmax of ``profile/profile[index]`` over ``±max(2, index/4)`` bins around ``index``."""
    b, k = profile.shape
    half = torch.clamp(torch.round(index.to(torch.float64) / 4).long(), min=2)
    # the window's width from the profile's length, not from half.max(): no host sync on CUDA
    # (index < k, so half ≤ round((k − 1)/4); the bins past a row's own half are masked out below)
    width = max(2, (k + 1) // 4 + 1)
    offsets = torch.arange(-width, width + 1, device=profile.device)
    idx = index.unsqueeze(1) + offsets.unsqueeze(0)
    inside = (idx >= 0) & (idx < k) & (offsets.abs().unsqueeze(0) <= half.unsqueeze(1))
    idx = idx.clamp(0, k - 1)
    values = profile.gather(1, idx)
    centre = profile.gather(1, index.unsqueeze(1)).abs().clamp_min(_TINY)
    logits = torch.where(inside, values / centre / tau, torch.full_like(values, -math.inf))
    return (torch.softmax(logits, dim=1) * lags[idx]).sum(dim=1)


def acf_analysis(
    img: torch.Tensor,
    mask: torch.Tensor,
    r_bins: int = 256,
    tau: float = 0.08,
    min_rel: float = 0.03,
    max_rel: float = 0.6,
    n_angles: int = 90,
    min_bin: int = 2,
) -> ACFAnalysis:
    """The texture's autocorrelation profile and its period (see :func:`acf_period`).

    ``img`` ``[B,C,H,W]``; ``mask`` ``[Bm,1,H,W]`` with ``Bm`` dividing ``B`` (image ``i`` uses mask
    ``i mod Bm``), so a pair of batches sharing one mask computes the mask's overlap once.
    """
    x = luma(img)
    x = x.to(compute_dtype(x))
    m = _group_mask(mask, x)
    size = min(x.shape[-2:])
    lag_min, lag_max = min_rel * size, max_rel * size
    # Periods under lag_min are out of range anyway: work on the image area-downsampled so the
    # shortest period searched still spans ≥ 8 px. Keeps the FFT small at 1024² and above.
    down = max(1, int(lag_min // 8))
    if down > 1:
        x, m = F.avg_pool2d(x, down), F.avg_pool2d(m, down)
    max_lag = max(2, math.ceil(lag_max / down))
    window = taper_window(m)
    acf, power = autocorrelation(apodise(x, window.repeat(x.shape[0] // m.shape[0], 1, 1, 1)), window, max_lag)
    n = power.shape[-2]
    step = max(1.0, max_lag / r_bins)  # bins no finer than one pixel of lag
    lags = torch.arange(0.0, max_lag + 1e-9, step, device=x.device, dtype=x.dtype)
    theta = (torch.arange(n_angles, device=x.device, dtype=torch.float64) + 0.5) * (math.pi / n_angles)
    lx = lags.double().view(1, -1) * torch.cos(theta).view(-1, 1)
    ly = lags.double().view(1, -1) * torch.sin(theta).view(-1, 1)
    grid = torch.stack([(lx + max_lag) / max_lag - 1.0, ly / max_lag * 2.0 - 1.0], dim=-1)
    grid = grid.to(x.dtype).unsqueeze(0).expand(x.shape[0], -1, -1, -1)
    polar = F.grid_sample(acf, grid, mode="bilinear", padding_mode="border", align_corners=True)[:, 0]
    # Weight each direction by the spectrum's energy there: a plain angular mean of a stripe
    # pattern's ACF is J0-shaped and peaks at 1.12·p, not at p.
    energy = angular_energy(power.detach(), n, n_angles, f_min=min_bin / r_bins).square()
    total = energy.sum(dim=1, keepdim=True)
    weights = torch.where(total > 0, energy / total.clamp_min(_TINY), torch.full_like(energy, 1.0 / n_angles))
    profile = (weights.unsqueeze(-1) * polar).sum(dim=1)
    lags_px = lags * down
    index = _first_significant_peak(profile, lags_px, lag_min, lag_max)
    period = _local_soft_argmax(profile, lags_px, index, tau)
    orientation = theta.to(x.dtype)[weights.argmax(dim=1)]
    return ACFAnalysis(lags_px, profile, period, index, (lag_min, lag_max), orientation)


@full_precision
def acf_period(
    img: torch.Tensor,
    mask: torch.Tensor,
    r_bins: int = 256,
    tau: float = 0.08,
    min_rel: float = 0.03,
    max_rel: float = 0.6,
) -> torch.Tensor:
    """Texture period in pixels from the autocorrelation, ``[B]``; differentiable in ``img``.

    Luma → tapered window → apodise → zero-padded ``|rfft2|²`` → ``irfft2`` (Wiener–Khinchin, no
    circular wrap) normalised by the window's overlap and by lag 0. The radial profile averages
    directions weighted by the squared spectral energy of each orientation (for stripes: along
    their normal; for a square grid: both axes), with bins no finer than one pixel of lag
    (``r_bins`` is an upper bound). The period is the first significant peak after the central lobe
    between ``min_rel`` and ``max_rel`` of the shorter side, refined by a soft-argmax (``tau``) on
    the profile normalised by that peak over ``±max(2, k/4)`` bins.

    Example:
        >>> x = torch.arange(256.0)
        >>> img = torch.sin(2 * math.pi * x / 20).expand(1, 1, 256, 256)
        >>> bool(abs(float(acf_period(img, torch.ones(1, 1, 256, 256))) - 20) < 0.6)
        True
    """
    return acf_analysis(img, mask, r_bins, tau, min_rel, max_rel).period


def _log_ratio_sq(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (torch.log(a.clamp_min(_TINY)) - torch.log(b.clamp_min(_TINY))).square()


class SpectralPeriodLoss(torch.nn.Module):
    """Match the spectral peak (the period) and the spectrum's shape in a narrow band around it.

    ``w_peak·(log f_pred − log f_tgt)² + w_band·W₁``: ``f`` are soft-argmax peaks of the radial power
    spectra (bins ``min_bin:max_bin``, temperature ``tau``); ``W₁`` is the 1-D Wasserstein distance,
    in log-frequency, between the two spectra restricted to a Gaussian band (``band_sigma`` in log
    units, ±15 % by default) centred on the target's peak or ``center_override`` — it grows linearly
    with a peak shift inside the band and barely sees the rest of the spectrum.

    ``forward(pred, target, mask, center_override=None)``; ``center_override`` ``[B]`` is a
    normalised frequency (e.g. from a depth prior).

    Example:
        >>> loss = SpectralPeriodLoss()
        >>> x = torch.arange(256.0)
        >>> a = torch.sin(2 * math.pi * x / 16).expand(1, 1, 256, 256)
        >>> b = torch.sin(2 * math.pi * x / 20).expand(1, 1, 256, 256)
        >>> m = torch.ones(1, 1, 256, 256)
        >>> bool(loss(a, a, m) < 1e-4 < loss(b, a, m))
        True
    """

    def __init__(
        self,
        r_bins: int = 256,
        tau: float = 0.06,
        band_sigma: float = 0.15,
        w_peak: float = 1.0,
        w_band: float = 1.0,
        min_bin: int = 2,
        max_bin: int | None = None,
    ):
        super().__init__()
        self.r_bins, self.tau, self.band_sigma = r_bins, tau, band_sigma
        self.w_peak, self.w_band, self.min_bin, self.max_bin = w_peak, w_band, min_bin, max_bin

    def terms(self, pred, target, mask, center_override=None) -> dict[str, torch.Tensor]:
        """Per-sample parts: ``peak``, ``band`` ``[B]``, the peaks ``f_pred``, ``f_tgt`` and profiles."""
        both, m = _pair(pred, target, mask)
        spec = radial_spectrum(both, m, self.r_bins, self.tau, self.min_bin, self.max_bin)
        b = both.shape[0] // 2
        f_pred, f_tgt = spec.peak[:b], spec.peak[b:]
        sl = slice(self.min_bin, self.max_bin)
        freqs = spec.freqs[sl]
        log_f = torch.log(freqs)
        if center_override is None:
            centre = f_tgt.detach()
        else:
            centre = torch.as_tensor(center_override, device=freqs.device, dtype=freqs.dtype).reshape(-1).expand(b)
        band = torch.exp(-0.5 * ((log_f.unsqueeze(0) - torch.log(centre.clamp_min(_TINY)).unsqueeze(1)) / self.band_sigma).square())
        prof = spec.profile[:, sl]
        prof = prof / prof.amax(dim=1, keepdim=True).clamp_min(_TINY)
        q = prof * band.repeat(2, 1) + 1e-6 * band.repeat(2, 1)
        q = q / q.sum(dim=1, keepdim=True)
        cdf_gap = (q[:b] - q[b:]).cumsum(dim=1)[:, :-1]
        w1 = (cdf_gap.abs() * (log_f[1:] - log_f[:-1])).sum(dim=1)
        return {
            "peak": _log_ratio_sq(f_pred, f_tgt),
            "band": w1,
            "f_pred": f_pred,
            "f_tgt": f_tgt,
            "freqs": spec.freqs,
            "profile_pred": spec.profile[:b],
            "profile_tgt": spec.profile[b:],
            "prominence_pred": spec.prominence[:b],
            "prominence_tgt": spec.prominence[b:],
        }

    def combine_terms(self, t: dict[str, torch.Tensor]) -> torch.Tensor:
        """The loss from :meth:`terms`' parts (so a caller that wants both computes once)."""
        return self.per_sample_of(t).mean()

    def per_sample_of(self, t: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each sample's value ``w_peak·peak + w_band·band`` ``[B]`` from :meth:`terms`' parts."""
        return self.w_peak * t["peak"] + self.w_band * t["band"]

    @full_precision
    def per_sample(self, pred, target, mask) -> torch.Tensor:
        """Each sample's value ``[B]`` (the loss is their mean)."""
        return self.per_sample_of(self.terms(pred, target, mask))

    @full_precision
    def forward(self, pred, target, mask, center_override=None):
        """``pred``, ``target`` ``[B,C,H,W]``, ``mask`` ``[B,1,H,W]`` (the region compared) → scalar
        ``mean_b(w_peak·peak + w_band·band)``; ``center_override`` replaces the target's peak as the
        band's centre (normalised frequency, a number or ``[B]``)."""
        return self.combine_terms(self.terms(pred, target, mask, center_override))


def _gaussian_kernel(sigma: float, device, dtype) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _smooth_log_polar(lp: torch.Tensor, sigma_r: float, sigma_t: float) -> torch.Tensor:
    """Gaussian blur of ``[B,1,T,R]`` log-polar maps: ``sigma_r`` samples along log-radius (zero
    padding), ``sigma_t`` along angle (circular: the spectrum repeats every π)."""
    if sigma_r > 0:
        k = _gaussian_kernel(sigma_r, lp.device, lp.dtype)
        lp = F.conv2d(lp, k.view(1, 1, 1, -1), padding=(0, k.numel() // 2))
    if sigma_t > 0:
        k = _gaussian_kernel(sigma_t, lp.device, lp.dtype)
        r = k.numel() // 2
        lp = F.conv2d(torch.cat([lp[..., -r:, :], lp, lp[..., :r, :]], dim=-2), k.view(1, 1, -1, 1))
    return lp


class LogPolarAlignLoss(torch.nn.Module):
    """MSE between log-polar maps of the two amplitude spectra (scale and rotation become shifts).

    Each apodised, zero-padded amplitude spectrum is sampled on ``out_r`` log-spaced radii from
    ``r_min`` to 1 (normalised frequency) × ``out_t`` angles over ``[0, π)``; a map is compressed as
    ``log(1 + A/Ā)`` with ``Ā`` its mean, so contrast matters less than where the energy sits. The
    loss is ``w·mean((L_pred − L_tgt)²)``.

    Before compression the maps are blurred by a Gaussian of ``blur_log_r`` log units along the
    radius and ``blur_t`` samples along the angle: a tile spectrum's peaks are a few per cent wide,
    and unblurred maps stop overlapping after a few per cent of scale error, so the loss would
    saturate (and wobble) instead of growing over ±25 %.

    ``forward(pred, target, mask)``; ``maps(pred, target, mask)`` returns both ``[B,1,out_t,out_r]``.
    """

    def __init__(
        self,
        out_r: int = 128,
        out_t: int = 180,
        r_min: float = 1e-2,
        w: float = 1.0,
        blur_log_r: float = 0.1,
        blur_t: float = 1.5,
    ):
        super().__init__()
        self.out_r, self.out_t, self.r_min, self.w = out_r, out_t, r_min, w
        self.blur_log_r, self.blur_t = blur_log_r, blur_t

    def maps(self, pred, target, mask) -> tuple[torch.Tensor, torch.Tensor]:
        """``pred``, ``target`` ``[B,C,H,W]``, ``mask`` ``[B,1,H,W]`` → the blurred, compressed log-polar
        amplitude maps ``(L_pred, L_tgt)``, each ``[B,1,out_t,out_r]`` (rows: angle over [0, π);
        columns: log-radius from ``r_min`` to 1)."""
        both, m = _pair(pred, target, mask)
        n = fft_size(*both.shape[-2:])
        amp = power_spectrum(apodise(both, taper_window(m).repeat(2, 1, 1, 1)), n).add(1e-20).sqrt()
        lp = log_polar(amp, n, self.out_r, self.out_t, self.r_min)
        lp = _smooth_log_polar(lp, self.blur_log_r * (self.out_r - 1) / math.log(1.0 / self.r_min), self.blur_t)
        lp = torch.log1p(lp / lp.mean(dim=(1, 2, 3), keepdim=True).clamp_min(_TINY))
        b = lp.shape[0] // 2
        return lp[:b], lp[b:]

    def loss_from_maps(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``w·mean((a − b)²)`` of two :meth:`maps` outputs → scalar."""
        return self.w * (a - b).square().mean()

    @full_precision
    def per_sample(self, pred, target, mask) -> torch.Tensor:
        """Each sample's ``w·mean((L_pred − L_tgt)²)`` ``[B]`` (the loss is their mean)."""
        a, b = self.maps(pred, target, mask)
        return self.w * (a - b).square().mean(dim=(1, 2, 3))

    @full_precision
    def forward(self, pred, target, mask):
        """``pred``, ``target`` ``[B,C,H,W]``, ``mask`` ``[B,1,H,W]`` → scalar (maps, then their MSE)."""
        return self.loss_from_maps(*self.maps(pred, target, mask))


class ScaleConsistencyLoss(torch.nn.Module):
    """Agreement of the spectral peaks of two runs under the same conditions:
    ``w·mean_b (log f₁ − log f₂)²`` (soft-argmax peaks as in :func:`dominant_frequency`).

    ``forward(pred1, pred2, mask)``.
    """

    def __init__(self, r_bins: int = 256, tau: float = 0.06, min_bin: int = 2, max_bin: int | None = None, w: float = 1.0):
        super().__init__()
        self.r_bins, self.tau, self.min_bin, self.max_bin, self.w = r_bins, tau, min_bin, max_bin, w

    @full_precision
    def forward(self, pred1, pred2, mask):
        """Two runs ``pred1``, ``pred2`` ``[B,C,H,W]``, ``mask`` ``[B,1,H,W]`` → scalar; both runs are
        differentiated (neither is the reference)."""
        both, m = _pair(pred1, pred2, mask, names=("pred1", "pred2"))
        peak = radial_spectrum(both, m, self.r_bins, self.tau, self.min_bin, self.max_bin).peak
        b = peak.shape[0] // 2
        return self.w * _log_ratio_sq(peak[:b], peak[b:]).mean()


class ACFPeriodLoss(torch.nn.Module):
    """Match the ACF periods: ``w·mean_b (log p_pred − log p_tgt)²`` with :func:`acf_period`.

    ``forward(pred, target, mask)``.
    """

    def __init__(self, r_bins: int = 256, tau: float = 0.08, min_rel: float = 0.03, max_rel: float = 0.6, w: float = 1.0):
        super().__init__()
        self.r_bins, self.tau, self.min_rel, self.max_rel, self.w = r_bins, tau, min_rel, max_rel, w

    def analyse(self, pred, target, mask) -> tuple[ACFAnalysis, int]:
        """``pred``, ``target`` ``[B,C,H,W]``, ``mask`` ``[B,1,H,W]`` → (the ACF analysis of the
        ``2B`` stacked images — predictions first —, ``B``)."""
        both, m = _pair(pred, target, mask)
        b = both.shape[0] // 2
        return acf_analysis(both, m, self.r_bins, self.tau, self.min_rel, self.max_rel), b

    def loss_from_analysis(self, a: ACFAnalysis, b: int) -> torch.Tensor:
        """``w·mean_b (log p_pred − log p_tgt)²`` from :meth:`analyse`'s output (the target's period
        is a constant: gradients reach the prediction only) → scalar."""
        return self.w * _log_ratio_sq(a.period[:b], a.period[b:].detach()).mean()

    @full_precision
    def forward(self, pred, target, mask):
        """``pred``, ``target`` ``[B,C,H,W]``, ``mask`` ``[B,1,H,W]`` → scalar."""
        return self.loss_from_analysis(*self.analyse(pred, target, mask))

    @full_precision
    def per_sample(self, pred, target, mask) -> torch.Tensor:
        """Each sample's ``w·(log p_pred − log p_tgt)²`` ``[B]`` (the loss is their mean). A target of
        batch 1 is analysed once for every prediction."""
        kw = dict(r_bins=self.r_bins, tau=self.tau, min_rel=self.min_rel, max_rel=self.max_rel)
        p = acf_analysis(pred, mask, **kw).period
        shared_mask = mask.dim() < 4 or mask.shape[0] == 1
        if target.shape[0] != pred.shape[0] and not shared_mask:
            target = target.expand(pred.shape[0], *target.shape[1:])
        t = acf_analysis(target, mask, **kw).period.detach()
        return self.w * _log_ratio_sq(p, t)
