"""``python -m geoviz`` — serve the dashboard, evaluate datasets × checkpoints, render bundles,
calibrate k_obj.

    python -m geoviz serve [--host 127.0.0.1] [--port 7860] [--device auto] [--sessions-dir DIR] [--data-root DIR]
    python -m geoviz evaluate DATASET [--preds PREDS_DIR] [--weights weights.json] [--device auto]
                                      --out results.csv [--html report.html] [--bundle-dir DIR] [--workers 2]
    python -m geoviz report BUNDLE [--html out.html]
    python -m geoviz calibrate DATASET [--depth-kind metric|inverse] [--stat median|mean]

Dataset layout: ``DATASET/<sample>/{context,target,mask}.png`` with optional ``target_depth.npy``,
``camera.json`` and latents (``context_latents.*``, ``target_latents.*``); predictions
``PREDS_DIR/<checkpoint>/<sample>.png`` with optional ``PREDS_DIR/<checkpoint>/pred_depth/<sample>.npy``
(``PREDS_DIR`` defaults to ``DATASET/preds``). Under ``torchrun --nproc_per_node N`` the samples are
sharded over the processes (gloo on CPU, NCCL on GPUs) and rank 0 merges the CSV.
"""

from __future__ import annotations

import argparse
import csv
import html
import logging
import math
import os
import re
import sys
import time
import warnings
from pathlib import Path

from geoviz.data import layouts
from geoviz.data.calibration import calibrate_folder
from geoviz.data.readers import InputError
from geoviz.data.tempfiles import temp_root
from geoviz.engine.combine import combine
from geoviz.engine.evaluate import evaluate, resolve_kind
from geoviz.engine.terms import REGISTRY
from geoviz.engine.weights import WeightsConfig, preset, preset_for
from geoviz.models.choice import ModelChoice
from geoviz.report.bundles import export_bundle, import_bundle, report_html
from geoviz.report.figures import step_of
from geoviz.report.tensorboard import log_report
from geoviz.version import __version__

__all__ = ["main", "evaluate_dataset"]

log = logging.getLogger("geoviz.cli")

# Moved to geoviz.data.layouts in 0.2 (the dataset layout is data, not a face); the old names warn once.
_MOVED = {"list_dataset", "load_spec", "SampleSpec"}
_warned: set[str] = set()


def __getattr__(name: str):
    if name in _MOVED:
        if name not in _warned:
            _warned.add(name)
            warnings.warn(f"geoviz.cli.{name} moved to geoviz.data.layouts.{name}; the old name goes in 0.3",
                          DeprecationWarning, stacklevel=2)
        return getattr(layouts, name)
    raise AttributeError(f"module 'geoviz.cli' has no attribute {name!r}")


# ---- datasets -------------------------------------------------------------------------------------


class _SampleLoader:
    """A torch Dataset over SampleSpecs: loading (decoding, resizing) runs in DataLoader workers, so
    it overlaps with the main process's evaluation. A failure travels as its message."""

    def __init__(self, specs: list[layouts.SampleSpec], depth_kind: str | None):
        self.specs, self.depth_kind = specs, depth_kind

    def __len__(self):
        return len(self.specs)

    def __getitem__(self, i):
        spec = self.specs[i]
        try:
            return i, layouts.load_spec(spec, self.depth_kind), None
        except Exception as e:  # reported per sample; the run goes on
            return i, None, f"{type(e).__name__}: {e}"


def _identity(x):
    return x


# ---- evaluate ---------------------------------------------------------------------------------------


# the CSV's columns before the terms: what the user comes for (the scale) next to which weights made the total
LEAD_COLUMNS = ["sample", "checkpoint", "kind", "estimated_scale", "scale_method", "weights"]
# raw values kept beside a term's shown value (the boundary term is shown as its excess over a perfect prediction)
RAW_COLUMNS = {"latent_boundary": "latent_boundary_raw"}


def _columns(terms: list[str]) -> list[str]:
    raw = [RAW_COLUMNS[t] for t in terms if t in RAW_COLUMNS]
    return [*LEAD_COLUMNS, *terms, *raw, *[f"{t}_weighted" for t in terms], "total", "error"]


def _row(spec_name: str, ck: str, report, combined, terms: list[str], weights_label: str) -> list[str]:
    sc = report.scales.get(ck)
    raw = [_fmt(report.results[ck][t].extras.get("raw_value")) for t in terms if t in RAW_COLUMNS]
    return [spec_name, ck, report.kind, "" if sc is None or sc.estimate is None else repr(float(sc.estimate)),
            "" if sc is None else sc.csv_method, weights_label,
            *[_fmt(report.results[ck][t].value) for t in terms], *raw,
            *[_fmt(combined.weighted[ck][t]) for t in terms], _fmt(combined.totals[ck]), ""]


def _fmt(v) -> str:
    return "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else repr(float(v))


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:120] or "sample"


def evaluate_dataset(
    specs: list[layouts.SampleSpec],
    out_csv: Path,
    weights: dict[str, float] | None,
    params: dict | None = None,
    device: str = "auto",
    workers: int = 2,
    bundle_dir: Path | None = None,
    depth_kind: str | None = None,
    progress: bool = True,
    encoder=None,
    depth_estimator=None,
    depth_source: str = "uploaded",
    align_depth: bool = True,
    kind: str | None = None,
    tensorboard=None,
) -> int:
    """Evaluate every sample × checkpoint, streaming rows to ``out_csv``. Returns the number of
    failed samples (and checkpoints whose image could not be read: the others of their sample are
    evaluated, the row says why). Memory does not grow with the dataset (no cache; one sample in flight per
    worker). ``weights`` None: each sample's total uses the preset of its kind (as the dashboard
    does); ``kind`` None or ``"auto"`` detects each sample's kind from its mask. ``tensorboard``: a
    ``SummaryWriter`` that also receives each sample's report (:func:`log_report`: each checkpoint at
    the step its name ends in)."""
    from torch.utils.data import DataLoader


    terms = list(REGISTRY)
    loader = DataLoader(_SampleLoader(specs, depth_kind), batch_size=None, shuffle=False,
                        num_workers=max(0, workers), collate_fn=_identity, persistent_workers=False,
                        prefetch_factor=2 if workers > 0 else None)
    bar = None
    if progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=len(specs), unit="sample", file=sys.stderr, desc="evaluating")
        except ImportError:  # pragma: no cover - tqdm comes with huggingface_hub
            bar = None
    failed = 0
    skipped_checkpoints = 0
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with open(out_csv, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(_columns(terms))
        for i, sample, error in loader:
            spec = specs[i]
            if sample is not None:
                try:
                    report = evaluate(sample, params, device=device, cache=None, encoder=encoder, kind=kind,
                                      depth_estimator=depth_estimator, depth_source=depth_source,
                                      align_depth=align_depth)
                    used, label = (weights, "weights file") if weights is not None else (
                        preset(preset_for(report.kind)), preset_for(report.kind))
                    c = combine(report, used)
                    for ck in report.predictions:
                        writer.writerow(_row(spec.name, ck, report, c, terms, label))
                    if tensorboard is not None:
                        log_report(tensorboard, report, weights=used, sample=sample)
                    for ck in spec.predictions:  # a checkpoint whose image could not be read: its row says why
                        if ck not in report.predictions:
                            why = next((n for n in sample.notices if n.startswith(f"prediction {ck}:")),
                                       f"prediction {ck}: could not be read")
                            log.warning("sample %s, checkpoint %s skipped: %s", spec.name, ck, why)
                            writer.writerow([spec.name, ck] + [""] * (len(_columns(terms)) - 3) + [why])
                            skipped_checkpoints += 1
                    if bundle_dir is not None:
                        bundle_dir.mkdir(parents=True, exist_ok=True)
                        (bundle_dir / f"{_safe_name(spec.name)}.geoviz.zip").write_bytes(
                            export_bundle(sample, report.values, params=report.params, weights=used,
                                          device=report.device, scales=report.scales, kind=report.kind))
                except Exception as e:  # the run goes on; the row says why
                    error = f"{type(e).__name__}: {e}"
            if error is not None:
                failed += 1
                log.warning("sample %s failed: %s", spec.name, error)
                for ck in (spec.predictions or {"": None}):
                    row = [spec.name, ck] + [""] * (len(_columns(terms)) - 3) + [error]
                    writer.writerow(row)
            fh.flush()
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return failed + skipped_checkpoints


def read_results(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def summary_html(rows: list[dict], weights: dict[str, float] | None, title: str) -> str:
    """Per checkpoint: mean / median total, the median estimated scale, worst samples, per-term
    distributions (plotly embedded). ``weights`` None: each sample's kind's preset (the terms shown
    are those with a weighted value somewhere)."""
    import json
    import statistics

    from plotly.offline import get_plotlyjs

    esc = html.escape

    ok = [r for r in rows if not r["error"]]
    bad = [r for r in rows if r["error"]]
    cks = sorted({r["checkpoint"] for r in ok}, key=lambda c: (step_of(c), c))
    stats_rows, worst_html, figs = [], [], {}
    box = []
    for ck in cks:
        tot = [float(r["total"]) for r in ok if r["checkpoint"] == ck]
        sc = [float(r["estimated_scale"]) for r in ok if r["checkpoint"] == ck and r.get("estimated_scale")]
        declined = sum(1 for r in ok if r["checkpoint"] == ck and not r.get("estimated_scale"))
        scale = (f"{statistics.median(sc):.3f}" if sc else "—") + (f" ({declined} declined)" if declined else "")
        stats_rows.append(f"<tr><td>{esc(ck)}</td><td>{len(tot)}</td><td>{statistics.fmean(tot):.6g}</td>"
                          f"<td>{statistics.median(tot):.6g}</td><td>{max(tot):.6g}</td><td>{scale}</td></tr>")
        worst = sorted((r for r in ok if r["checkpoint"] == ck), key=lambda r: -float(r["total"]))[:5]
        worst_html.append(f"<li><b>{esc(ck)}</b>: " + ", ".join(f"{esc(r['sample'])} ({float(r['total']):.4g})" for r in worst) + "</li>")
        box.append({"type": "box", "name": ck, "y": tot, "boxpoints": "all", "jitter": 0.3})
    figs["totals"] = {"data": box, "layout": {"title": {"text": "total per checkpoint"}, "template": "plotly_white"}}
    for t in REGISTRY:
        if weights is not None and not weights.get(t):
            continue
        if weights is None and not any(r[f"{t}_weighted"] and float(r[f"{t}_weighted"]) != 0.0 for r in ok):
            continue
        traces = []
        for ck in cks:
            ys = [float(r[f"{t}_weighted"]) for r in ok if r["checkpoint"] == ck and r[f"{t}_weighted"]]
            if ys:
                traces.append({"type": "box", "name": ck, "y": ys})
        if traces:
            w_text = f"w = {weights[t]:g}" if weights is not None else "each sample's preset"
            figs[f"term_{t}"] = {"data": traces, "layout": {"title": {"text": f"{REGISTRY[t].label} (weighted, {w_text})"},
                                                            "template": "plotly_white", "showlegend": False, "height": 320}}
    divs = "".join(f'<div id="{k}" style="height:{360 if k == "totals" else 320}px"></div>' for k in figs)
    failures = "".join(f"<li>{esc(r['sample'])} · {esc(r['checkpoint'])}: {esc(r['error'])}</li>" for r in bad)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:24px}} td,th{{border:1px solid #ddd;padding:3px 8px}}
table{{border-collapse:collapse}}</style><script>{get_plotlyjs()}</script></head><body>
<h1>{esc(title)}</h1><p>geoviz {__version__} · {len({r['sample'] for r in rows})} samples × {len(cks)} checkpoints ·
{len(bad)} failed rows</p>
<table><tr><th>checkpoint</th><th>samples</th><th>mean total</th><th>median total</th><th>worst total</th><th>median estimated scale</th></tr>
{''.join(stats_rows)}</table><h2>Worst samples</h2><ul>{''.join(worst_html)}</ul>
{f'<h2>Failures</h2><ul>{failures}</ul>' if failures else ''}<h2>Distributions</h2>{divs}
<script>const FIGS = {json.dumps(figs, allow_nan=False)};
for (const [id, f] of Object.entries(FIGS)) Plotly.newPlot(id, f.data, f.layout, {{displaylogo: false}});</script>
</body></html>"""


def _distributed():
    """(rank, world) under torchrun, initialising the process group; (0, 1) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size()


def cmd_evaluate(args) -> int:
    import torch


    rank, world = _distributed()
    device = args.device
    if world > 1 and torch.cuda.is_available() and device in ("auto", "cuda"):
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if args.weights:
        cfg = WeightsConfig.load(args.weights)
        weights, params = cfg.weights, cfg.params
    else:
        weights, params = None, {}  # each sample's kind's preset, as the dashboard
    specs, checkpoints = layouts.list_dataset(args.dataset, args.preds)
    mine = specs[rank::world]
    out = Path(args.out)
    part = out if world == 1 else out.with_name(f"{out.name}.rank{rank}")
    t0 = time.perf_counter()
    encoder, estimator = _models_for(args, device)
    board = _summary_writer(args.tensorboard)
    failed = evaluate_dataset(mine, part, weights, params, device=device, workers=args.workers,
                              bundle_dir=Path(args.bundle_dir) if args.bundle_dir else None,
                              depth_kind=args.depth_kind, progress=rank == 0 and not args.quiet, encoder=encoder,
                              depth_estimator=estimator, depth_source=args.depth_source, align_depth=not args.no_align,
                              kind=args.kind, tensorboard=board)
    if board is not None:
        board.close()
    elapsed = time.perf_counter() - t0
    if world > 1:
        import torch.distributed as dist

        # NCCL reduces CUDA tensors only; gloo CPU ones
        counts = torch.tensor([failed, len(mine)], dtype=torch.int64,
                              device=f"cuda:{torch.cuda.current_device()}" if dist.get_backend() == "nccl" else "cpu")
        dist.all_reduce(counts)
        failed = int(counts[0])
        dist.barrier()
        if rank == 0:
            _merge_parts(out, [out.with_name(f"{out.name}.rank{r}") for r in range(world)], specs)
        dist.barrier()
        dist.destroy_process_group()
    if rank == 0:
        rows = read_results(out)
        if args.html:
            Path(args.html).write_text(summary_html(rows, weights, f"geoviz · {Path(args.dataset).name}"), encoding="utf-8")
        pairs = sum(1 for r in rows if not r["error"])
        print(f"{len(specs)} samples × {len(checkpoints)} checkpoints → {out} ({pairs} rows evaluated, "
              f"{failed} failed samples) in {elapsed:.1f} s on rank 0 ({world} process{'es' if world > 1 else ''}); "
              f"{pairs / max(elapsed, 1e-9):.2f} samples×checkpoints/s{_cuda_peak()}", file=sys.stderr)
    return 1 if failed else 0


def _cuda_peak() -> str:
    """``"; peak CUDA memory 1.2 GiB"`` when this process used CUDA, else empty."""
    import torch

    if not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return ""
    return f"; peak CUDA memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"


def _summary_writer(folder: str | None):
    """A SummaryWriter into ``folder`` (None: none); a clear error when tensorboard is not installed."""
    if not folder:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:  # torch's writer needs the tensorboard package
        raise InputError("--tensorboard", "needs the tensorboard package", "pip install 'geoviz[tensorboard]'") from e
    return SummaryWriter(folder)


def _merge_parts(out: Path, parts: list[Path], specs: list[layouts.SampleSpec]) -> None:
    """Rank 0: the parts' rows in the dataset's order (as a single process writes them)."""
    order = {s.name: i for i, s in enumerate(specs)}
    header, rows = None, []
    for p in parts:
        with open(p, newline="") as fh:
            r = csv.reader(fh)
            h = next(r)
            header = header or h
            rows.extend(r)
        p.unlink()
    rows.sort(key=lambda row: order.get(row[0], len(order)))  # stable: checkpoints keep their order
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def cmd_report(args) -> int:
    b = import_bundle(args.bundle)
    print(f"{Path(args.bundle).name}: sample {b.sample.name}, {len(b.sample.predictions)} predictions, "
          f"geoviz {b.manifest.get('app_version')} on {b.manifest.get('device')}, {b.manifest.get('created')}")
    names = list(b.sample.predictions)
    width = max(len(REGISTRY[t].label) for t in REGISTRY)
    print(f"{'term':{width}s}  " + "  ".join(f"{n:>14s}" for n in names))
    scales = [b.scales.get(n) for n in names]
    print(f"{'estimated scale':{width}s}  " + "  ".join(
        f"{'—' if r is None else ('declined' if r.estimate is None else format(r.estimate, '.3f')):>14s}" for r in scales))
    for t in REGISTRY:
        vals = [b.values.get(n, {}).get(t) for n in names]
        print(f"{REGISTRY[t].label:{width}s}  " + "  ".join(f"{'skipped' if v is None else format(v, '.6g'):>14s}" for v in vals))
    weights = b.weights or preset(preset_for(resolve_kind(b.sample)[0]))
    totals = {n: sum(weights.get(t, 0.0) * v for t, v in b.values.get(n, {}).items() if v is not None) for n in names}
    print(f"{'TOTAL':{width}s}  " + "  ".join(f"{totals[n]:>14.6g}" for n in names))
    for n, r in zip(names, scales):
        if r is not None and r.estimate is None:
            print(f"{n}: scale declined — {r.reason}")
    if args.html:
        report = evaluate(b.sample, b.params, device="cpu", cache=None)
        if b.values and report.values != b.values:
            print("note: recomputed values differ from the bundle's (another geoviz version or device); "
                  "the HTML shows the recomputed ones", file=sys.stderr)
        Path(args.html).write_text(report_html(b.sample, report, weights, b.notes), encoding="utf-8")
        print(f"wrote {args.html}")
    return 0


def cmd_calibrate(args) -> int:
    cal = calibrate_folder(args.dataset, depth_kind=args.depth_kind, depth_stat=args.stat)  # raises when no sample gives a k
    ks = [k for k in cal.per_sample.values() if math.isfinite(k)]
    print(f"k_obj = {cal.k_obj:.6g}  ({cal.depth_kind} depth, {args.stat} statistic, {len(ks)} of "
          f"{len(cal.per_sample)} samples usable; per-sample k from {min(ks):.6g} to {max(ks):.6g}, "
          f"within {100 * cal.spread:.2f}% of the median)")
    for name, k in cal.per_sample.items():
        print(f"  {name}: {'unusable' if not math.isfinite(k) else format(k, '.6g')}")
    return 0


def read_auth(pairs: list[str] | None, auth_file: str | None) -> list[tuple[str, str]]:
    """``--auth user:password`` (repeatable) and ``--auth-file`` (one ``user:password`` a line; ``#``
    comments) → (user, password) pairs. A malformed entry is an error, never a silent open door."""

    entries = [("--auth", p) for p in pairs or []]
    if auth_file:
        path = Path(auth_file)
        if not path.is_file():
            raise InputError(auth_file, "no such auth file", "give a file of user:password lines")
        entries += [(f"{path.name} line {i}", line.strip()) for i, line in enumerate(path.read_text().splitlines(), 1)
                    if line.strip() and not line.lstrip().startswith("#")]
    out = []
    for where, entry in entries:
        user, sep, password = entry.partition(":")
        if not sep or not user.strip() or not password:
            raise InputError(where, "is not user:password", "write e.g. alice:a-long-password")
        out.append((user.strip(), password))
    if auth_file and not out:
        raise InputError(auth_file, "holds no user:password line", "add one, or leave --auth-file out")
    return out


def cmd_serve(args) -> int:
    auth = read_auth(args.auth, args.auth_file)
    # Gradio's uploads in the server user's private temp folder (set before gradio is imported)
    os.environ.setdefault("GRADIO_TEMP_DIR", str(temp_root() / "uploads"))
    from geoviz.app.serve import launch

    launch(host=args.host, port=args.port, device=args.device, sessions_dir=args.sessions_dir, data_root=args.data_root,
           depth_weights=args.depth_weights, taef1_weights=args.taef1_weights, auth=auth,
           max_upload_mb=args.max_upload_mb, concurrency=args.concurrency, run_dir=args.run)
    return 0


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--depth-weights", default=None,
                   help="depth_anything_v2_vits.pth (default: $GEOVIZ_DEPTH_WEIGHTS, else the Hub when online)")
    p.add_argument("--taef1-weights", default=None,
                   help="taef1_encoder.pth or the diffusers .safetensors (default: $GEOVIZ_TAEF1_ENCODER, else the Hub)")


def _models_for(args, device: str):
    """(encoder, depth estimator) the evaluate options ask for; a missing model is an error saying
    how to get it (the CLI is explicit: it does not fall back silently)."""
    kw, _ = ModelChoice(latents=args.encoder, depth_source=args.depth_source, depth_weights=args.depth_weights,
                        taef1_weights=args.taef1_weights).resolve(device, strict=True)
    return kw["encoder"], kw.get("depth_estimator")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="geoviz", description="Geometry-loss diagnostics for insertion and material LoRAs.")
    ap.add_argument("--version", action="version", version=f"geoviz {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the dashboard")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: this machine only; 0.0.0.0 warns unless --auth is given)")
    s.add_argument("--auth", action="append", metavar="USER:PASSWORD", help="require a login (repeatable)")
    s.add_argument("--auth-file", default=None, help="a file of user:password lines (# comments)")
    s.add_argument("--max-upload-mb", type=float, default=200.0, help="largest file a browser may upload")
    s.add_argument("--concurrency", type=int, default=4,
                   help="diagnoses computed at once; more requests wait in the queue (memory stays bounded)")
    s.add_argument("--port", type=int, default=7860)
    s.add_argument("--device", default="auto")
    s.add_argument("--sessions-dir", default=None, help="where saved sessions (links) live (default: under ~/.cache/geoviz)")
    s.add_argument("--data-root", default=None, help="datasets (and runs) the dashboard may open (same layout as evaluate)")
    s.add_argument("--run", default=None, metavar="RUN_DIR",
                   help="follow a training run a geoviz.RunRecorder writes: its tab opens first, new steps appear live")
    _model_options(s)
    s.set_defaults(func=cmd_serve)
    e = sub.add_parser("evaluate", help="every term on every sample × checkpoint, to CSV (and HTML)")
    e.add_argument("dataset")
    e.add_argument("--preds", default=None, help="PREDS_DIR/<checkpoint>/<sample>.png (default: DATASET/preds)")
    e.add_argument("--weights", default=None,
                   help="weights.json exported by the dashboard (its weights and params). Default: each sample's "
                        "kind's preset — 'object insertion' (002 latent + 001 scale + 000 depth starters) or "
                        "'material replacement' (003 texture starters) — and the leak-free change mask "
                        "(temperature 0.25, s_min 0.05, reference target), the dashboard's defaults")
    e.add_argument("--kind", choices=["auto", "insertion", "material"], default="auto",
                   help="what the samples are: auto detects each from its mask (a surface touching two borders "
                        "or over 30%% of the image is a material); decides the preset and how the scale is read")
    e.add_argument("--device", default="auto")
    e.add_argument("--out", required=True, help="results.csv")
    e.add_argument("--html", default=None, help="a summary report per checkpoint")
    e.add_argument("--bundle-dir", default=None, help="also write one .geoviz.zip per sample")
    e.add_argument("--tensorboard", default=None, metavar="DIR",
                   help="also log every term, total, scale and map into TensorBoard event files in DIR "
                        "(each checkpoint at the step its name ends in, e.g. step_000500 → 500)")
    e.add_argument("--workers", type=int, default=2, help="DataLoader workers that load samples (0: in-process)")
    e.add_argument("--depth-kind", choices=["metric", "inverse"], default=None, help="default: from file names")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.add_argument("--depth-source", choices=["uploaded", "estimate missing", "estimate all"], default="uploaded",
                   help="prediction depth: the files, or Depth Anything V2 Small (needs --depth-weights or the Hub)")
    e.add_argument("--no-align", action="store_true", help="do not align estimated depth onto the target")
    e.add_argument("--encoder", choices=["proxy", "taef1"], default="proxy", help="latents when none are uploaded")
    _model_options(e)
    e.set_defaults(func=cmd_evaluate)
    r = sub.add_parser("report", help="print a bundle's values; --html writes its report")
    r.add_argument("bundle")
    r.add_argument("--html", default=None)
    r.set_defaults(func=cmd_report)
    c = sub.add_parser("calibrate", help="k_obj from a folder of samples (mask + depth + camera.json)")
    c.add_argument("dataset")
    c.add_argument("--depth-kind", choices=["metric", "inverse"], default=None, help="default: from file names")
    c.add_argument("--stat", choices=["median", "mean"], default="median")
    c.set_defaults(func=cmd_calibrate)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run one ``geoviz`` command (``serve``, ``evaluate``, ``report``, ``calibrate``) from ``argv``
    (default: ``sys.argv[1:]``) and return the exit status: 0 on success, 1 when ``evaluate`` had
    failed samples, 2 on an :class:`~geoviz.data.readers.InputError` (printed as ``error: …`` on stderr).
    Usage errors exit through argparse (``SystemExit(2)``); other exceptions propagate."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    args = build_parser().parse_args(argv)

    try:
        return int(args.func(args) or 0)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
