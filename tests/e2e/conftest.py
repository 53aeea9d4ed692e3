"""A dashboard server for the end-to-end tests: started once per session on a free port (in this
process), with its own Gradio temp dir; a Chromium browser where one is installed."""

import os
import socket
import tempfile
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_photo_dataset(root: Path) -> Path:
    """Two real-photo insertions (the logo, the coin) × checkpoints at scales 0.8, 1.0 and 1.25 in the
    CLI's layout, a truncated checkpoint image of the coin, and a folder that is not a sample."""
    from photo_samples import _save, insertion_case

    for obj in ("logo", "coin"):
        case = insertion_case(obj, scales=(0.8, 1.0, 1.25), roundtrip_preds=True)
        folder = root / case.name
        folder.mkdir(parents=True)
        for role in ("context", "target", "mask"):
            _save(getattr(case, role), folder / f"{role}.png")
        for name, img in case.predictions.items():
            (root / "preds" / name).mkdir(parents=True, exist_ok=True)
            _save(img, root / "preds" / name / f"{case.name}.png")
    broken = root / "preds" / "scale_1.00" / "coin_in_camera.png"
    broken.write_bytes(broken.read_bytes()[:1500])
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("not a sample")
    return root


@pytest.fixture(scope="session")
def app_url():
    os.environ.setdefault("GRADIO_TEMP_DIR", tempfile.mkdtemp(prefix="geoviz-gradio-"))
    from geoviz.app.layout import build_demo
    from geoviz.app.serve import launch_options
    from geoviz.app.sessions import demo_session
    from geoviz.data.synth import write_dataset

    pre = demo_session("cpu")
    data_root = Path(tempfile.mkdtemp(prefix="geoviz-data-"))
    write_dataset(data_root / "synthetic", n_samples=4, size=128)
    write_photo_dataset(data_root / "photos")  # first in the list: the Datasets tab opens on it
    # a Depth Anything V2 Small checkpoint made here (random weights, official layout): the estimator path
    import torch

    from geoviz.models.depth import DepthAnythingV2Small

    torch.manual_seed(0)
    model = DepthAnythingV2Small()
    with torch.no_grad():
        model.depth_head.scratch.output_conv2[2].bias.fill_(1.0)
    weights = data_root / "depth_anything_v2_vits.pth"
    torch.save(model.state_dict(), weights)
    demo = build_demo("cpu", preload=pre, sessions_dir=tempfile.mkdtemp(prefix="geoviz-sessions-"),
                         data_root=data_root, depth_weights=str(weights)).queue(default_concurrency_limit=4)
    demo.geoviz_data_root = data_root
    os.environ["GEOVIZ_E2E_DATA_ROOT"] = str(data_root)  # this process's server (not another run's /tmp)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_options())
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (CI installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_url):
    ctx = browser.new_context(viewport={"width": 1500, "height": 1300})
    pg = ctx.new_page()
    pg.goto(app_url, wait_until="load")
    yield pg
    ctx.close()
