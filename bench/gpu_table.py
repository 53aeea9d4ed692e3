"""One Markdown table from the rows the benchmarks wrote with ``--json`` (``bench/gpu_check.sh``):
term, CPU time, CUDA time, the CPU/CUDA ratio and the peak CUDA memory, side by side.

    python bench/gpu_table.py DIR      # DIR/cpu-*.json and DIR/cuda-*.json

A row measured on one device only shows a dash on the other (e.g. SciPy's SDM runs on the CPU).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

__all__ = ["rows_of", "table", "main"]


def rows_of(folder: Path, device: str) -> dict[str, dict]:
    """``{name: row}`` of every ``DIR/<device>-*.json``, in the order the benchmarks wrote them."""
    out: dict[str, dict] = {}
    for path in sorted(folder.glob(f"{device}-*.json")):
        for row in json.loads(path.read_text())["rows"]:
            out[row["name"]] = row
    return out


def _time(s: float | None) -> str:
    if s is None:
        return "—"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def table(cpu: dict[str, dict], cuda: dict[str, dict]) -> str:
    """The Markdown table of the two devices' rows (names of either, CPU's order first)."""
    lines = ["| term | CPU | CUDA | CPU / CUDA | peak CUDA memory |", "|---|---:|---:|---:|---:|"]
    for name in [*cpu, *(n for n in cuda if n not in cpu)]:
        c, g = cpu.get(name, {}).get("seconds"), cuda.get(name, {}).get("seconds")
        ratio = f"{c / g:.1f}×" if c is not None and g else "—"
        peak = cuda.get(name, {}).get("peak_bytes")
        lines.append(f"| {name} | {_time(c)} | {_time(g)} | {ratio} | "
                     f"{f'{peak / 2**20:.0f} MiB' if peak is not None else '—'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    folder = Path(args[0])
    print(table(rows_of(folder, "cpu"), rows_of(folder, "cuda")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
