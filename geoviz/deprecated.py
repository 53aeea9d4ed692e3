"""The module paths of geoviz 0.1 that moved in 0.2, kept for this minor version.

Each old module (``geoviz.io``, ``geoviz.evaluate``, ``geoviz.sweeps``, ``geoviz.terms``) is a
thin re-export of its new home that warns once, on import, with a :class:`DeprecationWarning`
naming the new path. They go in 0.3.
"""

from __future__ import annotations

import importlib
import sys
import types
import warnings

__all__ = ["reexport"]


class _CallableModule(types.ModuleType):
    """``geoviz.evaluate`` is both the 0.1 module and, since 0.2, the function of the public face:
    importing the old module rebinds the package attribute to it, so calling it must still work."""

    def __call__(self, *args, **kwargs):
        return self.__dict__["__call_target__"](*args, **kwargs)


def reexport(old: str, *new: str, call: str | None = None) -> None:
    """Make module ``old`` (being imported) re-export the public names (``__all__``) of the modules
    ``new``, and warn once. ``call``: a name that calling the old module calls (see
    :class:`_CallableModule`)."""
    warnings.warn(f"{old} moved to {' and '.join(new)} in geoviz 0.2 (`import geoviz` gives the public API); "
                  f"the old path goes in 0.3", DeprecationWarning, stacklevel=3)
    module, names = sys.modules[old], []
    for path in new:
        target = importlib.import_module(path)
        for name in target.__all__:
            setattr(module, name, getattr(target, name))
            names.append(name)
    module.__all__ = names
    if call is not None:
        module.__call_target__ = getattr(module, call)
        module.__class__ = _CallableModule
