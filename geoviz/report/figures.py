"""Report → plotly figures and colour-mapped images. Pure functions, no UI.

Figures are plain plotly JSON dicts (``{"data": [...], "layout": {...}}``): building them skips
plotly's validators (tens of milliseconds per figure) and they serialise as they are. Large maps
never travel as float JSON: they are colour-mapped on the server into a JPEG/PNG shown by a
``go.Image`` trace, with a coarse, invisible ``go.Heatmap`` on top for hover values and the colour
bar. ``to_plotly(fig)`` gives a ``plotly.graph_objects.Figure`` where one is wanted (HTML export).
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

__all__ = [
    "colorize",
    "colorize_image",
    "encode_image",
    "as_pil",
    "desaturated",
    "regions_figure",
    "overlay_image",
    "run_curves_figure",
    "run_scale_figure",
    "chart_layout",
    "typed_array",
    "overlay_figure",
    "map_figure",
    "contributions_bar",
    "contributions_html",
    "spectra_figure",
    "acf_figure",
    "log_polar_figure",
    "scale_figure",
    "per_scale_figure",
    "checkpoint_lines",
    "period_sentence",
    "step_of",
    "to_plotly",
    "SEQUENTIAL",
    "DIVERGING",
]

SEQUENTIAL = "Inferno"
DIVERGING = "RdBu_r"
_FONT = {"family": "Inter, system-ui, sans-serif", "size": 12}


# ---- colour maps -----------------------------------------------------------------------------------


def _parse_color(c: str) -> tuple[float, float, float]:
    if c.startswith("#"):
        return tuple(int(c[i : i + 2], 16) / 255.0 for i in (1, 3, 5))  # type: ignore[return-value]
    nums = [float(v) for v in re.findall(r"[\d.]+", c)[:3]]
    return tuple(v / 255.0 for v in nums)  # type: ignore[return-value]


@lru_cache(maxsize=16)
def _lut(name: str) -> np.ndarray:
    """A 256-entry RGB lookup table (uint8) from a plotly colour scale name (``_r`` reverses)."""
    import plotly.colors as pc

    base = name[:-2] if name.endswith("_r") else name
    colors = None
    for module in (pc.sequential, pc.diverging, pc.cyclical):
        colors = getattr(module, base, None)
        if colors is not None:
            break
    if colors is None:
        raise ValueError(f"unknown colour scale {name!r}")
    rgb = np.array([_parse_color(c) for c in colors])
    if name.endswith("_r"):
        rgb = rgb[::-1]
    x = np.linspace(0, 1, len(rgb))
    t = np.linspace(0, 1, 256)
    lut = np.stack([np.interp(t, x, rgb[:, k]) for k in range(3)], axis=1)
    return np.round(lut * 255).astype(np.uint8)


def _plotly_scale(name: str) -> list:
    lut = _lut(name)
    idx = np.linspace(0, 255, 11).round().astype(int)
    return [[i / 10, f"rgb({lut[j, 0]},{lut[j, 1]},{lut[j, 2]})"] for i, j in enumerate(idx)]


def value_range(values: np.ndarray, symmetric: bool, zmin=None, zmax=None) -> tuple[float, float]:
    """A robust colour range: the 99.5th percentile of |v| (symmetric) or 0.5–99.5 % (sequential),
    estimated on at most ~64k evenly strided values."""
    if zmin is not None and zmax is not None:
        return zmin, zmax
    step = max(1, values.size // 65536)
    flat = values.reshape(-1)[::step]
    finite = flat[np.isfinite(flat)]
    if finite.size == 0:
        return 0.0, 1.0
    if symmetric:
        m = float(np.percentile(np.abs(finite), 99.5)) or float(np.abs(finite).max()) or 1.0
        lo, hi = -m, m
    else:
        lo, hi = float(np.percentile(finite, 0.5)), float(np.percentile(finite, 99.5))
        if hi <= lo:
            lo, hi = float(finite.min()), float(finite.max())
        if hi <= lo:
            hi = lo + 1.0
    return (lo if zmin is None else zmin), (hi if zmax is None else zmax)


def _palette(colorscale: str) -> list[int]:
    """A Pillow palette: the scale in entries 0–254 (resampled), mid-grey for NaN at 255."""
    lut = _lut(colorscale)
    idx = np.round(np.linspace(0, 255, 255)).astype(int)
    return lut[idx].reshape(-1).tolist() + [128, 128, 128]


def colorize_image(values: np.ndarray, colorscale: str = SEQUENTIAL, zmin: float = 0.0, zmax: float = 1.0) -> Image.Image:
    """``[h,w]`` floats → an RGB Pillow image through the colour scale; NaN becomes mid-grey.

    Indexes a palette image (the gather runs in Pillow's C code).
    """
    span = zmax - zmin if zmax > zmin else 1.0
    idx = (values.astype(np.float32, copy=False) - zmin) * (254.0 / span)
    np.clip(idx, 0.0, 254.0, out=idx)
    nan = np.isnan(idx)
    idx = (idx + 0.5).astype(np.uint8)
    if nan.any():
        idx[nan] = 255
    img = Image.fromarray(idx, mode="P")
    img.putpalette(_palette(colorscale))
    return img.convert("RGB")


def colorize(values: np.ndarray, colorscale: str = SEQUENTIAL, zmin: float = 0.0, zmax: float = 1.0) -> np.ndarray:
    """``[h,w]`` floats → ``[h,w,3]`` uint8 through the colour scale; NaN becomes mid-grey."""
    return np.asarray(colorize_image(values, colorscale, zmin, zmax))


def desaturated(image: np.ndarray | Image.Image, keep: float = 0.15) -> Image.Image:
    """The image in grey (``keep`` of its colour left) and lifted toward white by a fifth: a map's
    colours over it read on any photograph (red on a red saucer is invisible over the original)."""
    rgb = as_pil(image)
    grey = rgb.convert("L").convert("RGB")
    out = Image.blend(grey, rgb, keep) if keep else grey
    return Image.blend(out, Image.new("RGB", out.size, (255, 255, 255)), 0.2)


def as_pil(image: np.ndarray | Image.Image) -> Image.Image:
    """``[H,W,3]`` float in [0,1] or uint8 → an RGB Pillow image (a Pillow image passes through)."""
    if isinstance(image, Image.Image):
        return image
    if image.dtype != np.uint8:
        image = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(image)


def encode_image(rgb: np.ndarray | Image.Image, fmt: str = "JPEG", quality: int = 88) -> str:
    """``[H,W,3]`` uint8 (or a Pillow image) → a ``data:`` URI (JPEG for photographic overlays, PNG
    for flat maps)."""
    buf = io.BytesIO()
    img = rgb if isinstance(rgb, Image.Image) else Image.fromarray(rgb)
    if fmt == "JPEG":
        img.save(buf, format="JPEG", quality=quality, subsampling=0)
        mime = "jpeg"
    else:
        img.save(buf, format="PNG", compress_level=1)
        mime = "png"
    return f"data:image/{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def is_binary(values: np.ndarray) -> bool:
    """Whether a map holds at most two distinct finite values (a mask, a band, a region map)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return True
    lo, hi = float(finite.min()), float(finite.max())
    return bool(np.all((finite == lo) | (finite == hi)))


def typed_array(a: np.ndarray) -> dict:
    """A float32 array as plotly.js's base64 typed array (a quarter of its JSON-text size)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    out = {"dtype": "f4", "bdata": base64.b64encode(a.tobytes()).decode("ascii")}
    if a.ndim > 1:
        out["shape"] = ", ".join(str(s) for s in a.shape)
    return out


def _upsample_nearest(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of ``[h,w]`` or ``[h,w,C]`` to ``size``."""
    h, w = values.shape[:2]
    if (h, w) == tuple(size):
        return values
    rows = np.minimum((np.arange(size[0]) * h / size[0]).astype(int), h - 1)
    cols = np.minimum((np.arange(size[1]) * w / size[1]).astype(int), w - 1)
    return values[rows][:, cols]


def _block_mean(values: np.ndarray, max_side: int) -> tuple[np.ndarray, float, float]:
    """Average-pool to at most ``max_side`` cells on the longer side; returns (grid, cell_h, cell_w)."""
    h, w = values.shape
    f = max(1, math.ceil(max(h, w) / max_side))
    hh, ww = h // f, w // f
    if f == 1:
        return values.astype(np.float32), 1.0, 1.0
    with np.errstate(invalid="ignore"):
        grid = np.nanmean(values[: hh * f, : ww * f].reshape(hh, f, ww, f), axis=(1, 3))
    return grid.astype(np.float32), float(f), float(f)


def _axes_layout(title: str, width: int, height: int, **extra) -> dict:
    layout = {
        "template": "none",
        "font": _FONT,
        "title": {"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 13}},
        "margin": {"l": 8, "r": 8, "t": 34, "b": 8},
        "xaxis": {"visible": False, "range": [0, width], "constrain": "domain"},
        "yaxis": {"visible": False, "range": [height, 0], "scaleanchor": "x", "constrain": "domain"},
        "dragmode": "pan",
        "hoverlabel": {"font": {"size": 11}},
        "uirevision": "keep",
    }
    layout.update(extra)
    return layout


def overlay_image(image: np.ndarray | Image.Image | None, values: np.ndarray, size: tuple[int, int] | None = None, *,
                  colorscale: str = SEQUENTIAL, symmetric: bool = False, opacity: float = 0.65,
                  zmin: float | None = None, zmax: float | None = None, base: str = "grey") -> Image.Image:
    """The map ``values`` ``[h,w]`` colour-mapped over ``image`` (``[H,W,3]`` in [0,1], or Pillow;
    None: the map alone) at ``size`` ``(H, W)`` (default: the image's, else the map's), as an RGB
    Pillow image. The arguments are :func:`overlay_figure`'s."""
    if size is None:
        size = (image.size[1], image.size[0]) if isinstance(image, Image.Image) else (
            image.shape[:2] if image is not None else values.shape)
    h, w = size
    v = values.astype(np.float32, copy=False)
    lo, hi = value_range(v, symmetric, zmin, zmax)
    # colour and alpha at the map's own resolution (a latent map is 64× smaller), then Pillow
    # upsamples and composites in C: a few ms at 1024² where NumPy temporaries cost tens
    color = colorize_image(v, colorscale, lo, hi)
    if color.size != (w, h):
        color = color.resize((w, h), Image.NEAREST)
    if image is None:
        return color
    scale = max(abs(lo), abs(hi)) if symmetric else (hi - lo)
    mag = np.abs(v) if symmetric else (v - lo)
    alpha = opacity * np.sqrt(np.clip(np.nan_to_num(mag) / (scale or 1.0), 0.0, 1.0))
    mask = Image.fromarray((alpha * 255.0 + 0.5).astype(np.uint8), mode="L")
    if mask.size != (w, h):
        mask = mask.resize((w, h), Image.NEAREST)
    under = desaturated(image) if base == "grey" else as_pil(image)
    if under.size != (w, h):
        under = under.resize((w, h), Image.BILINEAR)
    return Image.composite(color, under, mask)


def overlay_figure(
    image: np.ndarray | None,
    values: np.ndarray | None,
    *,
    title: str = "",
    colorscale: str = SEQUENTIAL,
    symmetric: bool = False,
    opacity: float = 0.65,
    zmin: float | None = None,
    zmax: float | None = None,
    colorbar_title: str = "",
    hover_cells: int = 96,
    value_format: str = ".3g",
    contour_zero: bool = False,
    base: str = "grey",
) -> dict:
    """A map over an image: colour-mapped on the server, sent as one JPEG (PNG for a map alone or a
    binary map), with hover values.

    Args:
        image: ``[H,W,3]`` float in [0,1] (None: the map alone, opaque).
        base: ``"grey"``: the image under a map is :func:`desaturated` (the map's colours then read
            on any photograph); ``"colour"``: as it is. An image without a map is shown as it is.
        values: ``[h,w]`` map at any resolution (upsampled to the image's); None shows the image.
        symmetric: a diverging scale centred on 0 (signed maps: gradients, SDM, differences).
        opacity: the map's opacity where its magnitude is largest; weaker values fade toward the
            image (alpha ∝ sqrt(|v|/max)), so a sparse contribution map does not hide the picture.
        hover_cells: the hover grid's longer side (block means of the map).
    """
    if image is None and values is None:
        raise ValueError("overlay_figure needs an image or a map")
    if isinstance(image, Image.Image):
        size = (image.size[1], image.size[0])
    else:
        size = image.shape[:2] if image is not None else values.shape
    h, w = size
    data: list[dict] = []
    if values is not None:
        v = values.astype(np.float32, copy=False)
        lo, hi = value_range(v, symmetric, zmin, zmax)
        out = overlay_image(image, v, (h, w), colorscale=colorscale, symmetric=symmetric, opacity=opacity,
                            zmin=lo, zmax=hi, base=base)
        # a map alone, or a binary one (mask, band, region), as PNG: JPEG's ringing at its hard edges
        # looks like detector noise
        fmt = "PNG" if image is None or is_binary(v) else "JPEG"
        data.append({"type": "image", "source": encode_image(out, fmt), "x0": 0, "y0": 0, "dx": 1, "dy": 1,
                     "hoverinfo": "skip"})
        grid, ch, cw = _block_mean(values.astype(np.float32), hover_cells)
        gh, gw = grid.shape
        sy, sx = h / values.shape[0], w / values.shape[1]
        data.append({
            "type": "heatmap", "z": typed_array(grid),
            "x0": (cw / 2) * sx, "dx": cw * sx, "y0": (ch / 2) * sy, "dy": ch * sy,
            "zmin": lo, "zmax": hi, "colorscale": _plotly_scale(colorscale), "opacity": 0.0,
            "showscale": True, "colorbar": {"title": {"text": colorbar_title}, "thickness": 12, "len": 0.9},
            "hovertemplate": f"x %{{x:.0f}}, y %{{y:.0f}}<br>%{{z:{value_format}}}<extra></extra>",
        })
        if contour_zero:
            data.append({
                "type": "contour", "z": typed_array(grid), "x0": (cw / 2) * sx, "dx": cw * sx,
                "y0": (ch / 2) * sy, "dy": ch * sy, "showscale": False, "hoverinfo": "skip",
                "contours": {"start": 0, "end": 0, "size": 1, "coloring": "none"},
                "line": {"color": "black", "width": 2}, "ncontours": 1,
            })
    else:
        data.append({"type": "image", "source": encode_image(as_pil(image)), "x0": 0, "y0": 0, "dx": 1, "dy": 1,
                     "hoverinfo": "skip"})
    return {"data": data, "layout": _axes_layout(title, w, h)}


def regions_figure(image: np.ndarray | Image.Image, codes: np.ndarray, classes: dict[int, tuple[str, str]], *,
                   title: str = "", opacity: float = 0.6) -> dict:
    """A categorical map over the (desaturated) image: ``codes`` ``[h, w]`` integers, each class
    ``code: (name, colour)`` painted in its colour and named in the legend (code 0 and codes not in
    ``classes`` are left clear); hovering says the class."""
    base = desaturated(image)
    w, h = base.size
    codes = np.asarray(codes)
    rgb = np.zeros((*codes.shape, 3), np.uint8)
    alpha = np.zeros(codes.shape, np.uint8)
    for code, (_, color) in classes.items():
        where = codes == code
        rgb[where] = [round(255 * c) for c in _parse_color(color)]
        alpha[where] = round(255 * opacity)
    color, mask = Image.fromarray(rgb), Image.fromarray(alpha, mode="L")
    if color.size != (w, h):
        color, mask = color.resize((w, h), Image.NEAREST), mask.resize((w, h), Image.NEAREST)
    data: list[dict] = [{"type": "image", "source": encode_image(Image.composite(color, base, mask), "PNG"),
                         "x0": 0, "y0": 0, "dx": 1, "dy": 1, "hoverinfo": "skip"}]
    # the hover grid: the class most of each cell holds (nearest sample), named in the hover text
    step = max(1, math.ceil(max(codes.shape) / 96))
    grid = codes[step // 2::step, step // 2::step].astype(np.float32)
    sy, sx = h / codes.shape[0], w / codes.shape[1]
    names = {c: n for c, (n, _) in classes.items()}
    data.append({"type": "heatmap", "z": typed_array(grid), "x0": (step / 2) * sx, "dx": step * sx,
                 "y0": (step / 2) * sy, "dy": step * sy, "opacity": 0.0, "showscale": False,
                 "colorscale": [[0, "#000"], [1, "#000"]],
                 "hovertemplate": "x %{x:.0f}, y %{y:.0f}<br>class %{z}: " + " · ".join(
                     f"{c} {n}" for c, n in names.items()) + "<extra></extra>"})
    for name, color in classes.values():  # legend swatches (no points of their own)
        data.append({"type": "scatter", "mode": "markers", "x": [None], "y": [None], "name": name,
                     "marker": {"color": color, "size": 12, "symbol": "square"}, "hoverinfo": "skip"})
    layout = _axes_layout(title, w, h, showlegend=True,
                          legend={"orientation": "h", "x": 0, "y": 0, "yanchor": "top", "font": {"size": 11}})
    layout["margin"] = {**layout["margin"], "b": 30}
    return {"data": data, "layout": layout}


def map_figure(values: np.ndarray, *, title: str = "", colorscale: str = SEQUENTIAL, symmetric: bool = False,
               contour_zero: bool = False, colorbar_title: str = "", zmin=None, zmax=None) -> dict:
    """A map on its own (no photo), e.g. latent-resolution masks and the SDM."""
    return overlay_figure(None, values, title=title, colorscale=colorscale, symmetric=symmetric,
                          contour_zero=contour_zero, colorbar_title=colorbar_title, zmin=zmin, zmax=zmax)


# ---- charts ----------------------------------------------------------------------------------------

_PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D",
            "#BAB0AC", "#EECA3B", "#1F77B4", "#8C564B", "#17BECF", "#BCBD22", "#7F7F7F", "#D62728",
            "#2CA02C", "#9467BD"]


def chart_layout(title: str, **extra) -> dict:
    """The plotly layout every chart shares, titled ``title`` (``extra`` overrides)."""
    layout = {
        "template": "plotly_white",
        "font": _FONT,
        "title": {"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 13}},
        "margin": {"l": 50, "r": 12, "t": 36, "b": 40},
        # at the right, outside the plot (plotly widens the margin for it): a horizontal legend
        # below the plot meets the x-axis title as soon as it wraps to a second row
        "legend": {"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1, "yanchor": "top", "font": {"size": 10}},
        "uirevision": "keep",
    }
    layout.update(extra)
    return layout


def contributions_bar(predictions: list[str], terms: list[str], weighted: dict[str, dict[str, float | None]],
                      labels: dict[str, str] | None = None, totals: dict[str, float] | None = None) -> dict:
    """Stacked bars of weighted contributions per prediction (negative terms stack below zero)."""
    labels = labels or {}
    data = []
    for i, t in enumerate(terms):
        ys = [weighted[p].get(t) for p in predictions]
        if all(v is None or v == 0 for v in ys):
            continue
        data.append({"type": "bar", "name": labels.get(t, t), "x": predictions,
                     "y": [0.0 if v is None else v for v in ys], "marker": {"color": _PALETTE[i % len(_PALETTE)]},
                     "hovertemplate": f"{labels.get(t, t)}: %{{y:.4g}}<extra>%{{x}}</extra>"})
    if totals:
        data.append({"type": "scatter", "mode": "markers+text", "name": "total", "x": predictions,
                     "y": [totals[p] for p in predictions], "text": [f"{totals[p]:.3g}" for p in predictions],
                     "textposition": "top center", "marker": {"color": "black", "symbol": "diamond", "size": 9},
                     "hovertemplate": "total %{y:.4g}<extra>%{x}</extra>"})
    return {"data": data, "layout": chart_layout("Weighted contributions per prediction", barmode="relative",
                                                  yaxis={"title": {"text": "weighted loss"}})}


def contributions_html(predictions: list[str], terms: list[str], weighted: dict[str, dict[str, float | None]],
                       totals: dict[str, float], labels: dict[str, str] | None = None) -> str:
    """The stacked contribution bars as plain HTML (no plotting library to load: on screen at once).

    One row per prediction; segment widths are weighted values on a common scale; negative terms
    (e.g. the boundary loss) are listed after the total. Hover a segment for its term and value.
    """
    labels = labels or {}
    esc = html.escape
    colors = {t: _PALETTE[i % len(_PALETTE)] for i, t in enumerate(terms)}
    pos_total = {p: sum(v for v in weighted[p].values() if v is not None and v > 0) for p in predictions}
    scale = max(pos_total.values(), default=0.0) or 1.0
    rows = []
    for p in predictions:
        segs, neg = [], []
        for t in terms:
            v = weighted[p].get(t)
            if v is None or v == 0:
                continue
            if v < 0:
                neg.append(f"{esc(labels.get(t, t))} {v:.3g}")
                continue
            segs.append(f'<span class="seg" title="{esc(labels.get(t, t))}: {v:.4g}" style="width:{100 * v / scale:.3f}%;'
                        f'background:{colors[t]}"></span>')
        note = f' <small>({", ".join(neg)})</small>' if neg else ""
        rows.append(f'<div class="gv-row"><span class="gv-name">{esc(p)}</span><span class="gv-bar">{"".join(segs)}</span>'
                    f'<span class="gv-total">{totals[p]:.4f}{note}</span></div>')
    used = [t for t in terms if any((weighted[p].get(t) or 0) != 0 for p in predictions)]
    legend = "".join(f'<span class="gv-key"><i style="background:{colors[t]}"></i>{esc(labels.get(t, t))}</span>' for t in used)
    style = ("<style>.gv-bars{font-size:12px}.gv-row{display:flex;align-items:center;margin:3px 0}"
             ".gv-name{width:110px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}"
             ".gv-bar{flex:1;display:flex;height:18px;background:rgba(128,128,128,.08);border-radius:3px;overflow:hidden}"
             ".gv-bar .seg{display:block;height:100%}.gv-total{width:190px;padding-left:8px;font-variant-numeric:tabular-nums}"
             ".gv-key{margin-right:10px;white-space:nowrap}.gv-key i{display:inline-block;width:10px;height:10px;"
             "margin-right:4px;border-radius:2px}</style>")
    return (f'{style}<div class="gv-bars"><b>Weighted contributions per prediction</b>{"".join(rows)}'
            f'<div style="margin-top:6px">{legend}</div></div>')


def spectra_figure(extras: dict, title: str = "Radial power spectra") -> dict:
    """Prediction and target radial spectra (log scale) with their soft peaks and the band window."""
    f = np.asarray(extras["freqs"], dtype=float)
    lo = int(extras.get("min_bin", 2))
    pp, pt = np.asarray(extras["profile_pred"], float), np.asarray(extras["profile_target"], float)
    norm = max(pp[lo:].max(initial=0), pt[lo:].max(initial=0)) or 1.0
    data = []
    shapes = []
    for role, key, color, profile in (("prediction", "peak_pred", "#E45756", pp), ("target", "peak_target", "#4C78A8", pt)):
        x = extras.get(key)
        peak = x and math.isfinite(x)
        # the peak's period in the legend (dashed line of the same colour): two equal peaks' labels
        # on the lines would sit on top of each other
        name = f"{role} · peak period {2 / x:.1f} px" if peak else role
        data.append({"type": "scatter", "mode": "lines", "name": name, "x": typed_array(f[lo:]),
                     "y": typed_array(profile[lo:] / norm), "line": {"color": color}})
        if peak:
            shapes.append({"type": "line", "x0": x, "x1": x, "yref": "paper", "y0": 0, "y1": 1,
                           "line": {"color": color, "dash": "dash", "width": 1.5}})
    c, sigma = extras.get("peak_target"), extras.get("band_sigma", 0.15)
    if c and math.isfinite(c):
        shapes.append({"type": "rect", "x0": c * math.exp(-sigma), "x1": c * math.exp(sigma), "yref": "paper",
                       "y0": 0, "y1": 1, "fillcolor": "rgba(76,120,168,0.12)", "line": {"width": 0}})
    return {"data": data, "layout": chart_layout(
        title, xaxis={"title": {"text": "normalised frequency (1 = Nyquist; period = 2/f px)"}, "type": "log"},
        yaxis={"title": {"text": "power / max"}, "type": "log"}, shapes=shapes)}


def acf_figure(extras: dict, title: str = "Autocorrelation (radial profile)") -> dict:
    """Prediction and target radial autocorrelation profiles against lag (px), from the ``texture_acf``
    term's extras: ``lags``, ``acf_pred``, ``acf_target`` (1-D arrays, required); ``lag_range``
    ``(min, max)`` px shaded as the searched lags, ``period_pred_px`` / ``period_target_px`` as dashed
    lines when finite. Returns a plotly figure dict."""
    lags = typed_array(np.asarray(extras["lags"]))
    data = []
    for role, side, color in (("prediction", "pred", "#E45756"), ("target", "target", "#4C78A8")):
        v = extras.get(f"period_{side}_px")
        name = f"{role} · period {v:.1f} px" if v and math.isfinite(v) else role
        data.append({"type": "scatter", "mode": "lines", "name": name, "x": lags,
                     "y": typed_array(np.asarray(extras[f"acf_{side}"])), "line": {"color": color}})
    shapes = []
    lo, hi = extras.get("lag_range", (None, None))
    if lo is not None:
        shapes.append({"type": "rect", "x0": lo, "x1": hi, "yref": "paper", "y0": 0, "y1": 1,
                       "fillcolor": "rgba(0,0,0,0.05)", "line": {"width": 0}})
    for key, color in (("period_pred_px", "#E45756"), ("period_target_px", "#4C78A8")):
        v = extras.get(key)
        if v and math.isfinite(v):
            shapes.append({"type": "line", "x0": v, "x1": v, "yref": "paper", "y0": 0, "y1": 1,
                           "line": {"color": color, "dash": "dash", "width": 1.5}})
    return {"data": data, "layout": chart_layout(title, xaxis={"title": {"text": "lag (px)"}},
                                                  yaxis={"title": {"text": "normalised ACF"}}, shapes=shapes)}


def log_polar_figure(extras: dict) -> dict:
    """The two log-polar maps and their difference side by side (small: out_t × out_r)."""
    a, b = np.asarray(extras["log_polar_pred"]), np.asarray(extras["log_polar_target"])
    diff = a - b
    m = float(np.abs(diff).max()) or 1.0
    hi = float(max(a.max(), b.max())) or 1.0
    data = []
    for i, (z, name, scale, zmin, zmax) in enumerate(
        [(a, "prediction", "Viridis", 0.0, hi), (b, "target", "Viridis", 0.0, hi), (diff, "difference", DIVERGING, -m, m)]
    ):
        ax = "" if i == 0 else str(i + 1)
        data.append({"type": "heatmap", "z": typed_array(z), "xaxis": f"x{ax}", "yaxis": f"y{ax}",
                     "colorscale": _plotly_scale(scale), "zmin": zmin, "zmax": zmax, "showscale": i != 1,
                     "colorbar": {"x": 0.64 if i == 0 else 1.0, "thickness": 10, "len": 0.8},
                     "hovertemplate": f"{name}<br>log-r %{{x}}, θ %{{y}}<br>%{{z:.3f}}<extra></extra>"})
    layout = chart_layout("Log-polar amplitude spectra (x: log radius, y: angle 0–180°)")
    for i, (lo, hi_) in enumerate([(0.0, 0.30), (0.35, 0.62), (0.70, 0.97)]):
        ax = "" if i == 0 else str(i + 1)
        layout[f"xaxis{ax}"] = {"domain": [lo, hi_], "showticklabels": False, "title": {"text": ["prediction", "target", "pred − target"][i]}}
        layout[f"yaxis{ax}"] = {"showticklabels": i == 0, "anchor": f"x{ax}"}
    layout["margin"] = {"l": 30, "r": 10, "t": 36, "b": 30}
    return {"data": data, "layout": layout}


def scale_figure(extras: dict) -> dict:
    """001: the object's size against the size its depth and focal length predict."""
    s_pred, s_exp = extras["s_pred"], extras["s_exp"]
    data = [{"type": "bar", "orientation": "h",
             "y": ["s_pred = √area(M̂)", "s_exp = k·f/Z" if extras.get("depth_mode") == "depth" else "s_exp = k·f·d"],
             "x": [s_pred, s_exp], "marker": {"color": ["#E45756", "#4C78A8"]},
             "text": [f"{s_pred:.2f}", f"{s_exp:.2f}"], "textposition": "outside", "cliponaxis": False,
             "hovertemplate": "%{y}: %{x:.3f} latent px<extra></extra>"}]
    ratio = s_pred / s_exp if s_exp else float("nan")
    title = (f"Depth-aware scale: s_pred/s_exp = {ratio:.3f} · depth statistic {extras['depth_stat']:.3g}"
             f" · k_obj {extras['k_obj']:.4g} ({extras['k_obj_source']})")
    return {"data": data, "layout": chart_layout(title, xaxis={"title": {"text": "size (latent px)"}, "rangemode": "tozero"},
                                                  yaxis={"autorange": "reversed"}, showlegend=False, height=190,
                                                  margin={"l": 130, "r": 40, "t": 36, "b": 40})}


def per_scale_figure(per_scale: dict[str, float]) -> dict:
    """Bars of the 004 multi-scale gradient error at each scale, ``per_scale`` ``{scale: value}`` (the
    ``rgrad_per_scale`` extra of the monodepth terms, keys ``"1"``, ``"2"``, ``"4"``, ``"8"``), on the
    standardised depths. Returns a plotly figure dict."""
    xs = list(per_scale)
    return {"data": [{"type": "bar", "x": [f"scale {s}" for s in xs], "y": [per_scale[s] for s in xs],
                      "marker": {"color": "#72B7B2"}, "hovertemplate": "%{x}: %{y:.4g}<extra></extra>"}],
            "layout": chart_layout("004 gradient error per scale (standardised depth)", showlegend=False, height=260)}


def step_of(name: str) -> float:
    """The training step in a checkpoint name (the last number in it), or +inf if none."""
    nums = re.findall(r"\d+", name)
    return float(nums[-1]) if nums else math.inf


def checkpoint_lines(predictions: list[str], series: dict[str, list[float | None]], totals: dict[str, float],
                     labels: dict[str, str] | None = None) -> dict:
    """Each term's weighted value (and the total) across checkpoints ordered by step; best marked."""
    labels = labels or {}
    order = sorted(predictions, key=lambda p: (step_of(p), p))
    x = order
    data = []
    for i, (t, ys) in enumerate(series.items()):
        by = dict(zip(predictions, ys))
        data.append({"type": "scatter", "mode": "lines+markers", "name": labels.get(t, t), "x": x,
                     "y": [by[p] for p in order], "line": {"color": _PALETTE[i % len(_PALETTE)], "width": 1.5},
                     "marker": {"size": 5}})
    best = min(order, key=lambda p: totals[p])
    data.append({"type": "scatter", "mode": "lines+markers", "name": "total", "x": x, "y": [totals[p] for p in order],
                 "line": {"color": "black", "width": 3}, "marker": {"size": 8}})
    annotations = [{"x": best, "y": totals[best], "text": f"best: {best}", "showarrow": True, "arrowhead": 2,
                    "ax": 0, "ay": -36, "font": {"color": "#2CA02C"}}]
    return {"data": data, "layout": chart_layout("Weighted terms across checkpoints", annotations=annotations,
                                                  xaxis={"title": {"text": "checkpoint (by step)"}, "type": "category"},
                                                  yaxis={"title": {"text": "weighted loss"}})}


def scale_by_step_figure(predictions: list[str], scales: dict, kind: str, tolerance: float = 0.05) -> dict:
    """Each checkpoint's estimated scale across checkpoints ordered by step, with the band of
    ``|log s| ≤ tolerance`` shaded and 1 marked; declined readouts are listed in the title.

    ``scales``: ``{prediction: ScaleReadout}``; ``kind``: ``"insertion"`` or ``"material"``."""
    order = sorted(predictions, key=lambda p: (step_of(p), p))
    ys = [scales[p].estimate if p in scales else None for p in order]
    declined = [p for p in order if p in scales and scales[p].estimate is None]
    what = "object size / target's" if kind == "insertion" else "period ratio prediction / target"
    title = f"Estimated scale across checkpoints ({what})"
    if declined:
        title += f" · declined: {', '.join(declined)}"
    lo, hi = math.exp(-tolerance), math.exp(tolerance)
    data = [{"type": "scatter", "mode": "lines+markers+text", "name": "estimated scale", "x": order, "y": ys,
             "text": [f"{y:.3f}" if y is not None else "" for y in ys], "textposition": "top center",
             "line": {"color": "#1F77B4", "width": 2}, "marker": {"size": 8}, "hovertemplate": "%{x}: %{y:.4f}<extra></extra>"}]
    shapes = [{"type": "rect", "xref": "paper", "x0": 0, "x1": 1, "y0": lo, "y1": hi, "fillcolor": "#2CA02C",
               "opacity": 0.12, "line": {"width": 0}, "layer": "below"},
              {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 1, "y1": 1, "line": {"color": "#2CA02C", "dash": "dot"}}]
    finite = [y for y in ys if y is not None]
    span = max([abs(math.log(y)) for y in finite] + [tolerance]) * 1.3
    return {"data": data, "layout": chart_layout(title, shapes=shapes, showlegend=False, height=300,
                                                  xaxis={"title": {"text": "checkpoint (by step)"}, "type": "category"},
                                                  yaxis={"title": {"text": "estimated scale"},
                                                         "range": [math.exp(-span), math.exp(span)]})}


def _waiting_figure(title: str) -> dict:
    """An empty chart that says no step is recorded yet (instead of axes over nothing)."""
    return {"data": [], "layout": chart_layout(title, height=200, xaxis={"visible": False}, yaxis={"visible": False},
                                               annotations=[{"text": "no step recorded yet", "showarrow": False,
                                                             "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                                                             "font": {"size": 13, "color": "#666"}}])}


def run_curves_figure(curves: dict, labels: dict[str, str] | None = None, title: str = "") -> dict:
    """The weighted terms and the total against the training step (``curves`` from
    :func:`geoviz.analysis.runs.run_curves`): medians as lines, the 25–75 % band shaded around the
    total (with more than one sample). Each point carries ``[sample, checkpoint]`` as customdata: what a
    click opens."""
    labels = labels or {}
    steps, series, opens = curves["steps"], curves["series"], curves["open"]
    if not steps:
        return _waiting_figure(title or "Weighted terms and total against the step")
    custom = [list(o) for o in opens]
    data = []
    total = series.get("total")
    if total is not None and curves.get("samples", 1) > 1:
        data.append({"type": "scatter", "mode": "lines", "x": steps, "y": total["hi"], "line": {"width": 0},
                     "hoverinfo": "skip", "showlegend": False, "name": "total 75 %"})
        data.append({"type": "scatter", "mode": "lines", "x": steps, "y": total["lo"], "line": {"width": 0},
                     "fill": "tonexty", "fillcolor": "rgba(0,0,0,0.12)", "hoverinfo": "skip",
                     "name": "total 25–75 %"})
    for i, (name, s) in enumerate((n, s) for n, s in series.items() if n != "total"):
        data.append({"type": "scatter", "mode": "lines+markers", "name": labels.get(name, name), "x": steps,
                     "y": s["mid"], "customdata": custom, "line": {"color": _PALETTE[i % len(_PALETTE)], "width": 1.5},
                     "marker": {"size": 5},
                     "hovertemplate": "step %{x}: %{y:.4g}<br>click: open %{customdata[0]}<extra>%{fullData.name}</extra>"})
    if total is not None:
        data.append({"type": "scatter", "mode": "lines+markers", "name": "total", "x": steps, "y": total["mid"],
                     "customdata": custom, "line": {"color": "black", "width": 3}, "marker": {"size": 8},
                     "hovertemplate": "step %{x}: total %{y:.4g}<br>click: open %{customdata[0]}<extra></extra>"})
    return {"data": data, "layout": chart_layout(title or "Weighted terms and total against the step",
                                                  xaxis={"title": {"text": "training step"}},
                                                  yaxis={"title": {"text": "weighted loss"}}, height=340)}


def run_scale_figure(series: dict[str, dict], tolerance: float = 0.05, title: str = "") -> dict:
    """Each sample's estimated scale against the training step (``series`` from
    :func:`geoviz.analysis.runs.scale_series`), the band ``|log s| ≤ tolerance`` shaded, and the
    first step each sample leaves it marked. customdata ``[sample, checkpoint]`` per point."""
    if not series:
        return _waiting_figure(title or "Estimated scale per sample against the step")
    lo, hi = math.exp(-tolerance), math.exp(tolerance)
    data, annotations, finite = [], [], []
    for i, (name, s) in enumerate(series.items()):
        color = _PALETTE[i % len(_PALETTE)]
        data.append({"type": "scatter", "mode": "lines+markers", "name": name, "x": s["steps"], "y": s["scales"],
                     "customdata": [[name, ck] for ck in s["checkpoints"]], "line": {"color": color, "width": 2},
                     "marker": {"size": 7},
                     "hovertemplate": "%{customdata[0]} · step %{x}: scale %{y:.3f}<br>click: open it<extra></extra>"})
        finite += [y for y in s["scales"] if y is not None]
        out = s.get("first_out")
        if out is not None:
            y = s["scales"][s["steps"].index(out)]
            said = f"{name} leaves at {out}" if s.get("ever_in", True) else f"{name} outside from {out}"
            annotations.append({"x": out, "y": y, "text": said, "showarrow": True,
                                "arrowhead": 2, "ax": 0, "ay": -30 - 16 * (len(annotations) % 3),
                                "font": {"color": color, "size": 11}})
    shapes = [{"type": "rect", "xref": "paper", "x0": 0, "x1": 1, "y0": lo, "y1": hi, "fillcolor": "#2CA02C",
               "opacity": 0.12, "line": {"width": 0}, "layer": "below"},
              {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 1, "y1": 1,
               "line": {"color": "#2CA02C", "dash": "dot"}}]
    span = max([abs(math.log(y)) for y in finite if y > 0] + [tolerance]) * 1.3
    return {"data": data, "layout": chart_layout(
        title or f"Estimated scale per sample against the step (band: |log s| ≤ {tolerance:g})",
        shapes=shapes, annotations=annotations, height=340, xaxis={"title": {"text": "training step"}},
        yaxis={"title": {"text": "estimated scale s"}, "range": [math.exp(-span), math.exp(span)]})}


def period_sentence(period_pred: float | None, period_target: float | None, what: str = "tiles") -> str:
    """'prediction tiles are 1.24× larger than target' from two periods in pixels."""
    if not period_pred or not period_target or not (math.isfinite(period_pred) and math.isfinite(period_target)):
        return f"the {what} period could not be measured"
    r = period_pred / period_target
    if abs(r - 1) < 0.01:
        return f"prediction {what} match the target's period ({period_pred:.1f} px)"
    word = "larger" if r > 1 else "smaller"
    factor = r if r > 1 else 1 / r
    return f"prediction {what} are {factor:.2f}× {word} than target ({period_pred:.1f} px vs {period_target:.1f} px)"


def to_plotly(fig: dict) -> Any:
    """A figure dict as a ``plotly.graph_objects.Figure`` (validated; for export, not the hot path)."""
    import plotly.graph_objects as go

    return go.Figure(fig)


# ---- sensitivity: response curves and gradient shares ----------------------------------------------


def normalise_curve(values: list[float]) -> list[float | None]:
    """A response curve rescaled to 0 at its minimum and 1 at the larger of its two ends, so terms of
    very different magnitudes share one axis (None where not finite; flat curves stay at 0)."""
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v)
    if not ok.any():
        return [None] * len(v)
    lo = float(v[ok].min())
    ends = [x for x in (v[0], v[-1]) if math.isfinite(x)]
    hi = max(ends) if ends else float(v[ok].max())
    span = hi - lo if hi > lo else float(v[ok].max()) - lo
    out = (v - lo) / span if span > 0 else np.zeros_like(v)
    return [float(x) if math.isfinite(x) else None for x in out]


def marker_labels(names: list[str], xs: list[float], span: float, near: float = 0.06) -> tuple[list[str], list[str]]:
    """Labels for markers at ``xs`` (sorted) on one curve, so none sits on another: markers closer
    than ``near`` × ``span`` share one label (``"a, b"`` on the first, the others blank), and the
    labels of neighbouring groups alternate above and below. Returns (texts, textpositions)."""
    texts, positions = [""] * len(names), ["top center"] * len(names)
    groups: list[list[int]] = []
    for i, x in enumerate(xs):
        if groups and x - xs[groups[-1][0]] <= near * span:
            groups[-1].append(i)
        else:
            groups.append([i])
    above = True
    for g, members in enumerate(groups):
        if g and xs[members[0]] - xs[groups[g - 1][-1]] <= 3 * near * span:
            above = not above  # a neighbour's label would touch this one: the other side
        else:
            above = True
        texts[members[0]] = ", ".join(names[i] for i in members)
        for i in members:
            positions[i] = "top center" if above else "bottom center"
    return texts, positions


def sweep_figure(x: list[float], values: dict[str, list[float]], total: list[float], *, axis_title: str,
                 title: str, labels: dict[str, str] | None = None, weights: dict[str, float] | None = None,
                 markers: dict[str, float] | None = None, reference_x: float | None = 1.0,
                 legend: bool = True) -> dict:
    """Each term's response (normalised, see :func:`normalise_curve`) against ``x``, the weighted total
    on top in black; ``markers`` ``{prediction: x}`` are placed on the total curve. Terms with zero
    weight are drawn faint (legend click shows/hides any). ``legend=False`` for a small figure beside
    one that has it (the terms keep their colours)."""
    labels, weights = labels or {}, weights or {}
    data = []
    for i, (t, v) in enumerate(values.items()):
        w = float(weights.get(t, 0.0))
        data.append({"type": "scatter", "mode": "lines", "name": labels.get(t, t), "x": x, "y": normalise_curve(v),
                     "customdata": [None if not math.isfinite(a) else a for a in np.asarray(v, float)],
                     "line": {"color": _PALETTE[i % len(_PALETTE)], "width": 1.6 if w else 1.0,
                              "dash": "solid" if w else "dot"},
                     "opacity": 1.0 if w else 0.45, "visible": True if w else "legendonly",
                     "hovertemplate": f"{labels.get(t, t)}<br>x=%{{x:.3g}}  value %{{customdata:.4g}}<extra></extra>"})
    tn = normalise_curve(total)
    data.append({"type": "scatter", "mode": "lines", "name": "weighted total", "x": x, "y": tn,
                 "customdata": total, "line": {"color": "black", "width": 3.5},
                 "hovertemplate": "total %{customdata:.4g} at x=%{x:.3g}<extra></extra>"})
    if markers:
        xs = np.asarray(x, float)
        ys = np.asarray([np.nan if v is None else v for v in tn], float)
        # predictions outside the swept range are not drawn (the summary lists them)
        names = [n for n, m in markers.items() if m is not None and math.isfinite(m) and xs[0] <= m <= xs[-1]]
        names.sort(key=lambda n: markers[n])
        mx = [float(markers[n]) for n in names]
        my = [float(np.interp(m, xs, ys)) for m in mx]
        texts, positions = marker_labels(names, mx, span=float(xs[-1] - xs[0]))
        data.append({"type": "scatter", "mode": "markers+text", "name": "predictions", "x": mx, "y": my, "text": texts,
                     "customdata": names, "textposition": positions,
                     "marker": {"color": "#D62728", "size": 11, "symbol": "diamond", "line": {"color": "white", "width": 1}},
                     "hovertemplate": "%{customdata}: estimated x = %{x:.3f}<extra></extra>"})
    shapes = []
    if reference_x is not None:
        shapes.append({"type": "line", "x0": reference_x, "x1": reference_x, "y0": 0, "y1": 1, "yref": "paper",
                       "line": {"color": "#888", "width": 1, "dash": "dash"}})
    return {"data": data, "layout": chart_layout(title, shapes=shapes, height=420, showlegend=legend,
                                                  xaxis={"title": {"text": axis_title}},
                                                  # short: a title longer than the plot's height runs into
                                                  # the figure's title (the text says what 0 and 1 are)
                                                  yaxis={"title": {"text": "response (0 = min, 1 = worse end)"},
                                                         "rangemode": "tozero"})}


def gradient_shares_figure(shares: dict[str, float], inputs: dict[str, str], norms: dict[str, float | None],
                           labels: dict[str, str] | None = None, after: dict[str, float] | None = None,
                           title: str = "Share of the weighted gradient, per input") -> dict:
    """Horizontal bars of each term's share of its input group's weighted gradient norm (``after``:
    a second set of bars, e.g. once balanced)."""
    labels = labels or {}
    order = [t for t in shares if shares[t] > 0 or (after and after.get(t, 0) > 0)]
    order.sort(key=lambda t: (inputs[t], -shares[t]))
    y = [f"{inputs[t]} · {labels.get(t, t)}" for t in order]
    data = [{"type": "bar", "orientation": "h", "name": "current weights", "y": y, "x": [shares[t] for t in order],
             "customdata": [norms.get(t) for t in order], "marker": {"color": "#4C78A8"},
             "hovertemplate": "%{y}: %{x:.1%} (‖∂/∂input‖ = %{customdata:.3g})<extra></extra>"}]
    if after is not None:
        data.append({"type": "bar", "orientation": "h", "name": "balanced", "y": y, "x": [after.get(t, 0.0) for t in order],
                     "marker": {"color": "#F58518"}, "hovertemplate": "%{y}: %{x:.1%}<extra>balanced</extra>"})
    return {"data": data, "layout": chart_layout(title, barmode="group", height=max(220, 28 * len(order) + 90),
                                                  xaxis={"title": {"text": "share of the group's gradient norm"},
                                                         "tickformat": ".0%", "range": [0, 1]},
                                                  yaxis={"autorange": "reversed"}, margin={"l": 230, "r": 12, "t": 36, "b": 40})}
