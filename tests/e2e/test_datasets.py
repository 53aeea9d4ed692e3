"""Datasets under --data-root: the table of samples × checkpoints (worst first), the CLI's CSV
reused, and a click on a row opening that sample's diagnosis."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
from gradio_client import Client
from test_api import call

from geoviz.app.labels import TERM_LABELS
from geoviz.cli import main
from geoviz.engine.terms import REGISTRY


def _data_root(app_url) -> Path:
    """The data root of the server this process started (another run's /tmp folders are not it)."""
    import os

    assert "GEOVIZ_E2E_DATA_ROOT" in os.environ, "the e2e fixture's data root"
    return Path(os.environ["GEOVIZ_E2E_DATA_ROOT"])


def test_dataset_table_sorted_and_csv_reused(app_url, tmp_path):
    client = Client(app_url, verbose=False)
    call(client, "/load_demo")
    table, chart, md, gallery, csv = call(client, "/dataset", name="synthetic", sort="total")
    assert len(gallery) == 12 and "sample_" in gallery[0]["caption"]
    rows = table["data"]
    headers = table["headers"]
    totals = [r[headers.index("total")] for r in rows]
    assert len(rows) == 4 * 3 and totals == sorted(totals, reverse=True)
    assert "computed on open" in md
    full = pd.read_csv(csv)  # every term's value, by term id (what results.csv holds)
    assert set(REGISTRY) <= set(full.columns) and list(full["total"]) == pytest.approx(totals, rel=1e-6)
    assert all(h in ("sample", "checkpoint", "total", "estimated scale", "largest term") for h in headers)
    by_area = call(client, "/dataset", name="synthetic", sort="latent_area")[0]
    col = by_area["headers"].index(TERM_LABELS["latent_area"])  # the sorted term's column, under its label
    assert [r[col] for r in by_area["data"]] == sorted((r[col] for r in by_area["data"]), reverse=True)
    # a results.csv from the CLI is read instead of computing
    root = _data_root(app_url)
    copy = root / "with_csv"
    shutil.copytree(root / "synthetic", copy)
    assert main(["evaluate", str(copy), "--out", str(copy / "results.csv"), "--device", "cpu", "--workers", "0", "--quiet"]) == 0
    table2, _, md2, _, _ = call(client, "/dataset", name="with_csv", sort="total")
    assert "from results.csv" in md2
    t2 = sorted(r[table2["headers"].index("total")] for r in table2["data"])
    assert t2 == pytest.approx(sorted(totals), rel=1e-4)
    with pytest.raises(Exception, match="not a dataset"):
        call(client, "/dataset", name="../../etc", sort="total")


def test_click_a_row_opens_the_sample(page):
    page.wait_for_selector("#totals .total-value", timeout=60_000)
    page.get_by_role("tab", name="Datasets").click()
    page.locator("#dataset input").click()
    page.get_by_role("option", name="synthetic").click()
    # the worst row's sample cell holds the chosen dataset's sample (the table text can show the new
    # rows while the first cell still holds the dataset the tab opened on)
    page.wait_for_function("() => (document.querySelector('#dataset_table [data-testid=\"cell-0-0\"]')?.innerText || '')"
                           ".trim().startsWith('sample_')", timeout=120_000)
    cell = page.locator('#dataset_table [data-testid="cell-0-0"]')
    sample = cell.inner_text().strip()
    checkpoint = page.locator('#dataset_table [data-testid="cell-0-1"]').inner_text().strip()
    cell.click()
    page.wait_for_function("() => document.querySelector('#totals').innerText.includes('ckpt_1000')", timeout=120_000)
    assert sample.startswith("sample_") and checkpoint.startswith("ckpt_"), (sample, checkpoint)
    page.wait_for_function(f"() => document.querySelector('#inspect input').value === {checkpoint!r}", timeout=30_000)
    assert page.locator("#totals .total-card").count() == 3
