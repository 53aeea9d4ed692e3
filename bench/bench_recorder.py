"""RunRecorder on this CPU: the time a training loop's log() call costs, and the writer's throughput.

    python bench/bench_recorder.py            # 512² and 1024²
    python bench/bench_recorder.py --quick    # 512² only

Budget: a log() call spends under 5 ms in the training thread (it copies its arguments to the CPU
and queues them; a background thread encodes and writes the PNGs). For each size, --calls calls
log a prediction ``[3,H,W]`` float32 on the CPU (a rendered demo scene with noise --noise, default
2/255, like a decoded prediction), the inputs (context, target, mask) at the first call:

    load    calls back to back: once max_pending (16) calls are queued, log() waits for the writer
    quiet   one call every --interval seconds, or 1.5× the writer's time per prediction (measured
            under load) where that is longer, so the writer keeps up (nothing stays pending)

Prints per size and mode the pace of the calls, the first call (the one with the inputs), the
median, p90 and max of ``RunRecorder.call_seconds``, median/budget, the most calls pending (queued
or being written) seen before a call, the writer's throughput (predictions written per second, from
the first log() to the end of flush(): under load the writer's own rate, quiet the pace of the
calls) and the mean size of a prediction's PNG. Then a probe line per size, the floor without a
recorder: one prediction's copy alone, back to back and paced every --interval s. The machine is
shared and noisy: compare medians and ratios, not single times.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import geoviz.data.synth as S  # noqa: E402
from geoviz.data.runs import RunRecorder  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from timing import add_device_option, describe, resolve_device, sync  # noqa: E402

BUDGET_S = 0.005  # the training thread's time per log() call


def scene(size: int, noise: float, n_preds: int = 4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """context, target ``[3,H,W]``, mask ``[H,W]`` and ``n_preds`` distinct predictions, float32 on the
    CPU. Rendered at up to 512² and resized above (a 1024² render alone takes seconds here)."""
    side = min(size, 512)
    sc = S.demo_scene(side)
    tgt, ctx = S.render(sc), S.render(S.without_object(sc))
    preds = [S.render(S.scale_object(sc, s)).rgb for s in (0.8, 0.9, 1.1, 1.2)[:n_preds]]

    def chw(a: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
        t = t.permute(2, 0, 1) if t.ndim == 3 else t[None]
        if side != size:
            t = torch.nn.functional.interpolate(t[None], size=(size, size), mode="bilinear", align_corners=False)[0]
        return t.contiguous()

    g = torch.Generator().manual_seed(0)
    noisy = [(chw(p) + torch.randn(3, size, size, generator=g) * noise).clamp_(0, 1) for p in preds]
    return chw(ctx.rgb), chw(tgt.rgb), chw(tgt.mask)[0], noisy


def probe(pred: torch.Tensor, interval: float, repeats: int = 20) -> tuple[float, float, float]:
    """The floor of log(), without a recorder: copy one prediction as log() does, back to back
    (median) and paced every ``interval`` s like the quiet calls (median, p90: what a shared
    machine's scheduling adds to a thread that wakes from a sleep)."""
    copy = lambda: pred.detach().to("cpu", copy=True).float().numpy()  # noqa: E731
    copy()  # warm-up
    back, paced = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        copy()
        back.append(time.perf_counter() - t0)
    for _ in range(repeats):
        time.sleep(interval)
        t0 = time.perf_counter()
        copy()
        paced.append(time.perf_counter() - t0)
    return float(np.median(back)), float(np.median(paced)), float(np.percentile(paced, 90))


def run(folder: Path, size: int, calls: int, interval: float | None, data) -> dict:
    """``calls`` log() calls into a fresh run at ``folder``, paced every ``interval`` s (None: back to back)."""
    ctx, tgt, mask, preds = data
    queued = []
    with RunRecorder(folder) as rec:
        t0 = time.perf_counter()
        for i in range(calls):
            if interval is not None:
                time.sleep(max(0.0, t0 + i * interval - time.perf_counter()))
            queued.append(rec.pending)
            inputs = {"context": ctx, "target": tgt, "mask": mask} if i == 0 else {}
            rec.log(i + 1, "s", pred=preds[i % len(preds)], **inputs)
        rec.flush()
        wall = time.perf_counter() - t0
        times = np.asarray(rec.call_seconds)
    assert len(times) == calls
    png = np.mean([p.stat().st_size for p in (folder / "preds").rglob("s.png")]) / 1024
    return {"first": times[0], "median": float(np.median(times)), "p90": float(np.percentile(times, 90)),
            "max": float(times.max()), "queued": max(queued), "per_s": calls / wall, "png_kib": png}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="512² only")
    ap.add_argument("--calls", type=int, default=50, help="log() calls per size and mode")
    ap.add_argument("--noise", type=float, default=2 / 255,
                    help="std of the Gaussian noise on the predictions (0: clean renders, PNGs far smaller)")
    ap.add_argument("--interval", type=float, default=0.15, help="seconds between quiet calls")
    add_device_option(ap)
    args = ap.parse_args()
    torch.set_num_threads(2)
    dev = resolve_device(args.device)
    sizes = [512] if args.quick else [512, 1024]
    print(f"{describe(dev)}; tensors logged from {dev.type}; {args.calls} log() calls per row, "
          f"quiet = one every {args.interval * 1e3:.0f} ms "
          f"or 1.5× the writer's time per prediction if longer, load = back to back (max_pending 16)")
    print(f"budget {BUDGET_S * 1e3:.0f} ms per log() call in the training thread")
    rows = []
    print(f"{'size':>9s} {'mode':5s} {'every ms':>8s} {'first ms':>9s} {'median ms':>10s} {'p90 ms':>8s} {'max ms':>8s} "
          f"{'median/budget':>14s} {'max pending':>11s} {'written/s':>10s} {'PNG KiB':>8s}")
    with tempfile.TemporaryDirectory(prefix="geoviz-bench-recorder-") as tmp:
        warm = torch.rand(3, 64, 64)  # first-use costs (PIL, the writer thread) outside the figures
        with RunRecorder(Path(tmp) / "warm-up") as rec:
            rec.log(0, "w", context=warm, target=warm, mask=warm[0] > 0.5, pred=warm)
        for size in sizes:
            ctx, tgt, mask, preds = scene(size, args.noise)
            data = (ctx.to(dev), tgt.to(dev), mask.to(dev), [p.to(dev) for p in preds])
            sync(dev)  # the training loop's own kernels have finished when it logs
            rows.append((size, *probe(data[3][0], args.interval)))
            load = run(Path(tmp) / f"{size}-load", size, args.calls, None, data)  # first: the writer's rate
            every = max(args.interval, 1.5 / load["per_s"])  # quiet: the writer keeps up
            quiet = run(Path(tmp) / f"{size}-quiet", size, args.calls, every, data)
            for mode, r, pace in (("quiet", quiet, every), ("load", load, None)):
                print(f"{f'{size}×{size}':>9s} {mode:5s} {f'{pace * 1e3:.0f}' if pace else '-':>8s} "
                      f"{r['first'] * 1e3:9.2f} {r['median'] * 1e3:10.2f} {r['p90'] * 1e3:8.2f} {r['max'] * 1e3:8.2f} "
                      f"{r['median'] / BUDGET_S:13.2f}× {r['queued']:11d} {r['per_s']:10.1f} {r['png_kib']:8.0f}")
    for size, back, paced, paced90 in rows:
        print(f"probe {size}×{size}, one prediction's copy alone: back to back median {back * 1e3:.2f} ms; "
              f"paced every {args.interval * 1e3:.0f} ms median {paced * 1e3:.2f} ms, p90 {paced90 * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
