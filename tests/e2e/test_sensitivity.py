"""The Sensitivity tab through the API: a sweep of the demo, then Balance (equal gradient shares, the
total's gradient norm kept) and Undo, each reaching the weights the app reports."""

from pathlib import Path

import pytest
from gradio_client import Client
from test_api import call

from geoviz.analysis.balance import balance_weights, gradient_balance
from geoviz.data.layouts import load_sample
from geoviz.engine.evaluate import evaluate
from geoviz.engine.weights import PRESETS

ASSETS = Path(__file__).resolve().parents[2] / "assets"


@pytest.fixture(scope="module")
def demo_report():
    return evaluate(load_sample(ASSETS / "insert_box"), device="cpu")


def test_sweep_balance_undo(app_url, demo_report):
    client = Client(app_url, verbose=False)
    call(client, "/load_demo")
    md, plot, table, ex1, ex2, bmd, bplot = call(client, "/sweep", lo=0.8, hi=1.2, n=9)
    assert "object scaled about its contact point" in md and "batch" in md
    rows = {r[0]: r for r in table["data"]}
    assert "weighted total" in rows and "area ratio (change mask)" in rows
    assert "Share of the weighted gradient" in bplot["plot"]

    out = call(client, "/balance", scope="this prediction", pred="step_1000")
    summary, config, label = out[-3], out[-2], out[-1]
    assert label == "custom"  # the preset dropdown says the weights are no longer a preset
    weights = summary["weights"]
    preset = PRESETS["object insertion"]
    assert weights != preset and Path(config).name == "weights.json"
    # the API's weights are the engine's, with the 10× bound around the preset
    expected = balance_weights(demo_report, preset, predictions=["step_1000"], reference=preset, max_ratio=10.0)
    assert weights == pytest.approx(expected.weights, rel=1e-6)
    for t, w in weights.items():
        if preset.get(t):
            assert preset[t] / 10 - 1e-9 <= w <= preset[t] * 10 + 1e-9, (t, w)
    after = gradient_balance(demo_report, weights, "step_1000")
    for group in ("latent", "depth"):  # the terms not held at the bound share their group's gradient equally
        members = [t for t in after.groups()[group] if preset.get(t) and after.norms[t] and t not in expected.capped
                   and t not in expected.left_out]
        shares = [after.shares[t] for t in members]
        if len(shares) >= 2:
            assert max(shares) / min(shares) - 1 < 0.01, (group, members, shares)

    out = call(client, "/undo_balance", pred="step_1000")
    assert out[-3]["weights"] == pytest.approx({t: preset.get(t, 0.0) for t in out[-3]["weights"]})
    assert out[-1] == "object insertion"
