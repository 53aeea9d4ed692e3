"""Does adding the geometry terms hold an inserted object's size? A small experiment on the CPU.

A small convolutional "inserter" (context image + insertion mask → edited image) is trained on
synthetic ``insert_box`` scenes (geoviz.data.synth: a room, a box of random size, colour and position on
the floor, exact masks) twice, from the same initialisation and the same batches:

* ``mse``       — pixel MSE against the target alone;
* ``mse+geom``  — pixel MSE plus the weighted geometry terms of a dashboard weights config
                  (``examples/insertion_weights.json`` by default), through ``losses.GeometryLoss``
                  on proxy latents (``geoviz.models.encoders.ProxyEncoder``: differentiable, Flux's grid).

It prints the per-term values as it trains and, at the end, for held-out scenes: the object's scale
error measured from the change-mask area (``sqrt(area(|pred − context| > τ) / area(|target −
context| > τ)) − 1``; negative = the object came out smaller), the Dice of the two change masks and
the pixel MSE.

    python examples/train_insertion.py                       # 300 steps, 96 px (about a minute or two)
    python examples/train_insertion.py --steps 1000 --size 128 --config my_weights.json

Watching it: ``--run-dir runs/insertion`` records each run's held-out predictions every
``--eval-every`` steps with ``geoviz.RunRecorder`` (one run folder per run, ``runs/insertion/mse`` and
``runs/insertion/mse_geom``), which ``geoviz serve --data-root runs/insertion`` (or ``--run
runs/insertion/mse_geom``) follows live; ``--tensorboard runs/tb`` logs the training loss and, at
each evaluation, geoviz's terms, total, scale and maps (``geoviz.report.tensorboard.log_report``)::

    python examples/train_insertion.py --steps 600 --run-dir runs/insertion --tensorboard runs/tb
    python -m geoviz serve --data-root runs/insertion         # the Training run tab, live
    tensorboard --logdir runs/tb                              # the same numbers beside the loss
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

import geoviz  # noqa: E402
import losses  # noqa: E402
from geoviz.data.runs import checkpoint_name  # noqa: E402
from geoviz.data.synth import random_box_scene, render, without_object  # noqa: E402
from geoviz.models.encoders import ProxyEncoder  # noqa: E402

DEFAULT_CONFIG = Path(__file__).with_name("insertion_weights.json")
CHANGE_THRESHOLD = 0.08  # |image − context| (max over channels) above this is "changed"


# ---- data ------------------------------------------------------------------------------------------


def make_scenes(n: int, size: int, seed: int) -> dict[str, torch.Tensor]:
    """n rendered scenes → ``context``, ``target`` ``[n,3,H,W]`` in [0,1] and ``mask`` ``[n,1,H,W]``."""
    rng = np.random.default_rng(seed)
    ctx, tgt, mask = [], [], []
    for _ in range(n):
        scene = random_box_scene(rng, size, x=(-0.3, 0.3), z=(2.6, 4.2), width=(0.45, 0.8), height=(0.7, 1.1),
                                 color=(0.15, 0.9))
        t, c = render(scene, supersample=3), render(without_object(scene), supersample=3)
        ctx.append(torch.from_numpy(c.rgb).permute(2, 0, 1))
        tgt.append(torch.from_numpy(t.rgb).permute(2, 0, 1))
        mask.append(torch.from_numpy(t.mask)[None])
    return {"context": torch.stack(ctx).float(), "target": torch.stack(tgt).float(), "mask": torch.stack(mask).float()}


# ---- the model -------------------------------------------------------------------------------------


def _block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.GroupNorm(4, c_out), nn.SiLU(),
                         nn.Conv2d(c_out, c_out, 3, padding=1), nn.GroupNorm(4, c_out), nn.SiLU())


class Inserter(nn.Module):
    """``[B,3,H,W]`` context + ``[B,1,H,W]`` mask → ``[B,3,H,W]`` prediction: a small U-Net (1/2,
    1/4, 1/8 resolution; one convolution at full resolution, so it trains on a CPU) predicting a
    residual on the context. H, W multiples of 8."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.enc1 = _block(4, width, stride=2)  # 1/2
        self.enc2 = _block(width, 2 * width, stride=2)  # 1/4
        self.enc3 = _block(2 * width, 4 * width, stride=2)  # 1/8: Flux's latent grid
        self.dec2 = _block(4 * width + 2 * width, 2 * width)
        self.dec1 = _block(2 * width + width, width)
        self.out = nn.Sequential(nn.Conv2d(width + 4, width, 3, padding=1), nn.SiLU(), nn.Conv2d(width, 3, 1))
        nn.init.zeros_(self.out[-1].weight)  # starts as the identity edit: prediction = context
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, context: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x0 = torch.cat([context * 2 - 1, mask * 2 - 1], 1)
        x1 = self.enc1(x0)
        x2 = self.enc2(x1)
        x3 = self.enc3(x2)
        up = lambda x, ref: F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)  # noqa: E731
        y2 = self.dec2(torch.cat([up(x3, x2), x2], 1))
        y1 = self.dec1(torch.cat([up(y2, x1), x1], 1))
        return context + self.out(torch.cat([up(y1, x0), x0], 1))


# ---- measuring -------------------------------------------------------------------------------------


def change_area(image: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    """``[B,3,H,W]`` → ``[B]`` pixels changed w.r.t. the context (max channel |Δ| > threshold)."""
    return ((image - context).abs().amax(1) > CHANGE_THRESHOLD).flatten(1).sum(1).float()


@torch.no_grad()
def held_out_metrics(model: Inserter, data: dict[str, torch.Tensor]) -> dict[str, float]:
    """Scale error from the change-mask area (signed mean and mean |·|), change-mask Dice, pixel MSE."""
    model.eval()
    pred = model(data["context"], data["mask"]).clamp(0, 1)
    model.train()
    changed_pred = (pred - data["context"]).abs().amax(1) > CHANGE_THRESHOLD
    changed_tgt = (data["target"] - data["context"]).abs().amax(1) > CHANGE_THRESHOLD
    area_pred, area_tgt = changed_pred.flatten(1).sum(1).float(), changed_tgt.flatten(1).sum(1).float()
    scale_error = (area_pred / area_tgt.clamp_min(1)).sqrt() - 1
    inter = (changed_pred & changed_tgt).flatten(1).sum(1).float()
    dice = 2 * inter / (area_pred + area_tgt).clamp_min(1)
    return {"scale_error": float(scale_error.mean()), "abs_scale_error": float(scale_error.abs().mean()),
            "change_dice": float(dice.mean()), "mse": float(F.mse_loss(pred, data["target"]))}


# ---- watching ----------------------------------------------------------------------------------------


class Watch:
    """What one run records at each evaluation: its held-out predictions into a geoviz run folder
    (``RunRecorder``; the dashboard follows it) and geoviz's report of them into TensorBoard."""

    def __init__(self, run: str, held_out: dict, run_dir: str | None, tensorboard: str | None, samples: int):
        name = run.replace("+", "_")
        self.data = {k: v[:samples] for k, v in held_out.items()}
        self.names = [f"scene_{i:02d}" for i in range(self.data["context"].shape[0])]
        self.recorder = geoviz.RunRecorder(Path(run_dir) / name) if run_dir else None
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package

            self.writer = SummaryWriter(str(Path(tensorboard) / name))

    def loss(self, step: int, loss: float, terms: dict) -> None:
        if self.writer is not None:
            self.writer.add_scalar("train/loss", loss, step)
            for k, v in terms.items():
                self.writer.add_scalar(f"train/{k}", float(v), step)

    def evaluate(self, step: int, model: nn.Module) -> None:
        if self.recorder is None and self.writer is None:
            return
        model.eval()
        with torch.no_grad():  # geoviz.evaluate below needs autograd (its terms' gradient maps)
            pred = model(self.data["context"], self.data["mask"]).clamp(0, 1)
        model.train()
        if self.recorder is not None:  # copies to the CPU and returns; a background thread writes
            self.recorder.log(step, self.names, context=self.data["context"], target=self.data["target"],
                              mask=self.data["mask"], pred=pred)
        if self.writer is not None:
            from geoviz.report.tensorboard import log_report

            hwc = lambda t: t.permute(1, 2, 0).numpy()  # noqa: E731
            for i, name in enumerate(self.names):
                sample = geoviz.build_sample(hwc(self.data["context"][i]), hwc(self.data["target"][i]),
                                             self.data["mask"][i, 0].numpy(), {checkpoint_name(step): hwc(pred[i])},
                                             name=name, kind="insertion")
                log_report(self.writer, geoviz.evaluate(sample, cache=None), step=step, sample=sample)

    def close(self) -> None:
        if self.recorder is not None:
            self.recorder.close()
        if self.writer is not None:
            self.writer.close()


# ---- training ----------------------------------------------------------------------------------------


def train(run: str, train_data: dict, held_out: dict, geometry: losses.GeometryLoss | None, steps: int, batch: int,
          lr: float, seed: int, log_every: int, watch: Watch | None = None, eval_every: int = 0) -> dict:
    """One run; returns its loss history and held-out metrics. ``watch``: what it records every
    ``eval_every`` steps (and at the last)."""
    torch.manual_seed(seed)
    model = Inserter()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    encoder = ProxyEncoder()
    order = torch.Generator().manual_seed(seed + 1)  # the same batches for every run
    n = train_data["context"].shape[0]
    history = []
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        idx = torch.randint(0, n, (batch,), generator=order)
        ctx, tgt, mask = train_data["context"][idx], train_data["target"][idx], train_data["mask"][idx]
        pred = model(ctx, mask)
        mse = F.mse_loss(pred, tgt)
        loss, terms = mse, {}
        if geometry is not None:
            z = encoder.encode(torch.cat([ctx, tgt, pred]))
            g_total, terms = geometry(z_ctx=z[:batch], z_tgt=z[batch:2 * batch], z_pred=z[2 * batch:], mask=mask,
                                      image_pred=pred, image_tgt=tgt)
            loss = mse + g_total
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append(loss.item())
        if watch is not None:
            watch.loss(step, loss.item(), terms)
            if eval_every and (step % eval_every == 0 or step == steps):
                watch.evaluate(step, model)
        if step == 1 or step % log_every == 0 or step == steps:
            parts = " ".join(f"{k}={v.item():.4f}" for k, v in terms.items())
            print(f"[{run:>8}] step {step:4d}  loss={loss.item():.5f}  pixel_mse={mse.item():.5f}  {parts}", flush=True)
    metrics = held_out_metrics(model, held_out)
    return {"history": history, "held_out": metrics, "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--size", type=int, default=96, help="image side (a multiple of 16)")
    ap.add_argument("--train", type=int, default=48, help="training scenes")
    ap.add_argument("--held-out", type=int, default=12, help="held-out scenes for the final measurement")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", default=str(DEFAULT_CONFIG), help="a weights.json exported by the dashboard")
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--run-dir", default=None, help="record each run's held-out predictions here (geoviz.RunRecorder)")
    ap.add_argument("--tensorboard", default=None, help="log the loss and geoviz's report here (SummaryWriter)")
    ap.add_argument("--eval-every", type=int, default=50, help="steps between recorded evaluations")
    ap.add_argument("--watch-samples", type=int, default=2, help="held-out scenes recorded at each evaluation")
    args = ap.parse_args(argv)
    if args.size % 16:
        ap.error("--size must be a multiple of 16 (Flux's latent grid of 2×2 patches of 8 px)")
    if args.threads:
        torch.set_num_threads(args.threads)

    geometry = losses.GeometryLoss.from_config(args.config)
    print(f"geometry terms from {args.config}: " + ", ".join(f"{t}×{geometry.weights[t]:g}" for t in geometry.active_terms()))
    t0 = time.perf_counter()
    data = make_scenes(args.train + args.held_out, args.size, args.seed)
    train_data = {k: v[: args.train] for k, v in data.items()}
    held_out = {k: v[args.train:] for k, v in data.items()}
    print(f"{args.train} training + {args.held_out} held-out scenes at {args.size}² rendered in "
          f"{time.perf_counter() - t0:.1f} s")

    results = {}
    for run, geo in (("mse", None), ("mse+geom", geometry)):
        watch = Watch(run, held_out, args.run_dir, args.tensorboard, args.watch_samples)
        try:
            results[run] = train(run, train_data, held_out, geo, args.steps, args.batch, args.lr, args.seed,
                                 args.log_every, watch, args.eval_every)
        finally:
            watch.close()

    print(f"\nheld-out scenes ({args.held_out}), after {args.steps} steps — scale error from the change-mask area "
          f"(τ = {CHANGE_THRESHOLD}):")
    print(f"{'run':>10} {'scale error':>12} {'|scale err|':>12} {'change Dice':>12} {'pixel MSE':>10} {'time':>7}")
    for run, r in results.items():
        m = r["held_out"]
        print(f"{run:>10} {m['scale_error']:>+12.4f} {m['abs_scale_error']:>12.4f} {m['change_dice']:>12.4f} "
              f"{m['mse']:>10.5f} {r['seconds']:>6.1f}s")
    if args.json:
        Path(args.json).write_text(json.dumps({run: {"held_out": r["held_out"], "final_loss": r["history"][-1]}
                                               for run, r in results.items()}, indent=2))
    return results


if __name__ == "__main__":
    main()
