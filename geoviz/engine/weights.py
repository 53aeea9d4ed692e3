"""Weight presets (the specifications' starters) and the versioned weights config.

The config is the JSON a training loop reads: ``{"version": 1, "weights": {term: w},
"params": {group: {name: value}}}``. It saves and loads exactly (floats round-trip through JSON's
shortest repr), and loading checks every term and parameter name.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from geoviz.engine.terms import FAMILIES, PARAM_GROUPS, REGISTRY, resolve_params
from losses.config import CONFIG_VERSION

__all__ = ["PRESETS", "PRESET_RECIPES", "refresh_presets", "KIND_PRESETS", "preset", "preset_for", "preset_matching", "default_weights", "WeightsConfig",
           "CONFIG_VERSION"]


def default_weights() -> dict[str, float]:
    """Every term at its own document's starter weight."""
    return {name: t.default_weight for name, t in REGISTRY.items()}


def _family_weights(*families: str, scale: dict[str, float] | None = None) -> dict[str, float]:
    out = {name: 0.0 for name in REGISTRY}
    for fam in families:
        for name in FAMILIES.get(fam, []):
            out[name] = REGISTRY[name].default_weight * (scale or {}).get(fam, 1.0)
    return out


# Each preset as the families it turns on (at their documents' starter weights) and their scales.
PRESET_RECIPES: dict[str, tuple[tuple[str, ...], dict[str, float]]] = {
    # 002's starter total (1.0 mse, 0.6 bg, 0.9 Dice, 0.2 area, 0.4 boundary) + 001's 0.10 + 000's
    # depth term at 0.2 (split 1 : 0.5 : 0.5 as its w_inside / w_outside / w_edge).
    "object insertion": (("latent", "scale", "depth"), {}),
    # 003's example: L_rec + 0.1·spectral + 0.02·log-polar + 0.05·scale consistency + 0.02·ACF.
    "material replacement": (("texture",), {}),
    # the insertion starters plus 004's total (adepth + rdepth + 0.5·rgrad) scaled by 000's 0.2.
    "depth-supervised": (("latent", "scale", "depth", "monodepth"), {"monodepth": 0.2}),
}
PRESETS: dict[str, dict[str, float]] = {}


def refresh_presets() -> None:
    """Rebuild :data:`PRESETS` in place from the registered terms (after a term is registered: it
    joins every preset that turns its family on, at its starter weight)."""
    for name, (families, scale) in PRESET_RECIPES.items():
        PRESETS[name] = _family_weights(*families, scale=scale)


refresh_presets()


# the preset each kind of sample starts from (the dashboard's dropdown follows it; the CLI uses it
# when no --weights is given): a material under "object insertion" weights has every texture term at 0
KIND_PRESETS = {"insertion": "object insertion", "material": "material replacement"}


def preset_for(kind: str) -> str:
    """The name of the preset a sample of ``kind`` (``"insertion"`` / ``"material"``) starts from."""
    if kind not in KIND_PRESETS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {list(KIND_PRESETS)}")
    return KIND_PRESETS[kind]


def preset_matching(weights: dict[str, float], tol: float = 1e-9) -> str:
    """The name of the preset whose weights ``weights`` equal (missing terms count as 0), else ``"custom"``."""
    for name, w in PRESETS.items():
        if all(abs(float(weights.get(t, 0.0)) - v) <= tol * max(1.0, abs(v)) for t, v in w.items()):
            return name
    return "custom"


def preset(name: str) -> dict[str, float]:
    """A copy of the preset ``name``'s weights (a key of :data:`PRESETS`): every registered term, 0 for
    the terms outside the preset's families.

    Raises ``ValueError`` for an unknown preset name."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {list(PRESETS)}")
    return dict(PRESETS[name])


@dataclass
class WeightsConfig:
    """Weights and term parameters, as the dashboard exports them for training."""

    weights: dict[str, float] = field(default_factory=default_weights)
    params: dict[str, dict] = field(default_factory=dict)
    version: int = CONFIG_VERSION

    def __post_init__(self):
        unknown = sorted(set(self.weights) - set(REGISTRY))
        if unknown:
            raise ValueError(f"unknown term(s) in weights: {unknown}; known: {sorted(REGISTRY)}")
        for k, v in self.weights.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"weights.{k} must be a number, got {v!r}")
            if not math.isfinite(v):  # NaN would poison every total, and is not valid JSON
                raise ValueError(f"weights.{k} must be finite, got {v!r}")
        self.weights = {k: float(v) for k, v in self.weights.items()}
        resolve_params(self.params)  # checks names and ranges

    def to_dict(self) -> dict:
        """``{"version", "weights", "params"}`` as plain dicts (copies; ``params`` as given, defaults not
        filled in — see :meth:`resolved_params`)."""
        return {"version": self.version, "weights": dict(self.weights), "params": _plain(self.params)}

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text: keys sorted, indented by 2, ending in a newline."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict) -> WeightsConfig:
        """A config from its JSON object (as :meth:`to_dict` writes it); missing ``weights`` / ``params`` are
        empty. Raises ``ValueError`` for a non-object, another ``version``, an unexpected key, an unknown
        term, a non-number weight or an invalid parameter."""
        if not isinstance(data, dict):
            raise ValueError("a weights config must be a JSON object")
        version = data.get("version")
        if version != CONFIG_VERSION:
            raise ValueError(f"weights config version {version!r} is not supported (expected {CONFIG_VERSION})")
        extra = set(data) - {"version", "weights", "params"}
        if extra:
            raise ValueError(f"unexpected key(s) {sorted(extra)} in the weights config")
        return cls(weights=dict(data.get("weights") or {}), params=dict(data.get("params") or {}), version=version)

    @classmethod
    def from_json(cls, text: str) -> WeightsConfig:
        """A config from JSON text; raises ``ValueError`` for invalid JSON or as :meth:`from_dict`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"the weights config is not valid JSON ({e})") from None
        return cls.from_dict(data)

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to ``path`` (UTF-8, replacing any file there) and return it as a ``Path``."""
        path = Path(path)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> WeightsConfig:
        """A config read from the JSON file at ``path``; raises ``ValueError`` as :meth:`from_json` (and
        ``OSError`` when the file cannot be read)."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def resolved_params(self) -> dict[str, dict]:
        """The params with every default filled in."""
        return resolve_params(self.params)


def _plain(params: dict) -> dict:
    """Only the groups and names that exist (a JSON-ready copy)."""
    return {g: dict(v) for g, v in params.items() if g in PARAM_GROUPS}
