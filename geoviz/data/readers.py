"""Files → arrays, with errors a person can act on.

Every malformed input raises :class:`InputError`, whose message names the input (file name or role)
and says what to do. Readers return NumPy arrays in fixed conventions:

* images: float32 ``[H,W,3]`` in ``[0,1]`` (RGB, RGBA → RGB, L → grey, 16-bit scaled by 1/65535);
* masks: float32 ``[H,W]`` in ``[0,1]``, soft kept soft (the binary mask is ``> 0.5``); an RGBA
  mask with a varying alpha channel uses the alpha;
* depth: float32 ``[H,W]`` plus its kind, ``"metric"`` (Z in metres) or ``"inverse"`` (disparity);
  non-finite and non-positive values become NaN (invalid), never zero;
* latents: float32 ``[1,16,h,w]`` torch tensors; Flux Kontext's packed tokens ``[1,N,64]`` /
  ``[N,64]`` are unpacked with the image size (2×2 patches, feature ``c·4 + dy·2 + dx``);
* camera: a dict with ``f_px`` (from ``f_px``, or ``f_mm`` + ``sensor_width_mm`` + the width).
"""

from __future__ import annotations

import io as _io
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

__all__ = [
    "InputError",
    "MAX_IMAGE_PIXELS",
    "MIN_SIDE",
    "load_image",
    "load_mask",
    "load_depth",
    "load_camera",
    "load_latent",
    "pack_latents",
    "unpack_latents",
    "depth_kind_from_name",
]

# Refuse decompression bombs before decoding: 64 MP is 8k × 8k, far above any training image.
MAX_IMAGE_PIXELS = 64_000_000
# Pillow warns above this and refuses above twice it (DecompressionBombError, raised by open() from
# the header alone); _open_image refuses above it before decoding a single pixel.
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
MIN_SIDE = 16

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
DEPTH_SUFFIXES = (".npy", ".npz", ".png", ".tif", ".tiff", ".exr")
LATENT_SUFFIXES = (".safetensors", ".pt", ".pth", ".npy")


class InputError(ValueError):
    """A problem with one input, phrased for the person who supplied it.

    ``str(err)`` starts with the input's name; ``err.input_name`` holds it.
    """

    def __init__(self, input_name: str, problem: str, fix: str = ""):
        self.input_name = str(input_name)
        message = f"{self.input_name}: {problem}"
        if fix:
            message += f" — {fix}"
        super().__init__(message)


Source = str | os.PathLike | bytes | np.ndarray | Image.Image


def _name_of(src: Any, name: str | None) -> str:
    if name:
        return name
    if isinstance(src, (str, os.PathLike)):
        return Path(src).name
    return "input"


def _open_image(src: Source, name: str) -> Image.Image:
    """Open (and fully decode) an image, mapping every failure to an InputError."""
    if isinstance(src, Image.Image):
        return src
    try:
        if isinstance(src, bytes):
            if not src:
                raise InputError(name, "the file is empty (0 bytes)", "upload the image again")
            img = Image.open(_io.BytesIO(src))
        else:
            path = Path(src)
            if not path.exists():
                raise InputError(name, f"file not found ({path})", "check the path")
            if path.stat().st_size == 0:
                raise InputError(name, "the file is empty (0 bytes)", "upload the image again")
            img = Image.open(path)
        w, h = img.size
        if w * h > MAX_IMAGE_PIXELS:
            raise InputError(name, f"{w}×{h} pixels is over the {MAX_IMAGE_PIXELS // 1_000_000} MP limit",
                             "downscale it before uploading")
        img.load()
        return img
    except InputError:
        raise
    except Image.DecompressionBombError:
        raise InputError(name, f"is over the {MAX_IMAGE_PIXELS // 1_000_000} MP limit (refused before decoding: "
                         "a decompression-bomb guard)", "downscale it before uploading") from None
    except UnidentifiedImageError:
        raise InputError(name, "not a readable image (PNG, JPEG, WebP or TIFF expected)",
                         "check the file is an image and not renamed") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(name, f"the image is damaged or truncated ({e})", "export it again") from None


def _check_size(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.ndim < 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(name, f"has no pixels (shape {arr.shape})", "use a non-empty image")
    if min(arr.shape[0], arr.shape[1]) < MIN_SIDE:
        # two latent patches a side: anything smaller has no geometry to measure (and a 1×1 image
        # silently upsampled to the target's size would be a flat colour)
        raise InputError(name, f"{arr.shape[1]}×{arr.shape[0]} pixels is too small (at least {MIN_SIDE}×{MIN_SIDE})",
                         "upload the full-resolution file")
    return arr


def _to_unit_float(arr: np.ndarray) -> np.ndarray:
    """Integer images scale by their type's maximum; float images are taken as they are."""
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0
    if arr.dtype in (np.int32, np.int64):  # PIL's mode "I" (16-bit PNGs often decode to it)
        peak = 65535.0 if arr.max(initial=0) > 255 else 255.0
        return arr.astype(np.float32) / peak
    if arr.dtype == bool:
        return arr.astype(np.float32)
    return arr.astype(np.float32)


def _pil_to_array(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(img, dtype=np.uint16)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("CMYK", "YCbCr", "LAB", "HSV", "LA", "PA", "RGBX", "1"):
        img = img.convert("RGBA" if "A" in img.mode else ("L" if img.mode == "1" else "RGB"))
    return np.asarray(img)


def load_image(src: Source, name: str | None = None) -> np.ndarray:
    """An image → float32 ``[H,W,3]`` in ``[0,1]``. Alpha is dropped; grey is replicated."""
    name = _name_of(src, name)
    if isinstance(src, np.ndarray):
        arr = src
    else:
        arr = _pil_to_array(_open_image(src, name))
    arr = _check_size(np.asarray(arr), name)
    x = _to_unit_float(arr)
    if x.ndim == 2:
        x = np.repeat(x[..., None], 3, axis=2)
    elif x.ndim == 3 and x.shape[2] == 4:
        x = x[..., :3]
    elif x.ndim == 3 and x.shape[2] == 2:
        x = np.repeat(x[..., :1], 3, axis=2)
    elif x.ndim == 3 and x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    if x.ndim != 3 or x.shape[2] != 3:
        raise InputError(name, f"unexpected image shape {arr.shape}", "use an RGB, RGBA or greyscale image")
    if not np.isfinite(x).all():
        raise InputError(name, "contains NaN or infinite values", "export it as an 8- or 16-bit image")
    return np.ascontiguousarray(np.clip(x, 0.0, 1.0), dtype=np.float32)


def load_mask(src: Source, name: str | None = None) -> np.ndarray:
    """A mask → float32 ``[H,W]`` in ``[0,1]`` (soft kept soft; binary is ``> 0.5``).

    RGBA: the alpha channel when it varies; an opaque RGBA uses its luminance; a fully transparent
    one is refused (its alpha is empty). 16-bit masks scale by 1/65535.
    """
    name = _name_of(src, name)
    if isinstance(src, np.ndarray):
        arr = src
    else:
        img = _open_image(src, name)
        arr = _pil_to_array(img)
    arr = _check_size(np.asarray(arr), name)
    x = _to_unit_float(arr)
    if x.ndim == 3:
        if x.shape[2] in (2, 4):
            alpha = x[..., -1]
            if alpha.max() <= 0.0:
                raise InputError(name, "its alpha channel is empty (fully transparent)",
                                 "paint the region opaque, or upload a black-and-white mask")
            if alpha.min() < 1.0:
                x = alpha
            else:
                x = x[..., 0] if x.shape[2] == 2 else x[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        elif x.shape[2] == 3:
            x = x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        elif x.shape[2] == 1:
            x = x[..., 0]
        else:
            raise InputError(name, f"unexpected mask shape {arr.shape}", "use a greyscale or RGBA image")
    if x.ndim != 2:
        raise InputError(name, f"unexpected mask shape {arr.shape}", "use a greyscale or RGBA image")
    if not np.isfinite(x).all():
        raise InputError(name, "contains NaN or infinite values", "use an 8- or 16-bit greyscale image")
    return np.ascontiguousarray(np.clip(x, 0.0, 1.0), dtype=np.float32)


def depth_kind_from_name(name: str) -> str:
    """``"inverse"`` when the file name says so (inv, disp, disparity), else ``"metric"``."""
    low = name.lower()
    return "inverse" if any(k in low for k in ("inv", "disp")) else "metric"


def _load_array_file(path: Path, name: str) -> np.ndarray:
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as z:
                keys = list(z.keys())
                if not keys:
                    raise InputError(name, "the .npz archive holds no arrays", "save the depth map with np.savez")
                key = next((k for k in ("depth", "inv_depth", "disparity", "arr_0") if k in keys), keys[0])
                return np.asarray(z[key])
        return np.load(path, allow_pickle=False)
    except InputError:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise InputError(name, "holds Python objects (pickled data), which are not loaded for safety",
                             "save a plain numeric array with np.save") from None
        raise InputError(name, f"not a readable NumPy file ({e})", "save it with np.save / np.savez") from None
    except (OSError, EOFError) as e:
        raise InputError(name, f"not a readable NumPy file ({e})", "save it with np.save / np.savez") from None


def load_depth(
    src: Source,
    name: str | None = None,
    kind: str | None = None,
    png_scale: float = 1e-3,
) -> tuple[np.ndarray, str]:
    """A depth map → ``(float32 [H,W], kind)``; invalid pixels (non-finite, ≤ 0) are NaN.

    Args:
        src: ``.npy`` / ``.npz`` (float), 16-bit PNG (value × ``png_scale``, default millimetres →
            metres; 0 = no data), float TIFF, or an array.
        kind: ``"metric"`` or ``"inverse"``; default from the file name (see
            :func:`depth_kind_from_name`).
    """
    name = _name_of(src, name)
    if kind is None:
        kind = depth_kind_from_name(name)
    if kind not in ("metric", "inverse"):
        raise InputError(name, f"unknown depth kind {kind!r}", "choose 'metric' or 'inverse'")
    if isinstance(src, np.ndarray):
        arr = src
    elif isinstance(src, (str, os.PathLike)) and Path(src).suffix.lower() in (".npy", ".npz"):
        path = Path(src)
        if not path.exists():
            raise InputError(name, f"file not found ({path})", "check the path")
        if path.stat().st_size == 0:
            raise InputError(name, "the file is empty (0 bytes)", "save the depth map again")
        arr = _load_array_file(path, name)
    else:
        img = _open_image(src, name)
        arr = np.asarray(img)
        if arr.dtype in (np.uint16, np.int32) or img.mode.startswith("I"):
            arr = arr.astype(np.float64) * png_scale
            arr[arr == 0] = np.nan
        elif arr.dtype == np.uint8:
            raise InputError(name, "an 8-bit image cannot hold depth (256 levels)",
                             "save depth as float .npy, float TIFF, or 16-bit PNG")
    arr = np.asarray(arr)
    if arr.dtype.kind not in "fiu":
        raise InputError(name, f"depth must be numeric, got {arr.dtype}", "save a float array")
    arr = np.squeeze(arr)
    if arr.ndim != 2:
        raise InputError(name, f"depth must be a 2-D map, got shape {np.shape(arr)}",
                         "save one [H,W] map per file")
    _check_size(arr, name)
    d = arr.astype(np.float32)
    d[~np.isfinite(d) | (d <= 0)] = np.nan
    if np.isnan(d).all():
        raise InputError(name, "has no valid pixels (all NaN, infinite, zero or negative)",
                         "check the depth export; metric depth must be positive")
    return np.ascontiguousarray(d), kind


_CAMERA_EXAMPLES = {"f_px": 640.0, "f_mm": 35.0, "sensor_width_mm": 36.0, "width": 1024}


def _positive_number(value: Any, key: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        example = _CAMERA_EXAMPLES.get(key, 1.0)
        raise InputError(name, f"'{key}' must be a number, got {value!r}", f"write e.g. \"{key}\": {example}")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise InputError(name, f"'{key}' must be positive and finite, got {value!r}",
                         f"write the {key.replace('_', ' ')} as a positive number")
    return v


def load_camera(src: str | os.PathLike | dict | bytes, width: int | None = None, name: str | None = None) -> dict:
    """``camera.json`` (or a dict) → ``{"f_px": …, …}``.

    Accepts ``f_px`` directly, or ``f_mm`` + ``sensor_width_mm`` with the image width (from the
    file's ``width`` or the ``width`` argument).
    """
    name = _name_of(src, name) if not isinstance(src, dict) else (name or "camera")
    if isinstance(src, dict):
        cam = dict(src)
    else:
        try:
            text = src.decode("utf-8") if isinstance(src, bytes) else Path(src).read_text(encoding="utf-8")
            cam = json.loads(text)
        except FileNotFoundError:
            raise InputError(name, "file not found", "check the path") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(name, f"not valid JSON ({e})", 'write e.g. {"f_px": 640}') from None
    if not isinstance(cam, dict):
        raise InputError(name, "must be a JSON object", 'write e.g. {"f_px": 640}')
    out = {k: v for k, v in cam.items() if isinstance(v, (int, float, str))}
    if "f_px" in cam and cam["f_px"] is not None:
        out["f_px"] = _positive_number(cam["f_px"], "f_px", name)
    elif "f_mm" in cam:
        f_mm = _positive_number(cam["f_mm"], "f_mm", name)
        sensor = _positive_number(cam.get("sensor_width_mm"), "sensor_width_mm", name)
        w = cam.get("width", width)
        w = _positive_number(w, "width", name) if w is not None else None
        if w is None:
            raise InputError(name, "f_mm needs the image width to give f_px", "add \"width\" or give f_px")
        out.update(f_mm=f_mm, sensor_width_mm=sensor, f_px=f_mm * w / sensor)
    else:
        raise InputError(name, "needs 'f_px', or 'f_mm' with 'sensor_width_mm'", 'write e.g. {"f_px": 640}')
    return out


# ---- latents -------------------------------------------------------------------------------------


def pack_latents(z: torch.Tensor) -> torch.Tensor:
    """Flux packing: ``[B,16,h,w]`` → ``[B, h/2·w/2, 64]`` (2×2 patches, feature ``c·4 + dy·2 + dx``)."""
    b, c, h, w = z.shape
    return z.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(b, (h // 2) * (w // 2), c * 4)


def unpack_latents(tokens: torch.Tensor, image_height: int, image_width: int, name: str = "latents") -> torch.Tensor:
    """Flux unpacking: ``[B,N,64]`` → ``[B,16,h,w]`` with ``h = 2·(H//16)``, ``w = 2·(W//16)``."""
    if tokens.dim() == 2:
        tokens = tokens.unsqueeze(0)
    b, n, f = tokens.shape
    h2, w2 = image_height // 16, image_width // 16
    if f != 64 or n != h2 * w2:
        raise InputError(
            name,
            f"{n} packed tokens of {f} features do not fit a {image_width}×{image_height} image "
            f"(it needs {h2 * w2} tokens of 64 = (H/16)·(W/16))",
            "upload the latents of this image, or unpacked [16,h,w] latents",
        )
    return tokens.view(b, h2, w2, 16, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(b, 16, 2 * h2, 2 * w2)


def _read_latent_tensor(path: Path, name: str) -> torch.Tensor:
    suffix = path.suffix.lower()
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file

            tensors = load_file(str(path))
        elif suffix in (".pt", ".pth"):
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
            tensors = obj if isinstance(obj, dict) else {"latents": obj}
        elif suffix == ".npy":
            tensors = {"latents": torch.from_numpy(np.load(path, allow_pickle=False))}
        else:
            raise InputError(name, f"unknown latent format {suffix!r}", "use .safetensors, .pt or .npy")
    except InputError:
        raise
    except Exception as e:  # torch.load's UnpicklingError, safetensors' errors, numpy's ValueError
        text = str(e)
        if "weights_only" in text or "pickle" in text.lower() or "Unsupported global" in text:
            raise InputError(name, "holds Python objects, not only tensors, and is not loaded for safety",
                             "save the latents with torch.save(tensor) or safetensors") from None
        raise InputError(name, f"not a readable latent file ({text.splitlines()[0] if text else type(e).__name__})",
                         "save the latents with safetensors, torch.save or np.save") from None
    tensors = {k: v for k, v in tensors.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise InputError(name, "holds no tensor", "save the latents tensor itself")
    key = next((k for k in ("latents", "latent", "z", "x") if k in tensors), None)
    if key is None:
        if len(tensors) > 1:
            raise InputError(name, f"holds several tensors ({', '.join(sorted(tensors))})",
                             "save one tensor, or name it 'latents'")
        key = next(iter(tensors))
    return tensors[key]


def load_latent(src: str | os.PathLike | torch.Tensor | np.ndarray, image_size: tuple[int, int] | None = None,
                name: str | None = None) -> torch.Tensor:
    """Latents → float32 ``[1,16,h,w]``. Accepts ``[16,h,w]``, ``[1,16,h,w]`` and packed
    ``[1,N,64]`` / ``[N,64]`` (which need ``image_size = (H, W)``)."""
    name = _name_of(src, name)
    if isinstance(src, np.ndarray):
        z = torch.from_numpy(np.asarray(src))
    elif isinstance(src, torch.Tensor):
        z = src
    else:
        path = Path(src)
        if not path.exists():
            raise InputError(name, f"file not found ({path})", "check the path")
        if path.stat().st_size == 0:
            raise InputError(name, "the file is empty (0 bytes)", "save the latents again")
        z = _read_latent_tensor(path, name)
    if not (z.is_floating_point() or z.dtype in (torch.int32, torch.int64)):
        raise InputError(name, f"latents must be numeric, got {z.dtype}", "save float latents")
    z = z.detach().to(torch.float32)
    if z.dim() == 3 and z.shape[0] == 16:
        z = z.unsqueeze(0)
    elif z.dim() == 2 or (z.dim() == 3 and z.shape[0] == 1 and z.shape[-1] == 64):
        if image_size is None:
            raise InputError(name, "packed latents need the image size to unpack", "load them with the sample")
        z = unpack_latents(z, image_size[0], image_size[1], name)
    if z.dim() != 4 or z.shape[0] != 1 or z.shape[1] != 16:
        raise InputError(name, f"latents must be [16,h,w], [1,16,h,w] or packed [1,N,64]; got {tuple(z.shape)}",
                         "save Flux latents (16 channels)")
    if z.shape[-1] == 0 or z.shape[-2] == 0:
        raise InputError(name, f"latents have no spatial extent {tuple(z.shape)}", "save non-empty latents")
    if not torch.isfinite(z).all():
        raise InputError(name, "latents contain NaN or infinite values", "check the encoder's output")
    return z.contiguous()
