"""The engine's speed on an insert_box-like scene rendered at 1024² with proxy latents.

    python bench/bench_engine.py

Budgets (issue 4): evaluate of every term with all maps for one prediction under 1.5 s, each further
prediction under 0.8 s; combine under 20 ms and at least 50× cheaper than evaluate. Prints medians.
"""

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
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


def main(size: int = 1024, repeats: int = 5) -> None:
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, cpu; scene {size}²")
    one, three = make_sample(size, 1), make_sample(size, 3)
    evaluate(one, device="cpu", cache=None)  # warm-up (allocator, FFT plans)
    t_one = statistics.median(_timed(lambda: evaluate(one, device="cpu", cache=None)) for _ in range(repeats))
    t_three = statistics.median(_timed(lambda: evaluate(three, device="cpu", cache=None)) for _ in range(repeats))
    further = (t_three - t_one) / 2
    report = evaluate(three, device="cpu", cache=None)
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
    print("totals:", {k: round(v, 4) for k, v in c.totals.items()})


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
