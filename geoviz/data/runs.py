"""A training run on disk: :class:`RunRecorder` writes it from the training loop, :func:`read_run`
reads what it holds.

A run folder is a dataset (the layout :func:`geoviz.data.layouts.list_dataset` reads, so ``geoviz
evaluate RUN_DIR`` and the dashboard's Datasets tab open it) plus a run file::

    RUN_DIR/run.json                         created, updated, opened, steps, samples (one per rank: run.rank<r>.json)
    RUN_DIR/<sample>/context.png target.png mask.png [target_depth.npy camera.json *_latents.safetensors]
    RUN_DIR/preds/step_000500/<sample>.png   one folder per checkpoint, named after the step
    RUN_DIR/preds/step_000500/pred_depth/<sample>.npy
    RUN_DIR/preds/step_000500/pred_latents/<sample>.safetensors

Every file is written to a temporary name and renamed, and the run file lists a step only after
its files are whole: a reader (the live run view) never sees half a file, and a killed training
process leaves every file it finished readable.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from geoviz.data.layouts import datasets_under
from geoviz.data.readers import InputError
from geoviz.data.writers import safe_name, write_array, write_atomic, write_image, write_latent

__all__ = ["RunRecorder", "RunInfo", "read_run", "checkpoint_name", "RUN_FILE", "is_run", "runs_under"]

log = logging.getLogger("geoviz.data.runs")

RUN_FILE = "run.json"
FORMAT = "geoviz-run/1"


def checkpoint_name(step: int) -> str:
    """The checkpoint folder of ``step``: ``step_000500`` (zero-padded, so names sort as steps do)."""
    return f"step_{int(step):06d}"


def _rank() -> tuple[int, int]:
    """(rank, world size) under torch.distributed, (0, 1) without it."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _host(x: Any, kind: str) -> np.ndarray | None:
    """A copy on the CPU the training loop can no longer change: a tensor detached and copied
    (``copy=True``: a CPU tensor would otherwise share its storage), NumPy copied, PIL as uint8."""
    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        t = x.detach().to("cpu", copy=True)
        return t if kind == "latent" else t.float().numpy()
    if hasattr(x, "convert") and hasattr(x, "size"):  # a PIL image
        return np.asarray(x.convert("L" if kind == "mask" else "RGB")).copy()
    return np.array(x, copy=True)


def _batch(arr, kind: str) -> list:
    """One logged array → a list of per-sample arrays: images ``[H, W, 3]``, masks and depths ``[H, W]``,
    latents ``[C, h, w]``. Accepts ``[3,H,W]``/``[B,3,H,W]`` (tensors), ``[H,W,3]``/``[B,H,W,3]`` (NumPy,
    PIL), masks ``[H,W]``, ``[1,H,W]``, ``[B,1,H,W]``, ``[B,H,W]``."""
    if kind == "latent":
        z = arr if isinstance(arr, torch.Tensor) else torch.as_tensor(arr)
        return [z] if z.ndim == 3 else list(z)
    a = np.asarray(arr)
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    if kind == "image":
        if a.ndim == 3:
            a = a[None]
        if a.ndim != 4:
            raise ValueError(f"an image must be [3,H,W], [B,3,H,W] or [H,W,3]; got shape {tuple(np.shape(arr))}")
        if a.shape[1] in (1, 3) and a.shape[-1] not in (1, 3):  # channels first
            a = a.transpose(0, 2, 3, 1)
        if a.shape[-1] == 1:
            a = np.repeat(a, 3, axis=-1)
        return list(a)
    if a.ndim == 2:
        a = a[None]
    elif a.ndim == 4:
        a = a[:, 0]
    if a.ndim != 3:
        raise ValueError(f"a {kind} must be [H,W], [1,H,W], [B,1,H,W] or [B,H,W]; got shape {tuple(np.shape(arr))}")
    return list(a)


@dataclass
class RunInfo:
    """What a run file says: when it was made and last written, its steps and samples, and when each
    recorder opened it (``opened``: more than one when a training was resumed into it)."""

    folder: Path
    created: str = ""
    updated: str = ""
    steps: list[int] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)

    @property
    def checkpoints(self) -> list[str]:
        """The steps' checkpoint folder names, in step order."""
        return [checkpoint_name(s) for s in self.steps]


def is_run(folder: Path) -> bool:
    """Whether ``folder`` holds a run file."""
    return (folder / RUN_FILE).is_file()


def runs_under(root: Path | None) -> list[str]:
    """The datasets under ``root`` (:func:`~geoviz.data.layouts.datasets_under`: names from the disk,
    no symlink out of the root) that hold a run file."""
    return [name for name in datasets_under(root) if is_run(root / name)]


def read_run(folder: str | os.PathLike) -> RunInfo:
    """The run at ``folder``: every rank's run file merged (steps and samples each once, sorted)."""
    root = Path(folder)
    files = sorted(root.glob("run*.json"))
    if not files:
        raise InputError(str(folder), "holds no run.json", "point at a folder a geoviz.RunRecorder wrote")
    info = RunInfo(root)
    steps, samples, opened = set(), set(), []
    for f in files:
        try:
            d = json.loads(f.read_text())
        except (OSError, ValueError):
            continue  # another rank's file being replaced: read on the next poll
        steps.update(int(s) for s in d.get("steps", []))
        samples.update(d.get("samples", []))
        info.created = min(filter(None, [info.created, d.get("created", "")]), default="")
        info.updated = max(info.updated, d.get("updated", ""))
        # each rank's file lists the openings of its rank's recorder: the longest list, not their sum
        opened = max(opened, list(d.get("opened", [])), key=len)
    info.steps, info.samples, info.opened = sorted(steps), sorted(samples), opened
    return info


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class RunRecorder:
    """Records evaluation steps of a training loop into ``run_dir`` (see the module's layout).

    ``rec.log(step, sample="chair_03", context=..., target=..., mask=..., pred=...)`` copies its
    arguments to the CPU and returns; a background thread encodes and writes them. Images are
    tensors ``[3,H,W]`` / ``[B,3,H,W]`` in [0, 1], NumPy ``[H,W,3]`` (float in [0, 1] or uint8) or
    PIL; a batch logs B samples at once (``sample`` a list of B names). The inputs (context,
    target, mask, target depth, camera, context/target latents) are written once per sample: later
    calls may leave them out, and they are not copied again.

    Args:
        run_dir: the run folder (made if missing). Re-opening a run appends to it.
        keep_last: keep only the newest ``keep_last`` checkpoints' predictions (None: all).
        keep_every: of the checkpoints older than the newest ``keep_last``, keep those whose step is
            a multiple of ``keep_every``; without ``keep_last``, only those steps are written at all.
        all_ranks: under ``torch.distributed``, False (default): rank 0 writes and the other ranks'
            calls do nothing; True: each rank writes the samples it logs (give each rank its own
            sample names) and its own run file ``run.rank<r>.json``.
        max_pending: calls queued for the writer before :meth:`log` waits for it (bounds memory).

    Use it as a context manager, or call :meth:`close` (which waits for the writer). :meth:`flush`
    waits until everything logged so far is on disk.
    """

    def __init__(self, run_dir: str | os.PathLike, *, keep_last: int | None = None, keep_every: int | None = None,
                 all_ranks: bool = False, max_pending: int = 16):
        if keep_last is not None and keep_last < 1:
            raise ValueError(f"keep_last must be at least 1 (got {keep_last}); None keeps every checkpoint")
        if keep_every is not None and keep_every < 1:
            raise ValueError(f"keep_every must be at least 1 (got {keep_every})")
        self.folder = Path(run_dir)
        self.keep_last, self.keep_every = keep_last, keep_every
        self.rank, self.world = _rank()
        self.active = self.rank == 0 or all_ranks
        self.run_file = self.folder / (RUN_FILE if self.rank == 0 else f"run.rank{self.rank}.json")
        self._state = {"format": FORMAT, "created": _now(), "updated": _now(), "steps": [], "samples": [],
                       "opened": [_now()]}
        self._written: dict[int, set[str]] = {}  # step → the samples this recorder wrote for it
        self._inputs_sent: set[str] = set()  # samples whose inputs were handed to the writer
        self._error: BaseException | None = None
        self.call_seconds: list[float] = []  # the time each log() spent in the calling thread
        self._queue: queue.Queue = queue.Queue(maxsize=max_pending)
        self._closed = False
        if not self.active:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.run_file.is_file():  # re-opened: append to what it holds
            old = json.loads(self.run_file.read_text())
            self._state.update(created=old.get("created", self._state["created"]), steps=list(old.get("steps", [])),
                               samples=list(old.get("samples", [])),
                               opened=[*old.get("opened", []), *self._state["opened"]])  # a resumed training
        self._inputs_sent = {s for s in self._state["samples"] if (self.folder / s / "target.png").is_file()}
        self._worker = threading.Thread(target=self._work, name="geoviz-run-writer", daemon=True)
        self._worker.start()

    # ---- the training thread's side ------------------------------------------------------------
    def log(self, step: int, sample: str | list[str] = "sample", *, pred, context=None, target=None, mask=None,
            z_pred=None, z_context=None, z_target=None, pred_depth=None, target_depth=None,
            camera: dict | None = None) -> bool:
        """Record checkpoint ``step``'s predictions ``pred`` of ``sample`` (and, the first time a
        sample is seen, its inputs). Returns False when nothing is written (another rank, a step
        ``keep_every`` leaves out). Raises the writer's error, if it failed, on the next call."""
        t0 = time.perf_counter()
        if self._error is not None:
            raise RuntimeError(f"the run writer failed: {self._error}") from self._error
        if self._closed:
            raise RuntimeError("log() after close(): open a new RunRecorder on the run to append")
        if not self.active or (self.keep_last is None and self.keep_every and step % self.keep_every):
            return False
        names = [sample] if isinstance(sample, str) else list(sample)
        new = [n for n in names if n not in self._inputs_sent]
        inputs = {}
        if new:  # the inputs are copied only for samples not written yet
            inputs = {"context": _host(context, "image"), "target": _host(target, "image"), "mask": _host(mask, "mask"),
                      "target_depth": _host(target_depth, "depth"), "z_context": _host(z_context, "latent"),
                      "z_target": _host(z_target, "latent")}
            missing = [k for k in ("context", "target", "mask") if inputs[k] is None]
            if missing:
                raise ValueError(f"sample {new[0]!r} is logged for the first time without {', '.join(missing)}: pass "
                                 "context, target and mask on its first log() (later calls may leave them out)")
            self._inputs_sent.update(new)
        item = {"step": int(step), "names": names, "new": new, "camera": dict(camera) if camera else None, **inputs,
                "pred": _host(pred, "image"), "pred_depth": _host(pred_depth, "depth"), "z_pred": _host(z_pred, "latent")}
        self._queue.put(item)
        self.call_seconds.append(time.perf_counter() - t0)
        return True

    def flush(self) -> None:
        """Wait until everything logged so far is written (and the run file lists it)."""
        if self.active:
            self._queue.join()
        if self._error is not None:
            raise RuntimeError(f"the run writer failed: {self._error}") from self._error

    def close(self) -> None:
        """Flush and stop the writer. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.active:
            self._queue.put(None)
            self._worker.join()
        if self._error is not None:
            raise RuntimeError(f"the run writer failed: {self._error}") from self._error

    def __enter__(self) -> RunRecorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- the writer thread -----------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._error is None:
                    self._write(item)
            except BaseException as e:  # kept for the training thread's next call
                log.exception("the run writer failed")
                self._error = e
            finally:
                self._queue.task_done()

    def _write(self, item: dict) -> None:
        names, step = item["names"], item["step"]
        batched = {k: _batch(item[k], kind) if item[k] is not None else None for k, kind in
                   (("context", "image"), ("target", "image"), ("mask", "mask"), ("target_depth", "depth"),
                    ("z_context", "latent"), ("z_target", "latent"), ("pred", "image"), ("pred_depth", "depth"),
                    ("z_pred", "latent")) if k in item}
        for k, v in batched.items():
            if v is not None and len(v) != len(names):
                raise ValueError(f"{k} holds {len(v)} samples but {len(names)} sample names were given")
        new = set(item["new"])
        ck = self.folder / "preds" / checkpoint_name(step)
        for i, name in enumerate(names):
            stem = safe_name(name)
            if name in new:
                self._write_inputs(self.folder / stem, {k: (v[i] if v is not None else None) for k, v in batched.items()},
                                   item["camera"])
            write_image(ck / f"{stem}.png", batched["pred"][i])
            if batched.get("pred_depth") is not None:
                write_array(ck / "pred_depth" / f"{stem}.npy", batched["pred_depth"][i])
            if batched.get("z_pred") is not None:
                write_latent(ck / "pred_latents" / f"{stem}.safetensors", batched["z_pred"][i])
        self._written.setdefault(step, set()).update(safe_name(n) for n in names)
        st = self._state
        st["steps"] = sorted(set(st["steps"]) | {step})
        st["samples"] = sorted(set(st["samples"]) | {safe_name(n) for n in names})
        st["updated"] = _now()
        self._prune()
        write_atomic(self.run_file, json.dumps(st, indent=1).encode())  # last: a listed step's files are whole

    def _write_inputs(self, folder: Path, one: dict, camera: dict | None) -> None:
        for role in ("context", "target", "mask"):
            write_image(folder / f"{role}.png", one[role])
        if one.get("target_depth") is not None:
            write_array(folder / "target_depth.npy", one["target_depth"])
        for role in ("context", "target"):
            if one.get(f"z_{role}") is not None:
                write_latent(folder / f"{role}_latents.safetensors", one[f"z_{role}"])
        if camera:
            write_atomic(folder / "camera.json", json.dumps(camera, indent=1).encode())

    def _prune(self) -> None:
        """Drop the checkpoints keep_last / keep_every no longer keep (this recorder's samples only;
        a checkpoint folder left empty goes too)."""
        if self.keep_last is None:
            return
        steps = self._state["steps"]
        recent = set(steps[-self.keep_last:])
        gone = [s for s in steps if s not in recent and not (self.keep_every and s % self.keep_every == 0)]
        for s in gone:
            ck = self.folder / "preds" / checkpoint_name(s)
            for stem in self._written.pop(s, set()) | set(self._state["samples"]):
                for f in (ck / f"{stem}.png", ck / "pred_depth" / f"{stem}.npy",
                          ck / "pred_latents" / f"{stem}.safetensors"):
                    f.unlink(missing_ok=True)
            for d in (ck / "pred_depth", ck / "pred_latents", ck):
                if d.is_dir() and not any(d.iterdir()):
                    d.rmdir()
        self._state["steps"] = [s for s in steps if s not in gone]

    @property
    def pending(self) -> int:
        """Calls logged and not yet written."""
        return self._queue.unfinished_tasks if self.active else 0

