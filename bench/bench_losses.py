"""Speed and memory of the losses, against the specifications' reference code where it exists.

    python bench/bench_losses.py            # the sizes the issues name (a few minutes)
    python bench/bench_losses.py --quick    # smaller, for a smoke run
    python bench/bench_losses.py --device cuda --json rows.json

Prints medians of repeated forward+backward runs (the machine is shared and noisy: compare medians
and ratios, not single times) and the peak extra memory of one forward+backward, in units of one
input tensor: on the CPU measured in a fresh subprocess as the growth of the resident-set high-water
mark, on CUDA as ``torch.cuda.max_memory_allocated`` over what was allocated before (the clock is
read after ``torch.cuda.synchronize()``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import spec_reference  # noqa: E402
import timing  # noqa: E402
from timing import Results, add_device_option, describe, peak_bytes, reset_peak, resolve_device, sync  # noqa: E402

import losses  # noqa: E402
import losses.texture as T  # noqa: E402


def depth_inputs(b, h, w, device="cpu"):
    g = torch.Generator().manual_seed(0)
    d_tgt = torch.rand(b, 1, h, w, generator=g) * 4 + 1
    d_pred = d_tgt * (1 + 0.1 * torch.rand(b, 1, h, w, generator=g))
    mask = torch.zeros(b, 1, h, w)
    mask[..., h // 4 : 3 * h // 4, w // 5 : 4 * w // 5] = 1.0
    return d_pred.to(device), d_tgt.to(device), mask.to(device)


def depth_cases(ref0, ref4):
    """name → (ours, reference or None), each f(d_pred_requiring_grad, d_tgt, mask) → scalar."""

    def rdepth_ref(d, g, m):
        sd, sg = ref4.StandardizeData()(d, g, m)
        return ref4.WeightedDataLoss()(sd, sg, m)

    def rdepth_ours(d, g, m):
        sd, sg = losses.StandardizeData()(d, g, m)
        return losses.WeightedDataLoss()(sd, sg, m)

    return {
        "000 depth_consistency_loss": (
            lambda d, g, m: losses.depth_consistency_loss(d, g, m).total,
            (lambda d, g, m: ref0.depth_consistency_loss(d, g, m).total) if ref0 else None,
        ),
        "004 WeightedDataLoss (adepth)": (
            lambda d, g, m: losses.WeightedDataLoss()(d, g, m),
            (lambda d, g, m: ref4.WeightedDataLoss()(d, g, m)) if ref4 else None,
        ),
        "004 StandardizeData+L1 (rdepth)": (rdepth_ours, rdepth_ref if ref4 else None),
        "004 WeightedMSGradLoss": (
            lambda d, g, m: losses.WeightedMSGradLoss()(d, g, m),
            (lambda d, g, m: ref4.WeightedMSGradLoss(scales=[1, 2, 4, 8])(d, g, m)) if ref4 else None,
        ),
        "004 g2 total": (
            lambda d, g, m: losses.g2_monodepth_loss(d, g, m).total,
            (lambda d, g, m: ref4.g2_total(d, g, m)[0]) if ref4 else None,
        ),
        "004 ssi_loss": (lambda d, g, m: losses.ssi_loss(d, g, m), None),
    }


def machine_probe() -> str:
    """This machine's speed right now, to compare figures across sessions (it drifts by up to 2.5x here):
    reading 32 MiB, and the first write into a fresh 32 MiB tensor (page faults)."""
    x = torch.rand(8 << 20)
    read = median_time(lambda: x.sum(), 21)
    fresh = median_time(lambda: torch.empty(8 << 20).fill_(1.0), 21)
    return (f"machine probe: read 32 MiB {read * 1e3:.1f} ms ({32 / 1024 / read:.0f} GiB/s), "
            f"fill a fresh 32 MiB tensor {fresh * 1e3:.1f} ms")


DEVICE = torch.device("cpu")  # set by main() from --device


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    """:func:`timing.median_time` on the bench's device."""
    return timing.median_time(fn, repeats, DEVICE, warmup)


def paired_times(ours, ref, repeats: int) -> tuple[float, float, float]:
    """Ours and the reference run alternately (the machine's speed drifts between minutes): their
    median times and the median of the per-pair speed-ups."""
    ours(), ref()
    sync(DEVICE)
    pairs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ours()
        sync(DEVICE)
        t1 = time.perf_counter()
        ref()
        sync(DEVICE)
        pairs.append((t1 - t0, time.perf_counter() - t1))
    return (statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs),
            statistics.median(b / a for a, b in pairs))


def fwd_bwd(fn, d_pred, *rest):
    def run():
        x = d_pred.detach().requires_grad_(True)
        fn(x, *rest).backward()

    return run


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def _peak_worker(args) -> None:
    """Subprocess body: for each of the comma-separated terms, one forward+backward; prints, per term,
    the growth of the resident set's high-water mark over the resident set just before (the mark is
    reset before each term, so building the inputs and the terms before do not count). The bench
    runs one term per process; the tests run them all in one (one start-up)."""
    names, which, b, h, w = args.peak
    ref0 = spec_reference.load_000() if spec_reference.available() else None
    ref4 = spec_reference.load_004() if spec_reference.available() else None
    cases = depth_cases(ref0, ref4)
    d_pred, d_tgt, mask = depth_inputs(int(b), int(h), int(w))
    extra = {}
    for name in names.split(","):
        fn = cases[name][0 if which == "ours" else 1]
        x = d_pred.detach().requires_grad_(True)
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        before = _status_kib("VmRSS")
        fn(x, d_tgt, mask).backward()
        extra[name] = (_status_kib("VmHWM") - before) * 1024
        del x
    print(json.dumps({"extra_bytes": extra}))


def cuda_peak_extra(fn, d_pred, *rest) -> int:
    """Peak bytes allocated on the device by one forward+backward, over what was allocated before."""
    x = d_pred.detach().requires_grad_(True)
    reset_peak(DEVICE)
    before = torch.cuda.memory_allocated(DEVICE)
    fn(x, *rest).backward()
    return peak_bytes(DEVICE) - before


def peak_extra(names: list[str], which: str, b: int, h: int, w: int) -> dict[str, int]:
    """Peak extra bytes of each term's forward+backward, measured in a fresh process."""
    # a fixed mmap threshold makes every large tensor its own mapping, returned to the OS when freed,
    # so the resident set tracks live tensors (glibc's adaptive threshold would keep freed ones)
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run(
        [sys.executable, __file__, "--peak", ",".join(names), which, str(b), str(h), str(w)],
        capture_output=True, text=True, check=True, env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["extra_bytes"]


def bench_depth(b, h, w, repeats, results):
    ref0 = spec_reference.load_000() if spec_reference.available() else None
    ref4 = spec_reference.load_004() if spec_reference.available() else None
    if ref0 is None:
        print(f"(specifications not found at {spec_reference.specs_dir()}: no reference column)")
    d_pred, d_tgt, mask = depth_inputs(b, h, w, DEVICE)
    unit = d_pred.numel() * 4
    print(f"\n## 000 / 004 forward+backward on [{b},1,{h},{w}] (one input = {unit / 2**20:.0f} MiB), {repeats} runs "
          "alternating with the reference: medians, and the median of the per-pair speed-ups")
    print(f"{'term':34s} {'ours':>9s} {'reference':>10s} {'speed-up':>9s} {'peak ours':>10s} {'peak ref':>9s}")
    for name, (ours, ref) in depth_cases(ref0, ref4).items():
        if ref:
            t_ours, t_ref, speedup = paired_times(fwd_bwd(ours, d_pred, d_tgt, mask), fwd_bwd(ref, d_pred, d_tgt, mask),
                                                  repeats)
        else:
            t_ours, t_ref, speedup = median_time(fwd_bwd(ours, d_pred, d_tgt, mask), repeats), float("nan"), float("nan")
        if DEVICE.type == "cuda":
            peak = cuda_peak_extra(ours, d_pred, d_tgt, mask)
            m_ours = peak / unit
            m_ref = cuda_peak_extra(ref, d_pred, d_tgt, mask) / unit if ref else float("nan")
        else:
            peak = None
            m_ours = peak_extra([name], "ours", b, h, w)[name] / unit
            m_ref = peak_extra([name], "ref", b, h, w)[name] / unit if ref else float("nan")
        print(f"{name:34s} {t_ours * 1e3:7.0f}ms {t_ref * 1e3:8.0f}ms {speedup:8.1f}× {m_ours:9.1f}× {m_ref:8.1f}×")
        results.add(f"{name} [{b},1,{h},{w}]", t_ours, peak)


def bench_latent(b, c, h, w, repeats, results):
    g = torch.Generator().manual_seed(0)
    z_ctx = torch.randn(b, c, h, w, generator=g)
    mask = torch.zeros(b, 1, h, w)
    mask[..., h // 4 : 3 * h // 4, w // 3 : 2 * w // 3] = 1
    z_tgt = z_ctx + 2 * mask * torch.randn(b, c, h, w, generator=g)
    z_pred0 = z_tgt + 0.3 * torch.randn(b, c, h, w, generator=g)
    z_ctx, mask, z_tgt, z_pred0 = (t.to(DEVICE) for t in (z_ctx, mask, z_tgt, z_pred0))

    def family():
        z_pred = z_pred0.detach().requires_grad_(True)
        l_mse = losses.weighted_masked_mse_latent(z_pred, z_tgt, mask)
        l_bg = losses.background_preservation_mse_latent(z_pred, z_ctx, mask)
        m_hat, _, _ = losses.soft_change_mask_from_latents(z_pred, z_ctx, mask)
        phi = losses.signed_distance_map_from_mask(mask > 0.5, normalize=True)
        total = l_mse + 0.6 * l_bg + 0.9 * losses.dice_loss(m_hat, mask) + 0.2 * losses.area_ratio_loss(m_hat, mask)
        (total + 0.4 * losses.boundary_loss(m_hat, phi)).backward()

    t = median_time(family, repeats, warmup=2)
    reset_peak(DEVICE)
    family()
    results.add(f"002 family, 7 components [{b},{c},{h},{w}]", t, peak_bytes(DEVICE))
    print(f"\n## 002 family (all seven components, SDM included) forward+backward on [{b},{c},{h},{w}]: {t * 1e3:.1f} ms (median of {repeats}; budget 60 ms)")


def bench_texture(sizes, repeats, results):
    print("\n## 003 texture losses forward+backward (budgets: 250 ms at B=1, 2 s at B=8, 1024²)")
    cases = {
        "SpectralPeriodLoss": T.SpectralPeriodLoss(),
        "LogPolarAlignLoss": T.LogPolarAlignLoss(),
        "ScaleConsistencyLoss": T.ScaleConsistencyLoss(),
        "ACFPeriodLoss": T.ACFPeriodLoss(),
    }
    for b, h in sizes:
        g = torch.Generator().manual_seed(0)
        pred = torch.rand(b, 3, h, h, generator=g).to(DEVICE)
        tgt = torch.rand(b, 3, h, h, generator=g).to(DEVICE)
        mask = torch.ones(b, 1, h, h, device=DEVICE)
        for name, loss in cases.items():
            loss = loss.to(DEVICE)
            t = median_time(fwd_bwd(loss, pred, tgt, mask), repeats)
            reset_peak(DEVICE)
            fwd_bwd(loss, pred, tgt, mask)()
            results.add(f"003 {name} [{b},3,{h},{h}]", t, peak_bytes(DEVICE))
            print(f"[{b},3,{h},{h}] {name:22s} {t * 1e3:8.0f} ms")


def bench_sdm(sizes, repeats, results):
    """The SDM as each device computes it by default: SciPy's exact transform per sample on the CPU,
    the exact on-device path on CUDA (one table row, ``SDM [B,1,H,W]``, the two side by side). On the
    CPU the on-device path is timed too, up to 256² (above, it takes tens of seconds: SciPy's job)."""
    from losses.sdm import signed_distance_map_from_mask

    print(f"\n## signed distance map: SciPy per-sample loop (CPU) vs the exact on-device path (on {DEVICE.type})")
    for b, h in sizes:
        m = torch.zeros(b, 1, h, h, dtype=torch.bool)
        m[..., h // 4 : 3 * h // 4, h // 3 : 2 * h // 3] = True
        t_s = median_time(lambda m=m: signed_distance_map_from_mask(m, method="scipy"), repeats)
        line = f"[{b},1,{h},{h}]  scipy {t_s * 1e3:9.1f} ms"
        if DEVICE.type == "cuda" or h <= 256:
            on_dev = m.to(DEVICE)
            t_d = median_time(lambda m=on_dev: signed_distance_map_from_mask(m, method="device"), max(1, repeats // 2))
            reset_peak(DEVICE)
            signed_distance_map_from_mask(on_dev, method="device")
            peak = peak_bytes(DEVICE)
            line += f"   device ({DEVICE.type}) {t_d * 1e3:9.1f} ms   device/scipy {t_d / t_s:6.1f}×"
        else:
            line += "   device path: not timed on the CPU above 256² (tens of seconds; the CPU uses SciPy)"
        if DEVICE.type == "cuda":
            results.add(f"SDM [{b},1,{h},{h}] (CPU: SciPy, CUDA: on-device)", t_d, peak)
        else:
            results.add(f"SDM [{b},1,{h},{h}] (CPU: SciPy, CUDA: on-device)", t_s)
            if h <= 256:
                results.add(f"SDM [{b},1,{h},{h}], the on-device path on the CPU", t_d)
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    ap.add_argument("--peak", nargs=5, help=argparse.SUPPRESS)
    ap.add_argument("--only", choices=["depth", "latent", "texture", "sdm"], help="run one section")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per case (default: 15 depth, 20 latent, 5 others)")
    add_device_option(ap)
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.peak:
        _peak_worker(args)
        return
    global DEVICE
    DEVICE = resolve_device(args.device)
    print(describe(DEVICE))
    print(machine_probe())
    q, r = args.quick, args.repeats
    results = Results(DEVICE)
    if args.only in (None, "depth"):
        bench_depth(2 if q else 8, 256 if q else 1024, 256 if q else 1024, r or (3 if q else 15), results)
    if args.only in (None, "latent"):
        bench_latent(8, 16, 128, 128, r or (5 if q else 20), results)
    if args.only in (None, "texture"):
        bench_texture([(1, 256)] if q else [(1, 1024), (8, 1024)], r or (3 if q else 5), results)
    if args.only in (None, "sdm"):
        bench_sdm([(8, 128)] if q else [(8, 128), (8, 1024)], r or (3 if q else 5), results)
    results.write(args.json)


if __name__ == "__main__":
    main()
