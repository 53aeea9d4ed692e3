"""Fresh full-size tensors that are cheap to fill on the CPU.

The first write into a freshly allocated large CPU tensor is dominated by page faults: on the
project's 2-core machines a new 32 MiB float32 tensor takes ~13 ms to fill against ~2 ms for an
existing one. PyTorch's CPU allocator asks for 4 KiB pages (unless the process was started with
``THP_MEM_ALLOC_ENABLE=1``); NumPy asks the kernel for transparent huge pages (``madvise``) on
allocations of 4 MiB and more, which takes that fill to ~5.5 ms. A tensor made by
``torch.from_numpy`` owns that memory like any other tensor, so a gradient that outlives the call
can live there.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["fresh_buffer"]

# NumPy applies MADV_HUGEPAGE from 4 MiB; below it the page-fault cost is small anyway.
_HUGE_PAGE_MIN_BYTES = 4 << 20
_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


def fresh_buffer(shape: tuple[int, ...] | torch.Size, like: torch.Tensor) -> torch.Tensor:
    """An uninitialised contiguous tensor of ``shape`` with ``like``'s dtype and device.

    Same contract as ``torch.empty``. A CPU float32/float64 tensor of at least 4 MiB is allocated by
    NumPy (transparent huge pages where the kernel offers them); anything else by ``torch.empty``.

    Example:
        >>> g = fresh_buffer((8, 1, 1024, 1024), torch.zeros(1))
        >>> g.shape, g.dtype, g.is_contiguous()
        (torch.Size([8, 1, 1024, 1024]), torch.float32, True)
    """
    shape = tuple(int(k) for k in shape)
    np_dtype = _NUMPY_DTYPES.get(like.dtype)
    if like.device.type == "cpu" and np_dtype is not None and math.prod(shape) * like.element_size() >= _HUGE_PAGE_MIN_BYTES:
        return torch.from_numpy(np.empty(shape, dtype=np_dtype))
    return torch.empty(shape, dtype=like.dtype, device=like.device)
