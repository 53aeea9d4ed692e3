"""Deprecated: ``geoviz.evaluate`` moved to ``geoviz.engine.evaluate`` in geoviz 0.2; this path
re-exports them, warns once, and goes in 0.3."""

from geoviz.deprecated import reexport

reexport(__name__, "geoviz.engine.evaluate", "geoviz.engine.combine", "geoviz.engine.cache", call="evaluate")
