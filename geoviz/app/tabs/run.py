"""The Training run tab: a run a ``geoviz.RunRecorder`` writes (``geoviz serve --run RUN_DIR``, or a
run under ``--data-root``), followed live. A timer polls the run file; only new (sample, step) pairs
are evaluated. Charts against the step: each sample's estimated scale with its tolerance band and
the first step it leaves it, and the weighted terms and total (median over samples with the
25–75 % band, or one sample's). A click on a point opens that checkpoint's diagnosis.

``run_views`` is plain Python; ``build`` and ``wire`` put it on the page. Plotly's click reaches the
server through a hidden textbox (Gradio's Plot has no click event): the chart's ``plotly_click``
writes ``{"sample", "checkpoint"}`` into it and its change event opens the sample.
"""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr

import geoviz.report.figures as FG
from geoviz.analysis.runs import SCALE_TOLERANCE, RunFollower, follower_of, run_curves, scale_series
from geoviz.app.labels import TERM_LABELS, esc
from geoviz.app.page import FOCUS, HIDDEN, Page
from geoviz.app.sessions import session_of_spec, weights_from_values
from geoviz.app.state import Focus, Session, Update
from geoviz.data.layouts import dataset_folder, list_dataset
from geoviz.data.readers import InputError
from geoviz.data.runs import runs_under

__all__ = ["ID", "TITLE", "VIEWS", "LAZY", "POLL_S", "views", "build", "wire", "shown", "run_names", "run_folder",
           "run_views", "clamped_tolerance", "ALL_SAMPLES"]

ID, TITLE, LAZY = "run", "Training run", False
VIEWS: dict[str, tuple[str, ...]] = {}  # its views follow the run, not the session
POLL_S = 3.0  # a new step is on screen within this (plus its evaluation) of the run file listing it
ALL_SAMPLES = "all samples (median, 25–75 %)"
NO_RUN = ("No training run under the server's `--data-root` yet: record one into a folder there with "
          "`geoviz.RunRecorder(\"<data root>/<name>\")`; it is listed when this tab opens.")

# binds each run chart's plotly_click to the hidden #run_open box (again after every redraw:
# Plotly.newPlot drops listeners), whose change event opens the clicked sample at its checkpoint
BIND_CLICKS = """() => {
  const bind = () => {
    for (const id of ['run_scale', 'run_terms']) {
      const gd = document.querySelector('#' + id + ' .js-plotly-plot');
      if (!gd || !gd.on) continue;
      if (gd.removeAllListeners) gd.removeAllListeners('plotly_click');
      gd.on('plotly_click', (ev) => {
        const pt = ev && ev.points && ev.points[0];
        const box = document.querySelector('#run_open textarea, #run_open input');
        if (!pt || !pt.customdata || !box) return;
        const set = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(box), 'value').set;
        set.call(box, JSON.stringify({sample: pt.customdata[0], checkpoint: pt.customdata[1], at: Date.now()}));
        box.dispatchEvent(new Event('input', {bubbles: true}));
      });
    }
  };
  for (const ms of [50, 300, 1000, 2500]) setTimeout(bind, ms);
}"""


def shown(page: Page) -> bool:
    """The tab is on the page when the server follows a run (``--run``) or has a data root (a run
    started under it later is listed when the tab opens)."""
    return page.run_dir is not None or page.data_root is not None


def views(session: Session, focus: Focus, kinds) -> dict:
    """None of the session's: see :func:`run_views`."""
    return {}


def run_names(page: Page) -> list[str]:
    """The runs this server may open: ``--run``'s folder, then the runs under ``--data-root``."""
    own = [page.run_dir.name] if page.run_dir is not None else []
    return own + [n for n in runs_under(page.data_root) if n not in own]


def run_folder(page: Page, name: str) -> tuple[Path, Path]:
    """``(folder, root)`` of the run ``name``: no file resolving outside ``root`` is read (``--run``'s
    folder is its own root). InputError unless ``name`` is one of :func:`run_names`."""
    if page.run_dir is not None and name == page.run_dir.name:
        return page.run_dir, page.run_dir
    if page.data_root is None or name not in runs_under(page.data_root):
        raise InputError(str(name), "is not a run this server follows", "choose one from the list")
    return dataset_folder(page.data_root, name), page.data_root


def clamped_tolerance(value) -> tuple[float, str | None]:
    """The band's ``|log s|`` from the control: within [0.001, 1]; a value outside (or none) is
    brought in, and the second item says so (None when the value was taken as it is)."""
    try:
        tol = float(value)
    except (TypeError, ValueError):
        return SCALE_TOLERANCE, f"The scale band takes a number from 0.001 to 1: using {SCALE_TOLERANCE:g}."
    if not 0.001 <= tol <= 1.0:
        inside = min(max(tol, 0.001), 1.0) if tol == tol else SCALE_TOLERANCE
        return inside, f"The scale band takes |log s| from 0.001 to 1: {tol:g} became {inside:g}."
    return tol, None


def run_views(follower: RunFollower, name: str, weights: dict[str, float], tolerance: float, curves_of: str) -> dict:
    """``run_md``, ``run_scale``, ``run_terms`` and the per-sample choice of the run ``follower``
    follows, at ``weights`` and ``tolerance`` (``|log s|``)."""
    points = list(follower.points.values())
    info = follower.info
    samples = follower.samples()
    one = curves_of if curves_of in samples else None
    series = scale_series(points, tolerance)
    steps = follower.steps()
    md = [f"**{esc(name)}** · {len(samples)} sample{'s' * (len(samples) != 1)} · "
          + (f"steps {steps[0]}–{steps[-1]} ({len(steps)} evaluated)" if steps else "no step written yet")
          + (f" · run file updated {esc(info.updated)}" if info is not None and info.updated else "")
          + (f" · recorded by {len(info.opened)} trainings (resumed {esc(info.opened[-1])})"
             if info is not None and len(info.opened) > 1 else "")
          + f" · checked every {POLL_S:g} s"]
    # the samples that were ever outside, the first to leave first
    outside = sorted(((d["first_out"] if d["first_out"] is not None else -1, s, d) for s, d in series.items()
                      if d["story"]), key=lambda x: (x[0] < 0, x[0], x[1]))
    if outside:
        md.append(f"**Outside the scale band** (|log s| > {tolerance:g}): "
                  + "; ".join(f"{esc(s)} {d['story']}" for _, s, d in outside))
    elif points:
        md.append(f"Every sample's scale is within |log s| ≤ {tolerance:g} at every step.")
    if follower.problem:
        md.append(f"Note: {esc(follower.problem)}")
    if follower.failed:
        md.append(f"**Left out ({len(follower.failed)})**: " + "; ".join(
            f"{esc(s)} · step {st}: {esc(why)}" for (s, st), why in sorted(follower.failed.items())[:6]))
    if points:
        md.append("Click a point to open that sample at that step.")
    curves = run_curves(points, weights, one)
    which = f"{one}'s" if one else (f"median over {len(samples)} samples" if len(samples) > 1 else
                                     f"{samples[0]}'s" if samples else "no sample yet")
    return {"run_md": "\n\n".join(md),
            "run_scale": FG.run_scale_figure(series, tolerance),
            "run_terms": FG.run_curves_figure(curves, TERM_LABELS,
                                              f"Weighted terms and total against the step ({which})"),
            "run_curves_of": Update.of(choices=[ALL_SAMPLES, *samples])}


def build(page: Page) -> None:
    """The run and tolerance choices, the summary, the two charts and the click bridge."""
    names = run_names(page)
    gr.Markdown("A training run written by `geoviz.RunRecorder`: new steps appear as the run writes them. "
                "Click a point to open that sample at that step.")
    with gr.Row():
        page.add("run_name", gr.Dropdown(names, value=names[0] if names else None, label="run", elem_id="run_name",
                                         allow_custom_value=True))  # checked against the disk in the handler
        # no minimum/maximum: Gradio would re-raise its range error at every tick; the handler clamps
        page.add("run_tol", gr.Number(SCALE_TOLERANCE, label="scale band: |log s| at most (0.001–1)",
                                      elem_id="run_tol", step=0.01))
        page.add("run_curves_of", gr.Dropdown([ALL_SAMPLES], value=ALL_SAMPLES, label="term curves of",
                                              elem_id="run_curves_of"))
    page.add("run_md", gr.Markdown(elem_id="run_md"))
    page.add("run_scale", gr.Plot(show_label=False, elem_id="run_scale"))
    page.add("run_terms", gr.Plot(show_label=False, elem_id="run_terms"))
    page.add("run_open", gr.Textbox(elem_id="run_open", elem_classes=["geoviz-bridge"], show_label=False))
    page.add("run_shown", gr.State(None))  # what the charts were drawn from: a tick redraws only on change
    page.add("run_timer", gr.Timer(POLL_S))


def wire(page: Page) -> None:
    """Ticks and choices bring the charts up to date; a click on a point opens that checkpoint."""
    outputs = ["run_md", "run_scale", "run_terms", "run_curves_of", "run_shown", "run_name"]
    chosen = ["run_name", "run_tol", "run_curves_of", "run_shown", "open_tab", *page.weight_names()]

    def refreshed(v, progress, force: bool) -> dict:
        names = run_names(page)
        name = v.run_name if v.run_name in names else (names[0] if names else None)
        if name is None:
            return {"run_md": NO_RUN, "run_name": Update.of(choices=[]), "run_shown": None}
        folder, root = run_folder(page, name)
        follower = follower_of(folder, root, page.device)
        follower.poll(progress)
        weights = weights_from_values(v.weights())
        tol, said = clamped_tolerance(v.run_tol)
        unknown = v.run_name if v.run_name and v.run_name != name else None
        key = [name, names, follower.version, follower.problem, sorted(weights.items()), tol, v.run_curves_of, unknown]
        if not force and key == v.run_shown:
            return {}
        views = run_views(follower, name, weights, tol, v.run_curves_of)
        notes = ([f"**{esc(unknown)}** is not a run this server follows: showing **{esc(name)}**."] if unknown else [])
        notes += [said] if said else []
        if notes:
            views["run_md"] = "\n\n".join([*notes, views["run_md"]])
        return {**views, "run_shown": key, "run_name": Update.of(name, choices=names),
                **({"run_tol": tol} if said else {})}

    def on_tick(v, progress):  # only while the tab is open: a closed tab costs nothing
        return refreshed(v, progress, False) if v.open_tab == ID else {}

    def on_choice(v, progress):
        return refreshed(v, progress, True)

    # a tick shows no progress (it would cover the summary every few seconds while the run grows)
    ticked = page.on(page["run_timer"].tick, lambda v: on_tick(v, None), chosen, [*outputs, "run_tol"], compute=True,
                     trigger_mode="once", **HIDDEN)

    def on_tab(v, evt, progress):  # opening the tab brings it up to date at once
        return refreshed(v, progress, False) if str(evt.value) == TITLE else {}

    chose = page.on([page["run_name"].input, page["run_tol"].submit, page["run_curves_of"].input], on_choice, chosen,
                    [*outputs, "run_tol"], special=("progress",), compute=True)
    opened_tab = page.on(page["main_tabs"].select, on_tab, chosen, [*outputs, "run_tol"], special=("evt", "progress"),
                         compute=True)
    if page.run_dir is not None:  # the page opens on the run it follows: scrolled to its tab, not to the demo
        page.blocks.load(None, js="() => setTimeout(() => document.querySelector('#main_tabs')"
                                  "?.scrollIntoView({block: 'start'}), 800)")
    for drawn in (ticked, chose, opened_tab):  # after each (re)draw of the charts, their clicks are bound again
        page.chain(drawn, None, [], [], js=BIND_CLICKS)

    def on_open(v, progress):
        try:
            asked = json.loads(v.run_open or "{}")
        except ValueError:
            return {}
        sample, checkpoint = asked.get("sample"), asked.get("checkpoint")
        if not v.run_name or not sample or not checkpoint:
            return {}
        folder, root = run_folder(page, v.run_name)
        specs, _ = list_dataset(folder, confine_to=root)
        spec = next((sp for sp in specs if sp.name == sample), None)
        if spec is None or checkpoint not in spec.predictions:
            raise InputError(f"{sample} · {checkpoint}", "is no longer in the run",
                             "the recorder's keep_last removed it; open a step still on disk")
        new = session_of_spec(spec, checkpoint, v.state, v.device, v.weights(), page.models_from(), progress, gr.Warning)
        gr.Info(f"opened {sample} at {checkpoint} of the run {v.run_name}")  # two runs may share sample names
        return {"state": new, **page.compose(new, v.focus(), ["session", "weights", "restore", "weighted"])}

    opened = page.on(page["run_open"].change, on_open, ["state", "run_name", "run_open", "device", *FOCUS[1:],
                                                        *page.weight_names()],
                     page.restorable(), special=("progress",), compute=True)
    page.show_opened(opened)
