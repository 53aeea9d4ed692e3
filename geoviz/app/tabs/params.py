"""The Params tab: every term parameter (each the ``losses`` keyword it feeds), the change-mask
settings in force and their measured bias on this sample, and Recompute. ``views`` is plain Python;
``build`` and ``wire`` put it on the page. Changing the device recomputes too."""

from __future__ import annotations

import gradio as gr

from geoviz.app.describe import settings_text
from geoviz.app.labels import TERM_LABELS, esc
from geoviz.app.page import FOCUS, HIDDEN, Page
from geoviz.app.sessions import evaluate_with, follow_kind, set_weight_values
from geoviz.app.state import Focus, Session
from geoviz.app.uploads import PARAM_CONTROLS, control_value, params_from_controls, with_kind
from geoviz.data.readers import InputError
from geoviz.engine.terms import DEFAULT_SETTINGS, PARAM_GROUPS, PARAM_SETTINGS, resolve_params, settings_of

__all__ = ["ID", "TITLE", "LAZY", "views", "build", "wire", "settings_summary", "param_control"]  # and VIEWS

ID, TITLE, LAZY = "params", "Params", False


def __getattr__(name: str):
    # VIEWS follows the registered parameter groups
    if name == "VIEWS":
        return {"session": ("settings", "settings_md", *Page.param_names())}
    raise AttributeError(name)


def settings_summary(session: Session) -> str:
    """The tab's headline: the change-mask settings in force and their measured bias on this
    sample — the background leakage of the change mask, and (after a sweep with these settings)
    where the area, Dice and boundary minima sit."""
    lines = [f"In force: {settings_text(session.params)}."]
    pred = session.inspect if session.inspect in session.report.predictions else session.report.predictions[0]
    dice = session.report.results[pred].get("latent_dice")
    if dice is not None and dice.ok:
        ex = dice.extras
        lines.append(f"Measured on **{esc(pred)}**: mean M̂ over the sure background **{ex['leakage_mean']:.3f}**, "
                     f"{100 * ex['leakage_share_of_target']:.0f}% of the target's area"
                     + (" — the change mask leaks (objects read too large)" if ex["leakage_share_of_target"] > 0.2 else ""))
    sweep = session.sweep
    if sweep is not None and sweep.params == session.params:
        mins = [f"{TERM_LABELS[t]} s = {sweep.responses[t].argmin:.3f}"
                for t in ("latent_area", "latent_dice", "latent_boundary") if t in sweep.responses]
        if mins:
            lines.append("Sweep minima (1 is right): " + ", ".join(mins))
    else:
        lines.append("Run a sweep (Sensitivity) to see where these settings put the area, Dice and boundary minima.")
    return "\n\n".join(lines)


def control_views(params: dict) -> dict:
    """Each parameter control showing ``params`` (resolved: every group, every parameter)."""
    values = resolve_params(params)
    return {name: control_value(p, values[g][p.name]) for name, (g, p) in zip(Page.param_names(), PARAM_CONTROLS)}


def views(session: Session, focus: Focus, kinds) -> dict:
    """``settings`` (which named settings are in force), ``settings_md`` and every parameter control
    (kind ``session``)."""
    if "session" not in kinds:
        return {}
    return {"settings": settings_of(session.params), "settings_md": settings_summary(session),
            **control_views(session.params)}


def param_control(group: str, p):
    """The control of one parameter: a dropdown, a checkbox, a number, or (optional ones) a text box."""
    label = f"{p.name}" + (f" — {p.help}" if p.help else "")
    eid = f"p_{group}_{p.name}"
    if p.kind == "choice":
        return gr.Dropdown(list(p.choices), value=p.default, label=label, elem_id=eid, min_width=140)
    if p.kind == "bool":
        return gr.Checkbox(value=p.default, label=label, elem_id=eid)
    if p.optional:  # a text box: a gr.Number cannot show "off" (it shows 0, and 0 is a value)
        return gr.Textbox(value=control_value(p, p.default), label=label + " (empty = off)", elem_id=eid,
                          min_width=140, placeholder="off")
    return gr.Number(value=p.default, label=label, elem_id=eid, minimum=p.low, maximum=p.high,
                     step=p.step or (1 if p.kind == "int" else 0.01), min_width=140)


def build(page: Page) -> None:
    """The settings choice, its summary, one accordion of controls per group, Recompute."""
    gr.Markdown("Term parameters (each the `losses` keyword it feeds). **Recompute** re-runs only the terms that "
                "read a changed group; an empty optional means off.")
    with gr.Row():
        page.add("settings", gr.Radio([*PARAM_SETTINGS, "custom"], value=DEFAULT_SETTINGS, scale=1, elem_id="settings",
                                      label="change-mask settings (choosing one recomputes)"))
        page.add("settings_md", gr.Markdown(elem_id="settings_md"))
    for group, specs in PARAM_GROUPS.items():
        with gr.Accordion(group, open=group == "change_mask"):
            with gr.Row():
                for p in specs:
                    page.add(f"p_{group}_{p.name}", param_control(group, p))
    page.add("recompute", gr.Button("Recompute", variant="primary", elem_id="recompute"))


def wire(page: Page) -> None:
    """Recompute (button, device change, a named setting chosen)."""
    everything = page.everything()
    inputs = ["state", "device", *FOCUS[1:], "depth_source", "align_depth", "latent_choice", "kind_choice",
              *page.weight_names(), *page.param_names()]

    def on_recompute(v, progress):
        session = v.state
        if session is None:
            raise InputError("session", "nothing is loaded yet", "press Diagnose first")
        set_weight_values(session, v.weights())
        params = resolve_params(params_from_controls(v.params()))
        progress(0, desc="recomputing the terms whose parameters changed")
        session.models = page.models_from(v.latent_choice, v.depth_source, v.align_depth)
        base = with_kind(session.original or session.sample, v.kind_choice)
        if session.original is not None:
            session.original = base
        session.sample, session.report = evaluate_with(base, params, v.device, session.models, warn=gr.Warning)
        session.params, session.device = params, v.device
        session.sweep, session.last_balance = None, None  # computed with the old params / latents
        follow_kind(session)
        return {"state": session, **page.compose(session, v.focus(), ["session", "weights", "weighted"])}

    def on_settings(v):
        if v.settings not in PARAM_SETTINGS:  # "custom": nothing to set
            return {}
        return control_views(PARAM_SETTINGS[v.settings])

    recompute = dict(special=("progress",), compute=True)
    page.then_predictions(page.on(page["recompute"].click, on_recompute, inputs, everything, api_name="recompute",
                                  **recompute))
    page.then_predictions(page.on(page["device"].input, on_recompute, inputs, everything, **recompute))
    chosen = page.on(page["settings"].input, on_settings, ["settings"], page.param_names(), **HIDDEN)
    page.then_predictions(page.chain(chosen, on_recompute, inputs, everything, how="then", **recompute))
