"""One dashboard session's state: its sample, report, weights, params and how models are chosen.

Plain data (no Gradio): every tab's views read and write it, and the tests build it directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoviz.data.sample import Sample
from geoviz.engine.combine import Combined, combine
from geoviz.engine.evaluate import Report
from geoviz.engine.terms import FAMILIES, REGISTRY
from geoviz.models.choice import ModelChoice

__all__ = ["Session"]


@dataclass
class Session:
    """Everything one browser session has: its sample, its report, its weights and parameters."""

    sample: Sample
    report: Report
    params: dict
    weights: dict[str, float]
    family_scale: dict[str, float] = field(default_factory=lambda: {f: 1.0 for f in FAMILIES})
    device: str = "auto"
    inspect: str = ""
    files: dict[str, Path] = field(default_factory=dict)
    models: ModelChoice | None = None  # how latents and depths are obtained (kept for recomputes)
    original: Sample | None = None  # the sample as loaded, when estimated depths were added to `sample`
    sweep: Any = None  # the last sensitivity sweep (geoviz.sweeps.Sweep), valid for these params
    weight_history: list = field(default_factory=list)  # (weights, family_scale) before each balance
    last_balance: Any = None  # geoviz.balance.BalanceResult of the last balance
    kind_choice: str = "auto"  # auto | insertion | material (the report says what it resolved to)

    def effective_weights(self) -> dict[str, float]:
        """Each term's slider weight × its family master: the weights ``combine`` and exports use."""
        return {t: w * self.family_scale.get(REGISTRY[t].family, 1.0) for t, w in self.weights.items()}

    def combined(self) -> Combined:
        """``combine`` of this session's report with its effective weights (cheap: no term is called)."""
        return combine(self.report, self.effective_weights())
