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
from geoviz.report.figures import as_pil

__all__ = ["Session", "Focus", "Update"]


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
    notes: str = ""  # the notes of the bundle or link it was restored from
    table_show: str = "weighted"  # what the Overview table's cells show: weighted | raw | share
    sent: dict = field(default_factory=dict)  # lazy tab id → what its weighted views were made from

    def weighted_source(self, pred: str) -> tuple:
        """What a lazy tab's weighted views are made of: the report, sweep and balance (by identity),
        the effective weights and the prediction inspected. Equal sources give equal views."""
        return (id(self.report), id(self.sweep), id(self.last_balance),
                tuple(sorted(self.effective_weights().items())), pred)

    def effective_weights(self) -> dict[str, float]:
        """Each term's slider weight × its family master: the weights ``combine`` and exports use."""
        return {t: w * self.family_scale.get(REGISTRY[t].family, 1.0) for t, w in self.weights.items()}

    def prediction_image(self, pred: str):
        """The prediction as a Pillow image, converted once per sample (overlays composite onto it)."""
        key = ("pil", pred)
        if key not in self.sample.memo:
            self.sample.memo[key] = as_pil(self.sample.predictions[pred])
        return self.sample.memo[key]

    def combined(self) -> Combined:
        """``combine`` of this session's report with its effective weights (cheap: no term is called)."""
        return combine(self.report, self.effective_weights())


@dataclass(frozen=True)
class Focus:
    """What the page is looking at: the prediction inspected and the heatmap's term, map kind
    (``"contribution"`` or ``"gradient"``) and opacity."""

    pred: str = ""
    term: str = "weighted total"
    kind: str = "contribution"
    opacity: float = 0.65

    def pred_in(self, session: Session) -> str:
        """The prediction to show: this one when the session has it, else the session's own."""
        return self.pred if self.pred in session.report.predictions else session.inspect


@dataclass
class Update:
    """A view's value with its component's new settings (``choices``, ``visible``, ``maximum``…), for
    views that change more than what a component shows. The page turns it into ``gr.update``."""

    value: Any = None
    settings: dict = field(default_factory=dict)

    @classmethod
    def of(cls, value=None, **settings) -> Update:
        return cls(value, settings)
