"""Many users at once: N concurrent gradio_client sessions on one dashboard server, each uploading its
own synthetic sample and making R requests (a diagnosis, weight changes, a parameter change).

Every response is checked against this process's own ``geoviz.evaluate`` / ``combine`` of that
session's sample (computed without the shared cache), so a response carrying another session's
numbers — or a wrong one — is an error. Prints p50/p95 latency per request kind, throughput, the
most handlers that ran at once (the queue's concurrency limit bounds it) and the server's RSS.

    .venv/bin/python bench/load.py                     # 16 sessions × 20 requests, 128 px samples
    .venv/bin/python bench/load.py --sessions 32 --concurrency 2 --size 256
    .venv/bin/python bench/load.py --url http://host:7860/   # an already running server (no peak/RSS)

``tests/e2e/test_load.py`` runs a shortened version of the same code.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHECKPOINTS = {"ck_small": 0.85, "ck_large": 1.15}


@dataclass
class SessionFiles:
    name: str
    context: Path
    target: Path
    mask: Path
    predictions: list[Path]
    target_depth: Path
    camera: Path


@dataclass
class LoadResult:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    requests: int = 0

    def add(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)


def make_samples(folder: Path, n: int, size: int) -> list[SessionFiles]:
    """n different synthetic samples (box position, size, materials vary), predictions named by
    checkpoint as the dashboard expects."""
    from geoviz.data.synth import write_dataset

    write_dataset(folder, n_samples=n, size=size, checkpoints=CHECKPOINTS, seed=7)
    out = []
    for i in range(n):
        name = f"sample_{i:03d}"
        s = folder / name
        preds = []
        for ck in CHECKPOINTS:
            p = folder / "uploads" / name / f"{ck}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(folder / "preds" / ck / f"{name}.png", p)
            preds.append(p)
        out.append(SessionFiles(name, s / "context.png", s / "target.png", s / "mask.png", preds,
                                s / "target_depth.npy", s / "camera.json"))
    return out


def local_report(files: SessionFiles, params: dict | None = None):
    from geoviz.data.sample import build_sample
    from geoviz.engine.evaluate import evaluate

    sample = build_sample(context=files.context, target=files.target, mask=files.mask,
                          predictions={p.stem: p for p in files.predictions}, target_depth=files.target_depth,
                          camera=files.camera)
    return evaluate(sample, params, device=DEVICE, cache=None)


DEVICE = "cpu"  # the server's and the reference reports' device (--device)


def start_server(concurrency: int = 4, device: str | None = None):
    """An in-process dashboard server (as ``geoviz serve`` builds it) on a free port → (url, demo)."""
    device = device or DEVICE
    import socket

    os.environ.setdefault("GRADIO_TEMP_DIR", tempfile.mkdtemp(prefix="geoviz-load-gradio-"))
    from geoviz.app.layout import build_demo
    from geoviz.app.serve import launch_options
    from geoviz.app.sessions import demo_session

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = build_demo(device, preload=demo_session(device), sessions_dir=tempfile.mkdtemp(prefix="geoviz-load-s-"))
    demo.queue(default_concurrency_limit=concurrency).launch(server_name="127.0.0.1", server_port=port,
                                                             prevent_thread_lock=True, quiet=True, **launch_options())
    return f"http://127.0.0.1:{port}/", demo


class Endpoints:
    """Positional arguments of the endpoints this load uses, from the server's own API description."""

    def __init__(self, client):
        from geoviz.app.labels import WEIGHT_TERMS
        from geoviz.engine.terms import FAMILIES

        api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
        self.params = {name: api[name]["parameters"] for name in ("/diagnose", "/weights", "/recompute")}
        self.n_weights = len(WEIGHT_TERMS) + len(FAMILIES)

    def defaults(self, name: str) -> list:
        return [p.get("parameter_default") for p in self.params[name]]

    def index(self, name: str, parameter: str) -> int:
        return next(i for i, p in enumerate(self.params[name]) if p["parameter_name"] == parameter)

    def labelled(self, name: str, prefix: str) -> int:
        """The position of the parameter whose label starts with ``prefix`` (e.g. ``"temperature"``)."""
        return next(i for i, p in enumerate(self.params[name]) if (p.get("label") or "").startswith(prefix))

    def diagnose_args(self, files: SessionFiles) -> list:
        """``/diagnose``'s arguments uploading ``files`` (everything else at its default)."""
        from gradio_client import handle_file

        args = self.defaults("/diagnose")
        for key, value in dict(ctx=files.context, tgt=files.target, m_file=files.mask, t_depth=files.target_depth,
                               cam=files.camera).items():
            args[self.index("/diagnose", key)] = handle_file(str(value))
        args[self.index("/diagnose", "pr")] = [handle_file(str(p)) for p in files.predictions]
        return args

    def weights_at(self, name: str) -> int:
        """Where the weight sliders start: the first slider's label (they follow the view / model
        controls, and the params follow the family masters)."""
        from geoviz.app.labels import TERM_LABELS, WEIGHT_TERMS

        first = TERM_LABELS[WEIGHT_TERMS[0]]
        return next(i for i, p in enumerate(self.params[name]) if p.get("label") == first)


def random_weights(rng: random.Random) -> list[float]:
    """Sliders (some zero) and family masters, as the dashboard sends them."""
    from geoviz.app.labels import WEIGHT_TERMS
    from geoviz.engine.terms import FAMILIES, REGISTRY

    # each slider's range is [0, max(1, 3 × the term's default weight)]
    sliders = [0.0 if rng.random() < 0.25 else round(rng.uniform(0.0, max(1.0, 3 * REGISTRY[t].default_weight)), 3)
               for t in WEIGHT_TERMS]
    masters = [round(rng.choice([1.0, 1.0, 0.5, 2.0]), 3) for _ in FAMILIES]
    return sliders + masters


def effective_weights(values: list[float]) -> dict[str, float]:
    """slider × its family's master — what the dashboard's total uses (computed here, independently)."""
    from geoviz.app.labels import WEIGHT_TERMS
    from geoviz.engine.terms import FAMILIES, REGISTRY

    n = len(WEIGHT_TERMS)
    master = dict(zip(FAMILIES, values[n:]))
    return {t: values[i] * master[REGISTRY[t].family] for i, t in enumerate(WEIGHT_TERMS)}


def _close(a: float | None, b: float | None, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= rel * max(abs(a), abs(b)) + 1e-12


def _check_values(got: dict, want: dict, what: str) -> list[str]:
    bad = []
    for pred, values in want.items():
        for term, v in values.items():
            g = got.get(pred, {}).get(term)
            if not _close(g, v):
                bad.append(f"{what}: {pred}/{term} = {g}, its own sample gives {v}")
    return bad


def _check_totals(got: dict, want: dict, what: str) -> list[str]:
    return [f"{what}: total of {p} = {got.get(p)}, combine gives {v}" for p, v in want.items() if not _close(got.get(p), v)]


@dataclass
class User:
    """One session's client, its sample and the numbers its responses must carry."""

    files: SessionFiles
    client: object
    endpoints: Endpoints
    report: object


def connect(url: str, files: SessionFiles, download_files: bool = True) -> User:
    """A gradio_client session for ``files`` (``download_files=False``: file outputs stay on the server,
    which spares the client ~0.3 s per request of HTTP downloads; the server's work is the same)."""
    from gradio_client import Client

    client = Client(url, verbose=False, **({} if download_files else {"download_files": False}))
    return User(files, client, Endpoints(client), local_report(files))


def run_session(user: User, n_requests: int, seed: int, result: LoadResult, lock: threading.Lock,
                start: threading.Barrier) -> None:
    """One user: diagnose, n−3 weight changes, a parameter change, a weight change on the new values."""
    from geoviz.app.uploads import params_from_controls
    from geoviz.engine.combine import combine

    rng = random.Random(seed)
    files, client, ep, report = user.files, user.client, user.endpoints, user.report
    errors: list[str] = []
    timings: list[tuple[str, float]] = []

    def timed(kind: str, name: str, args: list):
        t0 = time.perf_counter()
        out = client.predict(*args, api_name=name)
        timings.append((kind, time.perf_counter() - t0))
        return out[-1]  # the exact-numbers summary is every endpoint's last output

    start.wait()
    try:
        args = ep.diagnose_args(files)
        w0 = args[ep.weights_at("/diagnose"): ep.weights_at("/diagnose") + ep.n_weights]
        params_at = ep.weights_at("/diagnose") + ep.n_weights
        param_values = args[params_at:]
        summary = timed("diagnose", "/diagnose", args)
        errors += _check_values(summary["values"], report.values, f"{files.name} diagnose")
        errors += _check_totals(summary["totals"], combine(report, effective_weights(w0)).totals, f"{files.name} diagnose")
        n_weights = max(0, n_requests - 3)
        for i in range(n_weights + 2):
            if i == n_weights:  # the parameter change: the change mask's temperature
                r_args = ep.defaults("/recompute")
                r_params_at = ep.weights_at("/recompute") + ep.n_weights
                values = list(param_values)
                t_index = ep.labelled("/recompute", "temperature") - r_params_at
                values[t_index] = rng.choice([0.25, 0.5, 2.0])
                weights = random_weights(rng)
                r_args[ep.weights_at("/recompute"): r_params_at] = weights
                r_args[r_params_at:] = values
                summary = timed("param change", "/recompute", r_args)
                report = local_report(files, params_from_controls(values))
                errors += _check_values(summary["values"], report.values, f"{files.name} recompute")
                errors += _check_totals(summary["totals"], combine(report, effective_weights(weights)).totals,
                                        f"{files.name} recompute")
                continue
            weights = random_weights(rng)
            w_args = ep.defaults("/weights")
            w_args[0] = files.predictions[i % len(files.predictions)].stem
            w_args[ep.weights_at("/weights"):] = weights
            summary = timed("weights", "/weights", w_args)
            errors += _check_totals(summary["totals"], combine(report, effective_weights(weights)).totals,
                                    f"{files.name} weights #{i}")
    except Exception as e:  # a failed request is an error of the run, not a crash of the bench
        errors.append(f"{files.name}: {type(e).__name__}: {e}")
    finally:
        with lock:
            for kind, t in timings:
                result.add(kind, t)
            result.requests += len(timings)
            result.errors += errors


def run_load(url: str, samples: list[SessionFiles], n_requests: int) -> LoadResult:
    """Connect every user first (clients and expected numbers, one after another), then release
    them together; the clock covers the requests only."""
    users = [connect(url, f) for f in samples]
    result = LoadResult()
    lock = threading.Lock()
    start = threading.Barrier(len(users) + 1)
    threads = [threading.Thread(target=run_session, args=(u, n_requests, i, result, lock, start), daemon=True)
               for i, u in enumerate(users)]
    for t in threads:
        t.start()
    start.wait()  # every client is connected and has its expected numbers: the clock starts now
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    result.wall_s = time.perf_counter() - t0
    return result


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        line = next(ln for ln in fh if ln.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def report_lines(result: LoadResult) -> list[str]:
    lines = []
    every = [t for ts in result.latencies.values() for t in ts]
    for kind, ts in [*sorted(result.latencies.items()), ("all", every)]:
        if ts:
            lines.append(f"{kind:>13}: n={len(ts):4d}  p50 {1000 * statistics.median(ts):7.0f} ms  "
                         f"p95 {1000 * percentile(ts, 95):7.0f} ms  max {1000 * max(ts):7.0f} ms")
    lines.append(f"   throughput: {result.requests / max(result.wall_s, 1e-9):.2f} requests/s "
                 f"({result.requests} requests in {result.wall_s:.1f} s)")
    lines.append(f"       errors: {len(result.errors)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=16)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--size", type=int, default=128, help="side of each session's synthetic sample")
    ap.add_argument("--concurrency", type=int, default=4, help="the in-process server's queue limit")
    ap.add_argument("--url", default=None, help="load an already running server instead")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu",
                    help="the in-process server's device (and the reference reports')")
    args = ap.parse_args(argv)
    global DEVICE
    DEVICE = args.device
    folder = Path(tempfile.mkdtemp(prefix="geoviz-load-"))
    samples = make_samples(folder, args.sessions, args.size)
    demo = None
    url = args.url
    if url is None:
        url, demo = start_server(args.concurrency)
    import geoviz.app.page as ui

    rss0 = rss_mb()
    ui.ACTIVITY["peak"] = 0
    result = run_load(url, samples, args.requests)
    print(f"{args.sessions} sessions × {args.requests} requests, {args.size}² samples, "
          f"{os.cpu_count()} CPUs, server concurrency {args.concurrency if demo else '?'}")
    for line in report_lines(result):
        print(line)
    if demo is not None:
        print(f"peak handlers at once: {ui.ACTIVITY['peak']} (limit {args.concurrency})  "
              f"RSS {rss0:.0f} → {rss_mb():.0f} MB (this process: server + clients)")
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            print(f"peak CUDA memory of the server: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
        demo.close()
    for e in result.errors[:20]:
        print("ERROR", e)
    shutil.rmtree(folder, ignore_errors=True)
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
