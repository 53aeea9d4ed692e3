"""Sharing a debugging session: ``.geoviz.zip`` bundles, saved sessions behind unguessable links,
and self-contained HTML reports.

A bundle holds ``manifest.json`` (schema, app version, time, device, params, weights, prediction
names, notes), the inputs as they were loaded — an image is an 8-bit PNG when that is exact (a file
read from an 8-bit PNG/JPEG and not resized), a float32 ``.npy`` otherwise; masks likewise; depth
float32 ``.npy``; latents ``.safetensors`` — and ``results.json`` (every term's value per
prediction). Importing reads everything from the archive in memory: nothing is extracted, nothing
is unpickled, and an archive that does not look exactly like one we write is refused.
"""

from __future__ import annotations

import datetime as _dt
import html
import io
import json
import math
import os
import re
import secrets
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import geoviz.report.figures as FG
from geoviz.data.readers import InputError, load_image, load_latent, load_mask
from geoviz.data.sample import Sample
from geoviz.engine.combine import combine
from geoviz.engine.scale import ScaleReadout
from geoviz.engine.terms import REGISTRY
from geoviz.version import __version__

__all__ = [
    "BUNDLE_SCHEMA",
    "BUNDLE_VERSION",
    "Bundle",
    "export_bundle",
    "import_bundle",
    "SessionStore",
    "default_sessions_dir",
    "report_html",
]

BUNDLE_SCHEMA = "geoviz-bundle"
BUNDLE_VERSION = 1
MAX_FILES = 2000
MAX_BYTES = 1 << 30  # uncompressed, in all
_MEMBER = re.compile(r"^(manifest\.json|results\.json|inputs/(context|target|mask|target_depth|context_depth)"
                     r"\.(png|npy)|inputs/(context|target)_latents\.safetensors|"
                     r"inputs/(pred|second|pred_depth)/\d{4}\.(png|npy)|inputs/pred_latents/\d{4}\.safetensors)$")


@dataclass
class Bundle:
    """What a bundle restores: the sample, the stored values, and the manifest."""

    sample: Sample
    values: dict[str, dict[str, float | None]]
    manifest: dict
    weights: dict[str, float] = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    notes: str = ""
    scales: dict = field(default_factory=dict)  # {prediction: ScaleReadout} as the session showed them


# ---- export ---------------------------------------------------------------------------------------


def _png_exact(img: np.ndarray) -> bytes | None:
    """8-bit PNG bytes if the float image round-trips exactly through 8 bits, else None."""
    from PIL import Image

    scaled = img.astype(np.float64) * 255.0
    q = np.rint(scaled)
    if not np.array_equal((q / 255.0).astype(np.float32), img):
        return None
    buf = io.BytesIO()
    Image.fromarray(q.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


def _image_entry(arr: np.ndarray) -> tuple[str, bytes]:
    png = _png_exact(arr)
    return ("png", png) if png is not None else ("npy", _npy(arr))


def _latent_bytes(z: torch.Tensor) -> bytes:
    from safetensors.torch import save

    return save({"latents": z.detach().cpu().contiguous().float()})


def _jsonable(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj


def export_bundle(
    sample: Sample,
    values: dict[str, dict[str, float | None]],
    *,
    params: dict | None = None,
    weights: dict[str, float] | None = None,
    notes: str = "",
    device: str = "cpu",
    encoder: str = "proxy",
    scales: dict | None = None,
    kind: str | None = None,
) -> bytes:
    """The whole session as ``.geoviz.zip`` bytes: the inputs exactly as loaded, the params, weights,
    notes, every value and each prediction's scale readout (``scales``: ``{name: ScaleReadout}``)."""
    files: dict[str, bytes] = {}
    roles: dict[str, str] = {}
    for role, arr in (("context", sample.context), ("target", sample.target), ("mask", sample.mask)):
        ext, data = _image_entry(arr)
        files[f"inputs/{role}.{ext}"] = data
        roles[role] = f"inputs/{role}.{ext}"
    preds = list(sample.predictions)
    entries: dict[str, dict[str, str]] = {}
    for i, name in enumerate(preds):
        e: dict[str, str] = {}
        ext, data = _image_entry(sample.predictions[name])
        e["image"] = f"inputs/pred/{i:04d}.{ext}"
        files[e["image"]] = data
        if name in sample.second_runs:
            ext, data = _image_entry(sample.second_runs[name])
            e["second_run"] = f"inputs/second/{i:04d}.{ext}"
            files[e["second_run"]] = data
        if name in sample.prediction_depths:
            e["depth"] = f"inputs/pred_depth/{i:04d}.npy"
            files[e["depth"]] = _npy(sample.prediction_depths[name])
        if name in sample.prediction_latents:
            e["latents"] = f"inputs/pred_latents/{i:04d}.safetensors"
            files[e["latents"]] = _latent_bytes(sample.prediction_latents[name])
        entries[name] = e
    for role, arr in (("target_depth", sample.target_depth), ("context_depth", sample.context_depth)):
        if arr is not None:
            files[f"inputs/{role}.npy"] = _npy(arr)
            roles[role] = f"inputs/{role}.npy"
    for role, z in (("context_latents", sample.context_latents), ("target_latents", sample.target_latents)):
        if z is not None:
            files[f"inputs/{role}.safetensors"] = _latent_bytes(z)
            roles[role] = f"inputs/{role}.safetensors"
    manifest = {
        "schema": BUNDLE_SCHEMA,
        "schema_version": BUNDLE_VERSION,
        "app_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "device": device,
        "encoder": encoder,
        "sample_name": sample.name,
        "kind": kind or sample.kind,
        "predictions": preds,
        "prediction_files": entries,
        "inputs": roles,
        "depth_kind": sample.depth_kind,
        "camera": sample.camera,
        "k_obj": sample.k_obj,
        "params": params or {},
        "weights": weights or {},
        "notes": notes,
        "notices": sample.notices,
    }
    files["manifest.json"] = json.dumps(_jsonable(manifest), indent=2, sort_keys=True).encode()
    results = {"values": values, "scales": {n: r.to_dict() for n, r in (scales or {}).items()}}
    files["results.json"] = json.dumps(_jsonable(results), indent=2, sort_keys=True).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for name in sorted(files):
            z.writestr(name, files[name])
    return buf.getvalue()


# ---- import ---------------------------------------------------------------------------------------


def _refuse(label: str, problem: str, fix: str = "export the session from geoviz again") -> InputError:
    return InputError(label, problem, fix)


def _check_members(z: zipfile.ZipFile, label: str) -> dict[str, zipfile.ZipInfo]:
    infos = z.infolist()
    if len(infos) > MAX_FILES:
        raise _refuse(label, f"holds {len(infos)} files (limit {MAX_FILES})")
    total = 0
    members = {}
    for info in infos:
        name = info.filename
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
            raise _refuse(label, f"holds an absolute path {name!r}")
        if ".." in Path(name).parts or "\\" in name:
            raise _refuse(label, f"holds a path escaping the bundle {name!r}")
        mode = (info.external_attr >> 16) & 0o170000
        if mode == stat.S_IFLNK:
            raise _refuse(label, f"holds a symbolic link {name!r}")
        if info.is_dir():
            continue
        if not _MEMBER.match(name):
            raise _refuse(label, f"holds an unexpected file {name!r} (only geoviz's own layout is read)")
        total += info.file_size
        if total > MAX_BYTES:
            raise _refuse(label, f"unpacks to more than {MAX_BYTES >> 20} MB", "bundles are at most this large")
        members[name] = info
    if "manifest.json" not in members:
        raise _refuse(label, "has no manifest.json (not a geoviz bundle)")
    return members


def _read(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes, read in chunks and cut off at its declared size: a header that lies about
    the size (a zip bomb's trick) cannot make us inflate more than the limits checked above."""
    out = bytearray()
    with z.open(info) as f:
        while chunk := f.read(1 << 20):
            out += chunk
            if len(out) > info.file_size:
                raise _refuse(info.filename, "inflates past its declared size (a zip bomb?)")
    if len(out) != info.file_size:
        raise _refuse(info.filename, "size differs from the archive's record")
    return bytes(out)


def _load_member(data: bytes, name: str) -> np.ndarray:
    if name.endswith(".png"):
        return load_mask(data, name) if "/mask." in name else load_image(data, name)
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as e:
        raise _refuse(name, f"is not a plain float array ({e})") from None
    if arr.dtype != np.float32:
        raise _refuse(name, f"has dtype {arr.dtype}, expected float32")
    return arr


def _load_latents(data: bytes, name: str) -> torch.Tensor:
    from safetensors.torch import load

    try:
        tensors = load(data)
    except Exception as e:  # safetensors raises its own errors for malformed headers
        raise _refuse(name, f"is not a readable safetensors file ({e})") from None
    if set(tensors) != {"latents"}:
        raise _refuse(name, "must hold exactly one tensor named 'latents'")

    return load_latent(tensors["latents"], name=name)


def import_bundle(src: str | os.PathLike | bytes) -> Bundle:
    """Read a ``.geoviz.zip`` (path or bytes) and rebuild its Sample, values and settings.

    Raises :class:`InputError` naming the bundle (or member) for anything that is not exactly a
    bundle geoviz writes: traversal or absolute paths, symlinks, too many or too large files,
    unexpected file types, another schema.
    """
    label = Path(src).name if isinstance(src, (str, os.PathLike)) else "bundle"
    try:
        z = zipfile.ZipFile(io.BytesIO(src) if isinstance(src, bytes) else src)
    except (zipfile.BadZipFile, OSError) as e:
        raise _refuse(label, f"is not a readable .zip ({e})") from None
    with z:
        members = _check_members(z, label)
        try:
            manifest = json.loads(_read(z, members["manifest.json"]))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise _refuse(label, f"manifest.json is not valid JSON ({e})") from None
        if not isinstance(manifest, dict) or manifest.get("schema") != BUNDLE_SCHEMA:
            raise _refuse(label, "manifest.json is not a geoviz bundle manifest")
        if manifest.get("schema_version") != BUNDLE_VERSION:
            raise _refuse(label, f"bundle schema version {manifest.get('schema_version')!r} is not supported "
                          f"(this geoviz reads version {BUNDLE_VERSION})", "open it with the geoviz that wrote it")

        referenced = {"manifest.json", "results.json", *[v for v in (manifest.get("inputs") or {}).values()],
                      *[v for e in (manifest.get("prediction_files") or {}).values() if isinstance(e, dict)
                        for v in e.values()]}
        stray = sorted(set(members) - {r for r in referenced if isinstance(r, str)})
        if stray:
            raise _refuse(label, f"holds a file its manifest does not list ({stray[0]!r})")

        def member(path: str | None, what: str) -> bytes:
            if not isinstance(path, str) or path not in members:
                raise _refuse(label, f"the manifest's {what} ({path!r}) is not in the bundle")
            return _read(z, members[path])

        roles = manifest.get("inputs") or {}
        arrays = {r: _load_member(member(roles.get(r), r), roles.get(r)) for r in ("context", "target", "mask")}
        preds, seconds, depths, lat = {}, {}, {}, {}
        names = manifest.get("predictions") or []
        entries = manifest.get("prediction_files") or {}
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise _refuse(label, "the manifest's prediction names are not a list of strings")
        for n in names:
            e = entries.get(n) or {}
            preds[n] = _load_member(member(e.get("image"), f"image of {n}"), e.get("image"))
            if "second_run" in e:
                seconds[n] = _load_member(member(e["second_run"], f"second run of {n}"), e["second_run"])
            if "depth" in e:
                depths[n] = _load_member(member(e["depth"], f"depth of {n}"), e["depth"])
            if "latents" in e:
                lat[n] = _load_latents(member(e["latents"], f"latents of {n}"), e["latents"])
        target_depth = _load_member(member(roles["target_depth"], "target depth"), roles["target_depth"]) \
            if "target_depth" in roles else None
        context_depth = _load_member(member(roles["context_depth"], "context depth"), roles["context_depth"]) \
            if "context_depth" in roles else None
        z_ctx = _load_latents(member(roles["context_latents"], "context latents"), roles["context_latents"]) \
            if "context_latents" in roles else None
        z_tgt = _load_latents(member(roles["target_latents"], "target latents"), roles["target_latents"]) \
            if "target_latents" in roles else None
        values, scales = {}, {}
        if "results.json" in members:
            try:
                results = json.loads(_read(z, members["results.json"]))
                values = results.get("values", {})
                scales = {str(n): ScaleReadout.from_dict(d) for n, d in (results.get("scales") or {}).items()}
            except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError) as e:
                raise _refuse(label, f"results.json is not valid ({e})") from None
    size = arrays["target"].shape[:2]
    for what, arr in [("context", arrays["context"]), ("mask", arrays["mask"]), *[(f"image of {n}", a) for n, a in preds.items()]]:
        if arr.shape[:2] != size:
            raise _refuse(label, f"the {what} is {arr.shape[:2]}, not the target's {size}")
    kind = manifest.get("depth_kind", "metric")
    if kind not in ("metric", "inverse"):
        raise _refuse(label, f"unknown depth kind {kind!r}")
    sample_kind = manifest.get("kind")
    if sample_kind not in (None, "insertion", "material"):
        raise _refuse(label, f"unknown sample kind {sample_kind!r}")
    sample = Sample(
        name=str(manifest.get("sample_name", "bundle")), context=arrays["context"], target=arrays["target"],
        mask=arrays["mask"], predictions=preds, second_runs=seconds, target_depth=target_depth,
        context_depth=context_depth, prediction_depths=depths, depth_kind=kind,
        camera=manifest.get("camera"), context_latents=z_ctx, target_latents=z_tgt, prediction_latents=lat,
        k_obj=manifest.get("k_obj"), notices=list(manifest.get("notices") or []), kind=sample_kind,
    )
    return Bundle(sample=sample, values=values, manifest=manifest, weights=dict(manifest.get("weights") or {}),
                  params=dict(manifest.get("params") or {}), notes=str(manifest.get("notes") or ""), scales=scales)


# ---- saved sessions behind links ----------------------------------------------------------------------

_ID = re.compile(r"^[A-Za-z0-9_-]{32}$")


def default_sessions_dir() -> Path:
    """Where saved sessions live by default: ``$XDG_CACHE_HOME/geoviz/sessions``, else
    ``~/.cache/geoviz/sessions`` (not created here: :meth:`SessionStore.save` does)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")  # empty counts as unset
    return base / "geoviz" / "sessions"


class SessionStore:
    """Bundles saved on the server under random ids (192 bits; the file name is the id alone)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_sessions_dir()

    def save(self, bundle: bytes) -> str:
        """Write a bundle under a new id. The folder is private to the server user (0700) and each
        bundle 0600: the uploads of one user are not readable by other accounts on the machine."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.root.stat().st_mode & 0o077:
            self.root.chmod(0o700)
        sid = secrets.token_urlsafe(24)  # 32 characters, 192 random bits
        path = self.root / f"{sid}.geoviz.zip"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(bundle)
        os.replace(tmp, path)
        return sid

    def path(self, sid: str) -> Path:
        """The file of session ``sid`` (``<root>/<sid>.geoviz.zip``).

        Raises :class:`InputError` when ``sid`` is not a 32-character id of ``[A-Za-z0-9_-]`` (so it can
        never name a path outside the store) or when no saved session has it."""
        if not isinstance(sid, str) or not _ID.match(sid):
            raise InputError("session link", "is not a valid session id", "copy the whole link")
        p = self.root / f"{sid}.geoviz.zip"
        if not p.is_file():
            raise InputError("session link", "no saved session has this id (expired or on another server)",
                             "ask for the link again")
        return p

    def load(self, sid: str) -> Bundle:
        """The saved session ``sid`` read back as a :class:`Bundle` (see :func:`import_bundle`).

        Raises :class:`InputError` for an invalid or unknown id, or a file that is not a valid bundle."""
        return import_bundle(self.path(sid).read_bytes())


# ---- self-contained HTML report ---------------------------------------------------------------------


def _thumb_uri(img: np.ndarray, side: int = 256, fmt: str = "JPEG") -> str:
    pil = FG.as_pil(img)
    pil.thumbnail((side, side))
    return FG.encode_image(pil, fmt, quality=85)


def _scale_text(r) -> str:
    if r is None:
        return "—"
    return f"{r.estimate:.3f}" if r.estimate is not None else "declined"


def _scale_title(r) -> str:
    return "" if r is None else (r.method if r.estimate is not None else r.reason or "")


def _scale_method(report) -> str:
    methods = {r.method for r in report.scales.values()}
    why = [f"{p}: {r.reason}" for p, r in report.scales.items() if r.estimate is None]
    what = "insertion: the object's linear size / the target's" if report.kind == "insertion" else \
        "material: the period ratio prediction / target"
    return f"{what}, by {', '.join(sorted(methods))}" + (f"; declined — {'; '.join(why)}" if why else "")


def report_html(sample: Sample, report, weights: dict[str, float], notes: str = "", title: str | None = None) -> str:
    """One HTML file, plotly.js embedded, no network request: inputs, the terms × checkpoints table,
    the charts and the weighted-total heatmaps of every prediction."""
    from plotly.offline import get_plotlyjs


    c = combine(report, weights)
    labels = {n: t.label for n, t in REGISTRY.items()}
    esc = html.escape
    preds = report.predictions
    best = min(preds, key=lambda p: c.totals[p])
    figs = {
        "bars": FG.contributions_bar(preds, report.terms, c.weighted, labels, c.totals),
        "lines": FG.checkpoint_lines(preds, {t: [c.weighted[p][t] for p in preds] for t in report.terms
                                             if any(c.weighted[p][t] for p in preds)}, c.totals, labels),
    }
    for i, p in enumerate(preds):
        figs[f"heat{i}"] = FG.overlay_figure(sample.predictions[p], c.contribution[p],
                                             title=f"{p}: weighted total contribution", symmetric=True,
                                             colorscale=FG.DIVERGING)
        spec = report.results[p].get("texture_spectral")
        if spec is not None and spec.ok:
            figs[f"spec{i}"] = FG.spectra_figure(spec.extras, title=f"{p}: radial spectra")
    rows = []
    for t in report.terms:
        cells = "".join(
            f"<td>{'skipped' if report.results[p][t].value is None else f'{report.results[p][t].value:.6g}'}</td>"
            f"<td>{'' if c.weighted[p][t] is None else f'{c.weighted[p][t]:.6g}'}</td>" for p in preds)
        rows.append(f"<tr><td>{REGISTRY[t].spec}</td><td>{esc(labels[t])}</td><td>{c.weights[t]:g}</td>{cells}</tr>")
    head = "".join(f'<th colspan="2">{esc(p)}{" ★" if p == best else ""}</th>' for p in preds)
    sub = "".join("<th>raw</th><th>weighted</th>" for _ in preds)
    totals = "".join(f'<td></td><td><b>{c.totals[p]:.6g}</b></td>' for p in preds)
    scale_cells = "".join(f'<td colspan="2" title="{esc(_scale_title(report.scales.get(p)))}">'
                          f'{esc(_scale_text(report.scales.get(p)))}</td>' for p in preds)
    inputs = "".join(f'<figure><img src="{_thumb_uri(img, fmt="PNG" if name == "mask" else "JPEG")}" '
                     f'alt="{esc(name)}"><figcaption>{esc(name)}</figcaption></figure>'
                     for name, img in [("context", sample.context), ("target", sample.target),
                                       ("mask", np.repeat(sample.mask[..., None], 3, axis=2)),
                                       *[(p, sample.predictions[p]) for p in preds]])
    divs = "".join(f'<div id="{k}" class="fig"></div>' for k in figs)
    data = json.dumps({k: v for k, v in figs.items()}, separators=(",", ":"), allow_nan=False)
    skipped = "".join(f"<li>{esc(p)} · {esc(labels[t])}: {esc(why)}</li>"
                      for p, items in report.skipped().items() for t, why in items.items())
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    title = title or f"geoviz report · {sample.name}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:24px;color:#222}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ddd;padding:3px 6px;text-align:right}} td:nth-child(2){{text-align:left}}
figure{{display:inline-block;margin:4px;text-align:center;font-size:12px}} figure img{{max-width:180px;border:1px solid #ccc}}
.fig{{width:100%;max-width:1100px;height:480px}} .notes{{white-space:pre-wrap;background:#f6f6f6;padding:8px}}
</style><script>{get_plotlyjs()}</script></head><body>
<h1>{esc(title)}</h1>
<p>geoviz {__version__} · {esc(created)} · device {esc(report.device)} · image {report.image_size[1]}×{report.image_size[0]}
 · latents {report.latent_size[1]}×{report.latent_size[0]} ({esc(report.encoder)}) · best checkpoint: <b>{esc(best)}</b></p>
{f'<div class="notes">{esc(notes)}</div>' if notes else ''}
<h2>Inputs</h2>{inputs}
<h2>Terms × checkpoints</h2>
<table><tr><th>spec</th><th>term</th><th>weight</th>{head}</tr><tr><th></th><th></th><th></th>{sub}</tr>
<tr><td></td><td><b>estimated scale</b></td><td></td>{scale_cells}</tr>
{''.join(rows)}<tr><td></td><td><b>TOTAL</b></td><td></td>{totals}</tr></table>
<p>Sample kind: <b>{esc(report.kind)}</b> ({esc(report.kind_reason)}). Estimated scale: {esc(_scale_method(report))}.</p>
{f'<h3>Skipped</h3><ul>{skipped}</ul>' if skipped else ''}
<h2>Charts and heatmaps</h2>{divs}
<script>
const FIGS = {data};
for (const [id, fig] of Object.entries(FIGS)) {{
  Plotly.newPlot(id, fig.data, fig.layout, {{displaylogo: false, responsive: true}});
}}
</script></body></html>"""
