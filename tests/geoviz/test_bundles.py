"""Bundles round-trip exactly; malicious ones are refused by name without writing anything; saved
sessions sit behind unguessable ids; the HTML report is self-contained."""

import io
import json
import re
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

import geoviz.report.bundles as SS
from geoviz.data.layouts import load_sample
from geoviz.data.readers import InputError
from geoviz.engine.evaluate import evaluate
from geoviz.engine.weights import PRESETS
from geoviz.report.bundles import SessionStore, export_bundle, import_bundle, report_html

ASSETS = Path(__file__).resolve().parents[2] / "assets"


@pytest.fixture(scope="module", params=["insert_box", "tiles_wall"])
def exported(request):
    sample = load_sample(ASSETS / request.param)
    report = evaluate(sample, {"change_mask": {"temperature": 0.25}}, device="cpu", cache=None)
    data = export_bundle(sample, report.values, params=report.params, weights=PRESETS["object insertion"],
                         notes="look at step_0500", device="cpu")
    return sample, report, data


def test_round_trip_is_exact(exported):
    sample, report, data = exported
    b = import_bundle(data)
    s2 = b.sample
    for k in ("context", "target", "mask"):
        assert np.array_equal(getattr(sample, k), getattr(s2, k)), k
    assert np.array_equal(sample.target_depth, s2.target_depth, equal_nan=True)
    assert list(s2.predictions) == list(sample.predictions)
    for n in sample.predictions:
        assert np.array_equal(sample.predictions[n], s2.predictions[n])
        assert np.array_equal(sample.prediction_depths[n], s2.prediction_depths[n], equal_nan=True)
    assert s2.camera == sample.camera and s2.depth_kind == sample.depth_kind
    assert b.values == report.values and b.notes == "look at step_0500"
    assert b.weights == PRESETS["object insertion"]
    again = evaluate(s2, b.params, device="cpu", cache=None)
    assert again.values == report.values  # the same numbers, exactly
    m = b.manifest
    assert m["schema"] == "geoviz-bundle" and m["schema_version"] == 1 and m["predictions"] == list(sample.predictions)
    assert {"app_version", "created", "device", "params", "weights", "notes"} <= set(m)


def test_float_inputs_travel_as_npy():
    """A resized (non-8-bit) image would lose bits in a PNG: it is stored as float32 .npy."""
    from geoviz.data.sample import build_sample

    rng = np.random.default_rng(0)
    img = rng.random((40, 60, 3)).astype(np.float32)
    mask = np.zeros((40, 60), np.float32)
    mask[10:30, 20:40] = 0.7
    s = build_sample(img, img, mask, {"p": img})
    data = export_bundle(s, {"p": {}})
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "inputs/context.npy" in names and "inputs/mask.npy" in names
    s2 = import_bundle(data).sample
    assert np.array_equal(s2.context, img) and np.array_equal(s2.mask, mask)


def _zip(entries: dict[str, bytes], symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, "/etc/passwd")
    return buf.getvalue()


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def test_malicious_bundles_are_refused(exported, tmp_path, monkeypatch):
    _, _, data = exported
    good = _members(data)
    manifest = json.loads(good["manifest.json"])
    cases = {
        "traversal": (_zip({**good, "../evil.txt": b"x"}), "escaping"),
        "traversal inside": (_zip({**good, "inputs/../../evil.png": b"x"}), "escaping"),
        "absolute": (_zip({**good, "/tmp/evil.png": b"x"}), "absolute"),
        "symlink": (_zip(good, symlink="inputs/context.png.lnk"), "symbolic link"),
        "pickle in .pt": (_zip({**good, "inputs/pred_latents/0000.pt": b"\x80\x04c__builtin__\neval\n."}), "unexpected file"),
        "pickle as safetensors": (_zip({**good, "inputs/context_latents.safetensors": b"\x80\x04c__builtin__\neval\n.",
                                        "manifest.json": json.dumps({**manifest, "inputs": {
                                            **manifest["inputs"], "context_latents": "inputs/context_latents.safetensors"}}).encode()}),
                                  "safetensors"),
        "unlisted file": (_zip({**good, "inputs/context_depth.npy": good.get("inputs/target_depth.npy", b"")}), "does not list"),
        "pickled npy": (_zip({**good, "inputs/target_depth.npy": _pickled_npy()}), "float"),
        "wrong schema": (_zip({**good, "manifest.json": json.dumps({**manifest, "schema_version": 99}).encode()}), "version"),
        "not geoviz": (_zip({**good, "manifest.json": b'{"schema": "other"}'}), "not a geoviz bundle"),
        "no manifest": (_zip({k: v for k, v in good.items() if k != "manifest.json"}), "no manifest"),
        "unknown type": (_zip({**good, "inputs/run.sh": b"rm -rf /"}), "unexpected file"),
        "not a zip": (b"PK\x03\x04 garbage", "not a readable"),
    }
    if "target_depth" not in manifest["inputs"]:
        cases.pop("pickled npy")
    for name, (blob, reason) in cases.items():
        with pytest.raises(InputError) as e:
            import_bundle(blob)
        assert reason in str(e.value), (name, str(e.value))
    # a zip bomb: more uncompressed bytes than allowed (the limit lowered for the test)
    monkeypatch.setattr(SS, "MAX_BYTES", 2_000_000)
    with pytest.raises(InputError, match="more than"):
        import_bundle(_zip({**good, "inputs/context_depth.npy": b"\0" * 3_000_000}))
    monkeypatch.setattr(SS, "MAX_FILES", 5)
    with pytest.raises(InputError, match="files"):
        import_bundle(data)
    assert not (tmp_path.parent / "evil.txt").exists() and not Path("/tmp/evil.png").exists()


def _pickled_npy() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return buf.getvalue()


def test_session_store_ids(tmp_path, exported):
    _, report, data = exported
    store = SessionStore(tmp_path / "sessions")
    ids = {store.save(data) for _ in range(3)}
    assert len(ids) == 3
    for sid in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", sid)  # 192 random bits
        assert store.load(sid).values == report.values
    assert sorted(p.name for p in (tmp_path / "sessions").iterdir()) == sorted(f"{i}.geoviz.zip" for i in ids)
    for bad in ("../../etc/passwd", "x" * 32 + "/..", "", "short"):
        with pytest.raises(InputError, match="session"):
            store.load(bad)
    with pytest.raises(InputError, match="no saved session"):
        store.load("A" * 32)


def test_html_report_is_self_contained(exported):
    sample, report, _ = exported
    html = report_html(sample, report, PRESETS["object insertion"], notes="hello <b>")
    for pred in report.predictions:
        for term, v in report.values[pred].items():
            if v is not None:
                assert f"{v:.6g}" in html, (pred, term)
    assert "hello &lt;b&gt;" in html
    outside_scripts = re.sub(r"<script>.*?</script>", "", html, flags=re.S)
    assert not re.search(r"https?://", outside_scripts)
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=[\"']?https?:", html)
