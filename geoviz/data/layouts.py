"""The folder layouts geoviz reads, in one place: a sample folder (``assets/<sample>/``), a dataset
(``DATASET/<sample>/`` with predictions ``PREDS_DIR/<checkpoint>/<sample>.png``), and the
suffix search they share. Files become a :class:`~geoviz.data.sample.Sample` through
:func:`~geoviz.data.sample.build_sample`; nothing here decodes an image itself.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from geoviz.data.readers import DEPTH_SUFFIXES, IMAGE_SUFFIXES, LATENT_SUFFIXES, InputError
from geoviz.data.sample import build_sample

__all__ = ["SampleSpec", "first_file", "list_dataset", "load_spec", "load_sample", "datasets_under", "dataset_folder"]

log = logging.getLogger("geoviz.data.layouts")


@dataclass
class SampleSpec:
    """Where one sample's files are (resolved paths; nothing is read yet)."""

    name: str
    folder: Path
    predictions: dict[str, Path] = field(default_factory=dict)
    prediction_depths: dict[str, Path] = field(default_factory=dict)
    prediction_latents: dict[str, Path] = field(default_factory=dict)


def first_file(folder: Path, stem: str, suffixes: tuple[str, ...]) -> Path | None:
    """``folder/stem<suffix>`` for the first of ``suffixes`` that is a file, else None."""
    for s in suffixes:
        p = folder / f"{stem}{s}"
        if p.is_file():
            return p
    return None


def _escapes(path: Path, root: Path) -> bool:
    return not path.resolve().is_relative_to(root)


def _confined(spec: SampleSpec, root: Path) -> bool:
    """Whether every file the sample would read resolves under ``root`` (no symlink out of it)."""
    files = [spec.folder, *spec.folder.iterdir(), *spec.predictions.values(), *spec.prediction_depths.values(),
             *spec.prediction_latents.values()]
    return not any(_escapes(p, root) for p in files)


def list_dataset(dataset: str | Path, preds_dir: str | Path | None = None,
                 confine_to: str | Path | None = None, left_out: list[str] | None = None) -> tuple[list[SampleSpec], list[str]]:
    """The samples of a dataset and the checkpoints that predicted them, in a stable order.

    ``confine_to`` (the server's data root): samples with any file resolving outside it (a symlink
    out of the root) are left out with a warning — the dashboard must not read the server's disk.
    ``left_out``: a list that receives ``"<sample>: <reason>"`` for every folder left out."""
    root = Path(dataset)
    if not root.is_dir():
        raise InputError(str(dataset), "is not a folder", "give the dataset folder (one subfolder per sample)")
    preds_root = Path(preds_dir) if preds_dir is not None else root / "preds"
    if not preds_root.is_dir():
        raise InputError(str(preds_root), "is not a folder", "give --preds PREDS_DIR (one subfolder per checkpoint)")
    checkpoints = sorted(p.name for p in preds_root.iterdir() if p.is_dir())
    samples = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.resolve() != preds_root.resolve()):
        if first_file(folder, "target", IMAGE_SUFFIXES) is None:
            if left_out is not None:
                left_out.append(f"{folder.name}: no target image (target.png) in the folder")
            continue
        spec = SampleSpec(folder.name, folder)
        for ck in checkpoints:
            img = first_file(preds_root / ck, folder.name, IMAGE_SUFFIXES)
            if img is not None:
                spec.predictions[ck] = img
            dep = first_file(preds_root / ck / "pred_depth", folder.name, DEPTH_SUFFIXES)
            if dep is not None:
                spec.prediction_depths[ck] = dep
            lat = first_file(preds_root / ck / "pred_latents", folder.name, LATENT_SUFFIXES)
            if lat is not None:
                spec.prediction_latents[ck] = lat
        if confine_to is not None and not _confined(spec, Path(confine_to).resolve()):
            log.warning("sample %s left out: a file of it lies outside the data root", spec.name)
            if left_out is not None:
                left_out.append(f"{spec.name}: a file of it lies outside the data root")
            continue
        if not spec.predictions and left_out is not None:
            left_out.append(f"{spec.name}: no checkpoint has a prediction for it")
        samples.append(spec)
    if not samples:
        raise InputError(root.name, "holds no sample folder with a target image", "see the layout in README")
    return samples, checkpoints


def load_spec(spec: SampleSpec, depth_kind: str | None = None):
    """A SampleSpec → Sample (the checkpoints as predictions)."""
    def need(stem):
        p = first_file(spec.folder, stem, IMAGE_SUFFIXES)
        if p is None:
            raise InputError(f"{spec.name}/{stem}", "missing", f"add {stem}.png")
        return p

    if not spec.predictions:
        raise InputError(spec.name, "no checkpoint has a prediction for this sample", "check PREDS_DIR/<checkpoint>/<sample>.png")
    camera = spec.folder / "camera.json"
    return build_sample(
        context=need("context"), target=need("target"), mask=need("mask"), predictions=dict(spec.predictions),
        target_depth=first_file(spec.folder, "target_depth", DEPTH_SUFFIXES),
        prediction_depths=dict(spec.prediction_depths), depth_kind=depth_kind,
        camera=camera if camera.is_file() else None,
        context_latents=first_file(spec.folder, "context_latents", LATENT_SUFFIXES),
        target_latents=first_file(spec.folder, "target_latents", LATENT_SUFFIXES),
        prediction_latents=dict(spec.prediction_latents), name=spec.name, skip_bad_predictions=True,
    )


def load_sample(folder: str | os.PathLike, **options):
    """Load a sample folder laid out like ``assets/`` into a :class:`geoviz.data.sample.Sample`.

    ``context.<img>``, ``target.<img>``, ``mask.<img>``, ``pred/*.<img>`` (the file name is the
    checkpoint; ``<name>~2.<img>`` is a second run of ``<name>``), optional ``target_depth.*``,
    ``context_depth.*``, ``pred_depth/<name>.*``, ``camera.json``, latents ``context_latents.*``,
    ``target_latents.*``, ``pred_latents/<name>.*``. ``options`` go to
    :func:`geoviz.data.sample.build_sample`.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(str(folder), "is not a folder", "point at a sample folder (context, target, mask, pred/)")
    files = {}
    for role in ("context", "target", "mask"):
        p = first_file(root, role, IMAGE_SUFFIXES)
        if p is None:
            raise InputError(f"{root.name}/{role}", "missing", f"add {role}.png to the sample folder")
        files[role] = p
    preds, second = {}, {}
    pred_dir = root / "pred"
    if pred_dir.is_dir():
        for p in sorted(pred_dir.iterdir()):
            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
                if p.stem.endswith("~2"):
                    second[p.stem[:-2]] = p
                else:
                    preds[p.stem] = p
    depth_kind = options.pop("depth_kind", None)
    depths = {}
    for role in ("target", "context"):
        p = first_file(root, f"{role}_depth", DEPTH_SUFFIXES)
        if p is not None:
            depths[role] = p
    pred_depths = {}
    if (root / "pred_depth").is_dir():
        for name in preds:
            p = first_file(root / "pred_depth", name, DEPTH_SUFFIXES)
            if p is not None:
                pred_depths[name] = p
    latents = {}
    for role in ("context", "target"):
        p = first_file(root, f"{role}_latents", LATENT_SUFFIXES)
        if p is not None:
            latents[role] = p
    pred_latents = {}
    if (root / "pred_latents").is_dir():
        for name in preds:
            p = first_file(root / "pred_latents", name, LATENT_SUFFIXES)
            if p is not None:
                pred_latents[name] = p
    camera = root / "camera.json" if (root / "camera.json").is_file() else None
    return build_sample(
        context=files["context"], target=files["target"], mask=files["mask"], predictions=preds,
        second_runs=second, target_depth=depths.get("target"), context_depth=depths.get("context"),
        prediction_depths=pred_depths, depth_kind=depth_kind, camera=camera,
        context_latents=latents.get("context"), target_latents=latents.get("target"),
        prediction_latents=pred_latents, name=root.name, **options,
    )


def datasets_under(root: Path | None) -> list[str]:
    """Dataset folders under ``root`` (one level down, holding sample folders with a target image;
    names come from the disk, not from users; a symlink out of the root is not listed)."""
    if root is None or not root.is_dir():
        return []
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        if not d.resolve().is_relative_to(root):
            continue
        if any((s / "target.png").is_file() or (s / "target.jpg").is_file() for s in d.iterdir() if s.is_dir()):
            out.append(d.name)
    return out


def dataset_folder(root: Path, name: str) -> Path:
    """The folder of the dataset ``name`` under ``root``; InputError unless it is one of
    :func:`datasets_under` (no path from a user reaches the disk unchecked)."""
    if not isinstance(name, str) or not name:
        raise InputError(str(name), "is not a dataset name", "choose one from the list")
    folder = (root / name).resolve()
    if not folder.is_relative_to(root) or folder == root or name not in datasets_under(root):
        raise InputError(str(name), "is not a dataset under the data root", "choose one from the list")
    return folder
