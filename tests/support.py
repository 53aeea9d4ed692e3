"""Helpers the test modules import (conftest modules are per folder and share one module name)."""

import os
from pathlib import Path

import pytest
import torch

ARTIFACTS = Path(os.environ.get("GEOVIZ_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))


def cuda_or_skip() -> torch.device:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    return torch.device("cuda")


def chw(image) -> torch.Tensor:
    """``[H,W,3]`` NumPy → ``[3,H,W]`` tensor, as a training loop holds an image."""
    import numpy as np

    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
