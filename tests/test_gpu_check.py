"""bench/gpu_check.sh's parts that can be checked without a GPU: the CUDA tests collect and run on an
interpreter that has no gradio (nor the other dashboard and test-tool packages a GPU machine lacks),
and the table puts each term's CPU and CUDA figures side by side."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

# what a GPU machine typically lacks: importing any of them fails in the child process
ABSENT = ["gradio", "gradio_client", "playwright", "skimage", "importlinter", "pdoc", "xdist", "tensorboard", "wandb"]

CHILD = textwrap.dedent("""
    import importlib.abc, sys
    ABSENT = set(sys.argv[1].split(","))

    class Absent(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ABSENT:
                raise ModuleNotFoundError(f"No module named {name!r} (absent on this machine)")
            return None

    sys.meta_path.insert(0, Absent())
    import pytest
    sys.exit(pytest.main(["-q", "-m", "cuda", "-rs", "-p", "no:cacheprovider", *sys.argv[2:]]))
""")


def _cuda_test_files() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("*.py")
                  if "pytest.mark.cuda" in p.read_text(encoding="utf-8") and p.name != Path(__file__).name)


def test_the_cuda_tests_need_no_gradio_and_none_is_left_out():
    files = _cuda_test_files()
    assert "tests/geoviz/test_engine_cuda.py" in files and "tests/losses/test_devices.py" in files
    # every test that asks for CUDA is marked: `pytest -m cuda` would leave an unmarked one out
    for path in (ROOT / "tests").rglob("test_*.py"):
        text = path.read_text(encoding="utf-8")
        assert text.count("cuda_or_skip()") <= text.count("@pytest.mark.cuda"), path
    run = subprocess.run([sys.executable, "-c", CHILD, ",".join(ABSENT), *files], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    assert "error" not in out.lower().split("short test summary")[-1], out[-3000:]
    # every CUDA test was collected: here they skip (no GPU), on a GPU they run
    import torch

    summary = out.strip().splitlines()[-1]
    if not torch.cuda.is_available():
        skipped = int(summary.split(" skipped")[0].split()[-1])
        assert skipped >= 30 and "passed" not in summary, summary


def test_the_table_puts_cpu_and_cuda_side_by_side(tmp_path):
    from gpu_table import rows_of, table

    (tmp_path / "cpu-bench_losses.json").write_text(json.dumps({"device": "cpu", "rows": [
        {"name": "004 ssi_loss [8,1,1024,1024]", "seconds": 0.8, "peak_bytes": None},
        {"name": "SDM, SciPy per sample (CPU) [8,1,128,128]", "seconds": 0.02, "peak_bytes": None}]}))
    (tmp_path / "cuda-bench_losses.json").write_text(json.dumps({"device": "cuda:0", "rows": [
        {"name": "004 ssi_loss [8,1,1024,1024]", "seconds": 0.004, "peak_bytes": 96 * 2**20},
        {"name": "SDM, exact on-device path [8,1,128,128]", "seconds": 0.0012, "peak_bytes": 2**20}]}))
    lines = table(rows_of(tmp_path, "cpu"), rows_of(tmp_path, "cuda")).splitlines()
    assert lines[0] == "| term | CPU | CUDA | CPU / CUDA | peak CUDA memory |"
    assert lines[2] == "| 004 ssi_loss [8,1,1024,1024] | 800.0 ms | 4.0 ms | 200.0× | 96 MiB |"
    assert lines[3] == "| SDM, SciPy per sample (CPU) [8,1,128,128] | 20.0 ms | — | — | — |"
    assert lines[4] == "| SDM, exact on-device path [8,1,128,128] | — | 1.2 ms | — | 1 MiB |"
