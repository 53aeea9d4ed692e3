"""`import geoviz` is the public face for notebooks (load, evaluate, combine, sweeps, balance, the
registered terms and presets), and the 0.1 module paths keep working for 0.2 as re-exports that
warn once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import geoviz

ROOT = Path(__file__).resolve().parents[2]


def test_the_public_face_diagnoses_the_demo():
    sample = geoviz.load_sample(ROOT / "assets" / "insert_box")
    report = geoviz.evaluate(sample, device="cpu")
    assert isinstance(report, geoviz.Report) and report.kind == "insertion"
    totals = geoviz.combine(report, geoviz.preset(geoviz.preset_for(report.kind))).totals
    assert set(totals) == set(sample.predictions)
    assert report.scales["step_2000"].estimate == pytest.approx(1.0, abs=0.02)
    assert geoviz.list_terms() == list(geoviz.engine.terms.REGISTRY)
    assert set(report.values["step_2000"]) == set(geoviz.list_terms())
    assert geoviz.PRESETS["object insertion"] == geoviz.preset("object insertion")
    for name in geoviz.__all__:
        assert getattr(geoviz, name) is not None, name
    with pytest.raises(TypeError, match="geoviz.preset"):
        geoviz.combine(report, "object insertion")
    for name in ("scale_sweep", "period_sweep", "balance_weights"):
        assert callable(getattr(geoviz, name))
    assert geoviz.RunRecorder is geoviz.data.runs.RunRecorder and geoviz.read_run is geoviz.data.runs.read_run


OLD_PATHS = """
import warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as seen:
    from geoviz.io import load_sample, InputError
    from geoviz.io import load_image
    from geoviz.evaluate import evaluate, combine
    import geoviz.evaluate
    from geoviz.sweeps import scale_sweep
    from geoviz.terms import REGISTRY
    from geoviz.cli import list_dataset
    from geoviz.cli import list_dataset as again
import geoviz
import geoviz.data.layouts, geoviz.engine.evaluate, geoviz.engine.combine, geoviz.analysis.sweeps
assert load_sample is geoviz.data.layouts.load_sample and evaluate is geoviz.engine.evaluate.evaluate
assert combine is geoviz.engine.combine.combine and scale_sweep is geoviz.analysis.sweeps.scale_sweep
assert REGISTRY is geoviz.engine.terms.REGISTRY and list_dataset is again is geoviz.data.layouts.list_dataset
assert callable(geoviz.evaluate)  # the function of the public face, even after the old module was imported
messages = [str(w.message) for w in seen if issubclass(w.category, DeprecationWarning)]
print("\\n".join(messages))
"""


def test_the_old_module_paths_re_export_and_warn_once_each():
    out = subprocess.run([sys.executable, "-c", OLD_PATHS], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    for old in ("geoviz.io moved", "geoviz.evaluate moved", "geoviz.sweeps moved", "geoviz.terms moved",
                "geoviz.cli.list_dataset moved"):
        assert sum(line.startswith(old) for line in lines) == 1, (old, lines)
    assert all("0.3" in line for line in lines)


def test_the_version_is_0_2():
    assert geoviz.__version__.startswith("0.2.")
