"""Batch evaluation throughput at 512² on this CPU: samples × checkpoints per second, with 0/1/2
DataLoader workers and with 2 torchrun processes (gloo).

    python bench/bench_cli.py [--samples 8]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run(cmd, env):
    """Wall seconds of ``cmd``; on CUDA, evaluate's own peak-memory note is printed beside."""
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    peak = [ln.split("; ", 1)[1] for ln in out.stderr.splitlines() if "peak CUDA memory" in ln]
    if peak:
        print(f"    ({peak[-1]})")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                    help="evaluate's --device (torchrun then uses NCCL on CUDA)")
    args = ap.parse_args()
    from geoviz.data.synth import write_dataset

    ds = write_dataset(Path(tempfile.mkdtemp(prefix="geoviz-bench-ds-")), n_samples=args.samples, size=512)
    pairs = args.samples * 3
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    base = [sys.executable, "-m", "geoviz", "evaluate", str(ds), "--device", args.device, "--quiet"]
    out = Path(tempfile.mkdtemp()) / "r.csv"
    print(f"{args.samples} samples × 3 checkpoints at 512² (wall time includes process start and imports)")
    for workers in (0, 1, 2):
        dt = run([*base, "--workers", str(workers), "--out", str(out)], env)
        print(f"  1 process, {workers} loader workers: {dt:6.1f} s → {pairs / dt:5.2f} samples×checkpoints/s")
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    env1 = {**env, "OMP_NUM_THREADS": "1"}
    dt = run([*base[:1], "-m", "geoviz", *base[3:], "--workers", "0", "--out", str(out)], env1)
    print(f"  1 process, 1 thread:                  {dt:6.1f} s → {pairs / dt:5.2f} samples×checkpoints/s")
    dt = run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "geoviz", *base[3:], "--workers", "0", "--out", str(out)], env1)
    print(f"  torchrun, 2 processes × 1 thread:     {dt:6.1f} s → {pairs / dt:5.2f} samples×checkpoints/s")


if __name__ == "__main__":
    main()
