"""Known answers from geometry: discs, squares, bands — and the exact on-device distance transform."""

import math

import numpy as np
import pytest
import torch
from shapes import disc

import losses
from losses.sdm import signed_distance_map_from_mask


@pytest.mark.parametrize("radius", [5, 12.5, 30])
@pytest.mark.parametrize("method", ["scipy", "device"])
def test_sdm_of_disc_is_the_analytic_distance(radius, method):
    size = 96
    m = disc(size, radius) > 0.5
    phi = signed_distance_map_from_mask(m, method=method)[0, 0]
    c = (size - 1) / 2
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    analytic = torch.sqrt((yy - c) ** 2 + (xx - c) ** 2) - radius  # + outside, − inside
    assert (phi - analytic).abs().max() <= 1.0
    # centre: −(r − 1) ± 1 (the contour pixels are 0, the first inside layer −1, …)
    centre = phi[int(c) : int(c) + 2, int(c) : int(c) + 2].min()
    assert abs(float(centre) + (radius - 1)) <= 1.0
    # sign convention: the first outside pixel is 1, object contour pixels are 0
    assert phi[~m[0, 0]].min() == 1.0
    inside = m[0, 0]
    pad = torch.nn.functional.pad(inside, (1, 1, 1, 1))
    four_neighbour_outside = ~(pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:])
    assert torch.all(phi[inside & four_neighbour_outside] == 0)
    assert torch.all(phi[inside & ~four_neighbour_outside] < 0)


def test_sdm_empty_full_and_normalised():
    empty = torch.zeros(2, 1, 20, 20, dtype=torch.bool)
    assert torch.all(signed_distance_map_from_mask(empty) == 0)
    assert torch.all(signed_distance_map_from_mask(~empty, method="device") == 0)
    m = disc(64, 10) > 0.5
    phi = signed_distance_map_from_mask(m, normalize=True)
    assert math.isclose(float(phi.abs().max()), 1.0)
    assert signed_distance_map_from_mask(m.float()[0, 0]).shape == (1, 1, 64, 64)


def _random_blob(g: torch.Generator, h: int, w: int) -> torch.Tensor:
    """A union of a few random ellipses and boxes."""
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    m = torch.zeros(h, w, dtype=torch.bool)
    for _ in range(int(torch.randint(1, 5, (1,), generator=g))):
        cy, cx = float(torch.rand(1, generator=g)) * h, float(torch.rand(1, generator=g)) * w
        ry, rx = 1 + float(torch.rand(1, generator=g)) * h / 3, 1 + float(torch.rand(1, generator=g)) * w / 3
        if float(torch.rand(1, generator=g)) < 0.5:
            m |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        else:
            m |= ((yy - cy).abs() <= ry) & ((xx - cx).abs() <= rx)
    return m


def test_device_sdm_equals_scipy_on_random_blobs():
    g = torch.Generator().manual_seed(11)
    masks = torch.stack([_random_blob(g, int(h), int(w)) for h, w in [(48, 64)] * 50]).unsqueeze(1)
    a = signed_distance_map_from_mask(masks, method="scipy")
    b = signed_distance_map_from_mask(masks, method="device")
    assert torch.equal(a, b)
    for n in (1, 2, 3):  # odd sizes, thin masks, single pixels
        for h, w in [(1, 7), (7, 1), (5, 9), (33, 17)]:
            m = torch.rand(n, 1, h, w, generator=g) > 0.7
            assert torch.equal(signed_distance_map_from_mask(m, method="scipy"), signed_distance_map_from_mask(m, method="device"))


@pytest.mark.cuda
def test_device_sdm_on_cuda_equals_scipy():
    from support import cuda_or_skip

    dev = cuda_or_skip()
    g = torch.Generator().manual_seed(12)
    masks = torch.stack([_random_blob(g, 64, 64) for _ in range(50)]).unsqueeze(1)
    cpu = signed_distance_map_from_mask(masks, method="scipy")
    gpu = signed_distance_map_from_mask(masks.to(dev))  # "auto" picks the device path
    assert gpu.device.type == "cuda"
    assert torch.equal(cpu, gpu.cpu())


def _disc_area(r):
    return math.pi * r * r


@pytest.mark.parametrize("r1,r2", [(20, 30), (30, 30), (40, 25)])
def test_dice_and_area_of_concentric_discs(r1, r2):
    p, t = disc(160, r1), disc(160, r2)  # binary: soft Dice of a soft mask with itself is not 0
    a1, a2 = _disc_area(r1), _disc_area(r2)
    dice = 1 - 2 * min(a1, a2) / (a1 + a2)
    assert abs(float(losses.dice_loss(p, t, eps=0.0)) - dice) < 5e-3  # pixel rasterisation of r ≥ 20 discs
    # area needs no binarisation: the supersampled coverage sums to the disc's area
    ps, ts = disc(160, r1, supersample=8), disc(160, r2, supersample=8)
    assert abs(float(losses.area_ratio_loss(ps, ts, eps=0.0)) - math.log(a1 / a2) ** 2) < 1e-3


@pytest.mark.parametrize("d", [0.0, 10.0, 25.0, 45.0])
def test_dice_of_shifted_discs(d):
    r = 25.0
    c = 80.0
    p = disc(160, r, center=(c, c - d / 2))
    t = disc(160, r, center=(c, c + d / 2))
    lens = 2 * r * r * math.acos(d / (2 * r)) - d / 2 * math.sqrt(4 * r * r - d * d)
    assert abs(float(losses.dice_loss(p, t, eps=0.0)) - (1 - lens / _disc_area(r))) < 5e-3
    ps = disc(160, r, center=(c, c - d / 2), supersample=8)
    ts = disc(160, r, center=(c, c + d / 2), supersample=8)
    assert float(losses.area_ratio_loss(ps, ts, eps=0.0)) < 1e-6  # same area wherever it sits


def test_dice_contribution_map_is_the_soft_disagreement():
    p, t = disc(64, 10, supersample=4), disc(64, 14, supersample=4)
    cmap = losses.dice_loss(p, t, reduction="none")
    assert math.isclose(float(cmap.sum()), float(losses.dice_loss(p, t)), rel_tol=1e-6)
    assert float(cmap[0, 0, 32, 32]) == 0.0  # both 1 in the middle: no disagreement


def test_dice_and_area_empty_masks():
    z = torch.zeros(2, 1, 16, 16)
    assert float(losses.dice_loss(z, z)) == 0.0
    assert float(losses.area_ratio_loss(z, z)) == 0.0


@pytest.mark.parametrize("size,factor", [(64, 8), (128, 16), (96, 4)])
def test_downsample_mask_area_preserves_area(size, factor):
    g = torch.Generator().manual_seed(size)
    m = (torch.rand(2, 1, size, size, generator=g) > 0.6).float()
    small = losses.downsample_mask_area(m, (size // factor, size // factor))
    assert small.shape == (2, 1, size // factor, size // factor)
    np.testing.assert_allclose(small.sum(dim=(1, 2, 3)) * factor**2, m.sum(dim=(1, 2, 3)), rtol=1e-6)
    assert losses.downsample_mask_area(m[0, 0] > 0.5, 8).shape == (1, 1, 8, 8)  # [H,W] bool input


@pytest.mark.parametrize("r", [1, 2, 3])
def test_boundary_band_width(r):
    m = torch.zeros(1, 1, 64, 64)
    m[..., 16:48, 16:48] = 1.0
    band = losses.boundary_band(m, r)
    row = band[0, 0, 32]  # a horizontal cut through the square: two strips of 2r pixels
    assert int(row.sum()) == 2 * (2 * r)
    assert torch.equal(row[16 - r : 16 + r], torch.ones(2 * r))
    expected = (32 + 2 * r) ** 2 - (32 - 2 * r) ** 2
    assert int(band.sum()) == expected
    assert int(losses.boundary_band(m, 0).sum()) == 0


def test_dilate_erode_match_max_pool():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 19, 23, generator=g)
    for r in (1, 2, 4, 7):
        ref = torch.nn.functional.max_pool2d(x, 2 * r + 1, 1, r)
        assert torch.equal(losses.dilate(x, r), ref)
        assert torch.allclose(losses.erode(x, r), 1 - torch.nn.functional.max_pool2d(1 - x, 2 * r + 1, 1, r))
    b = x > 0.7
    assert torch.equal(losses.dilate(b, 2), losses.dilate(b.float(), 2) > 0.5)


def test_sdm_threaded_samples_equal_the_serial_loop(monkeypatch):
    """Samples of ≥ 256² go to threads: the same maps, in order, with empty and full samples zero."""
    import losses.sdm as S

    g = torch.Generator().manual_seed(3)
    masks = torch.stack([_random_blob(g, 256, 320) for _ in range(4)]).unsqueeze(1)
    masks[1] = False
    masks[2] = True
    threaded = signed_distance_map_from_mask(masks, method="scipy")
    monkeypatch.setattr(S, "_THREAD_MIN_PIXELS", 1 << 40)  # the serial loop
    serial = signed_distance_map_from_mask(masks, method="scipy")
    assert torch.equal(threaded, serial)
    assert not bool(threaded[1].any()) and not bool(threaded[2].any()) and bool(threaded[0].any())
    assert torch.equal(threaded[3, 0], signed_distance_map_from_mask(masks[3:4], method="scipy")[0, 0])
