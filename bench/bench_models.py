"""The real models (random weights in the official layout: the same compute as the real ones):
Depth Anything V2 Small at 518², TAEF1 encode at 1024². Medians and peak memory (the resident set's
growth on the CPU, ``torch.cuda.max_memory_allocated`` on CUDA, where the clock waits for the device).

    python bench/bench_models.py [--device auto|cpu|cuda]
"""

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def worker(which: str, device: str) -> None:
    import torch
    from timing import peak_bytes, reset_peak, sync

    torch.set_num_threads(2)
    dev = torch.device(device)
    if which == "depth":
        from geoviz.models.depth import DepthAnythingV2Small, DepthEstimator

        fn, x = DepthEstimator(DepthAnythingV2Small().eval().to(dev)), torch.rand(1, 3, 518, 518, device=dev)
    else:
        from geoviz.models.encoders import TAEF1Encoder, taef1_encoder_layers

        fn, x = TAEF1Encoder(taef1_encoder_layers().to(dev)).encode, torch.rand(1, 3, 1024, 1024, device=dev)
    with torch.no_grad():
        fn(x)  # warm-up
        sync(dev)
        reset_peak(dev)
        if dev.type == "cpu":
            Path("/proc/self/clear_refs").write_text("5")
        before = _status_kib("VmRSS") if dev.type == "cpu" else torch.cuda.memory_allocated(dev) // 1024
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            fn(x)
            sync(dev)
            times.append(time.perf_counter() - t0)
        peak = _status_kib("VmHWM") if dev.type == "cpu" else peak_bytes(dev) // 1024
    print(json.dumps({"median": statistics.median(times), "peak_mb": (peak - before) / 1024}))


def main() -> None:
    if len(sys.argv) > 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3])
        return
    import argparse
    import os

    from timing import add_device_option, resolve_device

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_device_option(ap)
    dev = resolve_device(ap.parse_args().device)
    print(f"device {dev}")
    env = {"MALLOC_MMAP_THRESHOLD_": "65536", "PYTHONPATH": str(ROOT)}
    for which, label in (("depth", "Depth Anything V2 Small, 518×518"), ("taef1", "TAEF1 encode, 1024×1024")):
        out = subprocess.run([sys.executable, __file__, "--worker", which, str(dev)], capture_output=True, text=True,
                             check=True, env={**os.environ, **env})
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{label:36s} median {r['median']:.2f} s   peak extra memory {r['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
