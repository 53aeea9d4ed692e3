"""What the page calls things: term and family labels, the sliders' order, number formatting.

Plain data (no Gradio). ``TERM_LABELS`` and ``WEIGHT_TERMS`` are updated in place by
:func:`refresh_terms`, so a term registered before the page is built gets its label and slider.
"""

from __future__ import annotations

from geoviz.engine.terms import FAMILIES, REGISTRY

__all__ = ["FAMILY_LABELS", "TERM_LABELS", "WEIGHT_TERMS", "TOTAL", "refresh_terms", "fmt", "esc", "weight_names",
           "param_names"]

FAMILY_LABELS = {
    "latent": "002 · latent geometry",
    "depth": "000 · depth consistency",
    "scale": "001 · depth-aware scale",
    "monodepth": "004 · G2-MonoDepth",
    "texture": "003 · texture scale",
}
TOTAL = "weighted total"
TERM_LABELS: dict[str, str] = {}
WEIGHT_TERMS: list[str] = []  # the sliders' order: family by family


def refresh_terms() -> None:
    """Bring :data:`WEIGHT_TERMS` and :data:`TERM_LABELS` up to the registered terms (in place: the
    page's callbacks hold these objects)."""
    WEIGHT_TERMS[:] = [t for fam in FAMILIES for t in FAMILIES[fam]]
    TERM_LABELS.update({name: t.label for name, t in REGISTRY.items()})


refresh_terms()


def weight_names() -> list[str]:
    """The weight controls' names, in the order the page sends them: ``w_<term>`` for each slider of
    :data:`WEIGHT_TERMS`, then ``m_<family>`` for each family master."""
    return [f"w_{t}" for t in WEIGHT_TERMS] + [f"m_{f}" for f in FAMILIES]


def param_names(controls) -> list[str]:
    """The parameter controls' names ``p_<group>_<name>`` for ``controls`` ((group, spec) pairs)."""
    return [f"p_{g}_{p.name}" for g, p in controls]


def fmt(v: float | None, digits: int = 4) -> str:
    """A value as the tables show it: ``—`` for none, ``0``, else ``digits`` significant digits."""
    if v is None:
        return "—"
    if v == 0:
        return "0"
    return f"{v:.{digits}g}"


def esc(s) -> str:
    """``s`` safe inside HTML text and double-quoted attributes (the same four characters as the
    page-side totals script escapes, so both draw identical cards)."""
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
