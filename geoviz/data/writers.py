"""A Sample → files, in the layout :func:`geoviz.data.layouts.load_sample` reads.

``context.png``, ``target.png``, ``mask.png``, ``pred/<name>.png`` (``<name>~2.png`` a second run),
``target_depth.npy``, ``context_depth.npy``, ``pred_depth/<name>.npy``, ``camera.json``,
``context_latents.safetensors``, ``target_latents.safetensors``, ``pred_latents/<name>.safetensors``.
Images are 8-bit PNG (what a browser upload carries); depth maps float32 ``.npy`` (exact, NaN kept).
Each file is written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from geoviz.data.sample import Sample

__all__ = ["write_sample", "safe_name", "write_image", "write_array", "write_atomic", "write_latent"]


def safe_name(name: str) -> str:
    """``name`` as a file stem: letters, digits, ``. _ - ~`` kept (a checkpoint's ``~2`` too), the rest ``_``."""
    return re.sub(r"[^A-Za-z0-9._~-]+", "_", name).strip(".")[:120] or "unnamed"


def write_atomic(path: Path, data: bytes) -> Path:
    """``data`` into ``path`` by way of a temporary name in the same folder (a rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def _png_bytes(arr: np.ndarray) -> bytes:
    import io

    a = np.asarray(arr, dtype=np.float32)
    q = np.rint(np.clip(np.nan_to_num(a), 0.0, 1.0) * 255.0).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(q).save(buf, format="PNG")
    return buf.getvalue()


def write_image(path: Path, image: np.ndarray) -> Path:
    """An image ``[H, W, 3]`` or a mask ``[H, W]`` in [0, 1] as an 8-bit PNG."""
    return write_atomic(path, _png_bytes(image))


def write_array(path: Path, arr: np.ndarray) -> Path:
    """A float32 ``.npy`` (depth maps: exact, NaN where invalid)."""
    import io

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr, dtype=np.float32), allow_pickle=False)
    return write_atomic(path, buf.getvalue())


def write_latent(path: Path, z: torch.Tensor) -> Path:
    """Latents ``[C, h, w]`` as a ``.safetensors`` file (key ``latents``, float32)."""
    from safetensors.torch import save

    return write_atomic(path, save({"latents": z.detach().to("cpu", torch.float32).contiguous()}))


def write_sample(sample: Sample, folder: str | os.PathLike) -> dict[str, object]:
    """Write ``sample`` into ``folder`` (made if missing) and return the paths by role: ``context``,
    ``target``, ``mask``, ``predictions`` (list, second runs included), and where present
    ``target_depth``, ``context_depth``, ``prediction_depths`` (list), ``camera``, ``latents`` (list).
    ``depth_kind`` is not a file: :attr:`Sample.depth_kind` says it (the written ``.npy`` keeps it
    only through the caller)."""
    root = Path(folder)
    out: dict[str, object] = {role: write_image(root / f"{role}.png", getattr(sample, role))
                              for role in ("context", "target", "mask")}
    preds = [write_image(root / "pred" / f"{safe_name(n)}.png", img) for n, img in sample.predictions.items()]
    preds += [write_image(root / "pred" / f"{safe_name(n)}~2.png", img) for n, img in sample.second_runs.items()]
    out["predictions"] = preds
    for role in ("target", "context"):
        depth = getattr(sample, f"{role}_depth")
        if depth is not None:
            out[f"{role}_depth"] = write_array(root / f"{role}_depth.npy", depth)
    if sample.prediction_depths:
        out["prediction_depths"] = [write_array(root / "pred_depth" / f"{safe_name(n)}.npy", d)
                                    for n, d in sample.prediction_depths.items()]
    if sample.camera:
        cam = {k: v for k, v in sample.camera.items() if isinstance(v, (int, float, str))}
        out["camera"] = write_atomic(root / "camera.json", json.dumps(cam, indent=1).encode())
    latents = [write_latent(root / f"{role}_latents.safetensors", z)
               for role, z in (("context", sample.context_latents), ("target", sample.target_latents)) if z is not None]
    latents += [write_latent(root / "pred_latents" / f"{safe_name(n)}.safetensors", z)
                for n, z in sample.prediction_latents.items()]
    if latents:
        out["latents"] = latents
    return out
