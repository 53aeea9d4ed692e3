"""Every tab's and panel's ``views`` called directly, as plain Python (no Blocks, no server): each
returns exactly the views it declares, and what they show is the session's numbers."""

import base64

import numpy as np
import pandas as pd
import pytest

from geoviz.app import layout
from geoviz.app.labels import TERM_LABELS, TOTAL, fmt
from geoviz.app.panels import inputs, summary, weights
from geoviz.app.sessions import ASSETS, clone_session, demo_session, new_session
from geoviz.app.state import Focus, Update
from geoviz.app.tabs import (
    checkpoints,
    datasets,
    depth,
    heatmaps,
    latent,
    overview,
    params,
    sensitivity,
    share,
    texture,
)
from geoviz.data.layouts import load_sample
from geoviz.data.synth import write_dataset
from geoviz.engine.combine import combine
from geoviz.engine.weights import PRESETS


def decoded(typed: dict) -> np.ndarray:
    """A plotly typed array (``figures.typed_array``) back to NumPy."""
    shape = tuple(int(n) for n in typed["shape"].split(","))
    return np.frombuffer(base64.b64decode(typed["bdata"]), dtype=np.float32).reshape(shape)


@pytest.fixture(scope="module")
def demo():
    return demo_session("cpu")


@pytest.fixture(scope="module")
def tiles():
    return new_session(load_sample(ASSETS / "tiles_wall"), None, PRESETS["material replacement"], "cpu")


@pytest.mark.parametrize("module", layout.MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_each_module_returns_exactly_the_views_it_declares(demo, module):
    for kind, names in module.VIEWS.items():
        got = module.views(clone_session(demo), Focus(demo.report.predictions[1]), [kind])
        assert set(got) == set(names), (kind, set(got) ^ set(names))
    assert module.views(demo, Focus(), ["no such kind"]) == {}


def test_compose_leaves_a_closed_lazy_tab_alone(demo):
    closed = layout.compose(demo, Focus(), ("weighted",), ("overview",))
    assert "ckpt_table" not in closed and "sweep_md" not in closed and "bars" in closed
    opened = layout.compose(demo, Focus(), ("weighted",), ("checkpoints",))
    assert "ckpt_table" in opened and "sweep_md" not in opened
    assert list(layout.view_names()["weighted"])[-1] == "report_json"  # API clients read it as out[-1]


def test_summary_cards_and_numbers_are_combines(demo):
    s = clone_session(demo)
    s.weights = {**s.weights, "latent_dice": 2.0}
    shown = summary.views(s, Focus(), ["session", "weighted"])
    want = combine(s.report, s.effective_weights()).totals
    assert shown["report_json"]["totals"] == pytest.approx(want, rel=1e-12)
    for total in want.values():
        assert f"{total:.4f}" in shown["totals"]
    best = min(want, key=want.get)
    assert f'class="total-card best" data-pred="{best}"' in shown["totals"]
    assert isinstance(shown["inspect"], Update) and shown["inspect"].settings["choices"] == s.report.predictions
    assert "sample **insert_box**" in shown["notices"] and "weights **custom**" in shown["notices"]


def test_overview_table_holds_every_term_and_the_totals(demo):
    shown = overview.views(demo, Focus(), ["weighted", "session"])
    table, c = shown["table"], demo.combined()
    assert isinstance(table, pd.DataFrame)
    assert list(table["term"])[1:-1] == [TERM_LABELS[t] for t in demo.report.terms]
    total = table[table["term"] == "TOTAL"].iloc[0]
    assert list(table.columns) == ["family", "term", "weight", *demo.report.predictions]  # fits: one column each
    for p in demo.report.predictions:
        assert total[p] == fmt(c.totals[p])
    raw = overview.overview_table(demo, c, "raw")
    t = demo.report.terms[0]
    assert raw.iloc[1][demo.report.predictions[0]] == fmt(demo.report.results[demo.report.predictions[0]][t].value)
    share = overview.overview_table(demo, c, "share")
    assert share.iloc[-1][demo.report.predictions[0]] == "100%"
    assert shown["skipped"].startswith("**Skipped terms**") or shown["skipped"] == "No term was skipped."


def test_heatmap_follows_the_focus(demo):
    pred = demo.report.predictions[2]
    fig = heatmaps.views(demo, Focus(pred, TOTAL, "contribution", 0.4), ["inspect"])["heatmap"]
    assert fig["layout"]["title"]["text"].startswith(f"{pred} · weighted total contribution")
    grad = heatmaps.views(demo, Focus(pred, "latent_dice", "gradient", 0.4), ["weighted"])["heatmap"]
    assert "Dice" in grad["layout"]["title"]["text"] and "gradient" in grad["layout"]["title"]["text"]
    unknown = heatmaps.views(demo, Focus("nope", "nonsense"), ["inspect"])["heatmap"]  # falls back, never fails
    assert demo.inspect in unknown["layout"]["title"]["text"]


def test_latent_depth_and_texture_show_the_inspected_prediction(demo, tiles):
    pred = demo.report.predictions[1]
    res = demo.report.results[pred]
    lat = latent.views(demo, Focus(pred), ["prediction"])
    heat = next(tr for tr in lat["m_hat"]["data"] if tr["type"] == "heatmap")
    m_hat = np.asarray(res["latent_dice"].extras["m_hat"], dtype=np.float32)
    shown = decoded(heat["z"])
    assert shown.shape[0] <= m_hat.shape[0] and shown.shape[1] <= m_hat.shape[1]
    assert np.nanmax(shown) == pytest.approx(float(np.nanmax(m_hat)), abs=0.05)
    assert lat["decoded"].settings == {"visible": False}  # proxy latents decode to nothing
    assert f"Dice loss {fmt(res['latent_dice'].value)}" in lat["latent_md"]
    dep = depth.views(demo, Focus(pred), ["prediction"])
    assert f"000: inside {fmt(res['depth_inside'].value)}" in dep["depth_md"]
    assert all(dep[f].settings == {"visible": True} and "layout" in dep[f].value for f in depth.FIGURES)
    ins = texture.views(demo, Focus(pred), ["prediction"])["texture_md"]
    assert "insertion sample" in ins
    mat = texture.views(tiles, Focus(tiles.report.predictions[0]), ["prediction"])["texture_md"]
    est = tiles.report.scales[tiles.report.predictions[0]].estimate
    assert f"**{est:.3f}**" in mat


def test_checkpoints_by_step_with_the_best_starred(demo):
    shown = checkpoints.views(demo, Focus(demo.report.predictions[0]), ["session", "weighted", "prediction"])
    table = shown["ckpt_table"]
    names = [c.lstrip("★ ") for c in table["checkpoint"]]
    assert names == sorted(names, key=lambda p: int(p.split("_")[1]))
    best = min(demo.combined().totals, key=demo.combined().totals.get)
    assert list(table["checkpoint"]).count(f"★ {best}") == 1
    assert [caption for _, caption in shown["gallery"]] == names
    target, pred = shown["image_slider"]
    assert target is demo.sample.target and pred is demo.sample.predictions[demo.report.predictions[0]]


def test_weights_panel_shows_the_sessions_weights_and_widens_a_slider(demo):
    s = clone_session(demo)
    s.weights = {**s.weights, "latent_area": 9.0}
    shown = weights.views(s, Focus(), ["weights"])
    wide = shown["w_latent_area"]
    assert isinstance(wide, Update) and wide.value == 9.0 and wide.settings["maximum"] >= 9.0
    assert shown["w_latent_dice"] == s.weights["latent_dice"] and shown["preset"] == "custom"
    assert shown["config_out"].endswith("weights.json")


def test_params_show_the_session_params(demo):
    shown = params.views(demo, Focus(), ["session"])
    assert shown["settings"] == "leak-free"
    assert shown["p_change_mask_temperature"] == demo.params["change_mask"]["temperature"]
    assert "In force: change mask **leak-free**" in shown["settings_md"]


def test_share_sets_notes_only_on_a_restore(demo):
    s = clone_session(demo)
    s.notes = "look at step_0500"
    assert share.views(s, Focus(), ["session", "weighted"]) == {}
    assert share.views(s, Focus(), ["restore"]) == {"notes": "look at step_0500"}
    assert share.session_id("http://host:7860/?session=abc") == "abc" and share.session_id(" abc ") == "abc"


def test_sensitivity_placeholder_before_a_sweep(demo):
    shown = sensitivity.views(clone_session(demo), Focus(), ["weighted"])
    assert "Run sweep" in shown["sweep_md"] and shown["sweep_plot"] is None
    assert "Share of the weighted gradient" in shown["balance_plot"]["layout"]["title"]["text"]


def test_datasets_views_sort_worst_first(tmp_path):
    root = tmp_path / "root"
    write_dataset(root / "synth", n_samples=2, size=64, checkpoints={"good": 1.0, "bad": 1.4})
    shown = datasets.dataset_views(root.resolve(), "synth", "total", dict(PRESETS["object insertion"]))
    table = shown["ds_table"]
    assert list(table["total"]) == sorted(table["total"], reverse=True)
    assert set(table["checkpoint"]) == {"good", "bad"} and table.iloc[0]["checkpoint"] == "bad"
    assert "2 samples × 2 checkpoints" in shown["ds_md"] and len(shown["ds_gallery"]) == 4


def test_inputs_panel_reads_the_demo_files_into_a_sample():
    row = inputs.example_row(ASSETS / "insert_box")
    names = ["context", "target", "mask_file", "preds", "target_depth", "pred_depths", "camera_file"]
    values = {n: None for n in inputs.UPLOADS.values()}
    values.update(dict(zip(names, row)), mask_choice="upload")
    sample = inputs.uploads_of(values).to_sample()
    assert sample.name == "target" and sorted(sample.predictions) == sorted(load_sample(ASSETS / "insert_box").predictions)


def test_images_show_the_target_with_its_mask_outlined(demo):
    from geoviz.app.panels import images

    shown = images.views(demo, Focus(demo.report.predictions[2]), ["session", "prediction"])
    assert shown["shown_pred"] is demo.sample.predictions[demo.report.predictions[2]]
    outlined = np.all(np.isclose(shown["shown_target"], images.OUTLINE), axis=2)
    inside = demo.sample.mask > 0.5
    edge = inside ^ np.roll(inside, 1, 0) | inside ^ np.roll(inside, 1, 1)
    assert 0.5 * edge.sum() < outlined.sum() < 6 * edge.sum()
    from scipy.ndimage import distance_transform_edt

    far = (distance_transform_edt(~inside) > 3) | (distance_transform_edt(inside) > 3)
    assert not outlined[far].any()  # nothing drawn away from the boundary


def test_a_shared_sessions_notes_come_first(demo):
    s = clone_session(demo)
    s.notes = "step_3000 grows the box"
    notices = summary.views(s, Focus(), ["session"])["notices"]
    assert notices.startswith("📝 **Notes from whoever shared this session:** step_3000 grows the box")


def test_a_term_without_a_contribution_map_says_so(demo):
    pred = demo.report.predictions[0]
    term = next(t for t in demo.report.terms if demo.report.results[pred][t].ok
                and demo.report.results[pred][t].contribution is None)
    title = heatmaps.views(demo, Focus(pred, term, "contribution"), ["inspect"])["heatmap"]["layout"]["title"]["text"]
    assert "no contribution map" in title and "gradient instead" in title


def test_a_restored_sessions_inputs_fill_the_boxes_and_diagnose_the_same(demo):
    """The demo (as a restored link would) puts its own inputs in the boxes; Diagnose on what the
    boxes hold gives the same sample and the same numbers."""
    shown = inputs.views(demo, Focus(), ["restore"])
    assert set(shown) == set(inputs.VIEWS["restore"]) and shown["mask_choice"] == "upload"
    values = {n: None for n in inputs.UPLOADS.values()}
    values.update({k: v for k, v in shown.items() if k in values}, diff_threshold=0.04)
    sample = inputs.uploads_of(values).to_sample()
    given = demo.original or demo.sample
    assert sample.name == given.name and list(sample.predictions) == list(given.predictions)
    for role in ("context", "target", "mask"):
        assert np.abs(getattr(sample, role) - getattr(given, role)).max() <= 0.5 / 255 + 1e-6, role
    assert np.allclose(sample.target_depth, given.target_depth, equal_nan=True)
    assert sample.camera["f_px"] == pytest.approx(given.camera["f_px"])
    again = new_session(sample, demo.params, demo.weights, "cpu")
    for p in given.predictions:
        for t, v in demo.report.values[p].items():
            if v is not None:
                assert again.report.values[p][t] == pytest.approx(v, rel=1e-3, abs=1e-6), (p, t)
    assert inputs.views(demo, Focus(), ["restore"])["preds"] == shown["preds"]  # written once per sample


def test_thumbnails_name_every_checkpoint(demo):
    from geoviz.app.panels import images

    thumbs = images.views(demo, Focus(), ["session"])["thumbs"]
    assert [c for _, c in thumbs] == list(demo.report.predictions)
    assert all(max(img.size) <= images.THUMB_SIDE for img, _ in thumbs)
    small = np.asarray(thumbs[1][0].resize((32, 32)), np.float32) / 255
    big = np.asarray(demo.prediction_image(demo.report.predictions[1]).resize((32, 32)), np.float32) / 255
    assert np.abs(small - big).mean() < 0.02  # the thumbnail is that checkpoint's picture


def test_a_lazy_tab_redraws_on_opening_only_when_its_views_are_stale(demo):
    s = clone_session(demo)
    focus = Focus(s.report.predictions[0])
    assert layout.stale_lazy_views(s, focus, "checkpoints")  # never sent
    layout.compose(s, focus, ("weighted",), ("checkpoints",))
    assert not layout.stale_lazy_views(s, focus, "checkpoints")
    assert layout.stale_lazy_views(s, focus, "sensitivity")  # closed: not composed, not recorded
    layout.compose(s, focus, ("weighted",), ("overview",))  # a weight step with another tab open…
    s.weights = {**s.weights, "latent_dice": s.weights["latent_dice"] + 0.5}
    assert layout.stale_lazy_views(s, focus, "checkpoints")  # …leaves it stale: opening it redraws
    layout.compose(s, focus, ("weighted",), None)
    assert not layout.stale_lazy_views(s, focus, "checkpoints")
    assert layout.stale_lazy_views(s, Focus(s.report.predictions[1]), "sensitivity")  # another prediction


def test_an_upload_replaces_the_checkpoints_a_restored_session_put_in_the_box():
    from geoviz.app.uploads import replace_with_upload

    restored = ["/tmp/inputs-1/sample/pred/step_0500.png", "/tmp/inputs-1/sample/pred/step_1000.png"]
    # the box sends them back from Gradio's cache, the upload appended after them
    box = ["/cache/a1/step_0500.png", "/cache/b2/step_1000.png", "/cache/c3/scale_0.80.png", "/cache/d4/scale_1.25.png"]
    assert replace_with_upload(box, restored) == (box[2:], box[2:])
    assert replace_with_upload(box[2:], [])[0] == box[2:]  # an empty box: the upload is the list
    other = ["/cache/e5/x.png", "/cache/f6/y.png", "/cache/g7/z.png"]
    assert replace_with_upload(other, restored)[0] == other  # not an append to what it held: all of it


def test_a_new_context_leaves_out_what_the_restore_put_in_the_boxes_and_keeps_what_the_user_gave(tmp_path):
    from pathlib import Path

    from geoviz.app.uploads import left_from_restore, matching_predictions, restored_record

    def file(name, content):
        (tmp_path / content).mkdir(exist_ok=True)
        path = tmp_path / content / name
        path.write_bytes(content.encode())
        return str(path)

    boxes = {"context": file("context.png", "c1"), "target": file("target.png", "t1"), "mask_file": file("mask.png", "m1"),
             "preds": [file("step_0500.png", "p1")], "target_depth": file("target_depth.npy", "d1"),
             "pred_depths": [file("step_0500.npy", "e1")], "latents": None, "camera_file": None, "k_obj": 2.5}
    record = restored_record(boxes)
    assert set(record) == {"context", "target", "mask_file", "preds", "target_depth", "pred_depths", "k_obj"}
    # the same files back from Gradio's cache (another folder): nothing is stale while the sample is the same
    cache = tmp_path / "gradio-cache"
    cache.mkdir()

    def cached(v):
        if isinstance(v, list):
            return [cached(x) for x in v]
        if not isinstance(v, str):
            return v
        copy = cache / Path(v).name
        copy.write_bytes(Path(v).read_bytes())
        return str(copy)

    again = {k: cached(v) for k, v in boxes.items()}
    assert left_from_restore(again, record) == []
    # the user uploads a new context, target and a mask of the same name, and changes k_obj
    now = {**boxes, "context": file("context.png", "c2"), "target": file("target.png", "t2"),
           "mask_file": file("mask.png", "m2"), "k_obj": 3.0}
    assert left_from_restore(now, record) == ["preds", "target_depth", "pred_depths"]
    assert left_from_restore(now, {}) == []  # nothing was restored (an API client, a fresh page)
    # new predictions replace the old: the old checkpoints' depths go, the context's latents stay
    depths = ["/cache/c/step_0500.npy", "/cache/c/scale_0.80.npy"]
    assert matching_predictions(depths, ["/cache/d/scale_0.80.png"]) == ["/cache/c/scale_0.80.npy"]
    assert matching_predictions(depths, ["/cache/d/other.png"]) is None
    assert matching_predictions(["/c/context_latents.safetensors"], ["/d/x.png"]) == ["/c/context_latents.safetensors"]


def test_diagnose_right_after_an_upload_diagnoses_the_upload_alone():
    from geoviz.app.uploads import Uploads, with_upload_replaced

    restored = ["/tmp/inputs-1/s/pred/step_0500.png", "/tmp/inputs-1/s/pred/step_1000.png"]
    # the click reached the server before the upload handler's answer reached the box
    box = ["/cache/a/step_0500.png", "/cache/b/step_1000.png", "/cache/c/scale_0.80.png"]
    raced = Uploads(predictions=box, prediction_depths=["/cache/d/step_0500.npy"], latents=["/cache/e/scale_0.80.pt"])
    settled = with_upload_replaced(raced, restored)
    assert settled.predictions == box[2:] and settled.prediction_depths is None
    assert settled.latents == ["/cache/e/scale_0.80.pt"]
    answered = Uploads(predictions=box[2:], prediction_depths=["/cache/f/scale_0.80.npy"])
    assert with_upload_replaced(answered, box[2:]) is answered  # the handler already answered: unchanged
    # the handler has answered on the server (seen = the upload) but the browser's box still holds
    # old + new when the click leaves it: the upload alone, not both sets of checkpoints
    late = with_upload_replaced(raced, ["/cache/c/scale_0.80.png"])
    assert late.predictions == box[2:] and late.prediction_depths is None
