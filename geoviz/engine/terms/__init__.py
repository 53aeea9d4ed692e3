"""The registry: one entry per loss term of ``losses``, with everything a face needs to show it.

A :class:`Term` is a frozen description — family, specification, the inputs it needs, its starter
weight, the parameter groups it reads — and a ``compute(inputs, params) -> TermResult`` that returns
the value, the contribution map (for pixel-sum terms), the gradient map with respect to the term's own
input (latent, depth or image) and named extras (change mask, SDM, spectra, …). A term whose inputs
are missing returns ``skipped`` with a reason, never a silent zero.

One module per family computes its terms (:mod:`.latent` 002, :mod:`.depth` 000 and 001,
:mod:`.monodepth` 004, :mod:`.texture` 003); :mod:`.registry` registers them by name against
``losses.catalog``; :mod:`.params` holds the parameter groups (each name the ``losses`` keyword it
feeds) and :func:`resolve_params`; :mod:`.base` the inputs and results every family shares.
"""

from geoviz.engine.terms.base import Term, TermInputs, TermResult, gradient_display
from geoviz.engine.terms.depth import depth_scale_setup
from geoviz.engine.terms.latent import boundary_perfect, reference
from geoviz.engine.terms.monodepth import monodepth_region
from geoviz.engine.terms.params import (
    DEFAULT_SETTINGS,
    DOCUMENT_PARAMS,
    PARAM_GROUPS,
    PARAM_SETTINGS,
    TOOL_PARAMS,
    Param,
    params_key,
    resolve_params,
    settings_of,
)
from geoviz.engine.terms.registry import FAMILIES, PRESENTATIONS, REGISTRY, Presentation, catalog_compute, register_term
from geoviz.engine.terms.texture import spectral_loss

__all__ = [
    "Param", "PARAM_GROUPS", "TermResult", "TermInputs", "Term", "Presentation", "PRESENTATIONS", "register_term",
    "catalog_compute", "REGISTRY", "FAMILIES", "resolve_params", "settings_of", "TOOL_PARAMS", "DOCUMENT_PARAMS",
    "PARAM_SETTINGS", "DEFAULT_SETTINGS", "params_key", "gradient_display", "depth_scale_setup", "spectral_loss",
    "monodepth_region", "reference", "boundary_perfect",
]
