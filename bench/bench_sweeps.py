"""Sensitivity sweeps on the insert_box and tiles_wall demos (512², proxy latents).

    python bench/bench_sweeps.py [--device auto|cpu|cuda] [--quick] [--json rows.json]

Budget (issue 8): a 25-step scale sweep of every term at 512² with proxy latents under 10 s, batched.
Prints medians: the 25-step sweep alone, the dashboard's default sweep (25 scales + 18 shifts + the
sample's 4 real predictions), the material sweep (25 scales + 19 rotations), the same 25 perturbations
as a Python loop of full per-prediction ``evaluate`` calls (what batching saves), and a balance.
The budget is the CPU's (2 threads); on CUDA the device is synchronised before each clock reading and
the 25-step sweep's peak device memory is printed too. ``--quick``: one repeat, no Python loop.
"""

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import Results, add_device_option, describe, median_time, peak_bytes, reset_peak, resolve_device  # noqa: E402

from geoviz.analysis.balance import balance_weights  # noqa: E402
from geoviz.analysis.perturb import Transform, insertion_perturbations  # noqa: E402
from geoviz.analysis.sweeps import DEFAULT_SCALES, period_sweep, scale_sweep  # noqa: E402
from geoviz.data.layouts import load_sample  # noqa: E402
from geoviz.engine.evaluate import evaluate  # noqa: E402
from geoviz.engine.weights import PRESETS  # noqa: E402

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> Results:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_device_option(ap)
    ap.add_argument("--quick", action="store_true", help="one repeat, without the Python-loop comparison")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    dev = resolve_device(args.device)
    repeats = 1 if args.quick else 3
    print(describe(dev))
    box, tiles = load_sample(ASSETS / "insert_box"), load_sample(ASSETS / "tiles_wall")
    bare = dataclasses.replace(box, predictions={}, prediction_depths={}, memo={})
    scale_sweep(bare, device=dev, shifts=())  # warm-up
    reset_peak(dev)
    t25 = median_time(lambda: scale_sweep(bare, device=dev, shifts=()), repeats, dev, warmup=0)
    peak = peak_bytes(dev)
    t_default = median_time(lambda: scale_sweep(box, device=dev), repeats, dev, warmup=0)
    t_material = median_time(lambda: period_sweep(tiles, device=dev), repeats, dev, warmup=0)
    t_loop = None
    if not args.quick:
        # the same 25 perturbations, one full evaluate() (all maps and gradients) each
        p = insertion_perturbations(box.context, box.target, box.mask, [Transform(scale=s) for s in DEFAULT_SCALES],
                                    box.target_depth)
        imgs = p.images.permute(0, 2, 3, 1).numpy()
        deps = p.depths[:, 0].numpy()

        def loop():
            for i in range(len(imgs)):
                one = dataclasses.replace(box, predictions={"s": imgs[i]}, prediction_depths={"s": deps[i]}, memo={})
                evaluate(one, device=dev, cache=None)

        t_loop = median_time(loop, 1, dev, warmup=0)
    report = evaluate(box, {"change_mask": {"temperature": 0.25, "s_min": 0.05}}, device=dev, cache=None)
    t_bal = statistics.median(_timed(lambda: balance_weights(report, PRESETS["object insertion"])) for _ in range(5))
    print(f"25-step scale sweep, every term, 512²:            {t25:6.2f} s   (budget 10 s)")
    print(f"default insertion sweep (25 + 18 shifts + 4 real): {t_default:6.2f} s")
    print(f"default material sweep (25 + 19 rotations + 4):    {t_material:6.2f} s")
    if t_loop is not None:
        print(f"25 × evaluate() in a Python loop (all maps):       {t_loop:6.2f} s   ({t_loop / t25:.1f}× the batched sweep)")
    print(f"balance over 4 predictions (from the report):      {t_bal * 1e3:6.1f} ms")
    if peak is not None:
        print(f"peak device memory of the 25-step sweep:           {peak / 2**20:6.0f} MiB")
    results = Results(dev)
    results.add("sweep: 25 scales, every term, 512²", t25, peak)
    results.add("sweep: default insertion (25 + 18 shifts + 4)", t_default)
    results.add("sweep: default material (25 + 19 rotations + 4)", t_material)
    results.write(args.json)
    return results


if __name__ == "__main__":
    main()
