"""geoviz: the diagnostics engine and its faces (dashboard, CLI) over the `losses` library."""

__version__ = "0.1.0"
