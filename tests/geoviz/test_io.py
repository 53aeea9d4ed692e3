"""Every input format a person has loads; every malformed one raises InputError naming the input."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from geoviz.data.layouts import load_sample
from geoviz.data.readers import (
    InputError,
    load_camera,
    load_depth,
    load_image,
    load_latent,
    load_mask,
    pack_latents,
    unpack_latents,
)
from geoviz.data.sample import build_sample, resize_depth

RNG = np.random.default_rng(0)
IMG = (RNG.random((24, 32, 3)) * 255).astype(np.uint8)


def save(tmp_path, name, arr, **kw):
    p = tmp_path / name
    Image.fromarray(arr).save(p, **kw)
    return p


SMOOTH = np.dstack([*np.meshgrid(np.linspace(0, 255, 32), np.linspace(0, 255, 24)), np.full((24, 32), 90.0)]).astype(np.uint8)


@pytest.mark.parametrize("suffix", ["png", "jpg", "webp", "tif"])
def test_image_formats(tmp_path, suffix):
    p = save(tmp_path, f"img.{suffix}", SMOOTH, **({"quality": 95} if suffix in ("jpg", "webp") else {}))
    x = load_image(p)
    assert x.shape == (24, 32, 3) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    tol = 1e-6 if suffix in ("png", "tif") else 0.02  # lossless, or lossy at quality 95
    assert np.abs(x - SMOOTH / 255.0).mean() < tol


def test_image_modes(tmp_path):
    rgba = np.dstack([IMG, np.full((24, 32), 128, np.uint8)])
    assert np.allclose(load_image(save(tmp_path, "a.png", rgba)), IMG / 255.0)
    grey = IMG[..., 0]
    g = load_image(save(tmp_path, "g.png", grey))
    assert np.allclose(g[..., 0], grey / 255.0) and np.allclose(g[..., 0], g[..., 2])
    sixteen = (RNG.random((24, 32)) * 65535).astype(np.uint16)
    p = tmp_path / "s.png"
    Image.fromarray(sixteen).save(p)
    assert np.allclose(load_image(p)[..., 0], sixteen / 65535.0, atol=1e-6)


def test_masks(tmp_path):
    soft = np.zeros((20, 20), np.uint8)
    soft[5:15, 5:15] = 255
    soft[5, 5:15] = 128
    m = load_mask(save(tmp_path, "m.png", soft))
    assert m.max() == 1.0 and np.isclose(m[5, 6], 128 / 255)  # soft kept soft
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 3] = soft  # the alpha channel carries the mask
    assert np.allclose(load_mask(save(tmp_path, "a.png", rgba)), soft / 255.0)
    opaque = np.dstack([np.dstack([soft] * 3), np.full((20, 20), 255, np.uint8)])
    assert np.allclose(load_mask(save(tmp_path, "o.png", opaque)), soft / 255.0, atol=1e-6)
    sixteen = (soft.astype(np.uint16) * 257)
    p = tmp_path / "m16.png"
    Image.fromarray(sixteen).save(p)
    assert np.allclose(load_mask(p), soft / 255.0, atol=1e-4)


def test_depth_formats(tmp_path):
    d = (RNG.random((16, 20)) * 5 + 1).astype(np.float32)
    np.save(tmp_path / "d.npy", d)
    np.savez(tmp_path / "d.npz", depth=d)
    Image.fromarray(d, mode="F").save(tmp_path / "d.tif")
    mm = np.round(d * 1000).astype(np.uint16)
    Image.fromarray(mm).save(tmp_path / "d16.png")
    for name in ("d.npy", "d.npz", "d.tif"):
        arr, kind = load_depth(tmp_path / name)
        assert kind == "metric" and np.allclose(arr, d)
    arr, _ = load_depth(tmp_path / "d16.png")
    assert np.allclose(arr, mm / 1000.0, atol=1e-6)
    np.save(tmp_path / "disp.npy", 1 / d)
    assert load_depth(tmp_path / "disp.npy")[1] == "inverse"
    assert load_depth(tmp_path / "d.npy", kind="inverse")[1] == "inverse"
    bad = d.copy()
    bad[0, 0], bad[1, 1], bad[2, 2] = np.nan, -1.0, 0.0
    arr, _ = load_depth(bad, "bad.npy")
    assert np.isnan(arr[0, 0]) and np.isnan(arr[1, 1]) and np.isnan(arr[2, 2]) and np.isfinite(arr[3, 3])


def test_camera(tmp_path):
    assert load_camera({"f_px": 640})["f_px"] == 640.0
    cam = load_camera({"f_mm": 45, "sensor_width_mm": 36}, width=512)
    assert cam["f_px"] == pytest.approx(640.0)
    p = tmp_path / "camera.json"
    p.write_text(json.dumps({"f_mm": 50, "sensor_width_mm": 36, "width": 720}))
    assert load_camera(p)["f_px"] == pytest.approx(1000.0)


@pytest.mark.parametrize("layout", ["chw", "bchw", "packed", "packed2d"])
@pytest.mark.parametrize("fmt", ["safetensors", "pt", "npy"])
def test_latent_formats(tmp_path, layout, fmt):
    z = torch.randn(1, 16, 6, 8)
    data = {"chw": z[0], "bchw": z, "packed": pack_latents(z), "packed2d": pack_latents(z)[0]}[layout]
    p = tmp_path / f"z.{fmt}"
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file({"latents": data.contiguous()}, str(p))
    elif fmt == "pt":
        torch.save(data, p)
    else:
        np.save(p, data.numpy())
    out = load_latent(p, image_size=(48, 64))
    assert out.shape == (1, 16, 6, 8) and torch.equal(out, z)


def test_pack_unpack_round_trip():
    z = torch.randn(2, 16, 10, 14)
    tokens = pack_latents(z)
    assert tokens.shape == (2, 35, 64)
    # feature index c·4 + dy·2 + dx of token (i, j) is z[c, 2i+dy, 2j+dx]
    assert tokens[1, 2 * 7 + 3, 5 * 4 + 1 * 2 + 0] == z[1, 5, 2 * 2 + 1, 2 * 3 + 0]
    assert torch.equal(unpack_latents(tokens, 80, 112), z)


# ---- malformed inputs: one InputError each, naming the input --------------------------------------


def _raises(fn, name):
    with pytest.raises(InputError) as e:
        fn()
    assert name in str(e.value), str(e.value)
    return str(e.value)


def test_malformed_inputs(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    _raises(lambda: load_image(tmp_path / "empty.png"), "empty.png")
    (tmp_path / "text.png").write_text("hello, not an image")
    _raises(lambda: load_image(tmp_path / "text.png"), "text.png")
    good = save(tmp_path, "ok.png", IMG)
    (tmp_path / "trunc.png").write_bytes(good.read_bytes()[:100])
    _raises(lambda: load_image(tmp_path / "trunc.png"), "trunc.png")
    _raises(lambda: load_mask(np.zeros((0, 5), np.float32), "zero.png"), "zero.png")
    rgba = np.zeros((8, 8, 4), np.uint8)
    _raises(lambda: load_mask(save(tmp_path, "clear.png", rgba)), "clear.png")
    np.save(tmp_path / "rank3.npy", np.ones((2, 3, 4), np.float32))
    _raises(lambda: load_depth(tmp_path / "rank3.npy"), "rank3.npy")
    np.save(tmp_path / "nan.npy", np.full((4, 4), np.nan, np.float32))
    _raises(lambda: load_depth(tmp_path / "nan.npy"), "nan.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    msg = _raises(lambda: load_depth(tmp_path / "obj.npy"), "obj.npy")
    assert "pickle" in msg
    _raises(lambda: load_camera({"f_px": "wide"}, name="camera.json"), "camera.json")
    _raises(lambda: load_camera({"f_px": -3}, name="camera.json"), "camera.json")
    _raises(lambda: load_camera({"focal": 3}, name="camera.json"), "camera.json")
    torch.save(torch.randn(3, 8, 8), tmp_path / "c3.pt")
    _raises(lambda: load_latent(tmp_path / "c3.pt"), "c3.pt")
    torch.save(pack_latents(torch.randn(1, 16, 6, 8)), tmp_path / "packed.pt")
    _raises(lambda: load_latent(tmp_path / "packed.pt", image_size=(100, 100)), "packed.pt")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"latents": Evil()}, tmp_path / "evil.pt")
    msg = _raises(lambda: load_latent(tmp_path / "evil.pt"), "evil.pt")
    assert "safety" in msg


def test_empty_mask_is_refused_when_needed():
    img = IMG / 255.0
    _raises(lambda: build_sample(img, img, np.zeros((24, 32), np.float32), {"p": img}), "mask")


# ---- reconciliation -------------------------------------------------------------------------------


def test_sample_reconciles_sizes_with_notices():
    tgt = RNG.random((40, 60, 3)).astype(np.float32)
    ctx = RNG.random((20, 30, 3)).astype(np.float32)
    mask = np.zeros((80, 120), np.float32)
    mask[20:60, 30:90] = 1
    depth = np.full((40, 60), 2.0, np.float32)
    s = build_sample(ctx, tgt, mask, {"a": tgt, "a ": tgt}, target_depth=(1 / depth, "inverse"),
                     prediction_depths={"a": (depth, "metric")}, camera={"f_px": 100})
    # everything is brought down to the smallest input (the context here), never up
    assert s.size == (20, 30) and s.context.shape == (20, 30, 3) and s.mask.shape == (20, 30)
    assert s.predictions["a"].shape == (20, 30, 3)
    assert 0 <= s.mask.min() and s.mask.max() <= 1 and s.mask.sum() == pytest.approx(mask.sum() / 16)
    assert any(n.startswith("target") and "resized down to 30×20" in n for n in s.notices)
    assert not any(n.startswith("context") for n in s.notices)
    assert any("converted" in n for n in s.notices) and s.depth_kind == "inverse"
    assert np.allclose(s.prediction_depths["a"], 0.5)
    assert s.camera["f_px"] == pytest.approx(50)  # scaled with the target's width


def test_a_huge_target_among_small_predictions_is_brought_down_to_them():
    tgt = RNG.random((600, 600, 3)).astype(np.float32)
    small = RNG.random((64, 64, 3)).astype(np.float32)
    mask = np.zeros((600, 600), np.float32)
    mask[200:400, 200:400] = 1
    s = build_sample(tgt, tgt, mask, {"p": small, "q": small})
    assert s.size == (64, 64) and s.target.shape == (64, 64, 3)
    assert np.array_equal(s.predictions["p"], small)  # the predictions are not resampled at all
    assert any("target" in n and "brought down, never up" in n for n in s.notices)


def test_an_unreadable_prediction_is_left_out_with_a_notice_when_asked():
    img = RNG.random((32, 32, 3)).astype(np.float32)
    mask = np.zeros((32, 32), np.float32)
    mask[8:24, 8:24] = 1
    bad = b"\x89PNG\r\n\x1a\n truncated"
    with pytest.raises(InputError, match="prediction broken"):
        build_sample(img, img, mask, {"good": img, "broken": bad})
    s = build_sample(img, img, mask, {"good": img, "broken": bad}, skip_bad_predictions=True)
    assert list(s.predictions) == ["good"]
    assert any(n.startswith("prediction broken:") and "left out" in n for n in s.notices)
    with pytest.raises(InputError, match="none could be read"):
        build_sample(img, img, mask, {"broken": bad}, skip_bad_predictions=True)


def test_downscale_over_the_limit():
    big = np.zeros((300, 500, 3), np.float32)
    m = np.ones((300, 500), np.float32)
    s = build_sample(big, big, m, {"p": big}, camera={"f_px": 400}, max_side=250)
    assert s.size == (150, 250)
    assert s.camera["f_px"] == pytest.approx(200)
    assert any("longest side limit 250" in n for n in s.notices)


def test_depth_resize_does_not_mix_invalid_pixels():
    d = np.full((8, 8), 2.0, np.float32)
    d[:, :4] = np.nan
    d[:, 4:] = np.linspace(2, 3, 4)
    small = resize_depth(d, (4, 4))
    assert np.isnan(small[:, :2]).all()
    assert np.isfinite(small[:, 2:]).all() and small[:, 2:].min() >= 2.0
    up = resize_depth(d, (16, 16))
    assert np.nanmin(up) >= 2.0 and np.nanmax(up) <= 3.0


def test_load_sample_folder(tmp_path):
    root = tmp_path / "s"
    (root / "pred").mkdir(parents=True)
    (root / "pred_depth").mkdir()
    for n in ("context", "target"):
        save(root, f"{n}.png", IMG)
    m = np.zeros((24, 32), np.uint8)
    m[4:20, 4:28] = 255
    save(root, "mask.png", m)
    save(root / "pred", "ckpt_a.png", IMG)
    save(root / "pred", "ckpt_a~2.png", IMG)
    np.save(root / "pred_depth" / "ckpt_a.npy", np.ones((24, 32), np.float32))
    np.save(root / "target_depth.npy", np.ones((24, 32), np.float32))
    (root / "camera.json").write_text('{"f_px": 30}')
    s = load_sample(root)
    assert list(s.predictions) == ["ckpt_a"] and "ckpt_a" in s.second_runs
    assert s.target_depth is not None and "ckpt_a" in s.prediction_depths and s.camera["f_px"] == 30
    _raises(lambda: load_sample(tmp_path / "nope"), "nope")
