"""Making, changing and restoring a dashboard :class:`Session` (no Gradio).

What every handler does to a session lives here, once: diagnose a sample into a new session, set
its weights from the controls' values, follow a new sample's kind with the kind's preset, restore
one from a bundle, and keep its files (weights.json, bundles, reports) in its own folder.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from geoviz.app.labels import WEIGHT_TERMS
from geoviz.app.state import Session
from geoviz.data.layouts import SampleSpec, load_sample, load_spec
from geoviz.data.sample import Sample
from geoviz.data.tempfiles import new_temp_dir
from geoviz.data.writers import safe_name, write_image, write_sample
from geoviz.engine.evaluate import Report, estimate_depths, evaluate
from geoviz.engine.terms import FAMILIES, REGISTRY, resolve_params
from geoviz.engine.weights import PRESETS, WeightsConfig, preset, preset_for, preset_matching
from geoviz.models.choice import ModelChoice
from geoviz.report.bundles import export_bundle

__all__ = ["ASSETS", "DEFAULT_PRESET", "new_session", "session_of_spec", "evaluate_with", "demo_session", "session_from_bundle",
           "bundle_bytes", "session_dir", "weights_file", "clone_session", "forget_session", "follow_kind",
           "set_weight_values", "set_weight", "weights_from_values", "file_stem", "input_files"]

ROOT = Path(__file__).resolve().parents[2]  # the checkout (geoviz/app/sessions.py)
DEFAULT_PRESET = "object insertion"


def _assets_dir() -> Path:
    """The demo assets: ``geoviz/assets`` when installed (package data), ``assets/`` in a checkout."""
    installed = Path(__file__).resolve().parents[1] / "assets"
    return installed if (installed / "insert_box").is_dir() else ROOT / "assets"


ASSETS = _assets_dir()


def evaluate_with(sample: Sample, params: dict, device: str, models: ModelChoice | None, progress=None,
                  warn: Callable[[str], Any] | None = None) -> tuple[Sample, Report]:
    """``evaluate`` with the session's models. Estimated depths are put into the sample that is
    evaluated and returned (so the Depth tab shows them and a bundle carries them: it restores the
    same numbers without the model). An unavailable model becomes a notice, and ``warn(message)``."""
    kw, warnings = (models or ModelChoice()).resolve(device)
    estimator = kw.pop("depth_estimator", None)
    source, align = kw.pop("depth_source", "uploaded"), kw.pop("align_depth", True)
    sample, info = estimate_depths(sample, params, device, estimator, source, align)
    report = evaluate(sample, params, device=device, progress=progress, **kw)
    report.depth_info = info
    for w in warnings:
        report.notices.append(w)
        if warn is not None:
            warn(w)
    return sample, report


def new_session(sample: Sample, params: dict | None, weights: dict[str, float], device: str,
                progress=None, models: ModelChoice | None = None, warn: Callable[[str], Any] | None = None) -> Session:
    """Evaluate ``sample`` (every term, every prediction) with ``params`` and the ``models`` (latent
    encoder, depth estimator) into a new Session holding ``weights``; ``progress(fraction, desc)``
    is Gradio's progress callback or None."""
    p = resolve_params(params)
    models = models or ModelChoice()

    def on_progress(done, total, name):
        if progress is not None:
            progress((done, total), desc=f"evaluating {name}")

    used, report = evaluate_with(sample, p, device, models, on_progress, warn)
    return Session(sample=used, report=report, params=p, weights=dict(weights), device=device,
                   inspect=report.predictions[0], models=models, original=sample if used is not sample else None)


def demo_session(device: str = "auto") -> Session:
    """The bundled ``insert_box`` demo, diagnosed with the default preset (what the dashboard opens on)."""
    return new_session(load_sample(ASSETS / "insert_box"), None, PRESETS[DEFAULT_PRESET], device)


def bundle_bytes(session: Session, notes: str = "") -> bytes:
    """The session as a ``.geoviz.zip`` bundle (inputs, values, params, effective weights, notes)."""
    return export_bundle(session.sample, session.report.values, params=session.params,
                         weights=session.effective_weights(), notes=notes or "", device=session.report.device,
                         encoder=session.report.encoder, scales=session.report.scales, kind=session.report.kind)


def session_from_bundle(bundle, device: str = "auto") -> tuple[Session, Any]:
    """A Session restored from a bundle: its inputs, params, weights and notes; the values recomputed
    and checked against the stored ones (a notice when another version or device gives other numbers)."""
    params = resolve_params(bundle.params)
    report = evaluate(bundle.sample, params, device=device)  # the bundle carries every depth map it used
    if bundle.values and report.values != bundle.values:
        report.notices.append("recomputed values differ from the bundle's (another geoviz version or device)")
    weights = {t: float(bundle.weights.get(t, 0.0)) for t in WEIGHT_TERMS} if bundle.weights else preset(
        preset_for(report.kind))
    session = Session(sample=bundle.sample, report=report, params=params, weights=weights, device=device,
                      inspect=report.predictions[0], notes=bundle.notes or "")
    return session, bundle


def session_dir(session: Session) -> Path:
    """The session's own temporary folder (made on first use; removed by :func:`forget_session`)."""
    if "dir" not in session.files:
        session.files["dir"] = new_temp_dir("session-")
    return session.files["dir"]


def weights_file(session: Session) -> str:
    """weights.json for download (effective weights and the params in use)."""
    cfg = WeightsConfig(weights=session.effective_weights(), params=session.params)
    return str(cfg.save(session_dir(session) / "weights.json"))


def file_stem(name: str) -> str:
    """``name`` safe as a file name's stem."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80] or "session"


def forget_session(session: Session | None) -> None:
    """When a browser session's state expires: remove its temporary files."""
    if session is not None and "dir" in session.files:
        shutil.rmtree(session.files["dir"], ignore_errors=True)


def clone_session(session: Session) -> Session:
    """A per-browser copy of the preloaded demo session (the Sample and Report are shared read-only)."""
    return Session(sample=session.sample, report=session.report, params=dict(session.params),
                   weights=dict(session.weights), family_scale=dict(session.family_scale), device=session.device,
                   inspect=session.inspect, models=session.models, original=session.original, notes=session.notes)


def session_of_spec(spec: SampleSpec, checkpoint: str, old: Session | None, device: str, weight_values: Sequence[float],
                    models: ModelChoice, progress=None, warn: Callable[[str], Any] | None = None) -> Session:
    """A dataset's or a run's sample (``spec``) diagnosed as a new session inspecting
    ``checkpoint``, with ``old``'s params, files and models (``models`` when it has none) and the
    sliders' ``weight_values``."""
    if progress is not None:
        progress(0, desc=f"diagnosing {spec.name}")
    models = old.models if old is not None and old.models else models
    new = new_session(load_spec(spec), old.params if old else None, {}, device, progress, models, warn=warn)
    set_weight_values(new, weight_values)
    follow_kind(new)
    new.inspect = checkpoint
    if old is not None:
        new.files = old.files
    return new


def follow_kind(session: Session) -> None:
    """A new sample's weights follow its kind: a preset becomes the kind's preset (custom weights
    are kept; the notices say which preset is in force)."""
    current = preset_matching(session.effective_weights())
    wanted = preset_for(session.report.kind)
    if current != "custom" and current != wanted:
        session.weights, session.family_scale = preset(wanted), {f: 1.0 for f in FAMILIES}
        session.report.notices.append(f"weights: the '{wanted}' preset, for a {session.report.kind} sample")


def set_weight_values(session: Session, values: Sequence[float]) -> None:
    """The sliders' values (``WEIGHT_TERMS`` order, then the family masters) onto the session."""
    n = len(WEIGHT_TERMS)
    session.weights = {t: float(v) for t, v in zip(WEIGHT_TERMS, values[:n])}
    session.family_scale = {f: float(v) for f, v in zip(FAMILIES, values[n:])}


def set_weight(session: Session, slot: int, value) -> None:
    """One control's value: slot ``i < len(WEIGHT_TERMS)`` a term's slider, else a family master. New
    dicts, not in-place edits: a cloned demo session shares nothing with the template."""
    n = len(WEIGHT_TERMS)
    if value is None:
        return
    if slot < n:
        session.weights = {**session.weights, WEIGHT_TERMS[slot]: float(value)}
    else:
        session.family_scale = {**session.family_scale, list(FAMILIES)[slot - n]: float(value)}


def weights_from_values(values: Sequence[float]) -> dict[str, float]:
    """The effective weights (slider × master) of the controls' values."""
    n = len(WEIGHT_TERMS)
    scale = dict(zip(FAMILIES, values[n:]))
    return {t: float(v) * float(scale.get(REGISTRY[t].family, 1.0)) for t, v in zip(WEIGHT_TERMS, values[:n])}


def input_files(session: Session) -> dict[str, object]:
    """The session's inputs as files for the input boxes (a restored link or the demo shows what it
    diagnoses there, and Diagnose re-runs it): :func:`geoviz.data.writers.write_sample`'s paths of the
    sample as given (estimated depths left out), plus ``named_target``, the target under the sample's
    name (Diagnose names a sample after its target file). Written once per sample, in a temporary
    folder of its own (the demo's sample is shared by every browser)."""
    sample = session.original or session.sample
    files = sample.memo.get("input_files")
    if files is None or not Path(files["named_target"]).is_file():  # the temp sweep may have removed them
        folder = new_temp_dir("inputs-")
        files = write_sample(sample, folder / "sample")
        files["named_target"] = write_image(folder / f"{safe_name(sample.name)}.png", sample.target)
        sample.memo["input_files"] = files
    return files
