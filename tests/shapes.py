"""Known-answer inputs: discs, squares and gratings rendered with supersampling (area coverage)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def disc(size: int, radius: float, center=None, supersample: int = 1) -> torch.Tensor:
    """``[1,1,size,size]`` mask of a disc; ``supersample > 1`` gives its area coverage (soft edge)."""
    cy, cx = center if center is not None else ((size - 1) / 2, (size - 1) / 2)
    ss = supersample
    c = (torch.arange(size * ss, dtype=torch.float64) + 0.5) / ss - 0.5
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    m = (((yy - cy) ** 2 + (xx - cx) ** 2) <= radius**2).double().view(1, 1, size * ss, size * ss)
    return (F.avg_pool2d(m, ss) if ss > 1 else m).float()


def grating(size: int, period: float, angle_deg: float = 0.0, kind: str = "sine", phase: float = 0.0):
    """``[1,1,size,size]`` grating in [0.1, 0.9] of the given period (px) and orientation.

    ``kind="square"`` is the square wave band-limited to the sampling grid (its Fourier series up to
    the Nyquist frequency), i.e. ideally anti-aliased: harmonics that would alias back do not exist.
    """
    c = torch.arange(size, dtype=torch.float64)
    y, x = torch.meshgrid(c, c, indexing="ij")
    a = math.radians(angle_deg)
    u = 2 * math.pi * (x * math.cos(a) + y * math.sin(a)) / period + phase
    if kind == "sine":
        s = torch.sin(u)
    elif kind == "square":
        s = torch.zeros_like(u)
        k = 1
        while k / period < 0.5:
            s += torch.sin(k * u) / k
            k += 2
        s *= 4 / math.pi
        s = s.clamp(-1.2, 1.2) / 1.2
    else:
        raise ValueError(kind)
    return (0.5 + 0.4 * s).view(1, 1, size, size).float()
