"""A dataset's values, sample × checkpoint: from the CLI's results.csv when present, else evaluated
once and kept while its files do not change; each row's total at the caller's weights."""

from __future__ import annotations

import csv
from pathlib import Path

from geoviz.data.layouts import list_dataset, load_spec
from geoviz.data.memo import SharedMemo
from geoviz.data.readers import InputError
from geoviz.engine.evaluate import evaluate
from geoviz.engine.terms import REGISTRY

__all__ = ["dataset_rows"]

_CACHE = SharedMemo(maxsize=1)  # the last dataset evaluated, by folder and mtime


def _rows_from_csv(csv_path: Path) -> tuple[list[dict], str, list[str]]:
    with open(csv_path, newline="") as fh:
        every = list(csv.DictReader(fh))
    raw, bad = [r for r in every if not r.get("error")], [r for r in every if r.get("error")]
    base = [{"sample": r["sample"], "checkpoint": r["checkpoint"], "kind": r.get("kind") or "",
             "estimated scale": float(r["estimated_scale"]) if r.get("estimated_scale") else None,
             "scale method": r.get("scale_method") or "",
             **{t: (float(r[t]) if r.get(t) else None) for t in REGISTRY}} for r in raw]
    return base, "from results.csv", [f"{r['sample']} · {r['checkpoint']}: {r['error']}" for r in bad]


def _rows_evaluated(folder: Path, root: Path | None, progress) -> tuple[list[dict], str, list[str]]:
    left_out: list[str] = []
    specs, _ = list_dataset(folder, confine_to=root, left_out=left_out)
    stamp = max((p.stat().st_mtime for p in folder.rglob("*") if p.is_file()), default=0.0)
    key = (str(folder), stamp)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    rows = []
    for i, spec in enumerate(specs):
        if progress is not None:
            progress((i, len(specs)), desc=f"evaluating {spec.name}")
        try:
            sample = load_spec(spec)
            report = evaluate(sample, None, device="auto", cache=None)
        except InputError as e:
            left_out.append(f"{spec.name}: {e}")
            continue
        left_out += [f"{spec.name} · {n}" for n in sample.notices if "left out" in n]
        for ck in report.predictions:
            sc = report.scales[ck]
            rows.append({"sample": spec.name, "checkpoint": ck, "kind": report.kind, "estimated scale": sc.estimate,
                         "scale method": sc.csv_method, **report.values[ck]})
    cached = (rows, "computed on open", list(left_out))
    _CACHE[key] = cached  # the previous dataset leaves (maxsize 1)
    return cached


def dataset_rows(folder: Path, weights: dict[str, float], progress=None,
                 root: Path | None = None) -> tuple[list[dict], str, list[str]]:
    """``(rows, source, left_out)``: raw values, kind and estimated scale for every sample ×
    checkpoint, each row with its ``total`` at ``weights``; ``left_out`` lists the samples (or
    checkpoints) not in the rows, with the reason. ``root``: no file resolving outside it is read.
    The cached rows are never written to: every call returns fresh dicts, so two sessions with
    different weights never see each other's totals."""
    csv_path = folder / "results.csv"
    if csv_path.is_file() and (root is None or csv_path.resolve().is_relative_to(root)):
        base, source, left_out = _rows_from_csv(csv_path)
    else:
        base, source, left_out = _rows_evaluated(folder, root, progress)
    rows = [dict(r, total=sum(weights.get(t, 0.0) * r[t] for t in REGISTRY if r.get(t) is not None)) for r in base]
    return rows, source, list(left_out)
