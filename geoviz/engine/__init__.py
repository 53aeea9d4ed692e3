"""Sample → Report: the parameters and the dashboard's view of each term (``terms``), evaluation and
``combine`` (``evaluate``), weight presets and the weights file (``weights``), the scale readout
(``scale``).
"""

__all__: list[str] = []
