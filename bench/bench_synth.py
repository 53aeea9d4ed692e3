"""Render time of geoviz.synth at 512² (budget: under 2 s on the CPU), median of repeated runs.

    python bench/bench_synth.py [--device auto|cpu|cuda]

On CUDA the clock is read after ``torch.cuda.synchronize()`` (the render ends with its copy back to
NumPy, which waits for the device anyway).
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import add_device_option, describe, median_time, peak_bytes, reset_peak, resolve_device  # noqa: E402

import geoviz.data.synth as S  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_device_option(ap)
    dev = resolve_device(ap.parse_args().device)
    torch.set_num_threads(2)
    print(describe(dev))
    for name, scene in [("insert_box (box, 3×3 rays/px)", S.demo_scene(512)), ("tiles_wall (region)", S.tiles_scene(512))]:
        t = median_time(lambda scene=scene: S.render(scene, device=dev), 7, dev)
        reset_peak(dev)
        S.render(scene, device=dev)
        peak = peak_bytes(dev)
        print(f"512² {name:32s} median {t * 1e3:6.0f} ms" + (f"   peak {peak / 2**20:.0f} MiB" if peak is not None else ""))


if __name__ == "__main__":
    main()
