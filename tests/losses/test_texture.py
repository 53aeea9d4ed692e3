"""Texture losses (003) on gratings of known period: peaks, periods, monotonic scale response."""

import functools
import math

import pytest
import torch
from shapes import grating

import losses.texture as T

PERIODS = [8, 12, 16, 24, 32]
SCALES = [0.8, 0.9, 1.0, 1.1, 1.25]


@functools.cache
def img(size, period, angle, kind, phase=0.0):
    return grating(size, period, angle, kind, phase=phase)


def full(size):
    return torch.ones(1, 1, size, size)


def in_acf_range(p, size, min_rel=0.03, max_rel=0.6):
    return min_rel * size <= p <= max_rel * size / 2


@pytest.mark.parametrize("size", [256, 512])
@pytest.mark.parametrize("kind", ["sine", "square"])
@pytest.mark.parametrize("angle", [0, 30])
@pytest.mark.parametrize("p", PERIODS)
def test_period_estimates_within_3_percent(size, kind, angle, p):
    x, m = img(size, p, angle, kind), full(size)
    period = 2 / float(T.dominant_frequency(x, m))
    assert abs(period - p) / p < 0.03, period
    if in_acf_range(p, size):
        acf = float(T.acf_period(x, m))
        assert abs(acf - p) / p < 0.03, acf


def test_acf_out_of_range_finds_the_first_peak_in_range():
    """A period under min_rel·size is invisible to the ACF search: it reports the first multiple."""
    x = img(512, 8, 0, "sine")  # lag_min = 15.36 px
    assert abs(float(T.acf_period(x, full(512))) - 16) < 0.5


def _losses():
    return {"spectral": T.SpectralPeriodLoss(), "log_polar": T.LogPolarAlignLoss(), "acf": T.ACFPeriodLoss()}


@pytest.mark.parametrize("size", [256, 512])
@pytest.mark.parametrize("kind", ["sine", "square"])
@pytest.mark.parametrize("angle", [0, 30])
@pytest.mark.parametrize("p", PERIODS)
def test_losses_grow_monotonically_with_scale_error(size, kind, angle, p):
    """On each side of s = 1 every loss grows with |log s|; the prediction has another phase, so
    s = 1 is not trivially identical. The ACF loss is checked where p·s is inside its lag range."""
    target, m = img(size, p, angle, kind), full(size)
    values = {name: [] for name in _losses()}
    for s in SCALES:
        pred = img(size, p * s, angle, kind, phase=0.7)
        for name, loss in _losses().items():
            values[name].append(float(loss(pred, target, m)))
    for name, v in values.items():
        below, at, above = v[:2], v[2], v[3:]
        if name == "acf":
            if not all(in_acf_range(p * s, size) for s in SCALES):
                continue
        assert at < below[1] < below[0], (name, v)
        assert at < above[0] < above[1], (name, v)


def test_scale_consistency_same_period_is_tiny():
    m = full(256)
    sc = T.ScaleConsistencyLoss()
    for p in (8, 16, 24):
        a = img(256, p, 30, "square")
        b = img(256, p, 30, "square", phase=1.9)  # another "render": same period, other phase
        c = img(256, p * 1.25, 30, "square", phase=1.9)
        assert float(sc(a, b, m)) < 1e-3 * float(sc(a, c, m))


def test_spectral_loss_center_override_moves_the_band():
    m = full(256)
    target = img(256, 16, 0, "sine")
    pred = img(256, 18, 0, "sine")
    loss = T.SpectralPeriodLoss(w_peak=0.0)  # band term only
    at_target = float(loss(pred, target, m))
    # a band centred on the prediction's own peak frequency no longer sees the target's peak the same way
    f_pred = float(T.dominant_frequency(pred, m))
    moved = float(loss(pred, target, m, center_override=torch.tensor([f_pred])))
    assert moved != pytest.approx(at_target, rel=1e-3)


def test_masked_region_only():
    """Outside the mask the image does not matter: a grating in the mask region and noise outside."""
    size = 256
    g = torch.Generator().manual_seed(0)
    base = img(size, 16, 0, "sine").clone()
    noisy = base.clone()
    m = torch.zeros(1, 1, size, size)
    m[..., 40:216, 40:216] = 1
    noisy[..., :30, :] = torch.rand(1, 1, 30, size, generator=g)
    a = float(T.dominant_frequency(base, m))
    b = float(T.dominant_frequency(noisy, m))
    assert a == pytest.approx(b, rel=1e-6)
    assert 2 / a == pytest.approx(16, rel=0.03)


def test_rgb_and_batch():
    size = 256
    x = torch.cat([img(size, 12, 0, "sine"), img(size, 24, 30, "square")]).expand(-1, 3, -1, -1)
    periods = 2 / T.dominant_frequency(x, full(size))
    assert periods.shape == (2,)
    assert periods[0] == pytest.approx(12, rel=0.03) and periods[1] == pytest.approx(24, rel=0.03)


def test_log_polar_sees_rotation():
    m = full(256)
    lp = T.LogPolarAlignLoss()
    target = img(256, 16, 0, "square")
    rot5, rot15 = img(256, 16, 5, "square", phase=0.7), img(256, 16, 15, "square", phase=0.7)
    same = img(256, 16, 0, "square", phase=0.7)
    assert float(lp(same, target, m)) < float(lp(rot5, target, m)) < float(lp(rot15, target, m))


def test_acf_analysis_orientation():
    a = T.acf_analysis(img(256, 16, 30, "sine"), full(256))
    assert math.degrees(float(a.orientation[0])) == pytest.approx(30, abs=2.5)


@pytest.mark.parametrize("channels", [3, 4])
def test_luma_values_and_its_first_and_second_derivatives(channels):
    """Luma is a custom function (its backward writes each channel once): Rec. 601 weights, alpha
    ignored, gradients by gradcheck and, through create_graph, gradgradcheck."""
    from losses.spectral import luma

    x = torch.rand(2, channels, 5, 6, dtype=torch.float64, requires_grad=True)
    want = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    assert torch.allclose(luma(x), want, rtol=1e-15, atol=1e-15)
    assert torch.autograd.gradcheck(luma, (x,))
    assert torch.autograd.gradgradcheck(luma, (x,))
    (g,) = torch.autograd.grad(luma(x).sum(), x)
    assert torch.equal(g[:, :3], torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64).view(1, 3, 1, 1).expand(2, 3, 5, 6))
    if channels == 4:
        assert not bool(g[:, 3].any())
