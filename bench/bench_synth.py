"""Render time of geoviz.synth at 512² (budget: under 2 s), median of repeated runs.

    python bench/bench_synth.py
"""

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import geoviz.data.synth as S  # noqa: E402


def main() -> None:
    torch.set_num_threads(2)
    for name, scene in [("insert_box (box, 3×3 rays/px)", S.demo_scene(512)), ("tiles_wall (region)", S.tiles_scene(512))]:
        S.render(scene)
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            S.render(scene)
            times.append(time.perf_counter() - t0)
        print(f"512² {name:32s} median {statistics.median(times) * 1e3:6.0f} ms  (max {max(times) * 1e3:.0f} ms)")


if __name__ == "__main__":
    main()
