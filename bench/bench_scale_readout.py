"""The scale readout on real photographs with known answers: accuracy and cost per checkpoint.

    python bench/bench_scale_readout.py [--compare] [--repeats 3]

Six objects pasted into photographs and three real textures on walls (``tests/photo_samples.py``,
from ``skimage.data``), five checkpoints each at scales 0.8–1.25, clean and through a VAE-like round
trip (JPEG q90 + Gaussian noise 2/255). Prints |log(estimate / truth)| median and max per case
(issue 16's goal: median ≤ 0.03, max ≤ 0.08) and the readout's time per checkpoint at 512² on 2
threads (budget 0.5 s). ``--compare`` adds the previous readout — the sweep's change-mask area read
off its own area-vs-scale curve (insertion) or the spectral-peak period ratio (material) — with the
document's change mask and with the leak-free one.
"""

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
import photo_samples as ps  # noqa: E402

from geoviz.engine.scale import read_scales  # noqa: E402

DOCUMENT = {"change_mask": {"temperature": 1.0, "s_min": None, "reference": "mask"}}
LEAK_FREE = {"change_mask": {"temperature": 0.25, "s_min": 0.05, "reference": "target"}}


def cases(roundtrip: bool):
    for obj in ps.OBJECTS:
        yield ps.insertion_case(obj, roundtrip_preds=roundtrip)
    for texture in ps.TEXTURES:
        yield ps.material_case(texture, roundtrip_preds=roundtrip)


def errors(case, estimates: dict) -> list[float]:
    return [abs(math.log(estimates[n] / case.truth[n])) if estimates.get(n) else math.inf for n in case.predictions]


DEVICE = "cpu"  # --device: where the sweeps of --compare run (the readout itself is NumPy on the CPU)


def sweep_estimates(case, params) -> dict:
    """The previous readout: the sweep's calibrated change-mask area (insertion) or spectral period ratio."""
    from geoviz.analysis.sweeps import period_sweep, scale_sweep
    from geoviz.data.sample import build_sample

    sample = build_sample(case.context, case.target, case.mask, case.predictions, name=case.name)
    if case.kind == "insertion":
        sw = scale_sweep(sample, params=params, shifts=(), device=DEVICE)
        return {n: d.get("area_calibrated", d.get("sqrt_area_ratio")) for n, d in sw.predictions.items()}
    sw = period_sweep(sample, params=params, angles=(), device=DEVICE, terms=["texture_spectral"])
    return {n: d["period_ratio"] for n, d in sw.predictions.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", action="store_true", help="also the previous (sweep) readout, both settings")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per case (median)")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu",
                    help="where --compare's sweeps run (the readout is NumPy on the CPU)")
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, cpu; 512² photographs, 5 checkpoints per case")
    summary: dict[tuple[str, bool], list[float]] = {}
    old: dict[tuple[str, bool, str], list[float]] = {}
    per_checkpoint: list[float] = []
    head = f"{'case':28s} {'kind':9s} {'median':>7s} {'max':>7s} {'s/ckpt':>7s}"
    if args.compare:
        head += f" {'doc. med':>8s} {'doc. max':>8s} {'l-f med':>8s} {'l-f max':>8s}"
    for roundtrip in (False, True):
        print(f"\n{'round-tripped (JPEG q90 + noise 2/255)' if roundtrip else 'clean'}\n{head}")
        for case in cases(roundtrip):
            times, out = [], None
            for _ in range(max(1, args.repeats)):
                t0 = time.perf_counter()
                out = read_scales(case.kind, case.context, case.target, case.mask, case.predictions)
                times.append((time.perf_counter() - t0) / len(case.predictions))
            per = statistics.median(times)
            per_checkpoint.append(per)
            e = errors(case, {n: r.estimate for n, r in out.items()})
            summary.setdefault((case.kind, roundtrip), []).extend(e)
            line = f"{case.name:28s} {case.kind:9s} {np.median(e):7.4f} {max(e):7.4f} {per:7.3f}"
            if args.compare:
                for label, params in (("document", DOCUMENT), ("leak-free", LEAK_FREE)):
                    eo = errors(case, sweep_estimates(case, params))
                    old.setdefault((case.kind, roundtrip, label), []).extend(eo)
                    line += f" {np.median(eo):8.3f} {max(eo):8.3f}"
            print(line)
    print("\n|log(estimate / truth)| over every checkpoint (goal: median ≤ 0.03, max ≤ 0.08)")
    for (kind, roundtrip), e in summary.items():
        line = f"  {kind:9s} {'round-tripped' if roundtrip else 'clean':13s} median {np.median(e):.4f}  max {max(e):.4f}"
        if args.compare:
            for label in ("document", "leak-free"):
                eo = old[(kind, roundtrip, label)]
                line += f"   | sweep, {label}: median {np.median(eo):.3f} max {max(eo):.3f}"
        print(line)
    print(f"\nreadout per checkpoint: median {statistics.median(per_checkpoint):.3f} s, "
          f"max {max(per_checkpoint):.3f} s (budget 0.5 s, 512², 2 threads)")


if __name__ == "__main__":
    main()
