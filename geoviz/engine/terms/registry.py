"""The registry: one :class:`Term` per catalog term (``losses.catalog``), made from its catalog
entry and its :class:`Presentation` — what the dashboard needs beyond the catalog."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import losses
import losses.catalog
from geoviz.engine.terms.base import Term, TermInputs, TermResult, result_of
from geoviz.engine.terms.depth import depth_part, depth_scale
from geoviz.engine.terms.latent import latent_area, latent_background, latent_boundary, latent_dice, latent_mse
from geoviz.engine.terms.monodepth import mono_part
from geoviz.engine.terms.params import DOCUMENT_PARAMS, PARAM_GROUPS, TOOL_PARAMS, Param
from geoviz.engine.terms.texture import (
    pixel_masked_mse,
    texture_acf,
    texture_log_polar,
    texture_scale_consistency,
    texture_spectral,
)
from losses.catalog import CATALOG

__all__ = ["Presentation", "PRESENTATIONS", "REGISTRY", "FAMILIES", "catalog_compute", "register_term"]

_L = frozenset({"latents"})
_D = frozenset({"depth"})

@dataclass(frozen=True)
class Presentation:
    """What the dashboard needs of a catalog term beyond :mod:`losses.catalog`: ``label`` for
    people, ``needs`` (inputs beyond the images: ``latents``, ``depth``, ``camera``, ``second_run``),
    ``input`` (what its gradient is taken on: ``latent``, ``depth``, ``image``), ``compute(inputs,
    params) -> TermResult`` (maps and extras; None: the generic :func:`catalog_compute`) and a
    ``description``."""

    name: str
    label: str
    needs: frozenset
    input: str
    compute: Callable[[TermInputs, dict], TermResult] | None = None
    description: str = ""


# catalog input name -> what TermInputs holds for it (the prediction side is the gradient's leaf)
_LEAF_OF = {"z_pred": "latent", "depth_pred": "depth", "image_pred": "image"}


def _step_values(inp: TermInputs, input_: str) -> dict[str, Any]:
    values = {"z_pred": inp.z_pred, "z_tgt": inp.z_tgt, "z_ctx": inp.z_ctx, "mask": inp.mask,
              "depth_pred": inp.depth_pred, "depth_tgt": inp.depth_tgt, "f_px": inp.f_px,
              "image_pred": inp.image_pred, "image_tgt": inp.image_tgt, "image_pred2": inp.second_run,
              "depth_kind": inp.depth_kind, "k_obj": inp.k_obj, "image_width": inp.image_pred.shape[-1]}
    key = next(k for k, v in _LEAF_OF.items() if v == input_)
    if values[key] is not None:
        values[key] = inp.leaf(input_)
    return values


def catalog_compute(entry: losses.catalog.CatalogEntry, input_: str) -> Callable[[TermInputs, dict], TermResult]:
    """The generic ``compute`` of a catalog term: its value from the catalog's value function and
    its gradient with respect to ``input_`` (no contribution map, no extras). Missing inputs skip
    the term with their names."""
    def compute(inp: TermInputs, p: dict) -> TermResult:
        values = _step_values(inp, input_)
        missing = [i for i in entry.inputs if values.get(i) is None]
        if missing:
            return TermResult(None, skipped=f"needs {', '.join(missing)}", input=input_)
        value = entry.value(losses.catalog.Step({k: v for k, v in values.items() if v is not None}, p))
        space = "latent" if input_ == "latent" else "pixel"
        return result_of(value, inp.leaf(input_), space, input_)

    return compute


def _param_of(name: str, default: Any) -> Param:
    """A slider/box for a parameter known only by its default (a term registered without one)."""
    if isinstance(default, bool):
        return Param(name, "bool", default=default)
    if isinstance(default, int):
        return Param(name, "int", default=default)
    return Param(name, optional=default is None, default=default)


# What the dashboard needs of each catalog term beyond the catalog (losses.catalog: family, document,
# inputs, starter weight, parameter groups, value): a label, what it needs beyond the images, the input
# its gradient is taken on, and how to compute its maps and extras. A catalog term with no
# presentation here gets the generic one (value and gradient from the catalog's value function).
PRESENTATIONS: dict[str, Presentation] = {pr.name: pr for pr in [
    Presentation("latent_mse", "weighted masked MSE", _L, "latent", latent_mse,
                 "Reconstruction MSE on latents, boundary band weighted ×6, background ×0.2."),
    Presentation("latent_background", "background preservation", _L, "latent", latent_background,
                 "MSE against the context latents outside dilate(mask)."),
    Presentation("latent_dice", "Dice (change mask)", _L, "latent", latent_dice,
                 "Soft Dice between the change mask M̂ and the target mask."),
    Presentation("latent_area", "area ratio (change mask)", _L, "latent", latent_area,
                 "(log ΣM̂/ΣM)²: an object scaled by s costs (2 log s)²."),
    Presentation("latent_boundary", "boundary (SDM)", _L, "latent", latent_boundary,
                 "mean(M̂·φ) with φ the target's signed distance map, less its value at a perfect "
             "prediction (0 = perfect; the raw value is shown beside it)."),
    Presentation("depth_inside", "depth inside", _D, "depth", depth_part("inside"),
                 "SmoothL1 depth match inside the mask (starter 0.2 × w_inside 1.0)."),
    Presentation("depth_outside", "depth outside", _D, "depth", depth_part("outside"),
                 "SmoothL1 depth match outside dilate(mask) (0.2 × 0.5)."),
    Presentation("depth_edge", "depth edges", _D, "depth", depth_part("edge"),
                 "SmoothL1 of depth gradients on the boundary band (0.2 × 0.5)."),
    Presentation("depth_scale", "depth-aware scale", _D | {"camera"}, "latent", depth_scale,
                 "(log s_pred/s_exp)² with s_exp = k_obj·f/Z (or k_obj·f·d)."),
    Presentation("mono_adepth", "absolute depth L1", _D, "depth", mono_part("adepth"),
                 "Masked mean |d − d̂| (G2 weight 1)."),
    Presentation("mono_rdepth", "relative depth L1", _D, "depth", mono_part("rdepth"),
                 "L1 of mean/MAD-standardised depths (G2 weight 1)."),
    Presentation("mono_rgrad", "multi-scale gradient", _D, "depth", mono_part("rgrad"),
                 "Sobel gradient L1 at scales 1,2,4,8 on standardised depth (G2 weight 0.5)."),
    Presentation("mono_ssi", "scale-shift invariant", _D, "depth", mono_part("ssi"),
                 "L1 after least-squares scale and shift (the comparison 004 contrasts; no starter weight)."),
    Presentation("pixel_masked_mse", "masked pixel MSE", frozenset(), "image", pixel_masked_mse,
                 "mse(pred·mask, target·mask): L_rec of the 003 example."),
    Presentation("texture_spectral", "spectral period", frozenset(), "image", texture_spectral,
                 "(log f_pred/f_tgt)² + narrow-band spectrum match (003 example: 0.1)."),
    Presentation("texture_log_polar", "log-polar alignment", frozenset(), "image", texture_log_polar,
                 "MSE of log-polar amplitude spectra (003 example: 0.02)."),
    Presentation("texture_scale_consistency", "scale consistency", frozenset({"second_run"}), "image", texture_scale_consistency,
                 "(log f₁/f₂)² between two runs of a checkpoint (003 example: 0.05)."),
    Presentation("texture_acf", "ACF period", frozenset(), "image", texture_acf,
                 "(log p_pred/p_tgt)² of autocorrelation periods (003 example: 0.02)."),
]}

REGISTRY: dict[str, Term] = {}
FAMILIES: dict[str, list[str]] = {}


def register_term(presentation: Presentation) -> Term:
    """Add (or refresh) the :class:`Term` of a catalog term from its presentation: the catalog gives
    family, spec, starter weight and parameter groups; the presentation the rest."""
    entry = CATALOG.get(presentation.name)
    if entry is None:
        raise ValueError(f"term {presentation.name!r} is not in losses.catalog.CATALOG; register it there first")
    for group in entry.groups:
        if group not in PARAM_GROUPS:  # a group the catalog added: its defaults are the tool's and the document's
            defaults = losses.catalog.DEFAULT_PARAMS[group]
            PARAM_GROUPS[group] = tuple(_param_of(n, v) for n, v in defaults.items())
            TOOL_PARAMS[group], DOCUMENT_PARAMS[group] = dict(defaults), dict(defaults)
    PRESENTATIONS[presentation.name] = presentation
    term = Term(entry.name, entry.family, entry.spec, presentation.label, presentation.needs, entry.default_weight,
                entry.groups, presentation.input, presentation.compute or catalog_compute(entry, presentation.input),
                presentation.description)
    REGISTRY[term.name] = term
    names = FAMILIES.setdefault(term.family, [])
    if term.name not in names:
        names.append(term.name)
    return term


for _name in CATALOG:
    register_term(PRESENTATIONS[_name])
