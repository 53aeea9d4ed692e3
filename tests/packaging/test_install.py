"""`pip install .` works for people who are not in this checkout: the wheel is built from a copy of
the sources, installed into a fresh virtual environment (the heavy dependencies reused from the
test environment through a .pth file, so no download and no 6 GB copy), and used from another
folder: `geoviz --help`, a one-sample `geoviz evaluate`, and `geoviz serve` opening the bundled demo."""

from __future__ import annotations

import csv
import os
import shutil
import site
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]


def _run(cmd: list[str], cwd: Path, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv bin folder, a working folder outside the checkout)."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("losses", "geoviz", "assets"):
        shutil.copytree(CHECKOUT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(CHECKOUT / name, src / name)
    built = _run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                  "-w", str(tmp / "dist"), "-q"], cwd=tmp)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp / "dist").glob("geoviz-*.whl")
    venv = tmp / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp)
    assert made.returncode == 0, made.stderr
    py = venv / "bin" / "python"
    target_site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            cwd=tmp).stdout.strip())
    # the test environment's packages (torch, gradio, pip …) visible after the venv's own
    (target_site / "_reuse_test_env.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    inst = _run([str(py), "-m", "pip", "install", "--no-index", str(wheel), "-q"], cwd=tmp)
    assert inst.returncode == 0, inst.stdout + inst.stderr  # every dependency found, none downloaded
    work = tmp / "elsewhere"
    work.mkdir()
    return venv / "bin", work


def test_imports_come_from_the_installed_package(installed):
    bin_dir, work = installed
    out = _run([str(bin_dir / "python"), "-c",
                "import geoviz, losses, geoviz.app.sessions as ui; print(geoviz.__file__); print(losses.__file__); "
                "print(ui.ASSETS); print(geoviz.__version__)"], cwd=work)
    assert out.returncode == 0, out.stderr
    geoviz_file, losses_file, assets, version = out.stdout.split()
    venv = bin_dir.parent.resolve()
    for p in (geoviz_file, losses_file, assets):
        assert Path(p).resolve().is_relative_to(venv), p  # not the checkout
    assert (Path(assets) / "insert_box" / "target.png").is_file()
    from geoviz import __version__

    assert version == __version__


def test_console_script_help(installed):
    bin_dir, work = installed
    out = _run([str(bin_dir / "geoviz"), "--help"], cwd=work)
    assert out.returncode == 0, out.stderr
    for command in ("serve", "evaluate", "report", "calibrate"):
        assert command in out.stdout
    from geoviz import __version__

    version = _run([str(bin_dir / "geoviz"), "--version"], cwd=work)
    assert version.returncode == 0 and version.stdout.strip() == f"geoviz {__version__}"
    same = _run([str(bin_dir / "python"), "-m", "geoviz", "--help"], cwd=work)  # the same program
    assert same.returncode == 0 and same.stdout.splitlines()[1:] == out.stdout.splitlines()[1:]


def test_one_sample_evaluate(installed):
    from geoviz.data.synth import write_dataset

    bin_dir, work = installed
    data = work / "data"
    write_dataset(data, n_samples=1, size=64, checkpoints={"ck": 1.1})
    out = _run([str(bin_dir / "geoviz"), "evaluate", str(data), "--out", "results.csv", "--workers", "0",
                "--device", "cpu", "--quiet"], cwd=work)
    assert out.returncode == 0, out.stderr
    (row,) = list(csv.DictReader(open(work / "results.csv", newline="")))
    assert row["sample"] == "sample_000" and row["checkpoint"] == "ck" and row["error"] == ""
    assert float(row["total"]) > 0


def test_serve_opens_the_bundled_demo(installed):
    bin_dir, work = installed
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.Popen([str(bin_dir / "geoviz"), "serve", "--port", str(port), "--device", "cpu"], cwd=work,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        page = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=5) as r:
                    page = r.read().decode()
                break
            except OSError:
                time.sleep(1)
        assert page is not None, proc.stdout.read() if proc.poll() is not None else "no answer in 180 s"
        assert "geoviz" in page
    finally:
        proc.terminate()
        try:
            log = proc.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            log = proc.communicate()[0]
    assert "demo diagnosis ready" in log, log
