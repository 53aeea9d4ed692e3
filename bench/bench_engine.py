"""The engine's speed on an insert_box-like scene rendered at 1024² with proxy latents.

    python bench/bench_engine.py [--device auto|cpu|cuda] [--quick] [--json rows.json]

Budgets (issue 4): evaluate of every term with all maps for one prediction under 1.5 s, each further
prediction under 0.8 s; combine under 20 ms and at least 50× cheaper than evaluate (on the CPU, 2
threads). Prints medians; on CUDA the device is synchronised before each clock reading and the peak
device memory of one evaluate is printed too.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import Results, add_device_option, describe, median_time, peak_bytes, reset_peak, resolve_device  # noqa: E402

import geoviz.data.synth as S  # noqa: E402
from geoviz.data.sample import build_sample  # noqa: E402
from geoviz.engine.combine import combine  # noqa: E402
from geoviz.engine.evaluate import evaluate  # noqa: E402
from geoviz.engine.weights import default_weights  # noqa: E402


def make_sample(size: int, n_preds: int):
    sc = S.demo_scene(size)
    tgt, ctx = S.render(sc), S.render(S.without_object(sc))
    preds, depths = {}, {}
    for i, s in enumerate((0.8, 0.9, 1.1, 1.2)[:n_preds]):
        r = S.render(S.scale_object(sc, s))
        preds[f"step_{i}"] = r.rgb
        depths[f"step_{i}"] = (r.depth, "metric")
    return build_sample(ctx.rgb, tgt.rgb, tgt.mask, preds, target_depth=(tgt.depth, "metric"),
                        prediction_depths=depths, camera=tgt.camera)


def main(argv: list[str] | None = None) -> Results:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_device_option(ap)
    ap.add_argument("--quick", action="store_true", help="a 256² scene, fewer repeats")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    dev = resolve_device(args.device)
    size, repeats = (256, 2) if args.quick else (1024, 5)
    print(f"{describe(dev)}; scene {size}²")
    one, three = make_sample(size, 1), make_sample(size, 3)
    run = lambda s: evaluate(s, device=dev, cache=None)  # noqa: E731
    run(one)  # warm-up (allocator, FFT plans, CUDA kernels)
    t_one = median_time(lambda: run(one), repeats, dev, warmup=0)
    t_three = median_time(lambda: run(three), repeats, dev, warmup=0)
    reset_peak(dev)
    run(one)
    peak = peak_bytes(dev)  # of one prediction's evaluate
    report = run(three)
    further = (t_three - t_one) / 2
    w = default_weights()
    t_comb = statistics.median(_timed(lambda: combine(report, w)) for _ in range(50))
    c = combine(report, w)
    t_map = statistics.median(_timed(lambda: combine(report, w).contribution[report.predictions[0]]) for _ in range(10))
    t_grad = statistics.median(_timed(lambda: combine(report, w).gradient[report.predictions[0]]) for _ in range(10))
    print(f"evaluate, 1 prediction (18 terms, all maps):   {t_one * 1e3:7.0f} ms   (budget 1500 ms)")
    print(f"each further prediction:                       {further * 1e3:7.0f} ms   (budget  800 ms)")
    print(f"combine (totals, weighted values, shares):     {t_comb * 1e3:7.2f} ms   (budget   20 ms; "
          f"{t_one / t_comb:,.0f}× cheaper than evaluate)")
    print(f"combine + the weighted contribution map:       {t_map * 1e3:7.2f} ms")
    print(f"combine + the weighted gradient maps:          {t_grad * 1e3:7.2f} ms")
    if peak is not None:
        print(f"peak device memory of evaluate, 1 prediction: {peak / 2**20:7.0f} MiB")
    print("totals:", {k: round(v, 4) for k, v in c.totals.items()})
    results = Results(dev)
    results.add(f"engine: evaluate, 1 prediction, {size}²", t_one, peak)
    results.add(f"engine: each further prediction, {size}²", further)
    results.add("engine: combine", t_comb)
    results.write(args.json)
    return results


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
