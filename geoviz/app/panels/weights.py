"""The weights panel: a slider per term, a master per family, the preset, weights.json in and out.

Moving a weight only re-weights (``combine``; no term is recomputed): the cards are recomputed in the
page (``totals_js``), the server sends the weighted views of the open tab. ``views`` is plain Python.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from geoviz.app.cards import totals_html, totals_js
from geoviz.app.labels import FAMILY_LABELS, TERM_LABELS, WEIGHT_TERMS, weight_names
from geoviz.app.page import FOCUS, HIDDEN, Page
from geoviz.app.sessions import DEFAULT_PRESET, evaluate_with, set_weight, set_weight_values, weights_file
from geoviz.app.state import Focus, Session, Update
from geoviz.app.uploads import path_of
from geoviz.data.readers import InputError
from geoviz.engine.terms import FAMILIES, REGISTRY
from geoviz.engine.weights import PRESETS, WeightsConfig, preset_matching

__all__ = ["views", "build", "build_preset", "wire", "slider_views"]



def __getattr__(name: str):
    # VIEWS follows the registered terms (a term registered after this import gets its slider's view)
    if name == "VIEWS":
        return {"weights": (*weight_names(), "config_out", "preset")}
    raise AttributeError(name)


def slider_views(session: Session, maxima: dict[str, float]) -> dict:
    """The sliders showing the session's weights; ``maxima``: each slider's top (a balanced weight may
    exceed it: the slider's range then grows to 1.25× the weight)."""
    out = {}
    for t in WEIGHT_TERMS:
        v = float(session.weights.get(t, 0.0))
        top = maxima.get(t, v)
        out[f"w_{t}"] = Update.of(v, maximum=max(top, round(1.25 * v, 3))) if v > top else v
    out.update({f"m_{f}": session.family_scale.get(f, 1.0) for f in FAMILIES})
    return out


def slider_top(term: str) -> float:
    """A term's slider range: [0, max(1, 3 × its starter weight)]."""
    return round(max(1.0, 3 * REGISTRY[term].default_weight), 3)


def views(session: Session, focus: Focus, kinds) -> dict:
    """The sliders and masters, the weights file and the preset's name (kind ``weights``)."""
    if "weights" not in kinds:
        return {}
    return {**slider_views(session, {t: slider_top(t) for t in WEIGHT_TERMS}), "config_out": weights_file(session),
            "preset": preset_matching(session.effective_weights())}


def build(page: Page) -> None:
    """The panel: masters, one accordion of sliders per family, weights.json in and out."""
    gr.Markdown("Moving a weight only re-weights (no term is recomputed). A family's master multiplies its terms.")
    with gr.Accordion("family masters", open=False):
        for fam in FAMILIES:
            page.add(f"m_{fam}", gr.Slider(0.0, 3.0, value=1.0, step=0.05, label=f"× {FAMILY_LABELS[fam]}",
                                           elem_id=f"master_{fam}"))
    for fam, names in FAMILIES.items():
        with gr.Accordion(FAMILY_LABELS[fam], open=fam == "latent"):
            with gr.Row():
                for t in names:
                    hi = slider_top(t)
                    page.add(f"w_{t}", gr.Slider(0.0, hi, value=PRESETS[DEFAULT_PRESET][t], step=0.005 if hi <= 1 else 0.01,
                                                 label=TERM_LABELS[t], elem_id=f"w_{t}", min_width=160))
    with gr.Row():
        page.add("config_in", gr.File(label="load weights.json", file_types=[".json"], elem_id="config_in"))
        page.add("config_out", gr.DownloadButton("download weights.json", elem_id="config_out"))


def build_preset(page: Page) -> None:
    """The preset dropdown and its reset button (shown beside the prediction to inspect)."""
    page.add("preset", gr.Dropdown([*PRESETS, "custom"], value=DEFAULT_PRESET, label="weight preset",
                                   elem_id="preset", scale=1))
    page.add("reset", gr.Button("reset weights", scale=0, min_width=120))


def wire(page: Page) -> None:
    """Each control's input (totals in the page, the open tab's views from the server), the API's weight endpoints, the preset, reset and weights.json."""
    weights = page.weight_names()
    weighted = page.outputs_of("weighted")

    # two listeners on each control's input: the totals computed in the page (no round trip), and
    # the server's figures for that one weight (the totals again, exact, when they arrive)
    page_totals = totals_js()
    for slot, name in enumerate(weights):
        page.on(page[name].input, None, ["report_json", "totals", *weights], ["totals"], js=page_totals, **HIDDEN)
        page.on(page[name].input, _on_control(page, slot, name), ["state", *FOCUS, name, "open_tab"],
                [*weighted, "config_out", "preset"], trigger_mode="always_last", **HIDDEN)

    def on_weights_fast(v):  # the API's weight change: every weight at once (gradio_client, bench/load.py)
        if v.state is None:
            return {}
        set_weight_values(v.state, v.weights())
        return {"totals": totals_html(v.state, v.state.combined())}

    def on_weights(v):
        if v.state is None:
            return {}
        set_weight_values(v.state, v.weights())
        return page.compose(v.state, v.focus(), ["weighted"])

    api = page.add("api_trigger", gr.Button(visible=False))  # a button never shown: scripts call by name
    page.on(api.click, on_weights_fast, ["state", *weights], ["totals"], api_name="weights_total", **HIDDEN)
    page.on(api.click, on_weights, ["state", *FOCUS, *weights], weighted, api_name="weights", **HIDDEN)

    def apply_preset(session, name: str, focus: Focus) -> dict:
        if name not in PRESETS:  # "custom" is a label, not something to apply
            return {}
        out = {**{f"w_{t}": PRESETS[name][t] for t in WEIGHT_TERMS}, **{f"m_{f}": 1.0 for f in FAMILIES}}
        if session is not None:
            session.weights, session.family_scale = dict(PRESETS[name]), {f: 1.0 for f in FAMILIES}
            out.update(page.compose(session, focus, ["weighted"]))
            out["config_out"] = weights_file(session)
        return out

    preset_outputs = [*weights, *weighted, "config_out"]
    page.on(page["preset"].input, lambda v: apply_preset(v.state, v.preset, v.focus()), ["state", "preset", *FOCUS],
            preset_outputs, api_name="preset")
    page.on(page["reset"].click, lambda v: {**apply_preset(v.state, DEFAULT_PRESET, v.focus()),
                                                    "preset": DEFAULT_PRESET},
                    ["state", *FOCUS], [*preset_outputs, "preset"])

    def on_config(v):
        path = path_of(v.config_in)
        if not path:
            return {}
        try:
            cfg = WeightsConfig.load(path)
        except ValueError as e:
            raise InputError(Path(path).name, str(e), "export a weights.json from geoviz") from None
        session = v.state
        if session is None:
            raise InputError("session", "nothing is loaded yet", "press Diagnose first")
        session.weights = {t: cfg.weights.get(t, 0.0) for t in WEIGHT_TERMS}
        session.family_scale = {f: 1.0 for f in FAMILIES}
        resolved = cfg.resolved_params()
        if resolved != session.params:
            session.sample, session.report = evaluate_with(session.original or session.sample, resolved,
                                                           session.device, session.models, warn=gr.Warning)
            session.params, session.sweep, session.last_balance = resolved, None, None
        return {"state": session, **page.compose(session, v.focus(), ["session", "weights", "weighted"])}

    loaded = page.on(page["config_in"].upload, on_config, ["state", "config_in", *FOCUS], page.everything(),
                     api_name="load_config", compute=True)
    page.then_predictions(loaded)


def _on_control(page: Page, slot: int, name: str):
    """The page's weight change: one control's value (an event carrying all 26 weights makes Gradio's
    page look each one up in its layout tree), and only the open tab's views."""

    def on_control(v):
        session = v.state
        if session is None:
            return {}
        set_weight(session, slot, v[name])
        out = page.compose(session, v.focus(), ["weighted"], tabs=(v.open_tab,))
        # the weights file and the preset label follow every change however it was made
        # (drag, a typed value and Enter, the arrow keys: each is an input event)
        out["config_out"] = weights_file(session)
        out["preset"] = preset_matching(session.effective_weights())
        return out

    on_control.__name__ = f"on_{name}"
    return on_control
