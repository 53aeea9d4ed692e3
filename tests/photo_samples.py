"""Samples with known answers made from real photographs (scikit-image's ``skimage.data``, on disk).

* Insertion (:func:`insertion_case`): an object with a real silhouette — a cup and saucer, the
  scikit-image logo, a coin, a rocket, a retina photograph, a horse silhouette in a cat's fur — cut
  out of its photograph and pasted into another photograph; the target has it at scale 1, each
  prediction at a known linear scale about the mask's bottom centre (where it stands) or its centre.
* Material (:func:`material_case`): a real texture (brick, grass, gravel) fills a wall region of a
  photograph; each prediction has the texture at a known period ratio (prediction / target).
* ``roundtrip=True`` sends every prediction through a VAE-like round trip: JPEG at quality 90, then
  Gaussian noise of 2/255 on the whole image.

Everything is deterministic (fixed seeds) and built at test time: nothing is downloaded.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import cache

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

OBJECTS = ("cup", "logo", "coin", "rocket", "retina", "horse")
BACKGROUNDS = ("astronaut", "chelsea", "coffee", "camera", "motorcycle", "ihc")
TEXTURES = ("brick", "grass", "gravel")
SCALES = (0.8, 0.9, 1.0, 1.1, 1.25)


@dataclass
class PhotoCase:
    """Arrays of one sample (``[H,W,3]`` float32 in [0,1], mask ``[H,W]``) and the truth per prediction."""

    name: str
    kind: str  # insertion | material
    context: np.ndarray
    target: np.ndarray
    mask: np.ndarray
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    truth: dict[str, float] = field(default_factory=dict)

    def write(self, folder, image_format: str = "png") -> None:
        """The sample as files: ``context.png target.png mask.png`` and ``pred/<name>.png``."""
        from pathlib import Path

        folder = Path(folder)
        (folder / "pred").mkdir(parents=True, exist_ok=True)
        _save(self.context, folder / "context.png")
        _save(self.target, folder / "target.png")
        _save(self.mask, folder / "mask.png")
        for n, img in self.predictions.items():
            _save(img, folder / "pred" / f"{n}.{image_format}")


def _save(a: np.ndarray, path) -> None:
    Image.fromarray(np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)).save(path)


def _data(name: str) -> np.ndarray:
    import skimage.data as data

    fn = {"motorcycle": lambda: data.stereo_motorcycle()[0], "ihc": data.immunohistochemistry}.get(name)
    img = fn() if fn is not None else getattr(data, name)()
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return img[..., :3].astype(np.float32) / 255.0


def _largest(m: np.ndarray) -> np.ndarray:
    lab, n = ndi.label(m)
    if n == 0:
        return m
    sizes = ndi.sum(m, lab, range(1, n + 1))
    return lab == 1 + int(np.argmax(sizes))


def _crop(rgb: np.ndarray, alpha: np.ndarray, margin: int = 2) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.nonzero(alpha > 0.5)
    y0, y1 = max(0, ys.min() - margin), min(alpha.shape[0], ys.max() + 1 + margin)
    x0, x1 = max(0, xs.min() - margin), min(alpha.shape[1], xs.max() + 1 + margin)
    return rgb[y0:y1, x0:x1].copy(), alpha[y0:y1, x0:x1].astype(np.float32)


@cache
def cutout(name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(rgb [h,w,3], alpha [h,w])`` of the object ``name`` (a key of :data:`OBJECTS`), cropped."""
    if name == "cup":  # the red saucer and the white cup on a wooden table
        from skimage.color import rgb2lab

        img = _data("coffee")
        lab = rgb2lab(img)
        m = (lab[..., 1] > 35) | (img.mean(axis=2) > 0.75)
        m = ndi.binary_opening(m, iterations=2)
        m = ndi.binary_fill_holes(ndi.binary_closing(_largest(m), iterations=5))
    elif name == "logo":  # the disc on its white page (the white S-curve bridged by a closing)
        img = _data("logo")
        m = np.linalg.norm(1.0 - img, axis=2) > 0.15
        m = ndi.binary_fill_holes(ndi.binary_closing(m, iterations=8))
        m = _largest(m)
    elif name == "coin":  # the large coin on the right of the tray
        img = _data("coins")[150:225, 308:388]
        from skimage.filters import threshold_otsu

        g = img.mean(axis=2)
        m = ndi.binary_fill_holes(ndi.binary_closing(g > threshold_otsu(g), iterations=3))
        m = _largest(m)
    elif name == "rocket":  # the rocket's white body against the evening sky
        img = _data("rocket")[120:330, 295:350]
        m = img.mean(axis=2) > 0.5
        m = ndi.binary_fill_holes(ndi.binary_closing(_largest(ndi.binary_opening(m, iterations=1)), iterations=2))
    elif name == "retina":  # the fundus disc on black
        img = _data("retina")[::3, ::3]
        m = ndi.binary_fill_holes(img.mean(axis=2) > 0.08)
        m = _largest(ndi.binary_opening(m, iterations=2))
    elif name == "horse":  # the horse's silhouette, in the cat's fur
        m = _data("horse").mean(axis=2) < 0.5
        fur = _data("chelsea")
        fur = np.asarray(Image.fromarray((fur * 255).astype(np.uint8)).resize((m.shape[1], m.shape[0])),
                         dtype=np.float32) / 255.0
        img = fur
    else:
        raise ValueError(f"unknown object {name!r}; choose one of {OBJECTS}")
    return _crop(img, m.astype(np.float32))


def _resized(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``[h,w,C]`` float → ``size = (H, W)`` with Pillow's antialiased Lanczos, per channel."""
    chans = [np.asarray(Image.fromarray(a[..., c].astype(np.float32), mode="F").resize((size[1], size[0]), Image.LANCZOS))
             for c in range(a.shape[2])]
    return np.clip(np.stack(chans, axis=2), 0.0, 1.0)


def background(name: str, size: int = 512) -> np.ndarray:
    """The photograph ``name`` (a key of :data:`BACKGROUNDS`) resized to ``size``²."""
    return _resized(_data(name), (size, size)).astype(np.float32)


def paste(bg: np.ndarray, name: str, height: float, anchor_xy: tuple[float, float], scale: float,
          anchor: str = "bottom") -> tuple[np.ndarray, np.ndarray]:
    """``bg`` with the object ``name`` at ``scale`` × ``height`` pixels tall, its bottom centre
    (``anchor="bottom"``) or centre (``"centre"``) at ``anchor_xy``; returns ``(image, coverage)``.

    The cutout is resampled (premultiplied, Lanczos) straight onto the output's pixel grid with a
    sub-pixel offset, so every scale is rendered alike — nothing is pasted at an integer offset.
    """
    rgb, alpha = cutout(name)
    h0, w0 = alpha.shape
    f = height * scale / h0
    ax, ay = anchor_xy
    # the object's box in output pixels (continuous)
    top = ay - h0 * f if anchor == "bottom" else ay - h0 * f / 2
    left = ax - w0 * f / 2
    # render on a grid 4× finer than the output, then area-average: an antialiased, sub-pixel paste
    H, W = bg.shape[:2]
    k = 4
    y0, x0 = int(np.floor(top)) - 1, int(np.floor(left)) - 1
    y1, x1 = int(np.ceil(top + h0 * f)) + 1, int(np.ceil(left + w0 * f)) + 1
    hh, ww = (y1 - y0) * k, (x1 - x0) * k
    ys = (np.arange(hh) + 0.5) / k + y0
    xs = (np.arange(ww) + 0.5) / k + x0
    sy = (ys - top) / f - 0.5
    sx = (xs - left) / f - 0.5
    premult = np.concatenate([rgb * alpha[..., None], alpha[..., None]], axis=2)
    # Lanczos-prefiltered source when shrinking (Pillow), then bilinear sampling on the fine grid
    if f * k < 1.0:
        src_h, src_w = max(1, round(h0 * f * k)), max(1, round(w0 * f * k))
        small = _resized(premult, (src_h, src_w))
        sy = (sy + 0.5) * src_h / h0 - 0.5
        sx = (sx + 0.5) * src_w / w0 - 0.5
        premult = small
    yy, xx = np.meshgrid(sy, sx, indexing="ij")
    fine = np.stack([ndi.map_coordinates(premult[..., c], [yy, xx], order=1, mode="constant", cval=0.0)
                     for c in range(4)], axis=2)
    coarse = fine.reshape(y1 - y0, k, x1 - x0, k, 4).mean(axis=(1, 3))
    out = bg.copy()
    cov = np.zeros(bg.shape[:2], np.float32)
    oy0, ox0 = max(0, y0), max(0, x0)
    oy1, ox1 = min(H, y1), min(W, x1)
    patch = coarse[oy0 - y0 : oy1 - y0, ox0 - x0 : ox1 - x0]
    a = np.clip(patch[..., 3:], 0, 1)
    out[oy0:oy1, ox0:ox1] = bg[oy0:oy1, ox0:ox1] * (1 - a) + patch[..., :3]
    cov[oy0:oy1, ox0:ox1] = a[..., 0]
    return np.clip(out, 0, 1).astype(np.float32), cov


def roundtrip(img: np.ndarray, seed: int) -> np.ndarray:
    """A VAE-like round trip: JPEG at quality 90, then Gaussian noise σ = 2/255 on the whole image."""
    buf = io.BytesIO()
    Image.fromarray(np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)).save(buf, format="JPEG", quality=90)
    out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.float32) / 255.0
    rng = np.random.default_rng(seed)
    return np.clip(out + rng.normal(0.0, 2.0 / 255.0, out.shape), 0, 1).astype(np.float32)


# where each object stands in its photograph: (background, height in px, bottom-centre x, y, anchor)
INSERTIONS = {
    "cup": ("astronaut", 150, 330, 470, "bottom"),
    "logo": ("chelsea", 130, 160, 300, "centre"),
    "coin": ("camera", 90, 380, 440, "bottom"),
    "rocket": ("coffee", 190, 420, 330, "centre"),
    "retina": ("motorcycle", 140, 260, 380, "bottom"),
    "horse": ("ihc", 150, 250, 300, "centre"),
}


@cache  # a case takes ~1 s to render and several test modules read the same ones (never modify them)
def insertion_case(obj: str, scales=SCALES, *, roundtrip_preds: bool = False, size: int = 512) -> PhotoCase:
    """The object ``obj`` inserted into its photograph (:data:`INSERTIONS`); one prediction per scale,
    named ``scale_0.80`` etc., at that linear size relative to the target's."""
    bg_name, height, x, y, anchor = INSERTIONS[obj]
    f = size / 512
    bg = background(bg_name, size)
    target, mask = paste(bg, obj, height * f, (x * f, y * f), 1.0, anchor)
    preds, truth = {}, {}
    for i, s in enumerate(scales):
        img, _ = paste(bg, obj, height * f, (x * f, y * f), s, anchor)
        if roundtrip_preds:
            img = roundtrip(img, seed=1000 + i)
        name = f"scale_{s:.2f}"
        preds[name], truth[name] = img, float(s)
    return PhotoCase(f"{obj}_in_{bg_name}", "insertion", bg, target, mask, preds, truth)


# the wall region each texture fills: (background, tint, top, bottom, left, right as fractions); no side
# over 400 px at 512², so a period ratio of 0.8 still shows the texture without a mirrored seam
MATERIALS = {
    "brick": ("astronaut", (1.0, 0.72, 0.55), 0.0, 0.55, 0.0, 0.45),
    "grass": ("motorcycle", (0.55, 0.9, 0.45), 0.5, 1.0, 0.1, 0.85),
    "gravel": ("chelsea", (0.85, 0.82, 0.75), 0.0, 0.6, 0.5, 1.0),
}


def texture_at(name: str, ratio: float, shape: tuple[int, int], tint) -> np.ndarray:
    """The texture ``name`` with its period multiplied by ``ratio``, cropped to ``shape`` about its
    centre (mirrored where a small ratio runs out of texture), tinted: ``[h,w,3]``."""
    tex = _data(name)[..., 0]
    side = tex.shape[0]
    n = max(2, round(side * ratio))
    zoomed = _resized(tex[..., None], (n, n))[..., 0]
    h, w = shape
    reps_y, reps_x = -(-h // n) + 1, -(-w // n) + 1
    tiles = np.block([[zoomed[:: (-1 if i % 2 else 1), :: (-1 if j % 2 else 1)] for j in range(reps_x)]
                      for i in range(reps_y)])
    cy, cx = tiles.shape[0] // 2, tiles.shape[1] // 2
    if n >= max(h, w):  # enough texture: the centre crop, no mirror seam
        cy, cx = n // 2, n // 2
        tiles = zoomed
    crop = tiles[cy - h // 2 : cy - h // 2 + h, cx - w // 2 : cx - w // 2 + w]
    return np.clip(crop[..., None] * np.asarray(tint, np.float32)[None, None], 0, 1).astype(np.float32)


@cache
def material_case(texture: str, ratios=SCALES, *, roundtrip_preds: bool = False, size: int = 512) -> PhotoCase:
    """The texture ``texture`` filling its wall region (:data:`MATERIALS`); one prediction per period
    ratio (prediction / target), named ``ratio_0.80`` etc."""
    bg_name, tint, top, bottom, left, right = MATERIALS[texture]
    bg = background(bg_name, size)
    y0, y1, x0, x1 = round(top * size), round(bottom * size), round(left * size), round(right * size)
    mask = np.zeros((size, size), np.float32)
    mask[y0:y1, x0:x1] = 1.0

    def fill(ratio):
        img = bg.copy()
        img[y0:y1, x0:x1] = texture_at(texture, ratio, (y1 - y0, x1 - x0), tint)
        return img

    target = fill(1.0)
    preds, truth = {}, {}
    for i, s in enumerate(ratios):
        img = fill(s)
        if roundtrip_preds:
            img = roundtrip(img, seed=2000 + i)
        name = f"ratio_{s:.2f}"
        preds[name], truth[name] = img, float(s)
    return PhotoCase(f"{texture}_wall_in_{bg_name}", "material", bg, target, mask, preds, truth)
