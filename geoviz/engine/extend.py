"""Adding a term: one call, and every face finds it.

    geoviz.register_term(CatalogEntry("my_term", "latent", "002", ("z_pred", "z_tgt", "mask"), 0.3, (),
                                      lambda s: (s["z_pred"] - s["z_tgt"]).abs().mean()),
                         Presentation("my_term", "my term", frozenset({"latents"}), "latent"))

The catalog entry (``losses.catalog``) makes it part of ``GeometryLoss``; the presentation
(``geoviz.engine.terms``) of the Report, ``combine``, the presets of its family, the weight sliders,
the sweeps, the CLI's CSV columns and bundles. A presentation without ``compute`` gets the
generic one (value and gradient from the catalog's value function).
"""

from __future__ import annotations

from typing import Any

import losses.catalog
from geoviz.engine.terms import Presentation, Term
from geoviz.engine.terms import register_term as present
from geoviz.engine.weights import refresh_presets

__all__ = ["register_term"]


def register_term(entry: losses.catalog.CatalogEntry, presentation: Presentation,
                  param_defaults: dict[str, dict[str, Any]] | None = None) -> Term:
    """Register ``entry`` in the catalog and ``presentation`` in the engine; refresh the presets.

    ``param_defaults``: new parameter groups the term reads, with their defaults (they become
    parameters of the Params tab and of the weights file). Raises ``ValueError`` for a name already
    registered or a presentation of another name."""
    if presentation.name != entry.name:
        raise ValueError(f"the presentation is of {presentation.name!r}, the catalog entry of {entry.name!r}")
    losses.catalog.register(entry, param_defaults)
    term = present(presentation)
    refresh_presets()
    return term
