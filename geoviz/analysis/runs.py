"""Following a training run (a folder :class:`geoviz.data.runs.RunRecorder` writes): each poll
evaluates only the (sample, checkpoint) pairs the run file lists that were not evaluated yet; the
points, their totals at any weights, and where each sample's scale leaves its tolerance band.

One :class:`RunFollower` per run folder serves every browser (:func:`follower_of`): a pair is
evaluated once, whoever asks first.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path

from geoviz.data.layouts import list_dataset, load_spec
from geoviz.data.memo import SharedMemo
from geoviz.data.readers import InputError
from geoviz.data.runs import RunInfo, checkpoint_name, read_run
from geoviz.engine.evaluate import evaluate

__all__ = ["RunPoint", "RunFollower", "follower_of", "first_step_out", "in_band", "SCALE_TOLERANCE"]

SCALE_TOLERANCE = 0.05  # |log s| above it: the object is more than ~5 % off the size its mask asks


@dataclass
class RunPoint:
    """One sample at one step: its raw term values, kind and estimated scale (None: declined)."""

    sample: str
    step: int
    checkpoint: str
    kind: str
    scale: float | None
    values: dict[str, float | None]

    def total(self, weights: dict[str, float]) -> float:
        """Σ weight · value over the computed terms."""
        return sum(weights.get(t, 0.0) * v for t, v in self.values.items() if v is not None)


def in_band(scale: float | None, tolerance: float = SCALE_TOLERANCE) -> bool | None:
    """Whether ``|log scale| <= tolerance`` (None when there is no estimate)."""
    if scale is None or not scale > 0:
        return None
    return abs(math.log(scale)) <= tolerance


def first_step_out(points: list[RunPoint], tolerance: float = SCALE_TOLERANCE) -> int | None:
    """The first step at which a sample's scale is out of its band after being inside it (or the
    first step, when it starts outside); None while it stays inside. ``points``: one sample's."""
    was_in = None
    for p in sorted(points, key=lambda p: p.step):
        now = in_band(p.scale, tolerance)
        if now is None:
            continue
        if not now and was_in in (None, True):
            return p.step
        was_in = now
    return None


@dataclass
class RunFollower:
    """The evaluated points of the run at ``folder`` (files resolving outside ``root`` are never
    read), brought up to date by :meth:`poll`."""

    folder: Path
    root: Path | None = None
    device: str = "auto"
    points: dict[tuple[str, int], RunPoint] = field(default_factory=dict)
    failed: dict[tuple[str, int], str] = field(default_factory=dict)  # pair → why it was left out
    info: RunInfo | None = None
    version: int = 0  # grows whenever a poll adds points: a view redraws only then
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def poll(self, progress=None) -> int:
        """Evaluate the pairs the run file lists and this follower has not seen; returns how many
        points it added. Only steps listed in the run file are read: their files are whole."""
        with self._lock:
            info = read_run(self.folder)
            self.info = info
            listed = {checkpoint_name(s): s for s in info.steps}
            todo = []
            specs, _ = list_dataset(self.folder, confine_to=self.root)
            for spec in specs:
                if spec.name not in info.samples:
                    continue
                new = {ck: p for ck, p in spec.predictions.items()
                       if ck in listed and (spec.name, listed[ck]) not in self.points
                       and (spec.name, listed[ck]) not in self.failed}
                if new:
                    todo.append(dataclasses.replace(
                        spec, predictions=new,
                        prediction_depths={k: v for k, v in spec.prediction_depths.items() if k in new},
                        prediction_latents={k: v for k, v in spec.prediction_latents.items() if k in new}))
            added = 0
            for i, spec in enumerate(todo):
                if progress is not None:
                    progress((i, len(todo)), desc=f"evaluating {spec.name}")
                added += self._evaluate(spec, listed)
            if added:
                self.version += 1
            return added

    def _evaluate(self, spec, listed: dict[str, int]) -> int:
        try:
            sample = load_spec(spec)
            # the engine's own cache is left out: each pair is evaluated once and kept here
            report = evaluate(sample, None, device=self.device, cache=None)
        except InputError as e:  # a bad sample never blocks the others; it is tried again if its files change
            for ck in spec.predictions:
                self.failed[(spec.name, listed[ck])] = str(e)
            return 0
        for ck in spec.predictions:
            if ck not in report.predictions:
                why = next((n for n in sample.notices if n.startswith(f"prediction {ck}:")), "could not be read")
                self.failed[(spec.name, listed[ck])] = why
        for ck in report.predictions:
            sc = report.scales[ck]
            self.points[(spec.name, listed[ck])] = RunPoint(spec.name, listed[ck], ck, report.kind, sc.estimate,
                                                            dict(report.values[ck]))
        return len(report.predictions)

    def samples(self) -> list[str]:
        """The samples with points, sorted."""
        return sorted({s for s, _ in self.points})

    def of_sample(self, sample: str) -> list[RunPoint]:
        """``sample``'s points in step order."""
        return sorted((p for (s, _), p in self.points.items() if s == sample), key=lambda p: p.step)

    def steps(self) -> list[int]:
        """Every step with a point, in order."""
        return sorted({st for _, st in self.points})


_FOLLOWERS = SharedMemo(maxsize=16)


def follower_of(folder: Path, root: Path | None = None, device: str = "auto") -> RunFollower:
    """The one follower of the run at ``folder`` (made on first use; the 16 most recent are kept)."""
    key = (str(Path(folder).resolve()), str(root), device)
    return _FOLLOWERS.get_or_make(key, lambda: RunFollower(Path(folder).resolve(), root, device))
