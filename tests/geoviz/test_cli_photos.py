"""A user's journey through the CLI on real photographs (``tests/photo_samples.py``): six objects
pasted into photographs and three real textures on walls, every prediction through a VAE-like round
trip, five checkpoints each at a known scale. ``geoviz evaluate`` with its defaults must read each
checkpoint's scale within the issue's goal, rank the true-size checkpoint best, pick each sample's
preset by its kind, and give the dashboard's totals."""

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from photo_samples import OBJECTS, TEXTURES, _save, insertion_case, material_case

from geoviz.cli import main

SCALES = (0.8, 1.0, 1.25)  # every scale of the goal is read by test_scale_readout.py; here the CLI's journey

ASSETS = Path(__file__).resolve().parents[2] / "assets"


@pytest.fixture(scope="module")
def photo_dataset(tmp_path_factory):
    """The cases in the CLI's layout; checkpoints named by their scale (``scale_0.80`` …)."""
    root = tmp_path_factory.mktemp("photos")
    cases = [insertion_case(o, SCALES, roundtrip_preds=True) for o in OBJECTS]
    cases += [material_case(t, SCALES, roundtrip_preds=True) for t in TEXTURES]
    truth = {}
    for case in cases:
        folder = root / case.name
        folder.mkdir()
        _save(case.context, folder / "context.png")
        _save(case.target, folder / "target.png")
        _save(case.mask, folder / "mask.png")
        for name, img in case.predictions.items():
            ck = "scale_" + name.split("_")[1]
            (root / "preds" / ck).mkdir(parents=True, exist_ok=True)
            _save(img, root / "preds" / ck / f"{case.name}.png")
            truth[(case.name, ck)] = (case.kind, case.truth[name])
    return root, truth


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_evaluate_reads_every_checkpoints_scale_and_ranks_the_true_size_best(photo_dataset, tmp_path):
    root, truth = photo_dataset
    out = tmp_path / "results.csv"
    assert main(["evaluate", str(root), "--out", str(out), "--device", "cpu", "--workers", "1", "--quiet"]) == 0
    rows = _rows(out)
    assert len(rows) == len(truth) == 9 * len(SCALES)
    errors = {"insertion": [], "material": []}
    for r in rows:
        kind, s = truth[(r["sample"], r["checkpoint"])]
        assert r["kind"] == kind  # detected from the mask
        assert r["weights"] == {"insertion": "object insertion", "material": "material replacement"}[kind]
        assert r["estimated_scale"], (r["sample"], r["checkpoint"], r["scale_method"])
        errors[kind].append(abs(math.log(float(r["estimated_scale"]) / s)))
    for kind, e in errors.items():
        assert np.median(e) <= 0.03 and max(e) <= 0.08, (kind, np.median(e), max(e))
    for sample in {r["sample"] for r in rows}:
        mine = [r for r in rows if r["sample"] == sample]
        best = min(mine, key=lambda r: float(r["total"]))
        assert best["checkpoint"] == "scale_1.00", (sample, [(r["checkpoint"], r["total"]) for r in mine])
        assert all(float(r["total"]) >= -1e-9 for r in mine)  # no total below a perfect prediction's 0


def test_a_truncated_checkpoint_is_reported_and_the_others_evaluated(photo_dataset, tmp_path):
    import shutil

    root, _ = photo_dataset
    copy = tmp_path / "ds"
    shutil.copytree(root / "cup_in_astronaut", copy / "cup_in_astronaut")
    for ck in (root / "preds").iterdir():
        (copy / "preds" / ck.name).mkdir(parents=True)
        shutil.copy(ck / "cup_in_astronaut.png", copy / "preds" / ck.name / "cup_in_astronaut.png")
    victim = copy / "preds" / "scale_1.25" / "cup_in_astronaut.png"
    victim.write_bytes(victim.read_bytes()[:2000])  # a truncated PNG
    out = tmp_path / "r.csv"
    assert main(["evaluate", str(copy), "--out", str(out), "--device", "cpu", "--workers", "0", "--quiet"]) == 1
    cup = [r for r in _rows(out) if r["sample"] == "cup_in_astronaut"]
    bad = [r for r in cup if r["error"]]
    assert [r["checkpoint"] for r in bad] == ["scale_1.25"] and "damaged or truncated" in bad[0]["error"]
    assert sum(1 for r in cup if not r["error"] and r["estimated_scale"]) == len(SCALES) - 1


def test_the_cli_and_the_dashboard_give_the_same_totals(tmp_path):
    """The demo's files through ``geoviz evaluate`` and through the dashboard's diagnosis: the same
    default weights and params, so the same totals (once 2.799 against 2.775)."""
    import shutil

    from geoviz.app.sessions import demo_session

    ds = tmp_path / "ds"
    (ds / "insert_box").mkdir(parents=True)
    for f in ("context.png", "target.png", "mask.png", "target_depth.npz", "camera.json"):
        shutil.copy(ASSETS / "insert_box" / f, ds / "insert_box" / f)
    for p in sorted((ASSETS / "insert_box" / "pred").glob("*.png")):
        (ds / "preds" / p.stem / "pred_depth").mkdir(parents=True)
        shutil.copy(p, ds / "preds" / p.stem / "insert_box.png")
        shutil.copy(ASSETS / "insert_box" / "pred_depth" / f"{p.stem}.npz", ds / "preds" / p.stem / "pred_depth" / "insert_box.npz")
    out = tmp_path / "r.csv"
    assert main(["evaluate", str(ds), "--out", str(out), "--device", "cpu", "--workers", "0", "--quiet"]) == 0
    session = demo_session("cpu")
    totals = session.combined().totals
    for r in _rows(out):
        assert float(r["total"]) == pytest.approx(totals[r["checkpoint"]], rel=1e-6), r["checkpoint"]
        assert float(r["estimated_scale"]) == pytest.approx(session.report.scales[r["checkpoint"]].estimate, rel=1e-6)
