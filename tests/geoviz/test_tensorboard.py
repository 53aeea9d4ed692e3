"""geoviz.report.tensorboard.log_report: the numbers and maps of a Report land in TensorBoard's
event files (read back with TensorBoard's own EventAccumulator) and in an offline W&B run."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import geoviz
from geoviz.report.tensorboard import checkpoint_step, log_report, report_scalars

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def box():
    sample = geoviz.load_sample(ROOT / "assets" / "insert_box")
    return sample, geoviz.evaluate(sample, cache=None)


def _events(folder: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_checkpoint_names_give_their_steps():
    assert checkpoint_step("step_000500") == 500 and checkpoint_step("ckpt-1200") == 1200
    assert checkpoint_step("3000") == 3000
    assert checkpoint_step("scale_0.90") is None and checkpoint_step("best") is None


def test_every_checkpoint_lands_at_its_step_with_the_dashboards_numbers(tmp_path, box):
    from torch.utils.tensorboard import SummaryWriter

    sample, report = box
    weights = geoviz.preset(geoviz.preset_for(report.kind))
    with SummaryWriter(str(tmp_path)) as writer:
        logged = log_report(writer, report, weights=weights, sample=sample)
    acc = _events(tmp_path)
    tags = acc.Tags()["scalars"]
    totals = geoviz.combine(report, weights).totals
    steps = [int(ck.split("_")[1]) for ck in report.predictions]  # the demo's step_0500 … step_3000
    assert sorted(logged) == sorted(steps)
    series = {e.step: e.value for e in acc.Scalars("geoviz/insert_box/total")}
    assert sorted(series) == sorted(steps)
    for ck, step in zip(report.predictions, steps):
        assert series[step] == pytest.approx(totals[ck], rel=1e-6)
    scale = {e.step: e.value for e in acc.Scalars("geoviz/insert_box/scale")}
    for ck, step in zip(report.predictions, steps):
        assert scale[step] == pytest.approx(report.scales[ck].estimate, rel=1e-6)
    # the weighted terms sum to the total; every computed term's raw value is there
    weighted = [t for t in tags if t.startswith("geoviz/insert_box/term/")]
    assert weighted and all(weights[t.rsplit("/", 1)[1]] for t in weighted)
    first = report.predictions[0]
    at = {t: {e.step: e.value for e in acc.Scalars(t)} for t in weighted}
    assert sum(v[steps[0]] for v in at.values()) == pytest.approx(totals[first], rel=1e-5)
    raw = {t.rsplit("/", 1)[1] for t in tags if t.startswith("geoviz/insert_box/raw/")}
    assert raw == {t for t, v in report.values[first].items() if v is not None}
    # images: the total's map over the full-size prediction and the change mask, per checkpoint
    images = acc.Tags()["images"]
    assert {"geoviz/insert_box/total_map", "geoviz/insert_box/change_mask"} <= set(images)
    shots = acc.Images("geoviz/insert_box/total_map")
    assert [s.step for s in shots] == steps
    h, w = report.image_size
    assert (shots[0].height, shots[0].width) == (h, w)
    mask = acc.Images("geoviz/insert_box/change_mask")[0]
    from io import BytesIO

    from PIL import Image

    m = np.asarray(Image.open(BytesIO(mask.encoded_image_string)).convert("L"), dtype=np.float32) / 255
    inside = sample.mask > 0.5
    assert m[inside].mean() > m[~inside].mean() + 0.3  # the change mask covers the inserted object


def test_a_training_step_logs_every_checkpoint_of_one_report_at_that_step(tmp_path, box):
    from torch.utils.tensorboard import SummaryWriter

    _, report = box
    with SummaryWriter(str(tmp_path)) as writer:
        logged = log_report(writer, report, step=42, images=False)
    assert list(logged) == [42]
    acc = _events(tmp_path)
    tags = acc.Tags()["scalars"]
    assert f"geoviz/insert_box/{report.predictions[0]}/total" in tags  # several checkpoints: named in the tag
    assert not acc.Tags()["images"]
    assert set(logged[42]) == {t for row in report_scalars(report, in_tag=True).values() for t in row}


def test_the_cli_writes_a_datasets_evaluation_into_tensorboard(tmp_path):
    from geoviz.data.synth import write_dataset

    write_dataset(tmp_path / "ds", n_samples=2, size=96)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "geoviz", "evaluate", str(tmp_path / "ds"), "--out",
                          str(tmp_path / "r.csv"), "--workers", "0", "--quiet", "--tensorboard", str(tmp_path / "tb")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    from geoviz.cli import read_results

    rows = read_results(tmp_path / "r.csv")
    acc = _events(tmp_path / "tb")
    for r in rows:
        tag = f"geoviz/{r['sample']}/total"
        at = {e.step: e.value for e in acc.Scalars(tag)}
        step = checkpoint_step(r["checkpoint"])
        key = step if step is not None else sorted({x["checkpoint"] for x in rows if x["sample"] == r["sample"]}).index(r["checkpoint"])
        assert at[key] == pytest.approx(float(r["total"]), rel=1e-5), (tag, r["checkpoint"])


def test_a_wandb_run_gets_the_same_scalars_offline(tmp_path, box, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    _, report = box
    run = wandb.init(project="geoviz-test", dir=str(tmp_path), mode="offline")
    try:
        logged = log_report(run, report)
        last = max(logged)
        # W&B commits a step when a later one is logged (a training loop's next step): log it
        run.log({"loss": 0.0}, step=last + 1)
        for tag, value in logged[last].items():
            assert run.summary[tag] == pytest.approx(value, rel=1e-6), tag
        image = run.summary["geoviz/insert_box/total_map"]
        assert image["_type"] == "image-file" and (image["height"], image["width"]) == report.image_size
    finally:
        run.finish()
    assert list(Path(tmp_path, "wandb").glob("offline-run-*/run-*.wandb"))  # the run file a `wandb sync` uploads
