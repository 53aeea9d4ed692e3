"""geoviz.data.runs.RunRecorder: what a training loop logs lands in the dataset layout, whole."""

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from support import chw

import geoviz
from geoviz.data.layouts import list_dataset, load_spec
from geoviz.data.runs import RunRecorder, read_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def box():
    return geoviz.load_sample(ROOT / "assets" / "insert_box")


def test_a_logged_run_reads_back_as_a_dataset_with_the_same_numbers(tmp_path, box):
    preds = list(box.predictions.items())[:3]
    with RunRecorder(tmp_path / "run") as rec:
        for step, (_, p) in zip((500, 1000, 1500), preds):
            pred = chw(p)
            rec.log(step, "box", context=chw(box.context), target=chw(box.target), mask=torch.from_numpy(box.mask),
                    pred=pred)
            pred.mul_(0)  # the loop reuses its buffer: what was logged is the copy made at the call
            rec.log(step, "box_pil", context=Image.fromarray(np.rint(box.context * 255).astype(np.uint8)),
                    target=np.rint(box.target * 255).astype(np.uint8), mask=box.mask, pred=p)  # PIL, uint8, float
    info = read_run(tmp_path / "run")
    assert info.steps == [500, 1000, 1500] and info.samples == ["box", "box_pil"]
    specs, checkpoints = list_dataset(tmp_path / "run")
    assert checkpoints == ["step_000500", "step_001000", "step_001500"] and [s.name for s in specs] == ["box", "box_pil"]
    report = geoviz.evaluate(load_spec(specs[0]), cache=None)
    # the demo's first three checkpoints are rendered at scales 0.8, 0.9 and 1.0 of the target's object
    assert [p for p, _ in preds] == ["step_0500", "step_1000", "step_2000"]
    for ck, truth in zip(checkpoints, (0.8, 0.9, 1.0)):
        assert report.scales[ck].estimate == pytest.approx(truth, abs=0.02)


def test_reopening_appends_and_keep_last_bounds_the_disk(tmp_path):
    x = torch.rand(3, 32, 32)
    with RunRecorder(tmp_path / "r", keep_last=2, keep_every=4) as rec:
        for step in range(1, 6):
            rec.log(step, "s", context=x, target=x, mask=x[0] > 0.5, pred=torch.rand(3, 32, 32))
    with RunRecorder(tmp_path / "r", keep_last=2, keep_every=4) as rec:  # re-opened: inputs are not needed again
        rec.log(6, "s", pred=torch.rand(3, 32, 32))
    assert read_run(tmp_path / "r").steps == [4, 5, 6]  # the newest two, and 4 (a multiple of keep_every)
    assert len(read_run(tmp_path / "r").opened) == 2  # two recorders wrote it: the live view says it was resumed
    assert sorted(p.name for p in (tmp_path / "r" / "preds").iterdir()) == ["step_000004", "step_000005", "step_000006"]
    with pytest.raises(ValueError, match="first time without context, target, mask"):
        RunRecorder(tmp_path / "r2").log(1, "new", pred=x)


def test_a_batch_logs_one_sample_per_row(tmp_path):
    b = torch.rand(2, 3, 24, 24)
    with RunRecorder(tmp_path / "b") as rec:
        rec.log(10, ["a", "b"], context=b, target=b, mask=torch.ones(2, 1, 24, 24), pred=b, z_pred=torch.rand(2, 16, 3, 3))
    specs, _ = list_dataset(tmp_path / "b")
    assert [s.name for s in specs] == ["a", "b"]
    assert all(s.prediction_latents for s in specs)
    got = np.asarray(Image.open(tmp_path / "b" / "preds" / "step_000010" / "b.png"), dtype=np.float32) / 255
    assert np.abs(got - b[1].permute(1, 2, 0).numpy()).max() <= 0.5 / 255 + 1e-6


def test_a_killed_training_process_leaves_every_finished_file_whole(tmp_path):
    run = tmp_path / "killed"
    script = textwrap.dedent(f"""
        import sys, torch
        sys.path.insert(0, {str(ROOT)!r})
        from geoviz.data.runs import RunRecorder
        rec = RunRecorder({str(run)!r})
        x = torch.rand(3, 256, 256)
        for step in range(10**6):
            rec.log(step, "s", context=x, target=x, mask=x[0] > 0.5, pred=torch.rand(3, 256, 256))
            if step == 3:
                print("ready", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    proc.kill()
    proc.wait()
    info = read_run(run)  # the run file is whole JSON
    assert len(info.steps) >= 1
    for step in info.steps:  # every listed step's prediction is a whole PNG
        with Image.open(run / "preds" / f"step_{step:06d}" / "s.png") as im:
            im.load()
    for png in (run / "preds").rglob("*.png"):  # and so is every file under its final name
        with Image.open(png) as im:
            im.load()
    with RunRecorder(run) as rec:  # re-opened after the kill: appends
        rec.log(10**7, "s", pred=torch.rand(3, 256, 256))
    assert read_run(run).steps[-1] == 10**7
    assert json.loads((run / "run.json").read_text())["steps"][0] == info.steps[0]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_write_rank_zero_only_or_each_its_own_samples_without_a_clash(tmp_path):
    script = textwrap.dedent("""
        import json, sys, torch
        import torch.distributed as dist
        from geoviz.data.runs import RunRecorder
        dist.init_process_group("gloo")  # env://: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
        rank = dist.get_rank()
        x = torch.full((3, 16, 16), (rank + 1) / 4)  # rank r logs a constant image of value (r+1)/4
        out = {"rank": rank, "world": dist.get_world_size()}
        for case, folder, all_ranks in (("A", sys.argv[1], False), ("B", sys.argv[2], True)):
            rec = RunRecorder(folder, all_ranks=all_ranks)
            out[case] = [rec.log(step, f"s_rank{rank}", context=x, target=x, mask=torch.ones(16, 16), pred=x)
                         for step in (1, 2, 3)]
            dist.barrier()  # both ranks have logged before either closes
            rec.close()
            dist.barrier()  # both ranks' files are whole before the next case
        dist.destroy_process_group()
        print("RESULT " + json.dumps(out), flush=True)
    """)
    a, b = tmp_path / "A", tmp_path / "B"
    for _ in range(3):  # the free port may be taken between the probe and the bind: try another
        for d in (a, b):
            shutil.rmtree(d, ignore_errors=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()),
               "WORLD_SIZE": "2", "OMP_NUM_THREADS": "1"}
        procs = [subprocess.Popen([sys.executable, "-c", script, str(a), str(b)], env={**env, "RANK": str(r)},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT) for r in (0, 1)]
        outs = []
        try:
            for p in procs:
                outs.append(p.communicate(timeout=120))
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
                p.wait()
            pytest.fail("a rank did not finish within 120 s")
        errs = "\n".join(e for _, e in outs)
        if all(p.returncode == 0 for p in procs) or "address already in use" not in errs.lower():
            break
    assert [p.returncode for p in procs] == [0, 0], errs
    results = [json.loads(next(ln for ln in o.splitlines() if ln.startswith("RESULT "))[7:]) for o, _ in outs]
    assert [(r["rank"], r["world"]) for r in results] == [(0, 2), (1, 2)]

    def value(png):  # the constant an 8-bit PNG holds, back in [0, 1]
        arr = np.asarray(Image.open(png), dtype=np.float32) / 255
        assert arr.shape[:2] == (16, 16) and arr.max() - arr.min() == 0
        return float(arr.flat[0])

    half_level = 0.5 / 255 + 1e-6  # 8 bits round (r+1)/4 to the nearest of 256 levels: 64/255 and 128/255

    # A, all_ranks=False: rank 0 writes its sample, rank 1's calls return False and write nothing
    assert results[0]["A"] == [True, True, True] and results[1]["A"] == [False, False, False]
    assert sorted(p.name for p in a.glob("run*.json")) == ["run.json"]
    info = read_run(a)
    assert info.steps == [1, 2, 3] and info.samples == ["s_rank0"]
    assert sorted(p.name for p in a.iterdir()) == ["preds", "run.json", "s_rank0"]
    for step in (1, 2, 3):
        assert [p.name for p in (a / "preds" / f"step_{step:06d}").iterdir()] == ["s_rank0.png"]
        assert value(a / "preds" / f"step_{step:06d}" / "s_rank0.png") == pytest.approx(0.25, abs=half_level)

    # B, all_ranks=True: each rank writes its own sample and its own run file, and no file holds the other's image
    assert results[0]["B"] == [True, True, True] and results[1]["B"] == [True, True, True]
    assert sorted(p.name for p in b.glob("run*.json")) == ["run.json", "run.rank1.json"]
    assert json.loads((b / "run.json").read_text())["samples"] == ["s_rank0"]
    assert json.loads((b / "run.rank1.json").read_text())["samples"] == ["s_rank1"]
    info = read_run(b)
    assert info.steps == [1, 2, 3] and info.samples == ["s_rank0", "s_rank1"]
    assert not list(b.rglob(".*.part"))  # no temporary file left behind
    for r, v in ((0, 0.25), (1, 0.5)):
        assert value(b / f"s_rank{r}" / "context.png") == pytest.approx(v, abs=half_level)
        for step in (1, 2, 3):
            ck = b / "preds" / f"step_{step:06d}"
            assert sorted(p.name for p in ck.iterdir()) == ["s_rank0.png", "s_rank1.png"]
            assert value(ck / f"s_rank{r}.png") == pytest.approx(v, abs=half_level)
