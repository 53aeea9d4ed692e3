"""Deprecated: ``geoviz.io`` moved to ``geoviz.data.readers`` and ``geoviz.data.layouts`` in geoviz 0.2; this path
re-exports them, warns once, and goes in 0.3."""

from geoviz.deprecated import reexport

reexport(__name__, "geoviz.data.readers", "geoviz.data.layouts")
