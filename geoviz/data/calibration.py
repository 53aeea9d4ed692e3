"""k_obj calibration (001) from a folder of samples: ``<folder>/<id>/{mask.*, depth.*, camera.json}``.

``k_obj`` is resolution-free: with ``s = sqrt(mask area in px)`` and ``f_px`` in the same pixels,
``k = s·Z/f`` (metric depth) or ``s/(f·d)`` (inverse depth) — the engine's depth-aware scale term
uses the same units at latent resolution.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import losses
from geoviz.data.layouts import first_file
from geoviz.data.readers import DEPTH_SUFFIXES, IMAGE_SUFFIXES, InputError, load_camera, load_depth, load_mask

__all__ = ["Calibration", "calibrate_folder", "extract_zip"]


@dataclass
class Calibration:
    k_obj: float
    per_sample: dict[str, float]  # NaN where a sample had no usable mask or depth
    depth_kind: str

    @property
    def spread(self) -> float:
        """Largest relative deviation of a per-sample k from the median."""
        ks = np.array([k for k in self.per_sample.values() if math.isfinite(k)])
        return float(np.abs(ks / self.k_obj - 1).max()) if ks.size else float("nan")


def calibrate_folder(folder: str | Path, depth_kind: str | None = None, depth_stat: str = "median") -> Calibration:
    """Median over the samples of their ``k_i`` (samples are the subfolders holding a mask)."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(str(folder), "is not a folder", "point at a folder of sample subfolders")
    masks, depths, fs, names, kinds = [], [], [], [], set()
    for sub in sorted(p for p in root.rglob("*") if p.is_dir()) + [root]:
        m_path = first_file(sub, "mask", IMAGE_SUFFIXES)
        d_path = first_file(sub, "depth", DEPTH_SUFFIXES) or first_file(sub, "target_depth", DEPTH_SUFFIXES)
        c_path = sub / "camera.json"
        if m_path is None or d_path is None or not c_path.is_file():
            continue
        label = str(sub.relative_to(root)) if sub != root else root.name
        m = load_mask(m_path, f"{label}/{m_path.name}")
        d, kind = load_depth(d_path, f"{label}/{d_path.name}", kind=depth_kind)
        if d.shape != m.shape:
            raise InputError(f"{label}/{d_path.name}", f"is {d.shape[1]}×{d.shape[0]} but the mask is "
                             f"{m.shape[1]}×{m.shape[0]}", "save depth at the mask's size")
        cam = load_camera(c_path, width=m.shape[1], name=f"{label}/camera.json")
        masks.append(torch.from_numpy(m)[None, None])
        depths.append(torch.from_numpy(d)[None, None])
        fs.append(cam["f_px"])
        names.append(label)
        kinds.add(kind)
    if not names:
        raise InputError(root.name, "holds no sample (a subfolder with mask.*, depth.* and camera.json)",
                         "lay the folder out like assets/calibration/")
    if len(kinds) > 1:
        raise InputError(root.name, "mixes metric and inverse depth", "use one kind, or say which with depth_kind")
    kind = kinds.pop()
    mode = "depth" if kind == "metric" else "inv_depth"
    f = torch.tensor(fs, dtype=torch.float32)
    k = losses.per_sample_k_obj(masks, depths, f, depth_mode=mode, depth_stat=depth_stat)
    if not bool(torch.isfinite(k).any()):
        raise InputError(root.name, "no sample has a non-empty mask with valid depth under it", "check the masks")
    k_obj = float(losses.estimate_k_obj_from_dataset(masks, depths, f, depth_mode=mode, depth_stat=depth_stat))
    return Calibration(k_obj, {n: float(v) for n, v in zip(names, k.tolist())}, kind)


def extract_zip(path: str | Path, dest: str | Path, max_bytes: int = 512 * 2**20, max_files: int = 4096) -> Path:
    """Unpack an uploaded .zip safely: no absolute paths or '..', bounded size and count."""
    dest = Path(dest)
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            if len(infos) > max_files:
                raise InputError(Path(path).name, f"holds {len(infos)} files (limit {max_files})", "zip fewer files")
            if sum(i.file_size for i in infos) > max_bytes:
                raise InputError(Path(path).name, "unpacks to more than the size limit", "zip fewer or smaller files")
            for info in infos:
                target = (dest / info.filename).resolve()
                if not target.is_relative_to(dest.resolve()) or info.filename.startswith("/"):
                    raise InputError(Path(path).name, f"holds an unsafe path {info.filename!r}", "zip a plain folder")
            z.extractall(dest)
    except zipfile.BadZipFile:
        raise InputError(Path(path).name, "is not a readable .zip", "zip the folder again") from None
    return dest
