"""The dashboard through its API (gradio_client against a real server): the demo's numbers are the
engine's, a weight change's total is combine's, a bad upload is refused by name and the session
goes on working."""

from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from geoviz.app.labels import WEIGHT_TERMS
from geoviz.data.layouts import load_sample
from geoviz.engine.combine import combine
from geoviz.engine.evaluate import evaluate
from geoviz.engine.weights import PRESETS

ASSETS = Path(__file__).resolve().parents[2] / "assets"


def call(client: Client, api_name: str, **overrides):
    """Call an endpoint with its defaults, overriding parameters by name."""
    ep = client.view_api(return_format="dict", print_info=False)["named_endpoints"][api_name]
    names = [p["parameter_name"] for p in ep["parameters"]]
    unknown = set(overrides) - set(names)
    assert not unknown, f"{api_name} has no parameter(s) {unknown}; it has {names}"
    args = [overrides.get(p["parameter_name"], p.get("parameter_default")) for p in ep["parameters"]]
    return client.predict(*args, api_name=api_name)


@pytest.fixture
def client(app_url):
    return Client(app_url, verbose=False)


@pytest.fixture(scope="module")
def demo_report():
    return evaluate(load_sample(ASSETS / "insert_box"), device="cpu")


def test_demo_values_are_the_engines(client, demo_report):
    out = call(client, "/load_demo")
    summary = next(o for o in out if isinstance(o, dict) and "values" in o)
    assert summary["sample"] == "insert_box"
    for pred, values in demo_report.values.items():
        for term, v in values.items():
            got = summary["values"][pred][term]
            assert (got is None) == (v is None), (pred, term)
            if v is not None:
                assert got == pytest.approx(v, rel=1e-9, abs=1e-12), (pred, term)
    want = combine(demo_report, PRESETS["object insertion"]).totals
    assert summary["totals"] == pytest.approx(want, rel=1e-9)


def test_weight_change_total_is_combine(client, demo_report):
    call(client, "/load_demo")
    weights = dict(PRESETS["object insertion"])
    weights["latent_dice"] = 2.5
    weights["depth_edge"] = 0.0
    overrides = {f"w_{t}": weights[t] for t in WEIGHT_TERMS}  # each weight by name
    out = call(client, "/weights", **overrides)
    summary = out[-1]
    assert all(o != {"__type__": "update"} for o in out), "the API's weight change sends every weighted view"
    assert summary["weights"]["latent_dice"] == 2.5 and summary["weights"]["depth_edge"] == 0.0
    assert summary["totals"] == pytest.approx(combine(demo_report, weights).totals, rel=1e-9)
    fast = call(client, "/weights_total", **{f"w_{t}": weights[t] for t in WEIGHT_TERMS})
    for total in combine(demo_report, weights).totals.values():
        assert f"{total:.4f}" in fast


def test_bad_upload_is_named_and_the_session_goes_on(client, tmp_path):
    from gradio_client.exceptions import AppError

    bogus = tmp_path / "context_broken.png"
    bogus.write_text("this is not an image")
    d = ASSETS / "tiles_wall"
    good = dict(ctx=handle_file(str(d / "context.png")), tgt=handle_file(str(d / "target.png")),
                m_file=handle_file(str(d / "mask.png")),
                pr=[handle_file(str(p)) for p in sorted((d / "pred").glob("*.png"))])
    with pytest.raises(AppError) as e:
        call(client, "/diagnose", **{**good, "ctx": handle_file(str(bogus))})
    assert "context_broken.png" in str(e.value)
    out = call(client, "/diagnose", **good)
    summary = out[-1]
    assert sorted(summary["values"]) == ["period_0.80", "period_1.00", "period_1.25", "rotated_15"]
    ratio = summary["values"]["period_1.25"]["texture_acf"]
    assert ratio is not None and ratio > summary["values"]["period_1.00"]["texture_acf"]


def test_mask_from_difference_and_drawn(client, tmp_path):
    import numpy as np
    from PIL import Image

    d = ASSETS / "insert_box"
    files = dict(ctx=handle_file(str(d / "context.png")), tgt=handle_file(str(d / "target.png")),
                 pr=[handle_file(str(d / "pred" / "step_1000.png"))])
    out = call(client, "/diagnose", **files, m_choice="difference", thr=0.04)
    diff_summary = out[-1]
    # the derived mask is the box: the area term of the right-size object is close to the uploaded mask's
    uploaded = call(client, "/diagnose", **files, m_file=handle_file(str(d / "mask.png")))[-1]
    a = diff_summary["values"]["step_1000"]["latent_mse"]
    b = uploaded["values"]["step_1000"]["latent_mse"]
    assert a == pytest.approx(b, rel=0.15)
    # a drawn mask: the editor's first layer's alpha
    mask = np.asarray(Image.open(d / "mask.png").convert("L")) > 127
    layer = np.zeros((*mask.shape, 4), np.uint8)
    layer[mask] = (255, 0, 0, 255)
    Image.fromarray(layer).save(tmp_path / "layer.png")
    editor = {"background": handle_file(str(d / "target.png")), "layers": [handle_file(str(tmp_path / "layer.png"))],
              "composite": handle_file(str(d / "target.png")), "id": None}
    drawn = call(client, "/diagnose", **files, m_choice="drawn", m_editor=editor)[-1]
    assert drawn["values"]["step_1000"]["latent_mse"] == pytest.approx(b, rel=1e-3)


def test_calibrate_k_obj_from_a_zip(client, tmp_path):
    import shutil

    archive = shutil.make_archive(str(tmp_path / "calibration"), "zip", ASSETS / "calibration")
    k, note = client.predict(handle_file(archive), api_name="/calibrate")
    assert k == pytest.approx(0.7552, rel=0.01) and "24 samples" in note


def test_weights_config_round_trip_through_the_app(client, demo_report, tmp_path):
    from geoviz.engine.weights import WeightsConfig

    call(client, "/load_demo")
    weights = {t: 0.0 for t in PRESETS["object insertion"]}
    weights.update(latent_area=1.0, depth_edge=0.7)
    cfg = WeightsConfig(weights=weights)
    path = cfg.save(tmp_path / "weights.json")
    out = call(client, "/load_config", file=handle_file(str(path)))
    summary = next(o for o in out if isinstance(o, dict) and "totals" in o)
    assert summary["totals"] == pytest.approx(combine(demo_report, weights).totals, rel=1e-9)
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1, "weights": {"no_such_term": 1}}')
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as e:
        call(client, "/load_config", file=handle_file(str(bad)))
    assert "bad.json" in str(e.value) and "no_such_term" in str(e.value)


def test_estimated_depth_through_the_app(client):
    """Predictions without depth maps, 'estimate missing': the server's estimator (a checkpoint made
    by the test fixture) fills them, aligned onto the uploaded target depth."""
    d = ASSETS / "insert_box"
    files = dict(ctx=handle_file(str(d / "context.png")), tgt=handle_file(str(d / "target.png")),
                 m_file=handle_file(str(d / "mask.png")), t_depth=handle_file(str(d / "target_depth.npz")),
                 pr=[handle_file(str(d / "pred" / "step_1000.png"))])
    plain = call(client, "/diagnose", **files)[-1]
    assert plain["values"]["step_1000"]["depth_inside"] is None
    est = call(client, "/diagnose", **files, d_source="estimate missing")[-1]
    v = est["values"]["step_1000"]["depth_inside"]
    assert v is not None and v >= 0
