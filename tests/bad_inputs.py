"""The bad inputs of a normal day, as a table shared by the API and the CLI tests.

Each case writes one file into a slot of an otherwise valid sample (made by ``write_dataset``) and
says what must happen: an error naming the file (``error`` fragments, all of them, case-insensitive)
or a computed sample with a notice (``notice``), or the valid sample's very numbers (``same_values``). ``HOSTILE_MARKER`` is what the pickle payload would
create if it were ever unpickled.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

HOSTILE_MARKER = Path(tempfile.gettempdir()) / "geoviz-pickle-payload-ran"

@dataclass(frozen=True)
class Case:
    id: str
    slot: str
    suffix: str
    make: Callable[[Path, Path], None]  # (path to write, the valid sample folder)
    error: tuple[str, ...] = ()  # fragments of the refusal (besides the file's name)
    notice: str | None = None  # fragment of a notice, when the sample must be computed
    same_values: bool = False  # the same numbers as the valid sample (an equivalent encoding)

    @property
    def ok(self) -> bool:
        return not self.error


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width×height (a decompression bomb's first bytes; the data is tiny)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def _truncated(path: Path, good: Path) -> None:
    data = (good / "context.png").read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _mask_of(good: Path) -> np.ndarray:
    return np.asarray(Image.open(good / "mask.png").convert("L")) > 127


def _mask16(path: Path, good: Path) -> None:
    """The valid (soft) mask at 16 bits: v·257 is v/255 of 65535 exactly."""
    levels = np.asarray(Image.open(good / "mask.png").convert("L")).astype(np.uint16) * 257
    Image.fromarray(levels).save(path)  # mode I;16


def _mask_other_size(path: Path, good: Path) -> None:
    m = Image.fromarray(_mask_of(good).astype(np.uint8) * 255)
    m.resize((m.width * 2, m.height * 2), Image.NEAREST).save(path)


def _rgba_empty_alpha(path: Path, good: Path) -> None:
    h, w = _mask_of(good).shape
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., :3] = 255  # white "paint" under a fully transparent alpha
    Image.fromarray(rgba).save(path)


def _size_of(good: Path) -> tuple[int, int]:
    return _mask_of(good).shape


def _depth(fill) -> Callable[[Path, Path], None]:
    def make(path: Path, good: Path) -> None:
        d = np.load(good / "target_depth.npy").astype(np.float32)
        np.save(path, fill(d))
    return make


def _nan_inf(d: np.ndarray) -> np.ndarray:
    out = np.full_like(d, np.nan)
    out[::2] = np.inf
    return out


def _half_nan(d: np.ndarray) -> np.ndarray:
    out = d.copy()
    out[: d.shape[0] // 2] = np.nan
    return out


def _latents(shape) -> Callable[[Path, Path], None]:
    def make(path: Path, good: Path) -> None:
        np.save(path, np.zeros(shape, np.float32))
    return make


def _packed_wrong(path: Path, good: Path) -> None:
    h, w = _size_of(good)
    np.save(path, np.zeros((1, (h // 16) * (w // 16) + 3, 64), np.float32))


class _Payload:
    """Unpickling this runs a shell command: what a hostile .pt carries."""

    def __reduce__(self):
        return os.system, (f"touch {HOSTILE_MARKER}",)


def _pickle_payload(path: Path, good: Path) -> None:
    h, w = _size_of(good)
    torch.save({"latents": torch.zeros(1, 16, h // 8, w // 8), "extra": _Payload()}, path)


def _camera(obj) -> Callable[[Path, Path], None]:
    def make(path: Path, good: Path) -> None:
        path.write_text(json.dumps(obj))
    return make


def _prediction_other_size(path: Path, good: Path) -> None:
    img = Image.open(good / "target.png")
    img.resize((img.width * 3 // 4, img.height * 3 // 4), Image.BICUBIC).save(path)


def _one_by_one(path: Path, good: Path) -> None:
    Image.new("RGB", (1, 1), (128, 128, 128)).save(path)


def _full_mask(path: Path, good: Path) -> None:
    Image.fromarray(np.full(_size_of(good), 255, np.uint8)).save(path)


def _empty_mask(path: Path, good: Path) -> None:
    Image.fromarray(np.zeros(_size_of(good), np.uint8)).save(path)


CASES: list[Case] = [
    Case("corrupt_png", "context", ".png", _truncated, ("damaged or truncated",)),
    Case("zero_bytes", "target", ".png", lambda p, g: p.write_bytes(b""), ("empty",)),
    Case("text_as_png", "context", ".png", lambda p, g: p.write_text("just some text, not an image\n"), ("not a readable image",)),
    Case("one_pixel", "context", ".png", _one_by_one, ("too small",)),
    Case("bomb_header", "target", ".png", lambda p, g: _png_header_only(p, 20000, 20000), ("mp limit", "before decoding")),
    Case("mask_16bit", "mask", ".png", _mask16, same_values=True),
    Case("mask_all_zero", "mask", ".png", _empty_mask, ("empty",)),
    Case("mask_all_one", "mask", ".png", _full_mask, notice="whole image"),
    Case("mask_other_size", "mask", ".png", _mask_other_size, notice="resized"),
    Case("mask_rgba_empty_alpha", "mask", ".png", _rgba_empty_alpha, ("alpha",)),
    Case("depth_nan_inf", "target_depth", ".npy", _depth(_nan_inf), ("no valid pixels",)),
    Case("depth_negative", "target_depth", ".npy", _depth(lambda d: -d), ("no valid pixels",)),
    Case("depth_zero", "target_depth", ".npy", _depth(np.zeros_like), ("no valid pixels",)),
    Case("depth_half_nan", "target_depth", ".npy", _depth(_half_nan), notice="invalid"),
    Case("latents_rank5", "context_latents", ".npy", _latents((1, 1, 16, 4, 4)), ("latents must be",)),
    Case("latents_4_channels", "context_latents", ".npy", _latents((1, 4, 12, 12)), ("latents must be",)),
    Case("latents_packed_misfit", "context_latents", ".npy", _packed_wrong, ("do not fit",)),
    Case("latents_pickle_payload", "context_latents", ".pt", _pickle_payload, ("not loaded for safety",)),
    Case("camera_strings", "camera", ".json", _camera({"f_px": "six hundred"}), ("f_px",)),
    Case("camera_negative_focal", "camera", ".json", _camera({"f_px": -500.0}), ("f_px",)),
    Case("prediction_other_size", "prediction", ".png", _prediction_other_size, notice="resized"),
]
