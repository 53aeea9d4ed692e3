"""The engine on CUDA gives the CPU's numbers: every term of the demo, its maps, the scale readout,
a sweep, the weights config as a training loss, and the recorder's copy of CUDA tensors. Skipped
without CUDA (bench/gpu_check.sh runs them on a GPU); nothing here needs gradio."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from support import cuda_or_skip

import geoviz
import losses

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def box():
    return geoviz.load_sample(ROOT / "assets" / "insert_box")


@pytest.mark.cuda
def test_every_term_of_the_demo_on_cuda_equals_the_cpu(box):
    cuda_or_skip()
    cpu = geoviz.evaluate(box, device="cpu", cache=None)
    gpu = geoviz.evaluate(box, device="cuda", cache=None)
    assert gpu.device.startswith("cuda")
    for ck in cpu.predictions:
        for term, want in cpu.values[ck].items():
            got = gpu.values[ck][term]
            assert (got is None) == (want is None), (ck, term)
            if want is not None:
                assert got == pytest.approx(want, rel=2e-4, abs=1e-6), (ck, term)
            mc, mg = cpu.results[ck][term].contribution, gpu.results[ck][term].contribution
            if mc is not None:
                assert isinstance(mg, np.ndarray) and mg.shape == mc.shape  # maps come back as NumPy
                assert float(np.abs(mg - mc).max()) <= 1e-4 * max(1e-6, float(np.abs(mc).max())) + 1e-7, (ck, term)
        assert gpu.scales[ck].estimate == pytest.approx(cpu.scales[ck].estimate, abs=1e-3), ck
    w = geoviz.preset(geoviz.preset_for(cpu.kind))
    totals_cpu, totals_gpu = geoviz.combine(cpu, w).totals, geoviz.combine(gpu, w).totals
    assert totals_gpu == pytest.approx(totals_cpu, rel=2e-4)


@pytest.mark.cuda
def test_a_sweep_on_cuda_equals_the_cpu(box):
    cuda_or_skip()
    bare = dataclasses.replace(box, predictions={}, prediction_depths={}, memo={})
    scales = [0.8, 1.0, 1.25]
    cpu = geoviz.scale_sweep(bare, scales=scales, shifts=(), device="cpu")
    gpu = geoviz.scale_sweep(bare, scales=scales, shifts=(), device="cuda")
    w = geoviz.PRESETS["object insertion"]
    assert np.allclose(gpu.total(w), cpu.total(w), rtol=2e-4, atol=1e-6)


@pytest.mark.cuda
def test_the_weights_config_trains_on_cuda_as_on_the_cpu():
    dev = cuda_or_skip()
    g = torch.Generator().manual_seed(0)
    mask = torch.zeros(2, 1, 64, 64)
    mask[..., 16:48, 20:44] = 1
    z_ctx = torch.randn(2, 16, 8, 8, generator=g)
    z_tgt = z_ctx + torch.nn.functional.max_pool2d(mask, 8) * torch.randn(2, 16, 8, 8, generator=g)
    z_pred = z_tgt + 0.2 * torch.randn(2, 16, 8, 8, generator=g)
    loss = losses.GeometryLoss({"latent_mse": 1.0, "latent_background": 0.6, "latent_dice": 0.9, "latent_area": 0.2,
                                "latent_boundary": 0.4})  # the latent family: what a Flux LoRA trains with
    out = {}
    for d in ("cpu", dev):
        zp = z_pred.to(d).requires_grad_(True)
        total, terms = loss(z_ctx=z_ctx.to(d), z_tgt=z_tgt.to(d), z_pred=zp, mask=mask.to(d))
        total.backward()
        out[str(torch.device(d).type)] = (float(total), zp.grad.cpu(), {k: float(v) for k, v in terms.items()})
    (t_cpu, g_cpu, terms_cpu), (t_gpu, g_gpu, terms_gpu) = out["cpu"], out["cuda"]
    assert t_gpu == pytest.approx(t_cpu, rel=1e-4)
    assert terms_gpu == pytest.approx(terms_cpu, rel=1e-4, abs=1e-7)
    assert torch.allclose(g_gpu, g_cpu, rtol=1e-3, atol=1e-6)


@pytest.mark.cuda
def test_the_recorder_copies_cuda_tensors_before_the_training_step_changes_them(tmp_path):
    dev = cuda_or_skip()
    from geoviz.data.layouts import list_dataset, load_spec

    x = torch.rand(3, 64, 64, device=dev)
    mask = torch.zeros(64, 64, device=dev)
    mask[16:48, 16:48] = 1
    pred = torch.full((3, 64, 64), 0.5, device=dev)
    with geoviz.RunRecorder(tmp_path / "run") as rec:
        rec.log(1, "s", context=x, target=x, mask=mask, pred=pred)
        pred.zero_()  # the next training step overwrites the buffer on the GPU
    sample = load_spec(list_dataset(tmp_path / "run")[0][0])
    assert abs(float(sample.predictions["step_000001"].mean()) - 0.5) < 1 / 255


@pytest.mark.cuda
def test_the_renderer_on_cuda_makes_the_cpus_scene():
    cuda_or_skip()
    import geoviz.data.synth as S

    scene = S.demo_scene(96)
    cpu, gpu = S.render(scene), S.render(scene, device="cuda")
    assert np.allclose(gpu.rgb, cpu.rgb, atol=1e-5) and np.allclose(gpu.depth, cpu.depth, rtol=1e-6)
    assert np.array_equal(gpu.mask, cpu.mask)
