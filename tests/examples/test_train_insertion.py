"""The training-loop example, shortened: both runs (MSE, MSE + the geometry terms of the bundled
weights config) train — the loss goes down — and the held-out measurement is computed."""

import importlib.util
import math
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train_insertion.py"


def _example():
    spec = importlib.util.spec_from_file_location("train_insertion", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shortened_run_decreases_its_loss(capsys):
    results = _example().main(["--steps", "40", "--size", "64", "--train", "12", "--held-out", "4",
                               "--log-every", "20", "--threads", "1"])
    out = capsys.readouterr().out
    assert "latent_dice=" in out and "scale error" in out  # per-term logging and the final table
    for run in ("mse", "mse+geom"):
        history = results[run]["history"]
        assert len(history) == 40
        first, last = sum(history[:8]) / 8, sum(history[-8:]) / 8
        assert last < 0.8 * first, (run, first, last)  # batches are noisy: compare window means
        metrics = results[run]["held_out"]
        assert all(math.isfinite(v) for v in metrics.values()), metrics
        assert 0.0 <= metrics["change_dice"] <= 1.0


def test_the_model_starts_as_the_identity_edit():
    import torch

    ex = _example()
    model = ex.Inserter()
    ctx, mask = torch.rand(2, 3, 32, 48), torch.rand(2, 1, 32, 48)
    assert torch.equal(model(ctx, mask), ctx)


def test_a_watched_run_is_recorded_for_the_dashboard_and_logged_to_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from geoviz.data.runs import read_run

    _example().main(["--steps", "20", "--size", "64", "--train", "8", "--held-out", "2", "--log-every", "10",
                     "--threads", "1", "--run-dir", str(tmp_path / "runs"), "--tensorboard", str(tmp_path / "tb"),
                     "--eval-every", "10"])
    for run in ("mse", "mse_geom"):
        info = read_run(tmp_path / "runs" / run)
        assert info.steps == [10, 20] and info.samples == ["scene_00", "scene_01"]
        acc = EventAccumulator(str(tmp_path / "tb" / run), size_guidance={"scalars": 0})
        acc.Reload()
        tags = acc.Tags()["scalars"]
        assert len(acc.Scalars("train/loss")) == 20
        assert [e.step for e in acc.Scalars("geoviz/scene_00/total")] == [10, 20]
        assert "geoviz/scene_01/scale" in tags
