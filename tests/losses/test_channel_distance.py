"""The 002 terms' shared kernel `Σ_c (a − b)²` (a custom autograd function that sums channel by
channel into its output): equal to the plain formula for any channel count, and its gradient to
autograd's, at a small size and at one whose buffers come from NumPy (≥ 4 MiB)."""

import pytest
import torch

from losses.latent import _ChannelSquaredDistance


@pytest.mark.parametrize("channels", [1, 2, 5, 16])
def test_equals_the_formula_and_passes_gradcheck(channels):
    g = torch.Generator().manual_seed(channels)
    a = torch.randn(2, channels, 5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, channels, 5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    out = _ChannelSquaredDistance.apply(a, b)
    assert out.shape == (2, 1, 5, 6)
    assert torch.allclose(out, (a - b).square().sum(dim=1, keepdim=True), rtol=1e-14, atol=0)
    assert torch.autograd.gradcheck(_ChannelSquaredDistance.apply, (a, b))


def test_full_size_gradient_matches_autograd():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(8, 16, 128, 128, generator=g, requires_grad=True)
    b = torch.randn(8, 16, 128, 128, generator=g)
    w = torch.rand(8, 1, 128, 128, generator=g)
    (_ChannelSquaredDistance.apply(a, b) * w).sum().backward()
    want = 2 * (a.detach() - b) * w
    assert torch.allclose(a.grad, want, rtol=1e-6, atol=1e-6)
