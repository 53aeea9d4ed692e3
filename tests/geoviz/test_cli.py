"""The batch CLI on a dataset rendered by geoviz.synth: CSV values equal geoviz.evaluate, the HTML
summary, a corrupted sample reported and survived, torchrun over 2 processes gives the same CSV."""

import csv
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import geoviz.data.synth as S
from geoviz.cli import main
from geoviz.data.layouts import list_dataset, load_spec
from geoviz.engine.combine import combine
from geoviz.engine.evaluate import evaluate
from geoviz.engine.terms import REGISTRY
from geoviz.engine.weights import WeightsConfig, preset

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return S.write_dataset(tmp_path_factory.mktemp("ds"), n_samples=6, size=128)


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_evaluate_writes_the_engines_values(dataset, tmp_path):
    weights = preset("object insertion")
    cfg = WeightsConfig(weights=weights).save(tmp_path / "weights.json")
    out, html = tmp_path / "results.csv", tmp_path / "report.html"
    code = main(["evaluate", str(dataset), "--out", str(out), "--html", str(html), "--weights", str(cfg),
                 "--device", "cpu", "--workers", "2", "--bundle-dir", str(tmp_path / "bundles"), "--quiet"])
    assert code == 0
    rows = _rows(out)
    assert len(rows) == 6 * 3 and all(r["error"] == "" for r in rows)
    assert list(rows[0]) == ["sample", "checkpoint", "kind", "estimated_scale", "scale_method", "weights", *REGISTRY,
                             "latent_boundary_raw", *[f"{t}_weighted" for t in REGISTRY], "total", "error"]
    truth = {"ckpt_0500": 0.85, "ckpt_1000": 1.0, "ckpt_1500": 1.15}  # write_dataset's scales
    for r in rows:
        assert r["kind"] == "insertion" and r["weights"] == "weights file"
        assert float(r["estimated_scale"]) == pytest.approx(truth[r["checkpoint"]], rel=0.03), r["sample"]
        assert r["scale_method"].startswith("registration")
    specs, checkpoints = list_dataset(dataset)
    assert checkpoints == ["ckpt_0500", "ckpt_1000", "ckpt_1500"]
    for spec in specs[:2]:
        report = evaluate(load_spec(spec), None, device="cpu", cache=None)
        c = combine(report, weights)
        for ck in checkpoints:
            row = next(r for r in rows if r["sample"] == spec.name and r["checkpoint"] == ck)
            for t in REGISTRY:
                v = report.values[ck][t]
                assert (row[t] == "") == (v is None)
                if v is not None:
                    assert float(row[t]) == v and float(row[f"{t}_weighted"]) == pytest.approx(c.weighted[ck][t])
            assert float(row["total"]) == pytest.approx(c.totals[ck], rel=1e-12)
            assert float(row["estimated_scale"]) == report.scales[ck].estimate
            raw = report.results[ck]["latent_boundary"].extras["raw_value"]
            assert float(row["latent_boundary_raw"]) == raw and float(row["latent_boundary"]) > raw
    text = html.read_text()
    assert "ckpt_1000" in text and "median total" in text and "Worst samples" in text
    assert len(list((tmp_path / "bundles").glob("*.geoviz.zip"))) == 6


def test_a_corrupted_sample_is_reported_and_the_run_goes_on(dataset, tmp_path, capsys):
    broken = tmp_path / "ds"
    shutil.copytree(dataset, broken)
    (broken / "sample_002" / "target.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "results.csv"
    code = main(["evaluate", str(broken), "--out", str(out), "--device", "cpu", "--workers", "0", "--quiet"])
    assert code == 1  # non-zero when a sample failed
    rows = _rows(out)
    bad = [r for r in rows if r["error"]]
    assert {r["sample"] for r in bad} == {"sample_002"} and "target.png" in bad[0]["error"]
    assert sum(1 for r in rows if not r["error"]) == 5 * 3


def test_torchrun_two_processes_give_the_same_csv(dataset, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    single, multi = tmp_path / "single.csv", tmp_path / "multi.csv"
    args = ["evaluate", str(dataset), "--device", "cpu", "--workers", "1", "--quiet"]
    subprocess.run([sys.executable, "-m", "geoviz", *args, "--out", str(single)], check=True, env=env, cwd=ROOT)
    torchrun = Path(sys.executable).with_name("torchrun")
    subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "geoviz", *args, "--out", str(multi)],
                   check=True, env=env, cwd=ROOT, capture_output=True)
    assert multi.read_bytes() == single.read_bytes()
    assert not list(tmp_path.glob("multi.csv.rank*"))


def test_calibrate_and_report_commands(tmp_path, capsys):
    assert main(["calibrate", str(ROOT / "assets" / "calibration")]) == 0
    out = capsys.readouterr().out
    k = float(out.split("k_obj = ")[1].split()[0])
    assert k == pytest.approx(math.sqrt(0.62 * 0.92), rel=0.01) and "24 of 24" in out
    assert main(["calibrate", str(ROOT / "assets" / "calibration"), "--depth-kind", "inverse"]) == 0
    assert "inverse depth" in capsys.readouterr().out
    from geoviz.data.layouts import load_sample
    from geoviz.report.bundles import export_bundle

    s = load_sample(ROOT / "assets" / "insert_box")
    r = evaluate(s, device="cpu", cache=None)
    bundle = tmp_path / "s.geoviz.zip"
    bundle.write_bytes(export_bundle(s, r.values, weights=preset("object insertion")))
    assert main(["report", str(bundle), "--html", str(tmp_path / "r.html")]) == 0
    printed = capsys.readouterr().out
    assert "step_0500" in printed and f"{r.values['step_0500']['latent_mse']:.6g}" in printed
    assert (tmp_path / "r.html").stat().st_size > 100_000
    assert main(["report", str(tmp_path / "missing.zip")]) == 2


def test_estimated_depth_with_the_default_device(tmp_path):
    """--depth-source with --device auto (the default): the estimator gets a real device, every row
    is computed (it once failed every sample with 'auto' passed to .to())."""
    import torch

    from geoviz.models.depth import DepthAnythingV2Small

    data = S.write_dataset(tmp_path / "ds", n_samples=2, size=64, checkpoints={"ck": 1.0})
    shutil.rmtree(data / "preds" / "ck" / "pred_depth")  # "estimate missing" fills these
    torch.manual_seed(0)
    weights = tmp_path / "dav2.pth"
    torch.save(DepthAnythingV2Small().state_dict(), weights)
    out = tmp_path / "r.csv"
    code = main(["evaluate", str(data), "--out", str(out), "--workers", "0", "--quiet",
                 "--depth-source", "estimate missing", "--depth-weights", str(weights)])
    rows = _rows(out)
    assert code == 0 and [r["error"] for r in rows] == ["", ""]
    assert all(r["depth_inside"] != "" for r in rows)  # the estimated depth reached the depth terms


def test_calibrate_without_a_usable_sample_says_so(tmp_path, capsys):
    import json

    import numpy as np
    from PIL import Image

    s = tmp_path / "cal" / "00"
    s.mkdir(parents=True)
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(s / "mask.png")  # empty: no k
    np.save(s / "depth.npy", np.ones((32, 32), np.float32))
    (s / "camera.json").write_text(json.dumps({"f_px": 40.0}))
    assert main(["calibrate", str(tmp_path / "cal")]) == 2
    assert "no sample has a non-empty mask" in capsys.readouterr().err
