"""Reading model weights: checkpoint files (strict, with messages naming the file and the first
differences) and the Hugging Face Hub's cache (offline machines are told at once how to get them).
Shared by every model of :mod:`geoviz.models`."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import torch
import torch.nn as nn

from geoviz.data.memo import SharedMemo
from geoviz.data.readers import InputError

__all__ = ["WeightsUnavailable", "read_state_dict", "load_strict", "hub_file", "reachable", "UNREACHABLE", "RETRY_S"]


class WeightsUnavailable(RuntimeError):
    """No local weights and no way to download them; the message says how to get them."""


# ---- the DPT head ------------------------------------------------------------------------------------



def read_state_dict(path: str | os.PathLike, label: str | None = None) -> dict[str, torch.Tensor]:
    """A checkpoint's tensors: ``.safetensors``, or ``.pth``/``.pt`` loaded with ``weights_only=True``
    (a bare state dict, or one under ``state_dict``/``model``). Errors name the file."""
    path = Path(path)
    label = label or path.name
    if not path.is_file():
        raise InputError(label, f"weights file not found ({path})", "check the path")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path))
        else:
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # truncated files, pickles with code, other formats
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(label, f"cannot be read as model weights ({first})",
                         "download the file again; it may be truncated") from None
    if isinstance(sd, dict) and not all(isinstance(v, torch.Tensor) for v in sd.values()):
        for key in ("state_dict", "model"):
            if isinstance(sd.get(key), dict):
                sd = sd[key]
                break
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise InputError(label, "holds no state dict of tensors", "use the official checkpoint file")
    return sd


def load_strict(module: nn.Module, sd: dict[str, torch.Tensor], label: str) -> None:
    """``load_state_dict(strict=True)`` with a message naming the file and the first differences."""
    own = module.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    wrong = sorted(k for k in set(own) & set(sd) if tuple(own[k].shape) != tuple(sd[k].shape))
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s) (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s) (e.g. {unexpected[0]})")
        if wrong:
            parts.append(f"{len(wrong)} shape mismatch(es) (e.g. {wrong[0]}: {tuple(sd[wrong[0]].shape)} vs {tuple(own[wrong[0]].shape)})")
        raise InputError(label, "does not fit the model: " + "; ".join(parts), "use the official checkpoint file")
    module.load_state_dict(sd, strict=True)


UNREACHABLE = SharedMemo()  # (repo, file) → (when, why): not retried for a while
RETRY_S = 600.0


def reachable(host: str, port: int = 443, timeout: float = 2.0) -> bool:
    """Whether a TCP connection to ``host`` opens within ``timeout`` s (offline machines fail fast here
    instead of in the Hub client's retries, which took ~25 s)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def hub_file(repo: str, filename: str, env: str, what: str, flag: str) -> Path:
    """A weights file from the Hugging Face Hub's cache (downloading once when online).

    The local cache is tried first; offline (``HF_HUB_OFFLINE=1``, or the Hub unreachable within 2 s)
    the :class:`WeightsUnavailable` comes at once, and a failed download is not retried for 10 minutes."""
    hint = (f"{what} weights are not here. Download {filename} from https://huggingface.co/{repo} and pass "
            f"{flag} PATH (or set ${env}).")
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:  # pragma: no cover - huggingface_hub comes with timm and gradio
        raise WeightsUnavailable(hint) from None
    try:
        return Path(hf_hub_download(repo, filename, local_files_only=True))
    except Exception:
        pass
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise WeightsUnavailable(hint + " (offline: HF_HUB_OFFLINE=1)")
    seen = UNREACHABLE.get((repo, filename))
    if seen is not None and time.monotonic() - seen[0] < RETRY_S:
        raise WeightsUnavailable(f"{hint} ({seen[1]})")
    if not reachable("huggingface.co"):
        UNREACHABLE[(repo, filename)] = (time.monotonic(), "offline: huggingface.co is unreachable")
        raise WeightsUnavailable(f"{hint} (offline: huggingface.co is unreachable)")
    try:
        return Path(hf_hub_download(repo, filename))
    except Exception as e:
        UNREACHABLE[(repo, filename)] = (time.monotonic(), f"download failed: {type(e).__name__}")
        raise WeightsUnavailable(f"{hint} (download failed: {type(e).__name__})") from None
