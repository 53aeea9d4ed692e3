"""What a slider's input event computes and sends, called as Gradio calls it (the handlers registered
on the built Blocks): the one weight set, only the open tab's weight-dependent views, and a page-side
totals event that never reaches the server."""

import tempfile

import pandas as pd
import pytest

from geoviz.app.labels import TOTAL
from geoviz.app.layout import build_demo
from geoviz.app.sessions import clone_session, demo_session
from geoviz.engine.combine import combine
from geoviz.engine.terms import FAMILIES, REGISTRY


def skipped(value) -> bool:
    """gr.skip(): the component keeps what it shows."""
    return isinstance(value, dict) and value == {"__type__": "update"}


@pytest.fixture(scope="module")
def built():
    session = demo_session("cpu")
    demo = build_demo("cpu", preload=session, sessions_dir=tempfile.mkdtemp(prefix="geoviz-sessions-"))
    return demo, session


def by_id(demo, elem_id):
    return next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id)


def slider_events(demo, slider):
    return [f for f in demo.fns.values() if (slider._id, "input") in f.targets]


def test_slider_input_sets_one_weight_and_sends_only_the_open_tab(built):
    demo, template = built
    slider = by_id(demo, "w_latent_dice")
    events = slider_events(demo, slider)
    page_side = [f for f in events if f.fn is None]
    server = [f for f in events if f.fn is not None]
    assert len(page_side) == 1 and page_side[0].js and [o.elem_id for o in page_side[0].outputs] == ["totals"]
    assert len(server) == 1 and server[0].trigger_mode == "always_last"
    handler = server[0]
    outputs = {o.elem_id: o for o in handler.outputs if o.elem_id}

    session = clone_session(template)
    pred = session.report.predictions[1]
    for tab, live in (("", ()), ("checkpoints", ("ckpt_table", "ckpt_lines", "ckpt_bars")),
                      ("sensitivity", ("sweep_md", "sweep_table", "balance_md"))):
        out = handler.fn(session, pred, TOTAL, "contribution", 0.65, 2.5, tab)
        assert session.weights["latent_dice"] == 2.5
        assert template.weights["latent_dice"] != 2.5, "the preloaded demo session must not change"
        weights = session.effective_weights()
        assert out[by_id(demo, "report_json")]["totals"] == pytest.approx(combine(session.report, weights).totals,
                                                                          rel=1e-12)
        for always in ("totals", "bars", "table", "heatmap"):
            assert not skipped(out[outputs[always]]), (tab, always)
        for name in ("ckpt_table", "ckpt_lines", "ckpt_bars", "sweep_md", "sweep_table", "balance_md"):
            assert skipped(out[outputs[name]]) == (name not in live), (tab, name)
        if tab == "checkpoints":
            table = out[outputs["ckpt_table"]]
            assert isinstance(table, pd.DataFrame)
            best = min(session.report.predictions, key=lambda p: combine(session.report, weights).totals[p])
            assert table["checkpoint"].str.startswith("★").sum() == 1 and f"★ {best}" in set(table["checkpoint"])


def test_master_slider_scales_its_family(built):
    demo, template = built
    family = next(iter(FAMILIES))
    master = by_id(demo, f"master_{family}")
    handler = next(f for f in slider_events(demo, master) if f.fn is not None)
    session = clone_session(template)
    handler.fn(session, session.inspect, TOTAL, "contribution", 0.65, 0.5, "")
    assert session.family_scale[family] == 0.5
    eff = session.effective_weights()
    for t in FAMILIES[family]:
        assert eff[t] == pytest.approx(0.5 * session.weights[t])
    other = [t for t in REGISTRY if REGISTRY[t].family != family]
    assert all(eff[t] == session.weights[t] for t in other)


def test_every_view_the_modules_declare_is_a_component_of_the_page(built):
    demo, _ = built
    page = demo.geoviz_page
    declared = {n for names in page.view_names.values() for n in names}
    assert declared and not [n for n in declared if n not in page]
    # the API's weights are named after their terms (w_<term>, m_<family>), not by position
    api = demo.get_api_info()["named_endpoints"]["/weights"]["parameters"]
    assert [p["parameter_name"] for p in api][-len(page.weight_names()):] == page.weight_names()
