"""Who may do what: a server started by ``geoviz.app.serve.launch`` with a login, a 1 MB upload limit and a data
root holding symlinks out of it. Unauthenticated requests are refused, traversal is refused, files
outside Gradio's upload cache and the public demo assets are not served, session files are private,
and old temporary files are swept."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import httpx
import pytest
from conftest import free_port
from gradio_client import Client
from gradio_client.exceptions import AppError
from test_api import call

from geoviz.analysis.datasets import dataset_rows
from geoviz.app.serve import exposure_warnings, launch
from geoviz.app.sessions import ASSETS
from geoviz.cli import read_auth
from geoviz.data.layouts import dataset_folder, datasets_under
from geoviz.data.readers import InputError

USER, PASSWORD = "alice", "correct-horse-battery"


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    from geoviz.data.synth import write_dataset

    base = tmp_path_factory.mktemp("security")
    root, outside = base / "root", base / "outside"
    write_dataset(root / "good_ds", n_samples=2, size=64, checkpoints={"ck": 1.0})
    write_dataset(outside / "private_ds", n_samples=1, size=64, checkpoints={"ck": 1.0})
    (outside / "secret.txt").write_text("the server's private file\n")
    (root / "linked_ds").symlink_to(outside / "private_ds", target_is_directory=True)  # a dataset out of the root
    (root / "good_ds" / "sample_leak").symlink_to(outside / "private_ds" / "sample_000", target_is_directory=True)
    (root / "good_ds" / "preds" / "ck" / "sample_leak.png").symlink_to(outside / "private_ds" / "preds" / "ck" / "sample_000.png")
    sessions = base / "sessions"
    port = free_port()
    demo = launch(host="127.0.0.1", port=port, device="cpu", sessions_dir=sessions, data_root=root,
                     auth=[(USER, PASSWORD)], max_upload_mb=1, concurrency=2, prevent_thread_lock=True, quiet=True)
    try:
        yield {"url": f"http://127.0.0.1:{port}/", "root": root, "outside": outside, "sessions": sessions}
    finally:
        demo.close()


def _logged_in(url: str) -> httpx.Client:
    s = httpx.Client()
    r = s.post(url + "login", data={"username": USER, "password": PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    return s


# ---- login --------------------------------------------------------------------------------------------


def test_unauthenticated_requests_are_refused(secured):
    url = secured["url"]
    assert httpx.get(url + "config", timeout=30).status_code == 401
    assert httpx.post(url + "gradio_api/upload", files={"files": ("a.png", b"x")}, timeout=30).status_code == 401
    assert httpx.post(url + "login", data={"username": USER, "password": "wrong"}, timeout=30).status_code == 400
    with pytest.raises(Exception):  # noqa: B017 - gradio_client raises whatever the 401 turns into
        Client(url, verbose=False)
    # the right password opens it
    assert _logged_in(url).get(url + "config", timeout=30).status_code == 200
    summary = next(o for o in call(Client(url, auth=(USER, PASSWORD), verbose=False), "/load_demo")
                   if isinstance(o, dict) and "values" in o)
    assert summary["sample"] == "insert_box"


# ---- the data root ------------------------------------------------------------------------------------


def test_only_datasets_inside_the_root_are_listed_and_opened(secured):
    root = secured["root"].resolve()
    assert datasets_under(root) == ["good_ds"]  # linked_ds points out of the root
    for name in ("../outside/private_ds", "linked_ds", str(secured["outside"] / "private_ds"), "", "good_ds/../.."):
        with pytest.raises(InputError):
            dataset_folder(root, name)
    rows, _, _ = dataset_rows(dataset_folder(root, "good_ds"), {"latent_mse": 1.0}, root=root)
    assert sorted({r["sample"] for r in rows}) == ["sample_000", "sample_001"]  # sample_leak is a symlink out


def test_traversal_through_the_api_is_refused(secured):
    client = Client(secured["url"], auth=(USER, PASSWORD), verbose=False)
    for name in ("../outside/private_ds", "linked_ds", "/etc"):
        with pytest.raises(AppError):
            call(client, "/dataset", name=name)
    table = call(client, "/dataset", name="good_ds")[0]
    samples = {row[0] for row in table["data"]}
    assert samples == {"sample_000", "sample_001"}


# ---- what Gradio serves --------------------------------------------------------------------------------


def test_files_outside_the_allowed_folders_are_not_served(secured):
    url = secured["url"]
    s = _logged_in(url)
    # a file this session uploads is served back (the check below could pass)
    up = s.post(url + "gradio_api/upload", files={"files": ("note.txt", b"hello")}, timeout=30)
    assert up.status_code == 200, up.text
    uploaded = up.json()[0]
    assert s.get(url + f"gradio_api/file={uploaded}", timeout=30).content == b"hello"
    assert s.get(url + f"gradio_api/file={ASSETS / 'insert_box' / 'target.png'}", timeout=30).status_code == 200
    # a saved session exists on disk …
    client = Client(url, auth=(USER, PASSWORD), verbose=False)
    call(client, "/load_demo")
    call(client, "/save_link")
    bundles = list(secured["sessions"].glob("*.geoviz.zip"))
    assert bundles
    refused = [
        "/etc/passwd",
        str(secured["outside"] / "secret.txt"),
        str(secured["root"] / "good_ds" / "sample_000" / "target.png"),  # the data root is not served
        str(bundles[0]),  # … and is not served: only its 192-bit link opens it, through the app
        f"{Path(uploaded).parent}/../../../etc/passwd",
        str(Path(__file__)),
    ]
    for path in refused:
        r = s.get(url + f"gradio_api/file={path}", timeout=30)
        assert r.status_code == 403, (path, r.status_code)
        assert b"root:" not in r.content and b"private file" not in r.content


def test_uploads_over_the_limit_are_refused(secured):
    url = secured["url"]
    s = _logged_in(url)
    r = s.post(url + "gradio_api/upload", files={"files": ("big.png", b"\0" * (2 * 1024 * 1024))}, timeout=60)
    assert r.status_code == 413, r.status_code
    small = s.post(url + "gradio_api/upload", files={"files": ("small.png", b"\0" * 1024)}, timeout=60)
    assert small.status_code == 200


def test_session_files_are_private(secured):
    sessions = secured["sessions"]
    client = Client(secured["url"], auth=(USER, PASSWORD), verbose=False)
    call(client, "/load_demo")
    call(client, "/save_link")  # a saved session (whichever test ran first)
    assert any(sessions.glob("*.geoviz.zip"))
    assert stat.S_IMODE(sessions.stat().st_mode) == 0o700
    for bundle in sessions.glob("*.geoviz.zip"):
        assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    from geoviz.data.tempfiles import temp_root

    assert stat.S_IMODE(temp_root().stat().st_mode) == 0o700


# ---- options ---------------------------------------------------------------------------------------


def test_exposure_warnings():
    assert exposure_warnings("127.0.0.1", None) == []
    assert exposure_warnings("localhost", None) == []
    (warning,) = exposure_warnings("0.0.0.0", None)
    assert "--auth" in warning and "0.0.0.0" in warning
    assert exposure_warnings("0.0.0.0", [("a", "b")]) == []


def test_read_auth(tmp_path):
    assert read_auth(["bob:pa:ss"], None) == [("bob", "pa:ss")]  # a password may hold colons
    f = tmp_path / "users.txt"
    f.write_text("# team\nalice:one\n\ncarol:two\n")
    assert read_auth(["bob:x"], str(f)) == [("bob", "x"), ("alice", "one"), ("carol", "two")]
    for bad in (["nocolon"], [":empty-user"], ["user:"]):
        with pytest.raises(InputError):
            read_auth(bad, None)
    f.write_text("# nothing\n")
    with pytest.raises(InputError, match="no user:password"):
        read_auth(None, str(f))


def test_old_temporary_files_are_swept(tmp_path):
    from geoviz.data.tempfiles import clean_old

    old_dir, fresh_dir, old_file = tmp_path / "session-old", tmp_path / "session-fresh", tmp_path / "calib.zip"
    for d in (old_dir, fresh_dir):
        d.mkdir()
        (d / "weights.json").write_text("{}")
    old_file.write_bytes(b"z")
    week_ago = time.time() - 7 * 86400
    for p in (old_dir / "weights.json", old_dir, old_file):
        os.utime(p, (week_ago, week_ago))
    # a folder whose own mtime is old but holds a fresh file is in use
    in_use = tmp_path / "session-in-use"
    in_use.mkdir()
    (in_use / "new.json").write_text("{}")
    os.utime(in_use, (week_ago, week_ago))
    removed = clean_old(max_age_s=86400, root=tmp_path)
    assert sorted(p.name for p in removed) == ["calib.zip", "session-old"]
    assert fresh_dir.exists() and in_use.exists() and not old_dir.exists()


def test_a_zip_with_traversal_is_refused(secured, tmp_path):
    """The calibration upload unpacks a zip on the server: an entry climbing out is refused before
    anything is written."""
    import zipfile

    from gradio_client import handle_file

    archive = tmp_path / "calibration.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("00/mask.png", b"x")
        z.writestr("../../../escaped-by-zip.txt", b"owned")
    client = Client(secured["url"], auth=(USER, PASSWORD), verbose=False)
    with pytest.raises(AppError) as e:
        client.predict(handle_file(str(archive)), api_name="/calibrate")
    assert "calibration.zip" in str(e.value) and "unsafe path" in str(e.value)
    from geoviz.data.tempfiles import temp_root

    assert not list(temp_root().parent.glob("escaped-by-zip.txt")) and not list(temp_root().glob("**/escaped-by-zip.txt"))
