"""The version of geoviz (and of the losses library shipped with it)."""

__all__ = ["__version__"]

__version__ = "0.2.0"
