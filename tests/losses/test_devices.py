"""Device handling: the CPU reference path and the CUDA path agree (CUDA tests skip without CUDA);
helpers that replace a PyTorch primitive equal it."""

import pytest
import torch
import torch.nn.functional as F
from terms_table import CASES, make_inputs

import losses
from losses.monodepth import sobel


def test_sobel_equals_conv2d():
    x = torch.randn(2, 1, 17, 23, dtype=torch.float64)
    kx = torch.tensor([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=torch.float64).view(1, 1, 3, 3)
    gx, gy = sobel(x)
    assert torch.allclose(gx, F.conv2d(x, kx, padding=1))
    assert torch.allclose(gy, F.conv2d(x, kx.transpose(-1, -2), padding=1))


def test_outputs_stay_on_the_input_device_and_dtype():
    x = make_inputs(b=1, h=16, w=16, lat=(4, 4))
    for case in CASES:
        out = case.fn(x)
        assert out.device == x["mask"].device and out.dtype == torch.float32, case.name


@pytest.mark.cuda
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_cuda_matches_cpu(case):
    from support import cuda_or_skip

    dev = cuda_or_skip()
    x = make_inputs(b=2, h=32, w=40, lat=(8, 10))
    xc = {k: v.to(dev).requires_grad_(k == case.wrt) for k, v in x.items()}
    xh = {k: v.clone().requires_grad_(k == case.wrt) for k, v in x.items()}
    vc, vh = case.fn(xc), case.fn(xh)
    assert vc.device.type == "cuda"
    assert torch.allclose(vc.cpu(), vh, rtol=1e-4, atol=1e-6)
    vc.backward()
    vh.backward()
    assert torch.allclose(xc[case.wrt].grad.cpu(), xh[case.wrt].grad, rtol=1e-3, atol=1e-6)


@pytest.mark.cuda
def test_cuda_sdm_never_leaves_the_device(monkeypatch):
    from support import cuda_or_skip

    dev = cuda_or_skip()
    m = torch.zeros(2, 1, 64, 64, dtype=torch.bool, device=dev)
    m[:, :, 20:40, 10:50] = True

    def no_host(*a, **k):
        raise AssertionError("the device path copied to the host")

    monkeypatch.setattr(torch.Tensor, "cpu", no_host)
    monkeypatch.setattr(torch.Tensor, "numpy", no_host)
    phi = losses.signed_distance_map_from_mask(m)
    assert phi.device.type == "cuda"
