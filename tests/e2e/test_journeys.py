"""What a user does, in Chromium, on real photographs (``tests/photo_samples.py``): upload a sample,
diagnose, read each checkpoint's scale on its card and in the tables, and check that nothing on
screen, in weights.json or in the totals is wrong or stale — typing a weight, the arrow keys,
Recompute, the document's settings, Balance, a truncated checkpoint, a 6000² target, a dataset
that is already chosen, a second upload, a failed diagnosis."""

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support import ARTIFACTS

from geoviz.engine.weights import PRESETS

CARDS = """() => Array.from(document.querySelectorAll('#totals .total-card')).map(e => ({
  pred: e.dataset.pred, best: e.classList.contains('best'),
  total: parseFloat(e.querySelector('.total-value').innerText),
  scale: e.querySelector('.scale-value') ? e.querySelector('.scale-value').innerText : ''}))"""
TOTALS = "() => Array.from(document.querySelectorAll('#totals .total-card')).map(e => e.innerText).join(' | ')"


def _upload(page, folder: Path, preds=None) -> None:
    page.set_input_files("#context input[type=file]", str(folder / "context.png"))
    page.set_input_files("#target input[type=file]", str(folder / "target.png"))
    page.set_input_files("#mask input[type=file]", str(folder / "mask.png"))
    files = preds if preds is not None else sorted((folder / "pred").glob("*.png"))
    page.set_input_files("#preds input[type=file]", [str(p) for p in files])
    page.wait_for_timeout(600)


def _diagnose(page, expect: str) -> list[dict]:
    page.click("#diagnose")
    page.wait_for_function(f"() => ({TOTALS})().includes({expect!r})", timeout=180_000)
    return page.evaluate(CARDS)


def _scale(card: dict) -> float:
    m = re.match(r"scale (\d+\.\d+)", card["scale"])
    assert m, card
    return float(m.group(1))


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _download_weights(page) -> dict:
    with page.expect_download() as d:
        page.click("#config_out")
    return json.loads(Path(d.value.path()).read_text())


@pytest.fixture(scope="module")
def cup(tmp_path_factory):
    from photo_samples import insertion_case

    case = insertion_case("cup", (0.8, 1.0, 1.25), roundtrip_preds=True)
    folder = tmp_path_factory.mktemp("cup") / "cup_in_astronaut"
    case.write(folder)
    return folder, case


def test_an_inserted_object_on_a_photograph_reads_at_its_scale(page, cup):
    folder, case = cup
    page.wait_for_selector("#totals .total-value", timeout=90_000)
    _upload(page, folder)
    cards = _diagnose(page, "scale_1.25")
    assert [c["pred"] for c in cards] == list(case.predictions)
    for c in cards:  # the card says how big the object came out: within display rounding of the truth
        assert abs(_scale(c) - case.truth[c["pred"]]) <= 0.011, c
    assert next(c for c in cards if c["best"])["pred"] == "scale_1.00"
    notices = page.locator("#notices").inner_text()
    assert "sample target" in notices and "insertion" in notices and "weights object insertion" in notices
    assert "leak-free" in notices
    lines = [x.strip() for x in page.locator("#table").inner_text().split("\n") if x.strip()]
    row = lines[lines.index("estimated scale") + 1 : lines.index("estimated scale") + 1 + len(cards)]
    assert [float(v) for v in row] == pytest.approx([case.truth[c["pred"]] for c in cards], abs=0.006)
    # readouts that do not apply are not shown as answers: no tile period for a cup
    page.get_by_role("tab", name="Texture").click()
    page.wait_for_function("() => document.querySelector('#texture_md').innerText.includes('insertion sample')",
                           timeout=30_000)
    assert "tiles are" not in page.locator("#texture_md").inner_text()
    page.get_by_role("tab", name="Checkpoints").click()
    page.wait_for_function("() => (document.querySelector('#ckpt_scale .gtitle') || {}).textContent?.includes('Estimated scale')",
                           timeout=30_000)
    assert "estimated scale" in page.locator("#ckpt_table").inner_text()
    _shot(page, "journey_cup_checkpoints")


def test_a_material_on_a_photograph_gets_its_preset_and_period_ratio(page, tmp_path):
    from photo_samples import material_case

    case = material_case("brick", (0.8, 1.0, 1.25), roundtrip_preds=True)
    folder = tmp_path / "brick_wall"
    case.write(folder)
    page.wait_for_selector("#totals .total-value", timeout=90_000)
    _upload(page, folder)
    cards = _diagnose(page, "ratio_1.25")
    for c in cards:
        assert abs(_scale(c) - case.truth[c["pred"]]) <= 0.02, c
    assert page.locator("#preset input").input_value() == "material replacement"
    notices = page.locator("#notices").inner_text()
    assert "material" in notices and "weights material replacement" in notices
    # the texture terms weigh: the totals are not the insertion preset's texture-blind ones
    assert next(c for c in cards if c["best"])["pred"] == "ratio_1.00"
    assert max(c["total"] for c in cards) > 0
    page.get_by_role("tab", name="Texture").click()
    page.wait_for_function("() => document.querySelector('#texture_md').innerText.includes('Estimated period ratio')",
                           timeout=30_000)
    page.get_by_role("tab", name="Depth").click()
    assert "the size the depth" not in page.locator("#totals").inner_text()
    _shot(page, "journey_brick")


def test_typed_values_and_arrow_keys_reach_weights_json_and_the_preset_label(page):
    page.wait_for_selector("#totals .total-value", timeout=90_000)
    before = page.evaluate(TOTALS)
    box = page.locator("#w_latent_mse input[type=number]")
    box.fill("0.33")
    box.press("Enter")
    page.wait_for_function(f"() => ({TOTALS})() !== {before!r}", timeout=30_000)
    page.wait_for_function("() => document.querySelector('#preset input').value === 'custom'", timeout=30_000)
    assert _download_weights(page)["weights"]["latent_mse"] == pytest.approx(0.33)
    slider = page.locator("#w_latent_dice input[type=range]")
    slider.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    shown = float(page.locator("#w_latent_dice input[type=number]").input_value())
    step = float(slider.get_attribute("step"))
    assert shown == pytest.approx(PRESETS["object insertion"]["latent_dice"] + 2 * step)
    page.wait_for_timeout(1500)
    saved = _download_weights(page)["weights"]
    assert saved["latent_dice"] == pytest.approx(shown) and saved["latent_mse"] == pytest.approx(0.33)
    # a preset puts the label and the file back
    page.locator("#preset input").click()
    page.get_by_role("option", name="object insertion").click()
    page.wait_for_function("() => document.querySelector('#preset input').value === 'object insertion'", timeout=30_000)
    page.wait_for_timeout(1500)
    assert _download_weights(page)["weights"] == pytest.approx(PRESETS["object insertion"])


def test_recompute_with_nothing_changed_changes_nothing_and_the_document_is_one_click(page):
    import geoviz.app.page as ui

    page.wait_for_selector("#totals .total-value", timeout=90_000)
    page.get_by_role("tab", name="Params").click()
    assert page.locator("#p_change_mask_roi_r input, #p_change_mask_roi_r textarea").first.input_value() == ""
    assert page.locator("#p_change_mask_s_min input, #p_change_mask_s_min textarea").first.input_value() == "0.05"
    before = page.evaluate(CARDS)
    calls = ui.ACTIVITY["calls"]
    page.click("#recompute")
    for _ in range(60):  # the recompute ran (the server counted it) and finished
        page.wait_for_timeout(250)
        if ui.ACTIVITY["calls"] > calls and ui.ACTIVITY["running"] == 0:
            break
    page.wait_for_timeout(800)
    assert ui.ACTIVITY["calls"] > calls
    assert page.evaluate(CARDS) == before
    assert page.locator("#p_change_mask_roi_r input, #p_change_mask_roi_r textarea").first.input_value() == ""
    # "as in the document": one click, and its measured bias in words
    page.locator("#settings").get_by_label("as in the document").check()
    page.wait_for_function("() => document.querySelector('#notices').innerText.includes('as in the document')",
                           timeout=120_000)
    assert page.evaluate(CARDS) != before
    assert "leaks" in page.locator("#settings_md").inner_text()
    page.locator("#settings").get_by_label("leak-free").check()
    page.wait_for_function("() => document.querySelector('#notices').innerText.includes('leak-free')", timeout=120_000)
    for _ in range(120):  # the leak-free totals again, exactly
        if page.evaluate(CARDS) == before:
            break
        page.wait_for_timeout(250)
    assert page.evaluate(CARDS) == before


def test_balance_on_a_photograph_stays_bounded_and_is_saved(page, cup):
    folder, _ = cup
    page.wait_for_selector("#totals .total-value", timeout=90_000)
    _upload(page, folder)
    _diagnose(page, "scale_1.25")
    page.get_by_role("tab", name="Sensitivity").click()
    before = page.evaluate(TOTALS)
    page.click("#balance")
    page.wait_for_function(f"() => ({TOTALS})() !== {before!r}", timeout=60_000)
    page.wait_for_function("() => document.querySelector('#balance_md').innerText.includes('Undo')", timeout=30_000)
    page.wait_for_timeout(1500)
    saved = _download_weights(page)["weights"]
    preset = PRESETS["object insertion"]
    for t, w in preset.items():
        if w:
            assert w / 10 - 1e-9 <= saved[t] <= w * 10 + 1e-9, (t, saved[t])
    for t in ("latent_mse", "latent_dice", "latent_area", "latent_boundary"):  # the open family's sliders
        shown = float(page.locator(f"#w_{t} input[type=number]").input_value())
        assert shown == pytest.approx(saved[t], rel=1e-3, abs=1e-3), t
    assert all(c["total"] >= 0 for c in page.evaluate(CARDS))
    assert page.locator("#preset input").input_value() == "custom"


def test_a_truncated_checkpoint_is_skipped_and_the_others_diagnosed(page, cup, tmp_path):
    folder, case = cup
    broken = tmp_path / "scale_0.95.png"
    broken.write_bytes((folder / "pred" / "scale_1.25.png").read_bytes()[:3000])
    page.wait_for_selector("#totals .total-value", timeout=90_000)
    _upload(page, folder, preds=[*sorted((folder / "pred").glob("*.png")), broken])
    cards = _diagnose(page, "scale_1.25")
    assert [c["pred"] for c in cards] == list(case.predictions)
    notices = page.locator("#notices").inner_text()
    assert "scale_0.95" in notices and "left out" in notices


def test_a_6000px_target_among_512px_files_is_brought_down(page, tmp_path):
    from photo_samples import insertion_case

    case = insertion_case("logo", scales=(0.9, 1.0, 1.1), roundtrip_preds=True)
    folder = tmp_path / "logo"
    case.write(folder)
    big = Image.open(folder / "target.png").resize((6000, 6000), Image.BICUBIC)
    (folder / "target.png").unlink()
    big.save(folder / "logo_on_cat.jpg", quality=95)  # the sample is named after the target's stem
    page.wait_for_selector("#totals .total-value", timeout=90_000)
    page.set_input_files("#context input[type=file]", str(folder / "context.png"))
    page.set_input_files("#target input[type=file]", str(folder / "logo_on_cat.jpg"))
    page.set_input_files("#mask input[type=file]", str(folder / "mask.png"))
    page.set_input_files("#preds input[type=file]", [str(p) for p in sorted((folder / "pred").glob("*.png"))])
    page.wait_for_timeout(600)
    cards = _diagnose(page, "scale_1.10")
    notices = page.locator("#notices").inner_text()
    assert "6000×6000 resized down to 512×512" in notices and "image 512×512" in notices
    assert "sample logo_on_cat" in notices
    for c in cards:
        assert abs(_scale(c) - case.truth[c["pred"]]) <= 0.02, c


def test_a_second_upload_of_predictions_replaces_the_first(page, cup):
    folder, _ = cup
    page.wait_for_selector("#totals .total-value", timeout=90_000)
    files = sorted((folder / "pred").glob("*.png"))
    page.set_input_files("#preds input[type=file]", [str(p) for p in files[:2]])
    page.wait_for_timeout(1500)
    page.set_input_files("#preds input[type=file]", [str(p) for p in files[2:]])
    page.wait_for_function("() => !document.querySelector('#preds').innerText.includes('0.80')", timeout=30_000)
    listed = page.locator("#preds").inner_text().replace("\n", "")
    assert "scale_1.25" in listed and "scale_1.00" not in listed
    # the names are shown whole (Gradio's own style cut them to "scale….png")
    cut = page.evaluate("() => Array.from(document.querySelectorAll('#preds .filename .stem'))"
                        ".filter(e => e.scrollWidth > e.clientWidth + 1).length")
    assert cut == 0


def test_a_failed_diagnosis_marks_the_results_it_left(page):
    page.wait_for_selector("#totals .total-value", timeout=90_000)
    before = page.evaluate(TOTALS)
    page.set_input_files("#context input[type=file]", str(Path(__file__).resolve().parents[2] / "assets" / "insert_box" / "context.png"))
    page.click("#diagnose")  # no target: refused
    page.wait_for_function("() => document.querySelector('#notices').innerText.includes('The last Diagnose failed')",
                           timeout=60_000)
    assert "insert_box" in page.locator("#notices").inner_text()
    assert page.evaluate(TOTALS) == before


def test_a_preselected_dataset_loads_lists_what_it_left_out_and_opens_a_row(page):
    page.wait_for_selector("#totals .total-value", timeout=90_000)
    page.get_by_role("tab", name="Datasets").click()
    page.wait_for_function("() => document.querySelector('#dataset_table').innerText.includes('logo_in_chelsea') && "
                           "document.querySelector('#dataset_md').innerText.includes('Left out')", timeout=180_000)
    md = page.locator("#dataset_md").inner_text()
    assert "Left out" in md and "notes: no target image" in md and "coin_in_camera" in md and "left out" in md
    assert "estimated scale" in page.locator("#dataset_table").inner_text()
    cell = page.locator('#dataset_table [data-testid="cell-0-0"]')  # the worst row's sample cell
    sample = cell.inner_text().strip()
    cell.click()
    page.wait_for_function(f"() => ({TOTALS})().includes('scale_1.25') && "
                           f"document.querySelector('#notices').innerText.includes({sample!r})", timeout=180_000)
    page.wait_for_function("() => Array.from(document.querySelectorAll('[role=tab]')).some("
                           "t => t.innerText.trim() === 'Overview' && t.getAttribute('aria-selected') === 'true')",
                           timeout=30_000)
    page.wait_for_timeout(500)
    top = page.evaluate("() => document.querySelector('#totals').getBoundingClientRect().top")
    assert -5 <= top <= 200  # scrolled to the results
    _shot(page, "journey_dataset_opened")
    cards = page.evaluate(CARDS)
    for c in cards:
        assert abs(_scale(c) - float(c["pred"].split("_")[1])) <= 0.02


def test_two_sessions_browsing_one_dataset_keep_their_own_totals():
    """``dataset_rows`` once wrote each caller's totals into rows cached for everyone."""
    import threading

    from geoviz.analysis.datasets import dataset_rows
    from geoviz.data.layouts import dataset_folder

    root = Path(os.environ["GEOVIZ_E2E_DATA_ROOT"]).resolve()  # this process's server's data root
    folder = dataset_folder(root, "photos")
    weights = [{"latent_mse": 1.0}, {"latent_mse": 1000.0}]
    results: dict[int, list[dict]] = {}

    def browse(i):
        for _ in range(5):
            rows, _, _ = dataset_rows(folder, weights[i], root=root)
            results.setdefault(i, []).append(rows)

    threads = [threading.Thread(target=browse, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, w in enumerate(weights):
        for rows in results[i]:
            for r in rows:
                want = w["latent_mse"] * r["latent_mse"] if r["latent_mse"] is not None else 0.0
                assert math.isclose(r["total"], want, rel_tol=1e-12), (i, r["sample"], r["total"], want)
    assert np.isfinite([r["total"] for r in results[0][0]]).all()
