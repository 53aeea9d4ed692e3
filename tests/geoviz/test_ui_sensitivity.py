"""The Sensitivity tab's logic on the demo session: a sweep kept on the session and redrawn at new
weights without recomputing, balance and undo acting on the session's weights, bad input named."""

import numpy as np
import pytest

import geoviz.app.tabs.sensitivity as SENS
from geoviz.analysis.balance import gradient_balance
from geoviz.analysis.term_batch import BATCH_STATS
from geoviz.app.sessions import ASSETS, new_session
from geoviz.data.layouts import load_sample
from geoviz.data.readers import InputError
from geoviz.engine.weights import PRESETS


@pytest.fixture(scope="module")
def session():
    return new_session(load_sample(ASSETS / "insert_box"), {"change_mask": {"temperature": 0.25, "s_min": 0.05}},
                       PRESETS["object insertion"], "cpu")


def test_sweep_views_before_and_after_a_sweep(session):
    shown = SENS.sweep_views(session)
    assert "Run sweep" in shown["sweep_md"] and shown["sweep_plot"] is None and shown["sweep_table"].empty
    assert list(shown["sweep_table"].columns)[:3] == ["term", "weight", "minimum at s"]  # headers, not "1 2 3"
    sweep = SENS.run_sweep(session, "auto", 0.8, 1.2, 9, extra_axes=True, device="cpu")
    assert session.sweep is sweep and sweep.kind == "insertion" and 1.0 in sweep.scales
    shown = SENS.sweep_views(session)
    main, table, ex1, ex2 = shown["sweep_plot"], shown["sweep_table"], shown["sweep_extra1"], shown["sweep_extra2"]
    names = [tr["name"] for tr in main["data"]]
    assert "weighted total" in names and "predictions" in names
    total = next(tr for tr in main["data"] if tr["name"] == "weighted total")
    assert np.allclose(total["customdata"], sweep.total(session.effective_weights()))
    assert ex1.settings == ex2.settings == {"visible": True} and "layout" in ex1.value  # shift x and y
    assert table.iloc[0]["term"] == "weighted total" and len(table) == 1 + len(sweep.values)
    # new weights redraw from the stored curves: no batch runs
    calls = BATCH_STATS["calls"]
    session.weights = {**session.weights, "latent_area": 3.0}
    main2 = SENS.sweep_views(session)["sweep_plot"]
    assert BATCH_STATS["calls"] == calls
    total2 = next(tr for tr in main2["data"] if tr["name"] == "weighted total")["customdata"]
    assert not np.allclose(total2, total["customdata"])
    session.weights = dict(PRESETS["object insertion"])


def test_balance_then_undo(session):
    before = dict(session.weights)
    pred = "step_1000"
    res = SENS.apply_balance(session, [], "this prediction", pred)
    assert session.weights == res.weights and session.weights != before
    gb = gradient_balance(session.report, session.effective_weights(), pred)
    # none ticked: every weighted term; those held at the 10× bound around the preset are named
    balanced = [t for t, w in before.items() if w and t not in res.left_out and t not in res.capped]
    assert len(balanced) >= 4
    for t in res.capped:
        assert before[t] / 10 <= session.weights[t] * (1 + 1e-9) and session.weights[t] <= before[t] * 10 * (1 + 1e-9)
    for group in {gb.inputs[t] for t in balanced}:
        shares = [gb.shares[t] for t in balanced if gb.inputs[t] == group]
        assert max(shares) / min(shares) - 1 < 0.01, group
    shown = SENS.balance_views(session, pred)
    md, fig = shown["balance_md"], shown["balance_plot"]
    assert "Undo" in md and [tr["name"] for tr in fig["data"]] == ["current weights", "balanced"]
    assert SENS.undo_balance(session) and session.weights == before
    assert not SENS.undo_balance(session)


@pytest.mark.parametrize("args,name", [((0.7, 0.9, 25), "scale range"), ((0.7, 1.3, 2), "steps"),
                                       ((float("nan"), 1.3, 25), "scale from")])
def test_bad_sweep_settings_are_named(session, args, name):
    with pytest.raises(InputError) as e:
        SENS.run_sweep(session, "auto", *args, device="cpu")
    assert e.value.input_name == name
