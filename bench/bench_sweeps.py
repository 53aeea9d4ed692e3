"""Sensitivity sweeps on the insert_box and tiles_wall demos (512², proxy latents, CPU).

    python bench/bench_sweeps.py

Budget (issue 8): a 25-step scale sweep of every term at 512² with proxy latents under 10 s, batched.
Prints medians: the 25-step sweep alone, the dashboard's default sweep (25 scales + 18 shifts + the
sample's 4 real predictions), the material sweep (25 scales + 19 rotations), the same 25 perturbations
as a Python loop of full per-prediction ``evaluate`` calls (what batching saves), and a balance.
"""

import dataclasses
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
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


def _median(fn, repeats: int) -> float:
    return statistics.median(_timed(fn) for _ in range(repeats))


def main(repeats: int = 3) -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, cpu")
    box, tiles = load_sample(ASSETS / "insert_box"), load_sample(ASSETS / "tiles_wall")
    bare = dataclasses.replace(box, predictions={}, prediction_depths={}, memo={})
    scale_sweep(bare, device="cpu", shifts=())  # warm-up
    t25 = _median(lambda: scale_sweep(bare, device="cpu", shifts=()), repeats)
    t_default = _median(lambda: scale_sweep(box, device="cpu"), repeats)
    t_material = _median(lambda: period_sweep(tiles, device="cpu"), repeats)

    # the same 25 perturbations, one full evaluate() (all maps and gradients) each
    p = insertion_perturbations(box.context, box.target, box.mask, [Transform(scale=s) for s in DEFAULT_SCALES],
                                box.target_depth)
    imgs = p.images.permute(0, 2, 3, 1).numpy()
    deps = p.depths[:, 0].numpy()

    def loop():
        for i in range(len(imgs)):
            one = dataclasses.replace(box, predictions={"s": imgs[i]}, prediction_depths={"s": deps[i]}, memo={})
            evaluate(one, device="cpu", cache=None)

    t_loop = _median(loop, 1)
    report = evaluate(box, {"change_mask": {"temperature": 0.25, "s_min": 0.05}}, device="cpu", cache=None)
    t_bal = _median(lambda: balance_weights(report, PRESETS["object insertion"]), 5)
    print(f"25-step scale sweep, every term, 512²:            {t25:6.2f} s   (budget 10 s)")
    print(f"default insertion sweep (25 + 18 shifts + 4 real): {t_default:6.2f} s")
    print(f"default material sweep (25 + 19 rotations + 4):    {t_material:6.2f} s")
    print(f"25 × evaluate() in a Python loop (all maps):       {t_loop:6.2f} s   ({t_loop / t25:.1f}× the batched sweep)")
    print(f"balance over 4 predictions (from the report):      {t_bal * 1e3:6.1f} ms")


if __name__ == "__main__":
    main()
