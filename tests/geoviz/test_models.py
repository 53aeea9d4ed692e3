"""The real models, offline: our modules have the official checkpoints' keys and shapes (manifests
from the official architectures, kept as test data), checkpoints made here load strictly through the
public functions and give bit-identical outputs, broken files are refused by name, and the dashboard
and CLI paths work end to end with a test-made checkpoint."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from geoviz.data.readers import InputError
from geoviz.models.checkpoints import WeightsUnavailable
from geoviz.models.depth import (
    DepthAnythingV2Small,
    DepthEstimator,
    dinov2_pos_embed,
    load_depth_anything_v2_small,
)
from geoviz.models.encoders import load_taef1, taef1_decoder_layers, taef1_encoder_layers

DATA = Path(__file__).resolve().parents[1] / "data" / "models"


def manifest(name):
    m = json.loads((DATA / name).read_text())
    return {k: tuple(s) for k, s in m["keys"]}


def shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.fixture(scope="module")
def dav2_checkpoint(tmp_path_factory):
    """A Depth Anything V2 Small with random weights (a positive output bias so the map is not 0),
    saved in the official layout."""
    torch.manual_seed(0)
    model = DepthAnythingV2Small().eval()
    with torch.no_grad():
        model.depth_head.scratch.output_conv2[0].bias.fill_(0.05)
        model.depth_head.scratch.output_conv2[2].bias.fill_(1.0)
    path = tmp_path_factory.mktemp("w") / "depth_anything_v2_vits.pth"
    torch.save(model.state_dict(), path)
    return model, path


def test_architectures_match_the_official_checkpoints():
    assert shapes(DepthAnythingV2Small()) == manifest("dav2_vits_manifest.json")
    assert shapes(taef1_encoder_layers()) == manifest("taef1_encoder_manifest.json")
    assert shapes(taef1_decoder_layers()) == manifest("taef1_decoder_manifest.json")
    diffusers = manifest("taef1_diffusers_manifest.json")
    ours = {f"encoder.layers.{k}": v for k, v in shapes(taef1_encoder_layers()).items()}
    ours.update({f"decoder.layers.{int(k.split('.')[0]) - 1}.{k.split('.', 1)[1]}": v
                 for k, v in shapes(taef1_decoder_layers()).items()})
    assert ours == diffusers


def test_depth_checkpoint_round_trip_is_bit_identical(dav2_checkpoint, tmp_path):
    model, path = dav2_checkpoint
    x = torch.rand(1, 3, 140, 196)
    with torch.no_grad():
        want = DepthEstimator(model)(x)
    got = load_depth_anything_v2_small(path)(x)
    assert torch.equal(got, want) and float(want.std()) > 0
    from safetensors.torch import save_file

    st = tmp_path / "dav2.safetensors"
    save_file(model.state_dict(), str(st))
    assert torch.equal(load_depth_anything_v2_small(st)(x), want)


@pytest.mark.parametrize("size", [(518, 518), (100, 150), (333, 257), (72, 216)])  # the last: a thin strip
def test_depth_shapes_and_ranges(dav2_checkpoint, size):
    model, _ = dav2_checkpoint
    est = DepthEstimator(model)
    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        d = est(x)
    assert d.shape == (1, 1, *size) and torch.isfinite(d).all() and (d >= 0).all()
    nh, nw = est.network_size(*size)
    assert nh % 14 == 0 and nw % 14 == 0 and min(nh, nw) >= 518
    assert abs(nh / nw - size[0] / size[1]) < 0.05 * size[0] / size[1] + 14 / min(nh, nw)


def _cubic_at(values: np.ndarray, src: float, a: float = -0.75) -> float:
    """Cubic convolution (Keys, a = −0.75 as PyTorch's bicubic) of a 1-D signal at ``src``, clamped."""

    def w(x):
        x = abs(x)
        if x <= 1:
            return (a + 2) * x**3 - (a + 3) * x**2 + 1
        if x < 2:
            return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
        return 0.0

    k0 = math.floor(src)
    t = src - k0
    return sum(w(t - m) * values[min(max(k0 + m, 0), len(values) - 1)] for m in (-1, 0, 1, 2))


def test_position_embedding_is_resized_like_dinov2():
    # a ramp along rows and columns: the resized values reveal where each output sample was read
    # (DINOv2: source = (i + 0.5)/scale − 0.5 with scale = (n + 0.1)/37), checked against cubic
    # convolution written out here
    side, dim = 37, 2
    rows, cols = torch.meshgrid(torch.arange(side, dtype=torch.float32), torch.arange(side, dtype=torch.float32), indexing="ij")
    grid = torch.stack([rows, cols], dim=-1).reshape(1, side * side, dim)
    pos = torch.cat([torch.zeros(1, 1, dim), grid], dim=1)
    assert dinov2_pos_embed(pos, 37, 37) is pos  # the trained grid: untouched
    gh, gw = 23, 50
    out = dinov2_pos_embed(pos, gh, gw)[0, 1:].reshape(gh, gw, dim)
    i, j = 10, 20
    ramp = np.arange(side, dtype=np.float64)
    src_r = (i + 0.5) / ((gh + 0.1) / side) - 0.5
    src_c = (j + 0.5) / ((gw + 0.1) / side) - 0.5
    assert float(out[i, j, 0]) == pytest.approx(_cubic_at(ramp, src_r), abs=1e-4)
    assert float(out[i, j, 1]) == pytest.approx(_cubic_at(ramp, src_c), abs=1e-4)
    # timm's dynamic resize (the exact grid ratio, antialiased) reads elsewhere: a different value
    timm = F.interpolate(grid.reshape(1, side, side, dim).permute(0, 3, 1, 2), size=(gh, gw), mode="bicubic",
                         antialias=True, align_corners=False)
    assert abs(float(timm[0, 0, i, j]) - float(out[i, j, 0])) > 0.01


def test_taef1_checkpoints_round_trip(tmp_path):
    torch.manual_seed(1)
    enc, dec = taef1_encoder_layers().eval(), taef1_decoder_layers().eval()
    torch.save(enc.state_dict(), tmp_path / "taef1_encoder.pth")
    torch.save(dec.state_dict(), tmp_path / "taef1_decoder.pth")
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        z_want = enc(x)
        img_want = dec(z_want).clamp(0, 1)
    taef1 = load_taef1(tmp_path / "taef1_encoder.pth", tmp_path / "taef1_decoder.pth")
    z = taef1.encode(x)
    assert z.shape == (1, 16, 8, 12) and torch.equal(z, z_want)
    assert torch.equal(taef1.decode(z), img_want)
    # the Hub's diffusers-format file: both parts in one safetensors
    from safetensors.torch import save_file

    sd = {f"encoder.layers.{k}": v for k, v in enc.state_dict().items()}
    sd.update({f"decoder.layers.{int(k.split('.')[0]) - 1}.{k.split('.', 1)[1]}": v for k, v in dec.state_dict().items()})
    save_file(sd, str(tmp_path / "diffusion_pytorch_model.safetensors"))
    both = load_taef1(tmp_path / "diffusion_pytorch_model.safetensors")
    assert torch.equal(both.encode(x), z_want) and torch.equal(both.decode(z_want), img_want)


def test_broken_weight_files_are_refused_by_name(dav2_checkpoint, tmp_path):
    _, path = dav2_checkpoint
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(path.read_bytes()[: 100_000])
    with pytest.raises(InputError, match="truncated.pth"):
        load_depth_anything_v2_small(truncated)
    torch.save(taef1_encoder_layers().state_dict(), tmp_path / "wrong_model.pth")
    with pytest.raises(InputError, match=r"wrong_model\.pth.*missing key"):
        load_depth_anything_v2_small(tmp_path / "wrong_model.pth")
    with pytest.raises(InputError, match="nope.pth"):
        load_taef1(tmp_path / "nope.pth")
    (tmp_path / "text.safetensors").write_text("hello")
    with pytest.raises(InputError, match="text.safetensors"):
        load_taef1(tmp_path / "text.safetensors")


def test_offline_without_weights_says_how_to_get_them(monkeypatch, tmp_path):
    monkeypatch.delenv("GEOVIZ_DEPTH_WEIGHTS", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    with pytest.raises(WeightsUnavailable, match="depth_anything_v2_vits.pth.*--depth-weights"):
        load_depth_anything_v2_small()
    monkeypatch.delenv("GEOVIZ_TAEF1_ENCODER", raising=False)
    with pytest.raises(WeightsUnavailable, match="taef1"):
        load_taef1()


def test_an_unreachable_hub_fails_at_once_and_is_not_retried(monkeypatch, tmp_path):
    """Offline without HF_HUB_OFFLINE: the Hub client's retries took ~25 s before the fallback; now a
    2 s reachability check decides, and the answer is remembered."""
    import time

    import geoviz.models.checkpoints as checkpoints

    monkeypatch.delenv("GEOVIZ_DEPTH_WEIGHTS", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    monkeypatch.setattr(checkpoints, "UNREACHABLE", {})
    calls = []
    monkeypatch.setattr(checkpoints, "reachable", lambda host, *a, **k: calls.append(host) or False)
    t0 = time.perf_counter()
    with pytest.raises(WeightsUnavailable, match="unreachable"):
        load_depth_anything_v2_small()
    with pytest.raises(WeightsUnavailable, match="unreachable"):
        load_depth_anything_v2_small()
    assert time.perf_counter() - t0 < 5.0 and calls == ["huggingface.co"]


def test_estimated_depth_in_the_engine_and_the_cli(dav2_checkpoint, tmp_path, monkeypatch):
    """With a test-made checkpoint: predictions without depth maps get estimated ones, aligned onto
    the target; the CLI fills the depth columns the same way."""
    import geoviz.data.synth as S
    from geoviz.cli import main
    from geoviz.data.sample import build_sample
    from geoviz.engine.evaluate import evaluate
    from geoviz.models.choice import cached_model

    _, path = dav2_checkpoint
    sc = S.demo_scene(96)
    tgt, ctx, pred = S.render(sc), S.render(S.without_object(sc)), S.render(S.scale_object(sc, 0.9))
    sample = build_sample(ctx.rgb, tgt.rgb, tgt.mask, {"p": pred.rgb}, target_depth=(tgt.depth, "metric"), camera=tgt.camera)
    plain = evaluate(sample, device="cpu", cache=None, terms=["depth_inside"])
    assert plain.values["p"]["depth_inside"] is None  # no map: skipped
    est = cached_model("depth", path, "cpu")
    r = evaluate(sample, device="cpu", cache=None, terms=["depth_inside", "depth_edge"], depth_estimator=est,
                 depth_source="estimate missing")
    assert r.values["p"]["depth_inside"] is not None and math.isfinite(r.values["p"]["depth_inside"])
    info = r.depth_info["p"]
    assert info["aligned"] and np.isfinite(info["scale"]) and np.isfinite(info["shift"])
    ds = S.write_dataset(tmp_path / "ds", n_samples=2, size=96)
    for ck in ("ckpt_0500", "ckpt_1000", "ckpt_1500"):
        for f in (ds / "preds" / ck / "pred_depth").glob("*.npy"):
            f.unlink()
    out = tmp_path / "r.csv"
    assert main(["evaluate", str(ds), "--out", str(out), "--device", "cpu", "--workers", "0", "--quiet",
                 "--depth-source", "estimate missing", "--depth-weights", str(path)]) == 0
    rows = list(__import__("csv").DictReader(open(out)))
    assert all(r["depth_inside"] not in ("", None) for r in rows)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("GEOVIZ_DEPTH_WEIGHTS", raising=False)
    assert main(["evaluate", str(ds), "--out", str(out), "--device", "cpu", "--workers", "0", "--quiet",
                 "--depth-source", "estimate all"]) == 2


@pytest.mark.cuda
def test_estimator_on_cuda(dav2_checkpoint):
    from support import cuda_or_skip

    dev = cuda_or_skip()
    model, path = dav2_checkpoint
    x = torch.rand(1, 3, 140, 196)
    cpu = load_depth_anything_v2_small(path)(x)
    gpu = load_depth_anything_v2_small(path, device=dev)(x.to(dev))
    assert gpu.device.type == "cuda" and torch.allclose(gpu.cpu(), cpu, rtol=1e-3, atol=1e-4)
