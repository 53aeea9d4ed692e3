"""A term in one place: registering a toy term — a catalog entry (losses) and its presentation
(geoviz), nothing else — puts it in the Report, combine, the presets of its family, the weight
sliders, the sweeps, the CLI's CSV columns, bundles and GeometryLoss.from_config.

Registration changes process-wide tables, so the journey runs in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

JOURNEY = r'''
import csv, json, sys
from pathlib import Path
import numpy as np
import torch
import geoviz, losses
from losses.catalog import CatalogEntry
from geoviz.engine.terms import Presentation

out = Path(sys.argv[1])
# the toy term: mean |z_pred - z_tgt| inside nothing but its own formula
geoviz.register_term(
    CatalogEntry("toy_offset", "latent", "002", ("z_pred", "z_tgt", "mask"), 0.3, (),
                 lambda s: (s["z_pred"] - s["z_tgt"]).abs().mean()),
    Presentation("toy_offset", "toy offset", frozenset({"latents"}), "latent",
                 description="mean |z_pred - z_tgt| (a test term)"))
found = {}
sample = geoviz.load_sample(Path("assets/insert_box"))
report = geoviz.evaluate(sample, device="cpu", cache=None)
found["report"] = {p: report.values[p]["toy_offset"] for p in report.predictions}
found["gradient_nonzero"] = bool(np.abs(report.results["step_0500"]["toy_offset"].gradient).sum() > 0)
found["combine"] = geoviz.combine(report, {"toy_offset": 2.0}).totals
found["presets"] = {name: w.get("toy_offset") for name, w in geoviz.PRESETS.items()}
found["list_terms"] = "toy_offset" in geoviz.list_terms()

# GeometryLoss from the weights file the dashboard would write, on the same latents
from geoviz.engine.weights import WeightsConfig
from geoviz.models.encoders import ProxyEncoder
cfg = WeightsConfig(weights={"toy_offset": 1.0}, params={}).save(out / "weights.json")
to = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]
z = ProxyEncoder().encode(torch.cat([to(sample.target), to(sample.predictions["step_0500"])]))
total, terms = losses.GeometryLoss.from_config(out / "weights.json")(z_pred=z[1:2], z_tgt=z[0:1],
                                                                      mask=torch.from_numpy(sample.mask)[None, None])
found["geometry_loss"] = float(total)

# the sweeps: the term's curve over the object's scale
sweep = geoviz.scale_sweep(sample, scales=[0.8, 1.0, 1.25], device="cpu", terms=["toy_offset", "latent_area"])
found["sweep"] = sweep.values.get("toy_offset")

# bundles: the value travels and comes back
from geoviz.report.bundles import export_bundle, import_bundle
data = export_bundle(sample, report.values, weights=geoviz.preset("object insertion"), scales=report.scales,
                     kind=report.kind)
back = import_bundle(data)
found["bundle"] = {p: back.values[p]["toy_offset"] for p in back.values}
found["bundle_weight"] = back.weights.get("toy_offset")

# the CLI's CSV
from geoviz.data.synth import write_dataset
from geoviz.cli import main
ds = write_dataset(out / "ds", n_samples=1, checkpoints={"a": 1.0, "b": 1.2}, size=128)
rc = main(["evaluate", str(ds), "--out", str(out / "r.csv"), "--device", "cpu", "--workers", "0", "--quiet"])
rows = list(csv.DictReader((out / "r.csv").open()))
found["cli"] = {"rc": rc, "column": "toy_offset" in rows[0], "weighted": "toy_offset_weighted" in rows[0],
                "values": [r["toy_offset"] for r in rows]}

# the weight sliders of the page
import geoviz.app.labels as app_labels
from geoviz.app.layout import build_demo
demo = build_demo(device="cpu")
labels = [getattr(b, "label", None) for b in demo.blocks.values()]
found["slider"] = any(isinstance(lab, str) and "toy offset" in lab for lab in labels)
found["weight_terms"] = "toy_offset" in app_labels.WEIGHT_TERMS
print(json.dumps(found))
'''


def test_a_toy_term_registered_in_one_place_is_found_everywhere(tmp_path):
    run = subprocess.run([sys.executable, "-c", JOURNEY, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    values = found["report"]
    assert all(v is not None and v > 0 for v in values.values()), values
    assert found["gradient_nonzero"]
    for pred, v in values.items():
        assert found["combine"][pred] == 2.0 * v
    # in the family presets at its starter weight, at 0 elsewhere
    assert found["presets"] == {"object insertion": 0.3, "material replacement": 0.0, "depth-supervised": 0.3}
    assert found["list_terms"]
    assert abs(found["geometry_loss"] - values["step_0500"]) <= 1e-5 * values["step_0500"]
    sweep = found["sweep"]
    assert sweep is not None and len(sweep) == 3 and all(v is not None for v in sweep)
    assert sweep[1] < sweep[0] and sweep[1] < sweep[2]  # the true size is the toy term's minimum too
    assert found["bundle"] == values and found["bundle_weight"] == 0.3
    assert found["cli"]["rc"] == 0 and found["cli"]["column"] and found["cli"]["weighted"]
    at_true_size, larger = (float(v) for v in found["cli"]["values"])  # checkpoint a is the target itself
    assert at_true_size == 0.0 and larger > 0
    assert found["slider"] and found["weight_terms"]
