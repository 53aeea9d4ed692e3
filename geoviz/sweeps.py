"""Deprecated: ``geoviz.sweeps`` moved to ``geoviz.analysis.sweeps`` in geoviz 0.2; this path
re-exports them, warns once, and goes in 0.3."""

from geoviz.deprecated import reexport

reexport(__name__, "geoviz.analysis.sweeps")
