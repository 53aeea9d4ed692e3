"""Every bad input of ``tests/bad_inputs.py`` through both faces: the dashboard API (one client, one
session: refused by name, then the same session computes a valid sample to the engine's numbers)
and the CLI (the bad sample's row says why, the good sample's row is computed)."""

from __future__ import annotations

import csv
import math
import shutil
import sys
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from test_api import call

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bad_inputs import CASES, HOSTILE_MARKER, Case  # noqa: E402

from geoviz.data.sample import build_sample  # noqa: E402
from geoviz.engine.evaluate import evaluate  # noqa: E402

CKPT = "ck"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from geoviz.data.synth import write_dataset

    root = tmp_path_factory.mktemp("bad-inputs") / "data"
    write_dataset(root, n_samples=2, size=96, checkpoints={CKPT: 0.9})
    for sample in ("sample_000", "sample_001"):  # the API names a prediction by its file's stem
        (root / "uploads" / sample).mkdir(parents=True)
        shutil.copy(root / "preds" / CKPT / f"{sample}.png", root / "uploads" / sample / f"{CKPT}.png")
    return root


def _files(root: Path, sample: str) -> dict:
    s = root / sample
    return dict(context=s / "context.png", target=s / "target.png", mask=s / "mask.png",
                target_depth=s / "target_depth.npy", camera=s / "camera.json",
                prediction=root / "uploads" / sample / f"{CKPT}.png")


@pytest.fixture(scope="module")
def expected(dataset):
    """The engine's values for the valid samples, computed here."""
    out = {}
    for sample in ("sample_000", "sample_001"):
        f = _files(dataset, sample)
        smp = build_sample(context=f["context"], target=f["target"], mask=f["mask"], predictions={CKPT: f["prediction"]},
                           target_depth=f["target_depth"], camera=f["camera"])
        out[sample] = evaluate(smp, device="cpu", cache=None).values[CKPT]
    return out


def _same_values(got: dict, want: dict, rel: float = 1e-9):
    assert sorted(got) == sorted(want)
    for term, v in want.items():
        assert (got[term] is None) == (v is None), term
        if v is not None:
            assert got[term] == pytest.approx(v, rel=rel, abs=1e-12), term


def _assert_refusal(message: str, case: Case, file_name: str):
    low = message.lower()
    assert file_name.lower() in low, f"{case.id}: the message does not name {file_name}: {message}"
    for fragment in case.error:
        assert fragment.lower() in low, f"{case.id}: {fragment!r} not in {message}"
    assert "traceback" not in low


# ---- the dashboard API ------------------------------------------------------------------------------


def _api_upload_name(case: Case) -> str:
    if case.slot == "context_latents":
        return f"context_latents{case.suffix}"  # the stem gives the role
    if case.slot == "prediction":
        return f"{CKPT}{case.suffix}"
    return f"{case.slot}_{case.id}{case.suffix}"


def _api_inputs(f: dict, latents: Path | None = None) -> dict:
    kw = dict(ctx=handle_file(str(f["context"])), tgt=handle_file(str(f["target"])), m_file=handle_file(str(f["mask"])),
              pr=[handle_file(str(f["prediction"]))], t_depth=handle_file(str(f["target_depth"])),
              cam=handle_file(str(f["camera"])))
    if latents is not None:
        kw["lat"] = [handle_file(str(latents))]
    return kw


@pytest.fixture(scope="module")
def session_client(app_url):
    """One client = one Gradio session, kept across all cases."""
    return Client(app_url, verbose=False)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_api_bad_input(case, session_client, dataset, expected, tmp_path):
    good = _files(dataset, "sample_000")
    path = tmp_path / _api_upload_name(case)
    case.make(path, dataset / "sample_000")
    inputs = {**good, case.slot: path} if case.slot != "context_latents" else dict(good)
    kw = _api_inputs(inputs, latents=path if case.slot == "context_latents" else None)
    if case.ok:
        summary = call(session_client, "/diagnose", **kw)[-1]
        if case.notice:
            assert any(case.notice in n for n in summary["notices"]), summary["notices"]
        values = summary["values"][Path(inputs["prediction"]).stem]
        assert any(v is not None for v in values.values())
        assert all(v is None or math.isfinite(v) for v in values.values()), values
        if case.same_values:
            _same_values(values, expected["sample_000"], rel=1e-6)
    else:
        with pytest.raises(AppError) as e:
            call(session_client, "/diagnose", **kw)
        _assert_refusal(str(e.value), case, path.name)
    assert not HOSTILE_MARKER.exists(), "a pickle payload was executed"
    # nothing lost: the same session computes a valid sample to the engine's numbers
    other = _files(dataset, "sample_001")
    summary = call(session_client, "/diagnose", **_api_inputs(other))[-1]
    _same_values(summary["values"][CKPT], expected["sample_001"])


def test_api_stray_latent_name_is_refused(session_client, dataset, tmp_path):
    import numpy as np

    stray = tmp_path / "my_latents.npy"
    np.save(stray, np.zeros((16, 12, 12), np.float32))
    with pytest.raises(AppError) as e:
        call(session_client, "/diagnose", **_api_inputs(_files(dataset, "sample_000"), latents=stray))
    assert "my_latents" in str(e.value) and "context_latents" in str(e.value)


# ---- the CLI ----------------------------------------------------------------------------------------


def _cli_target(root: Path, case: Case) -> Path:
    """Where the case's file goes in the CLI layout (sample_001 is the bad one)."""
    if case.slot == "prediction":
        return root / "preds" / CKPT / "sample_001.png"
    return root / "sample_001" / f"{case.slot}{case.suffix}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cli_bad_input(case, dataset, expected, tmp_path):
    from geoviz import cli

    root = tmp_path / "data"
    shutil.copytree(dataset, root, ignore=shutil.ignore_patterns("uploads", "pred_depth"))
    target = _cli_target(root, case)
    for old in target.parent.glob(f"{target.stem}.*"):  # the valid file the case replaces
        old.unlink()
    case.make(target, dataset / "sample_001")
    out = tmp_path / "results.csv"
    code = cli.main(["evaluate", str(root), "--out", str(out), "--workers", "0", "--device", "cpu", "--quiet"])
    rows = {r["sample"]: r for r in csv.DictReader(open(out, newline=""))}
    assert sorted(rows) == ["sample_000", "sample_001"]
    good = rows["sample_000"]
    assert good["error"] == ""
    for term, v in expected["sample_000"].items():
        assert (good[term] == "") == (v is None), term
        if v is not None:
            assert float(good[term]) == pytest.approx(v, rel=1e-6, abs=1e-9), term
    bad = rows["sample_001"]
    if case.ok:
        assert code == 0 and bad["error"] == ""
        assert bad["total"] != "" and math.isfinite(float(bad["total"]))
        if case.same_values:
            for term, v in expected["sample_001"].items():
                assert (bad[term] == "") == (v is None) and (v is None or float(bad[term]) == pytest.approx(v, rel=1e-6)), term
    else:
        assert code == 1
        _assert_refusal(bad["error"], case, target.name)
    assert not HOSTILE_MARKER.exists(), "a pickle payload was executed"
