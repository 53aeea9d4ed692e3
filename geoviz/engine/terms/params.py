"""Term parameters: every parameter group (each name the ``losses`` keyword it feeds), the tool's
and the document's defaults, the named settings, and resolving a partial params dict."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from losses.config import DEFAULT_PARAMS

__all__ = ["Param", "PARAM_GROUPS", "DOCUMENT_PARAMS", "TOOL_PARAMS", "PARAM_SETTINGS", "DEFAULT_SETTINGS", "settings_of", "resolve_params", "params_key"]

# ---- parameters ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """A tunable parameter: its default (the document's), kind and range, for sliders and checks."""

    name: str
    kind: str = "float"  # float | int | choice | bool; optional values allow None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple = ()
    optional: bool = False
    help: str = ""
    default: Any = None  # filled from losses.config.DEFAULT_PARAMS

    def check(self, value: Any, group: str) -> Any:
        """``value`` checked and normalised for this parameter of ``group``: None (when ``optional``), the
        value itself (``choice``, ``bool``), an ``int`` or a ``float`` within ``[low, high]`` (inclusive).

        Raises ``ValueError`` naming ``params.<group>.<name>`` for an empty, wrong-kind, non-finite,
        non-integer (``int`` kind) or out-of-range value."""
        where = f"params.{group}.{self.name}"
        if value is None:
            if self.optional:
                return None
            raise ValueError(f"{where} cannot be empty")
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"{where} must be one of {list(self.choices)}, got {value!r}")
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{where} must be true or false, got {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
            raise ValueError(f"{where} must be a number, got {value!r}")
        v = int(value) if self.kind == "int" else float(value)
        if self.kind == "int" and float(value) != v:
            raise ValueError(f"{where} must be an integer, got {value!r}")
        if (self.low is not None and v < self.low) or (self.high is not None and v > self.high):
            raise ValueError(f"{where} must be within [{self.low}, {self.high}], got {value!r}")
        return v


PARAM_GROUPS: dict[str, tuple[Param, ...]] = {
    "change_mask": (
        Param("k_sigma", low=0.0, high=6.0, step=0.1, help="tau = mean_bg + k_sigma·σ"),
        Param("band_r", "int", 0, 4, 1, help="sure background excludes dilate(mask, band_r)"),
        Param("temperature", low=0.05, high=2.0, step=0.05, help="s = σ·temperature (1 = the document)"),
        Param("s_min", low=0.0, high=0.5, step=0.01, optional=True, help="σ floor as a fraction of max D"),
        Param("roi_r", "int", 0, 32, 1, optional=True, help="Dice/area/boundary only within roi_r of the mask"),
        Param("reference", "choice", choices=("mask", "target"),
              help="Dice/area/boundary compare M̂ with the mask (document) or the target's own change mask"),
    ),
    "latent_mse": (
        Param("band_r", "int", 0, 4, 1),
        Param("w_in", low=0.0, high=10.0, step=0.1),
        Param("w_band", low=0.0, high=20.0, step=0.5),
        Param("w_out", low=0.0, high=5.0, step=0.05),
        Param("channel_reduce", "choice", choices=("mean", "sum")),
    ),
    "background": (Param("band_r", "int", 0, 4, 1),),
    "boundary": (Param("normalize", "bool", help="divide the SDM by its max |phi|"),),
    "depth_consistency": (
        Param("outside_dilate_r", "int", 0, 16, 1),
        Param("edge_band_r", "int", 0, 16, 1),
        Param("beta", low=0.0, high=5.0, step=0.01),
    ),
    "depth_scale": (
        Param("k_obj", low=0.0, high=1e6, optional=True, help="None: calibrate on this sample's target"),
        Param("depth_stat", "choice", choices=("median", "mean")),
    ),
    "monodepth": (Param("region", "choice", choices=("all", "inside", "outside"),
                        help="which pixels the 004 terms compare"),),
    "texture_spectral": (
        Param("r_bins", "int", 32, 1024, 32),
        Param("tau", low=0.005, high=1.0, step=0.005),
        Param("band_sigma", low=0.02, high=1.0, step=0.01),
        Param("w_peak", low=0.0, high=10.0, step=0.1),
        Param("w_band", low=0.0, high=10.0, step=0.1),
        Param("min_bin", "int", 0, 64, 1),
    ),
    "texture_log_polar": (
        Param("out_r", "int", 16, 512, 16),
        Param("out_t", "int", 16, 720, 4),
        Param("r_min", low=0.001, high=0.5, step=0.001),
    ),
    "texture_acf": (
        Param("r_bins", "int", 16, 1024, 16),
        Param("tau", low=0.005, high=1.0, step=0.005),
        Param("min_rel", low=0.0, high=0.5, step=0.01),
        Param("max_rel", low=0.05, high=1.0, step=0.01),
    ),
}


# The documents' defaults live in ``losses.config`` (a drop-in must behave as written). The tool's
# defaults differ in one group: the document's soft change mask leaks onto the background (every
# background latent at sigmoid(−k_sigma) ≈ 0.12), which on real photographs put the area, Dice and
# boundary minima — and the scale a reader infers from them — 40–60 % off; the leak-free settings
# (../shared/specs/README.md, "Defaults: the library is the document, the tool is right") fix it.
DOCUMENT_PARAMS: dict[str, dict[str, Any]] = {g: dict(v) for g, v in DEFAULT_PARAMS.items()}
TOOL_PARAMS: dict[str, dict[str, Any]] = {
    **{g: dict(v) for g, v in DEFAULT_PARAMS.items()},
    "change_mask": {**DEFAULT_PARAMS["change_mask"], "temperature": 0.25, "s_min": 0.05, "reference": "target"},
}
# named settings a user switches between in one click (the Params tab, ``--settings`` of the CLI)
PARAM_SETTINGS: dict[str, dict[str, dict[str, Any]]] = {"leak-free": TOOL_PARAMS, "as in the document": DOCUMENT_PARAMS}
DEFAULT_SETTINGS = "leak-free"
PARAM_GROUPS = {g: tuple(dataclasses.replace(p, default=TOOL_PARAMS[g][p.name]) for p in ps)
                for g, ps in PARAM_GROUPS.items()}
assert {g: {p.name for p in ps} for g, ps in PARAM_GROUPS.items()} == {g: set(d) for g, d in DEFAULT_PARAMS.items()}


def settings_of(params: dict) -> str:
    """The name of the :data:`PARAM_SETTINGS` entry that resolved ``params`` equal, else ``"custom"``."""
    p = resolve_params(params)
    for name, s in PARAM_SETTINGS.items():
        if p == resolve_params(s):
            return name
    return "custom"


def resolve_params(params: dict | None) -> dict[str, dict[str, Any]]:
    """Fill every group with the tool's defaults (:data:`TOOL_PARAMS`: the documents' except the
    leak-free change mask) and check names, types and ranges.

    Raises ``ValueError`` naming ``params.<group>.<name>`` for an unknown or out-of-range entry.
    """
    params = params or {}
    unknown = set(params) - set(PARAM_GROUPS)
    if unknown:
        raise ValueError(f"unknown parameter group(s) {sorted(unknown)}; known: {sorted(PARAM_GROUPS)}")
    out = {}
    for group, specs in PARAM_GROUPS.items():
        given = dict(params.get(group) or {})
        names = {p.name for p in specs}
        extra = set(given) - names
        if extra:
            raise ValueError(f"unknown parameter(s) {sorted(extra)} in params.{group}; known: {sorted(names)}")
        out[group] = {p.name: p.check(given.get(p.name, p.default), group) for p in specs}
    return out


def params_key(params: dict, groups: tuple[str, ...]) -> str:
    """A stable key of the parameter groups a term reads."""
    return json.dumps({g: params[g] for g in groups}, sort_keys=True)


