"""geoviz.analysis.runs: a followed run evaluates each (sample, step) once, reads only steps the run
file lists, and names the step a sample's scale leaves its band; the curves are the samples' medians."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from support import chw

import geoviz
import geoviz.report.figures as FG
from geoviz.analysis.runs import RunFollower, RunPoint, first_step_out, run_curves, scale_series
from geoviz.data.runs import RunRecorder, checkpoint_name

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def box():
    return geoviz.load_sample(ROOT / "assets" / "insert_box")


def _log(run: Path, box, steps_preds: list[tuple[int, str]], sample: str = "box") -> None:
    with RunRecorder(run) as rec:
        for step, ck in steps_preds:
            rec.log(step, sample, context=chw(box.context), target=chw(box.target), mask=torch.from_numpy(box.mask),
                    pred=chw(box.predictions[ck]))


def test_a_poll_evaluates_only_the_new_steps_and_only_those_the_run_file_lists(tmp_path, box, monkeypatch):
    run = tmp_path / "run"
    _log(run, box, [(100, "step_0500"), (200, "step_1000")])
    follower = RunFollower(run)
    evaluated = []
    import geoviz.analysis.runs as runs

    real = runs.evaluate
    monkeypatch.setattr(runs, "evaluate", lambda sample, *a, **k: evaluated.append(list(sample.predictions)) or real(sample, *a, **k))
    assert follower.poll() == 2 and follower.version == 1
    assert evaluated == [["step_000100", "step_000200"]]
    assert follower.poll() == 0 and follower.version == 1  # nothing new: nothing evaluated, nothing to redraw
    # a step whose files are being written (not in run.json yet) is not read
    half = run / "preds" / checkpoint_name(300)
    half.mkdir(parents=True)
    (half / "box.png").write_bytes((run / "preds" / checkpoint_name(200) / "box.png").read_bytes())
    assert follower.poll() == 0 and len(evaluated) == 1
    _log(run, box, [(300, "step_2000")])  # the recorder re-opened: run.json lists 300 now
    assert follower.poll() == 1 and evaluated[-1] == ["step_000300"] and follower.version == 2
    scales = [p.scale for p in follower.of_sample("box")]
    assert scales == pytest.approx([0.8, 0.9, 1.0], abs=0.02)  # the demo's checkpoints at 0.8, 0.9, 1.0
    assert follower.steps() == [100, 200, 300]


def test_a_broken_prediction_is_left_out_with_the_reason_and_the_rest_evaluated(tmp_path, box):
    run = tmp_path / "run"
    _log(run, box, [(100, "step_0500"), (200, "step_1000")])
    png = run / "preds" / checkpoint_name(200) / "box.png"
    png.write_bytes(png.read_bytes()[:500])
    follower = RunFollower(run)
    assert follower.poll() == 1
    assert list(follower.points) == [("box", 100)]
    assert ("box", 200) in follower.failed and "step_000200" in follower.failed[("box", 200)]


def _p(step, scale, sample="s", **values):
    return RunPoint(sample, step, checkpoint_name(step), "insertion", scale, values)


def test_the_step_a_sample_leaves_its_band_is_the_first_outside_after_one_inside():
    drift = [_p(100, 0.8), _p(200, 0.97), _p(300, 1.02), _p(400, 0.93), _p(500, 0.9)]
    assert first_step_out(drift) == 400  # 100 is before it first got there
    assert first_step_out([_p(100, 1.0), _p(200, 1.04)]) is None  # |log 1.04| = 0.039 ≤ 0.05
    assert first_step_out([_p(100, 1.0), _p(200, 1.04)], tolerance=0.03) == 200
    assert first_step_out([_p(100, 0.7), _p(200, 0.8)]) == 100  # never inside: from its first step
    assert first_step_out([_p(100, None), _p(200, 1.2)]) == 200  # a declined readout neither enters nor leaves
    series = scale_series(drift + [_p(100, 1.0, "t")])
    assert series["s"]["first_out"] == 400 and series["s"]["ever_in"] and series["t"]["first_out"] is None


def test_the_curves_are_the_samples_medians_and_a_click_opens_the_worst_sample():
    w = {"a": 1.0, "b": 2.0, "c": 0.0}
    points = [_p(100, 1.0, "x", a=1.0, b=0.5, c=9.0), _p(100, 1.0, "y", a=3.0, b=1.0, c=9.0),
              _p(100, 1.0, "z", a=2.0, b=None, c=9.0), _p(200, 1.0, "x", a=0.5, b=0.0, c=9.0)]
    curves = run_curves(points, w)
    assert curves["steps"] == [100, 200] and set(curves["series"]) == {"total", "a", "b"}  # c weighs nothing
    totals = [2.0, 5.0, 2.0]  # x: 1 + 2·0.5, y: 3 + 2·1, z: 2 (its b skipped)
    assert curves["series"]["total"]["mid"][0] == pytest.approx(np.median(totals))
    assert curves["series"]["total"]["lo"][0] == pytest.approx(np.percentile(totals, 25))
    assert curves["series"]["b"]["mid"][0] == pytest.approx(np.median([1.0, 2.0]))  # the samples that have it
    assert curves["open"] == [("y", "step_000100"), ("x", "step_000200")]
    one = run_curves(points, w, sample="x")
    assert one["series"]["total"]["mid"] == pytest.approx([2.0, 0.5]) and one["samples"] == 1
    fig = FG.run_curves_figure(curves, {"a": "term A"})
    total = next(t for t in fig["data"] if t.get("name") == "total")
    assert total["customdata"] == [["y", "step_000100"], ["x", "step_000200"]]
    assert any(t.get("fill") == "tonexty" for t in fig["data"])  # the 25–75 % band with several samples
    json.dumps(fig)  # plain JSON: what the page sends


def test_the_scale_chart_marks_the_band_and_names_where_each_sample_leaves_it():
    points = [_p(100, 1.0, "chair"), _p(200, 0.9, "chair"), _p(100, 1.01, "lamp"), _p(200, 1.0, "lamp")]
    fig = FG.run_scale_figure(scale_series(points), tolerance=0.05)
    band = fig["layout"]["shapes"][0]
    assert band["y0"] == pytest.approx(np.exp(-0.05)) and band["y1"] == pytest.approx(np.exp(0.05))
    notes = [a["text"] for a in fig["layout"]["annotations"]]
    assert notes == ["chair leaves at 200"]
    chair = next(t for t in fig["data"] if t["name"] == "chair")
    assert chair["x"] == [100, 200] and chair["customdata"] == [["chair", "step_000100"], ["chair", "step_000200"]]


def test_a_prediction_linked_from_outside_the_run_is_never_read(tmp_path, box):
    run = tmp_path / "root" / "run"
    _log(run, box, [(100, "step_0500"), (200, "step_1000")])
    outside = tmp_path / "private.png"
    outside.write_bytes((run / "preds" / checkpoint_name(200) / "box.png").read_bytes())
    (run / "preds" / checkpoint_name(200) / "box.png").unlink()
    (run / "preds" / checkpoint_name(200) / "box.png").symlink_to(outside)
    follower = RunFollower(run, root=(tmp_path / "root").resolve())
    assert follower.poll() == 0 and follower.points == {}  # the sample reads a file out of the root: left out
    assert "outside the data root" in follower.problem  # said on screen, not raised at every poll


def test_a_run_folder_before_its_first_step_waits_for_it(tmp_path, box):
    run = tmp_path / "run"
    run.mkdir()  # `geoviz serve --run` started before the training logged anything
    follower = RunFollower(run)
    assert follower.poll() == 0 and "waiting for run.json" in follower.problem
    _log(run, box, [(100, "step_0500")])
    assert follower.poll() == 1 and follower.problem is None


def test_the_summary_tells_every_excursion_from_the_band_not_only_the_first_exit():
    from geoviz.analysis.runs import band_story

    assert band_story([_p(100, 1.0), _p(200, 1.03)]) is None  # always inside: nothing to tell
    early = [_p(25, 0.939), _p(50, 0.98), _p(75, 1.01)]  # |log 0.939| = 0.063: outside before it got there
    assert band_story(early) == "outside it before step 50 (s = 0.939 at step 25)"
    back = [_p(25, 1.0), _p(50, 0.9), _p(75, 0.99)]
    assert band_story(back) == "leaves it at step **50** (s = 0.900), back inside at step 75"
    still = [_p(100, 1.0), _p(300, 0.9), _p(400, 0.85)]
    assert band_story(still) == "leaves it at step **300** (s = 0.900), still outside at its last step 400 (s = 0.850)"
    assert band_story([_p(1, 0.7), _p(2, 0.8)]) == "outside it at every step (s 0.700–0.800)"
    assert scale_series(early, tolerance=0.06)["s"]["story"] == "outside it before step 50 (s = 0.939 at step 25)"


def test_terms_without_a_value_in_the_run_draw_no_curve():
    points = [_p(100, 1.0, "x", a=1.0, depth_inside=None), _p(200, 1.0, "x", a=0.5, depth_inside=None)]
    curves = run_curves(points, {"a": 1.0, "depth_inside": 0.5})
    assert set(curves["series"]) == {"total", "a"}  # a run without depth shows no depth curve or legend entry


def test_a_tolerance_outside_its_range_is_brought_in_and_said():
    from geoviz.app.tabs.run import clamped_tolerance

    assert clamped_tolerance(0.05) == (0.05, None)
    tol, said = clamped_tolerance(0)
    assert tol == 0.001 and "0 became 0.001" in said
    assert clamped_tolerance(2)[0] == 1.0 and clamped_tolerance(None)[0] == 0.05
