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

import numpy as np

from geoviz.data.layouts import list_dataset, load_spec
from geoviz.data.memo import SharedMemo
from geoviz.data.readers import InputError
from geoviz.data.runs import RunInfo, checkpoint_name, read_run
from geoviz.engine.evaluate import evaluate

__all__ = ["RunPoint", "RunFollower", "follower_of", "first_step_out", "band_story", "in_band", "run_curves",
           "scale_series",
           "SCALE_TOLERANCE"]

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
    """The step at which a sample's scale leaves its band: the first step outside it after one
    inside it; for a sample never inside it, its first step. None while it has not left (early
    steps outside before it first enters do not count: the run had not got there yet).
    ``points``: one sample's."""
    been_in, first = False, None
    for p in sorted(points, key=lambda p: p.step):
        now = in_band(p.scale, tolerance)
        if now is None:
            continue
        first = p.step if first is None else first
        if now:
            been_in = True
        elif been_in:
            return p.step
    return first if not been_in else None


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
    problem: str | None = None  # why the run's folder gave no (or not every) sample on the last poll
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def poll(self, progress=None) -> int:
        """Evaluate the pairs the run file lists and this follower has not seen; returns how many
        points it added. Only steps listed in the run file are read: their files are whole."""
        with self._lock:
            try:
                info = read_run(self.folder)
            except InputError:  # the training has not logged its first step yet: wait for it
                self.problem = "waiting for run.json: the recorder writes it after the first logged step"
                return 0
            self.info = info
            listed = {checkpoint_name(s): s for s in info.steps}
            todo = []
            left_out: list[str] = []
            try:
                specs, _ = list_dataset(self.folder, confine_to=self.root, left_out=left_out)
            except InputError as e:  # no readable sample (yet): said on screen, tried again on the next poll
                self.problem = str(e) + (f" ({'; '.join(left_out)})" if left_out else "")
                return 0
            self.problem = "; ".join(x for x in left_out if "outside" in x) or None
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
        except InputError as e:  # a bad sample never blocks the others; its pairs are listed, not retried
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


def _quantiles(xs: list[float]) -> tuple[float, float, float]:
    """(25th percentile, median, 75th percentile) of ``xs`` (non-empty)."""
    q1, med, q3 = np.percentile(np.asarray(xs, dtype=np.float64), [25, 50, 75])
    return float(q1), float(med), float(q3)


def run_curves(points: list[RunPoint], weights: dict[str, float], sample: str | None = None) -> dict:
    """The curves against the step of the weighted terms and the total: over every sample (median,
    with the 25–75 % band) or of one ``sample``. Returns ``{"steps": [...], "series": {name: {"mid",
    "lo", "hi"}}, "open": [(sample, checkpoint) per step]}``; ``series`` holds ``"total"`` and each
    term with a non-zero weight; ``open`` names what a click on the step opens: ``sample``, or the
    sample with the largest total there (the one that drives the curve up)."""
    chosen = [p for p in points if sample is None or p.sample == sample]
    steps = sorted({p.step for p in chosen})
    # the weighted terms that have a value somewhere (a run without depth draws no depth curves)
    terms = [t for t in dict.fromkeys(t for p in chosen for t in p.values)
             if weights.get(t, 0.0) and any(p.values.get(t) is not None for p in chosen)]
    series: dict[str, dict[str, list]] = {n: {"mid": [], "lo": [], "hi": []} for n in ["total", *terms]}
    opens = []
    for st in steps:
        here = [p for p in chosen if p.step == st]
        for name in series:
            if name == "total":
                xs = [p.total(weights) for p in here]
            else:
                xs = [weights[name] * p.values[name] for p in here if p.values.get(name) is not None]
            lo, mid, hi = _quantiles(xs) if xs else (None, None, None)
            for k, x in zip(("lo", "mid", "hi"), (lo, mid, hi)):
                series[name][k].append(x)
        worst = max(here, key=lambda p: p.total(weights))
        opens.append((worst.sample, worst.checkpoint))
    return {"steps": steps, "series": series, "open": opens, "samples": len({p.sample for p in chosen})}


def scale_series(points: list[RunPoint], tolerance: float = SCALE_TOLERANCE) -> dict[str, dict]:
    """Per sample, in step order: ``steps``, ``scales`` (None where declined), ``checkpoints`` and
    ``first_out`` (:func:`first_step_out`) and ``ever_in`` (whether it was ever inside the band)."""
    out: dict[str, dict] = {}
    for name in sorted({p.sample for p in points}):
        mine = sorted((p for p in points if p.sample == name), key=lambda p: p.step)
        out[name] = {"steps": [p.step for p in mine], "scales": [p.scale for p in mine],
                     "checkpoints": [p.checkpoint for p in mine], "first_out": first_step_out(mine, tolerance),
                     "ever_in": any(in_band(p.scale, tolerance) for p in mine),
                     "story": band_story(mine, tolerance)}
    return out


def band_story(points: list[RunPoint], tolerance: float = SCALE_TOLERANCE) -> str | None:
    """What one sample's scale did with respect to its band, in words, or None when every readout is
    inside it: when it entered (if it started outside), when it left, whether it came back, and
    where it is at its last step. ``points``: one sample's, any order."""
    read = [(p.step, p.scale, in_band(p.scale, tolerance)) for p in sorted(points, key=lambda p: p.step)]
    read = [r for r in read if r[2] is not None]
    if not read or all(inside for _, _, inside in read):
        return None
    if not any(inside for _, _, inside in read):
        lo, hi = min(sc for _, sc, _ in read), max(sc for _, sc, _ in read)
        return f"outside it at every step (s {lo:.3f}–{hi:.3f})"
    parts = []
    if not read[0][2]:
        entered = next(st for st, _, inside in read if inside)
        parts.append(f"outside it before step {entered} (s = {read[0][1]:.3f} at step {read[0][0]})")
    first_out = first_step_out(points, tolerance)
    if first_out is not None:
        s_out = next(sc for st, sc, _ in read if st == first_out)
        parts.append(f"leaves it at step **{first_out}** (s = {s_out:.3f})")
        back = next((st for st, _, inside in read if st > first_out and inside), None)
        last_step, last_scale, last_in = read[-1]
        if back is not None:
            parts.append(f"back inside at step {back}" + ("" if last_in else
                         f", outside again at its last step {last_step} (s = {last_scale:.3f})"))
        elif last_step != first_out:
            parts.append(f"still outside at its last step {last_step} (s = {last_scale:.3f})")
    return ", ".join(parts)
