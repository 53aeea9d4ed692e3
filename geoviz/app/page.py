"""The page under construction: its components by name, and events wired by name.

Each tab and panel adds its components to the :class:`Page` under names (``page.add("heatmap",
gr.Plot(...))``) and wires its events with :meth:`Page.on`, naming inputs and outputs. A handler
receives the inputs as attributes (``v.target``, ``v.session``) and returns a dict of output name →
value; outputs it leaves out keep what they show (``gr.skip()``), plotly dicts become plots and
:class:`~geoviz.app.state.Update` values ``gr.update``. So no handler takes or returns a list that
must match another list by position.

What a new session, a weight change and a new inspected prediction show is composed by the layout
(it knows every tab) and reached through :meth:`Page.compose`; a handler names the kinds of views
it changes, never another tab's functions.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from gradio.components.plot import PlotData

from geoviz.app.labels import param_names, weight_names
from geoviz.app.state import Focus, Session, Update
from geoviz.app.uploads import PARAM_CONTROLS
from geoviz.data.readers import InputError
from geoviz.models.choice import ModelChoice

__all__ = ["Page", "Values", "COMPUTE", "ACTIVITY", "plot", "friendly", "counted", "FOCUS", "HIDDEN"]

log = logging.getLogger("geoviz.app")

# The compute handlers (those that evaluate terms, sweep, decode or read datasets) share one queue
# group, COMPUTE: Gradio runs at most the queue's default_concurrency_limit of them at once, whoever
# calls, so a burst waits instead of exhausting memory. Light handlers (weights, views) have their own
# per-event limits and are not held behind a diagnosis. ACTIVITY counts compute handlers running now,
# the most that ever ran at once, and how many ran (the load test reads it).
COMPUTE = dict(concurrency_id="compute")
ACTIVITY = {"running": 0, "peak": 0, "calls": 0}
_ACTIVITY_LOCK = threading.Lock()
HIDDEN = dict(show_progress="hidden")
FOCUS = ["inspect", "heat_term", "heat_kind", "opacity"]  # the inputs a Focus is read from
# API parameter names that differ from the component's page name (kept from 0.1 for API scripts)
API_NAMES = {"state": "session", "device": "dev", "context": "ctx", "target": "tgt", "mask_choice": "m_choice",
             "mask_file": "m_file", "mask_editor": "m_editor", "diff_threshold": "thr", "preds": "pr",
             "target_depth": "t_depth", "pred_depths": "p_depths", "depth_kind": "d_kind", "latents": "lat",
             "camera_file": "cam", "f_px": "fpx", "f_mm": "fmm", "sensor_w": "sw", "k_obj": "kobj",
             "heat_term": "term", "heat_kind": "kind", "opacity": "alpha", "depth_source": "d_source",
             "align_depth": "align", "latent_choice": "lat_choice", "kind_choice": "sample_kind", "inspect": "pred",
             "ds_name": "name", "ds_sort": "sort", "sweep_kind": "kind", "sweep_lo": "lo", "sweep_hi": "hi",
             "sweep_n": "n", "sweep_extra": "extra", "balance_terms": "terms", "balance_scope": "scope",
             "config_in": "file", "import_file": "file", "open_box": "link", "calib_zip": "file", "ds_asked": "asked"}
_SPECIAL = {"progress": ("progress", gr.Progress()), "request": ("request", None), "evt": ("evt", None)}
_SPECIAL_TYPES = {"request": gr.Request, "evt": gr.SelectData}


def plot(fig: dict | None) -> PlotData | None:
    """A figure dict straight into gr.Plot's payload (no plotly validation on the hot path)."""
    if fig is None:
        return None
    return PlotData(type="plotly", plot=json.dumps(fig, separators=(",", ":"), allow_nan=False, default=_json_default))


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


def _payload(value):
    """A view's value as Gradio takes it."""
    if isinstance(value, Update):
        return gr.update(value=_payload(value.value), **value.settings) if value.value is not None else gr.update(
            **value.settings)
    if isinstance(value, dict) and "data" in value and "layout" in value:
        return plot(value)
    return value


def friendly(fn):
    """Run a handler; an InputError or ValueError becomes a gr.Error naming the input, anything else
    a gr.Error with the exception (logged with its traceback). The server keeps serving."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (InputError, ValueError) as e:
            raise gr.Error(str(e), duration=12) from None
        except Exception as e:  # pragma: no cover - the last line of defence
            log.error("handler %s failed:\n%s", fn.__name__, traceback.format_exc())
            raise gr.Error(f"internal error ({type(e).__name__}: {e}); the session is unchanged", duration=12) from None

    return wrapper


def counted(fn):
    """``fn`` counted in ACTIVITY while it runs (the compute handlers)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _ACTIVITY_LOCK:
            ACTIVITY["running"] += 1
            ACTIVITY["peak"] = max(ACTIVITY["peak"], ACTIVITY["running"])
            ACTIVITY["calls"] += 1
        try:
            return fn(*args, **kwargs)
        finally:
            with _ACTIVITY_LOCK:
                ACTIVITY["running"] -= 1

    return wrapper


class Values(dict):
    """A handler's input values by page name, also as attributes (``v.target``)."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def focus(self) -> Focus:
        """The Focus in these values (absent parts at their defaults)."""
        d = Focus()
        return Focus(self.get("inspect") or d.pred, self.get("heat_term") or d.term, self.get("heat_kind") or d.kind,
                     d.opacity if self.get("opacity") is None else float(self["opacity"]))

    def weights(self) -> list:
        """The weight controls' values, ``WEIGHT_TERMS`` order then the family masters."""
        return [self[n] for n in weight_names()]

    def params(self) -> list:
        """The parameter controls' values, in ``PARAM_CONTROLS`` order."""
        return [self[n] for n in Page.param_names()]


@dataclass
class Page:
    """The components of the page by name, and what the server it runs in was given."""

    device: str = "auto"
    preload: Session | None = None
    store: Any = None  # the SessionStore behind links
    data_root: Path | None = None
    run_dir: Path | None = None  # the training run `geoviz serve --run` follows
    depth_weights: str | None = None
    taef1_weights: str | None = None
    components: dict[str, gr.components.Component] = field(default_factory=dict)
    # set by the layout, which knows every tab and panel: (session, focus, kinds, tabs) -> {name: value}
    composer: Callable | None = None
    blocks: Any = None  # the gr.Blocks being built (for its load event)
    view_names: dict[str, list[str]] = field(default_factory=dict)  # kind -> every view of that kind, in order

    # ---- components -----------------------------------------------------------------------------
    def add(self, name: str, component):
        """Register ``component`` under ``name`` (unique) and return it."""
        if name in self.components:
            raise ValueError(f"two components named {name!r}")
        self.components[name] = component
        return component

    def __getitem__(self, name: str):
        return self.components[name]

    def __contains__(self, name: str) -> bool:
        return name in self.components

    def all(self, names: Iterable[str]) -> list:
        """The components named ``names``, in order."""
        return [self.components[n] for n in names]

    @staticmethod
    def weight_names() -> list[str]:
        return weight_names()

    @staticmethod
    def param_names() -> list[str]:
        return param_names(PARAM_CONTROLS)

    def emit(self, outputs: Iterable[str], views: dict[str, Any]) -> dict:
        """``views`` (name → value) as Gradio's output dict over ``outputs``: absent names skipped,
        names that are not outputs of this event left out."""
        return {self.components[n]: _payload(views[n]) if n in views else gr.skip() for n in outputs}

    def models_from(self, latents="proxy", source="uploaded", align=True) -> ModelChoice:
        """How latents and depths are obtained, from the inputs panel's choices."""
        return ModelChoice(latents=latents or "proxy", depth_source=source or "uploaded", align_depth=bool(align),
                           depth_weights=self.depth_weights, taef1_weights=self.taef1_weights)

    # ---- what the layout composes --------------------------------------------------------------
    def compose(self, session: Session, focus: Focus, kinds: Iterable[str], tabs: Iterable[str] | None = None) -> dict:
        """Every view of ``kinds`` for ``session`` (name → value). The kinds: ``session`` (what a new
        session shows once), ``weights`` (the controls showing its weights), ``weighted`` (views that
        depend on the weights), ``prediction`` (the tabs' views of ``focus.pred``), ``inspect``
        (what else changes with the inspected prediction: the heatmap) and ``restore`` (what only a
        restored session sets: its notes and its inputs in the input boxes). A lazy tab's weighted views
        are composed only when its id is in ``tabs`` (None: all)."""
        return self.composer(session, focus, tuple(kinds), None if tabs is None else tuple(tabs))

    def outputs_of(self, *kinds: str) -> list[str]:
        """The names of every view of ``kinds``, in the page's order (each once)."""
        return list(dict.fromkeys(n for k in kinds for n in self.view_names[k]))

    def everything(self) -> list[str]:
        """What an event that makes a new session outputs: the state and every view but the
        per-prediction ones (:meth:`then_predictions` follows). The exact numbers stay last: API
        clients read them as ``out[-1]``."""
        return ["state", *self.outputs_of("session", "weights", "weighted")]

    def restorable(self) -> list[str]:
        """What an event that restores a session (a link, a bundle, the demo, a dataset's sample)
        outputs: :meth:`everything` and what only a restore sets (its notes, its inputs)."""
        return ["state", *self.outputs_of("session", "weights", "restore", "weighted")]

    # ---- events ------------------------------------------------------------------------------------
    def on(self, triggers, fn: Callable, inputs: list[str], outputs: list[str], *, special: tuple[str, ...] = (),
           api_name: str | None = None, compute: bool = False, js: str | None = None, **kwargs):
        """Wire ``fn(v, **special)`` to ``triggers`` (an event listener or a list of them). ``v`` is
        the :class:`Values` of ``inputs``; ``fn`` returns {output name: value}. ``special``: any of
        ``progress``, ``request``, ``evt`` (Gradio's progress, request and event data). The endpoint's
        parameters are named after the inputs (``API_NAMES`` where 0.1 named them otherwise)."""
        handler = None if fn is None else self._handler(fn, inputs, outputs, special, compute)
        listeners = triggers if isinstance(triggers, (list, tuple)) else [triggers]
        visibility = {"api_name": api_name} if api_name else {"api_visibility": "private"}
        return gr.on(listeners, handler, self.all(inputs), self.all(outputs), js=js, **visibility,
                     **(COMPUTE if compute else {}), **kwargs)

    def chain(self, event, fn: Callable | None, inputs: list[str], outputs: list[str], *, how: str = "success",
              special: tuple[str, ...] = (), compute: bool = False, js: str | None = None, **kwargs):
        """Wire ``fn`` as :meth:`on` does, to run after ``event`` (``how``: ``then``, ``success`` or
        ``failure``); private to the page."""
        handler = None if fn is None else self._handler(fn, inputs, outputs, special, compute)
        return getattr(event, how)(handler, self.all(inputs), self.all(outputs), js=js, api_visibility="private",
                                   **(COMPUTE if compute else {}), **kwargs)

    def show_opened(self, event) -> None:
        """After ``event`` opened a sample (a dataset's row, a run's point): the Overview tab, scrolled
        to its cards, and its per-prediction views."""
        tab = self.chain(event, lambda v: {"main_tabs": gr.Tabs(selected="overview")}, [], ["main_tabs"],
                         show_progress="hidden")
        self.chain(tab, None, [], [], how="then",
                   js="() => document.querySelector('#totals')?.scrollIntoView({block: 'start'})")
        self.then_predictions(event)

    def then_predictions(self, event):
        """After ``event`` (which made or changed the session): the per-prediction views, as a second
        step, so the totals are on screen first."""

        def prediction_views(v):
            if v.state is None:
                return {}
            return self.compose(v.state, Focus(v.state.inspect), ["prediction"])

        return self.chain(event, prediction_views, ["state"], self.outputs_of("prediction"), **HIDDEN)

    def _handler(self, fn, inputs, outputs, special, compute):
        params = [inspect.Parameter(_SPECIAL[s][0], inspect.Parameter.POSITIONAL_OR_KEYWORD, default=_SPECIAL[s][1],
                                    annotation=_SPECIAL_TYPES.get(s, inspect.Parameter.empty)) for s in special]
        params += [inspect.Parameter(API_NAMES.get(n, n), inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
                   for n in inputs]
        signature = inspect.Signature(params)
        page = self

        def handler(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            got = list(bound.arguments.values())
            extra = dict(zip(special, got[: len(special)]))
            views = fn(Values(zip(inputs, got[len(special):])), **extra)
            return page.emit(outputs, views or {})

        # Gradio reads parameter names from the signature and special parameters (request, event
        # data) from the type hints: both are set on every layer
        hints = {s: _SPECIAL_TYPES[s] for s in special if s in _SPECIAL_TYPES}
        handler.__name__ = handler.__qualname__ = getattr(fn, "__name__", "handler")
        layers = [handler, friendly(handler)]
        if compute:
            layers.append(counted(layers[-1]))
        for layer in layers:
            layer.__signature__, layer.__annotations__ = signature, dict(hints)
            layer.__dict__.pop("__wrapped__", None)
        return layers[-1]

