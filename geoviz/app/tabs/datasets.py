"""The Datasets tab: the datasets under the server's ``--data-root``, every sample × checkpoint
sorted worst first (values from the CLI's results.csv when present), and a click opens that sample's
diagnosis. ``views`` is plain Python; ``build`` and ``wire`` put it on the page."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd
from PIL import Image

import geoviz.report.figures as FG
from geoviz.analysis.datasets import dataset_rows
from geoviz.app.labels import TERM_LABELS, esc
from geoviz.app.page import FOCUS, Page
from geoviz.app.sessions import file_stem, session_of_spec, weights_from_values
from geoviz.app.state import Focus, Session
from geoviz.data.layouts import dataset_folder, datasets_under, list_dataset
from geoviz.data.readers import InputError
from geoviz.data.tempfiles import new_temp_dir
from geoviz.engine.terms import REGISTRY

__all__ = ["ID", "TITLE", "VIEWS", "LAZY", "views", "build", "wire", "shown", "dataset_views", "dataset_table",
           "shown_table", "dataset_gallery", "dataset_chart"]

ID, TITLE, LAZY = "datasets", "Datasets", False
VIEWS: dict[str, tuple[str, ...]] = {}  # its views follow the dataset chosen, not the session


def shown(page: Page) -> bool:
    """The tab is on the page only when the server has a data root."""
    return page.data_root is not None


def views(session: Session, focus: Focus, kinds) -> dict:
    """None of the session's: see :func:`dataset_views`."""
    return {}


def dataset_table(rows: list[dict], sort: str) -> pd.DataFrame:
    """Rows (sample × checkpoint) with every term's raw value (columns by term id, as ``results.csv``),
    sorted by ``sort`` (a term or ``total``), worst first."""
    cols = ["sample", "checkpoint", "total", "estimated scale", *REGISTRY]
    df = pd.DataFrame([{c: r.get(c) for c in cols} for r in rows], columns=cols)
    key = sort if sort in df.columns else "total"
    return df.sort_values(key, ascending=False, na_position="last").reset_index(drop=True).round(5)


SHOWN_COLUMNS = ["sample", "checkpoint", "total", "estimated scale", "largest term"]


def shown_table(df: pd.DataFrame, sort: str, weights: dict[str, float]) -> pd.DataFrame:
    """What the tab's table shows of :func:`dataset_table`: sample, checkpoint, total, estimated scale,
    the term sorted by (its raw value, under its label) and the weighted term that makes most of each
    total: six columns that fit the pane (every term's value is in the CSV beside it)."""
    out = df[["sample", "checkpoint", "total", "estimated scale"]].copy()
    if sort in REGISTRY:
        out[TERM_LABELS[sort]] = df[sort]

    def largest(row) -> str:
        parts = {t: weights.get(t, 0.0) * row[t] for t in REGISTRY if pd.notna(row[t]) and weights.get(t, 0.0)}
        top = max(parts, key=lambda t: abs(parts[t]), default=None)
        if top is None:
            return "—"
        return f"{TERM_LABELS[top]} ({100 * parts[top] / row['total']:.0f}%)" if row["total"] else TERM_LABELS[top]

    out["largest term"] = [largest(r) for _, r in df.iterrows()] if len(df) else []
    return out


def dataset_gallery(folder: Path, df: pd.DataFrame, sort: str, limit: int = 48, root: Path | None = None) -> list:
    """Thumbnails of the predictions in the table's order (worst first), captioned."""
    specs, _ = list_dataset(folder, confine_to=root)
    paths = {(sp.name, ck): p for sp in specs for ck, p in sp.predictions.items()}
    items = []
    for _, r in df.head(limit).iterrows():
        p = paths.get((r["sample"], r["checkpoint"]))
        if p is None:
            continue
        with Image.open(p) as im:
            im = im.convert("RGB")
            im.thumbnail((160, 160))
            items.append((im.copy(), f"{r['sample']} · {r['checkpoint']} · {sort} {r.get(sort, r['total']):.4g}"))
    return items


def dataset_chart(rows: list[dict]) -> dict:
    """A box plot of the weighted total per checkpoint over the dataset (a plotly dict)."""
    cks = sorted({r["checkpoint"] for r in rows}, key=lambda c: (FG.step_of(c), c))
    data = [{"type": "box", "name": ck, "y": [r["total"] for r in rows if r["checkpoint"] == ck], "boxpoints": "all"}
            for ck in cks]
    return {"data": data, "layout": FG.chart_layout("Total per checkpoint over the dataset", showlegend=False)}


def dataset_views(root: Path, name: str, sort: str, weights: dict[str, float], progress=None) -> dict:
    """``ds_table``, ``ds_chart``, ``ds_md`` and ``ds_gallery`` of the dataset ``name`` under ``root``."""
    folder = dataset_folder(root, name)
    rows, source, left_out = dataset_rows(folder, weights, progress, root=root)
    df = dataset_table(rows, sort)
    md = (f"**{esc(name)}** · {len({r['sample'] for r in rows})} samples × {len({r['checkpoint'] for r in rows})} "
          f"checkpoints · values {source} · totals at the weights when it was loaded")
    if left_out:
        md += f"\n\n**Left out ({len(left_out)})**\n\n" + "\n".join(f"- {esc(x)}" for x in left_out)
    csv = new_temp_dir("dataset-") / f"{file_stem(name)}-geoviz.csv"
    df.to_csv(csv, index=False)
    return {"ds_table": shown_table(df, sort, weights), "ds_chart": dataset_chart(rows), "ds_md": md,
            "ds_gallery": dataset_gallery(folder, df, sort, root=root), "ds_csv": str(csv)}


def build(page: Page) -> None:
    """The dataset and sort choices, the summary, the gallery, the table and the chart."""
    gr.Markdown("Datasets under the server's `--data-root` (layout of `python -m geoviz evaluate`; a `results.csv` "
                "from the CLI is reused). Click a row to open that sample.")
    with gr.Row():
        page.add("ds_name", gr.Dropdown(datasets_under(page.data_root), label="dataset", elem_id="dataset",
                                        allow_custom_value=True))  # checked against the disk in the handler
        page.add("ds_sort", gr.Dropdown([("weighted total", "total"), *[(TERM_LABELS[t], t) for t in REGISTRY]],
                                        value="total", label="sort by (worst first)", elem_id="dataset_sort"))
    page.add("ds_md", gr.Markdown(elem_id="dataset_md"))
    page.add("ds_gallery", gr.Gallery(label="predictions, worst first (click to open)", columns=6, height=300,
                                      elem_id="dataset_gallery", allow_preview=False))
    page.add("ds_table", gr.Dataframe(pd.DataFrame(columns=SHOWN_COLUMNS), interactive=False, elem_id="dataset_table",
                                      wrap=True))  # its real headers before a dataset is chosen
    page.add("ds_csv", gr.DownloadButton("Download the full table (.csv: every term's value)", elem_id="dataset_csv",
                                         size="sm"))
    page.add("ds_chart", gr.Plot(show_label=False))


def wire(page: Page) -> None:
    """Choosing a dataset or a sort (or opening the tab) loads it; a click on a row or thumbnail opens that sample."""
    root, outputs, weights = page.data_root, ["ds_table", "ds_chart", "ds_md", "ds_gallery", "ds_csv"], page.weight_names()

    def on_dataset(v, progress):
        if root is None or not v.ds_name:
            return {}
        # a later choice in this browser wins: a slow dataset opened first must not overwrite it
        asked = v.ds_asked
        asked["n"] = mine = asked.get("n", 0) + 1
        shown = dataset_views(root, v.ds_name, v.ds_sort, weights_from_values(v.weights()), progress)
        return shown if asked["n"] == mine else {}

    def on_tab(v, evt, progress):  # a dataset already chosen when the tab opens loads then
        loaded = v.ds_table is not None and len(pd.DataFrame(v.ds_table)) > 0
        if str(evt.value) != TITLE or loaded:
            return {}
        return on_dataset(v, progress)

    def on_open(v, evt, progress):
        if root is None or not v.ds_name or evt is None:
            return {}
        df = v.ds_table if isinstance(v.ds_table, pd.DataFrame) else pd.DataFrame(v.ds_table)
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index  # table cell or gallery item
        row = df.iloc[int(index)]
        specs, _ = list_dataset(dataset_folder(root, v.ds_name), confine_to=root)
        spec = next((sp for sp in specs if sp.name == row["sample"]), None)
        if spec is None:
            raise InputError(str(row["sample"]), "is no longer in the dataset", "reload the dataset")
        new = session_of_spec(spec, str(row["checkpoint"]), v.state, v.device, v.weights(), page.models_from(), progress,
                              gr.Warning)
        return {"state": new, **page.compose(new, v.focus(), ["session", "weights", "restore", "weighted"])}

    page.add("ds_asked", gr.State({}))  # how many dataset loads this browser asked for (the last one shows)
    chosen = ["ds_name", "ds_sort", "ds_asked", *weights]
    page.on([page["ds_name"].input, page["ds_sort"].input], on_dataset, chosen, outputs, special=("progress",),
            api_name="dataset", compute=True)  # its API parameters: name, sort, then the weights
    page.on(page["main_tabs"].select, on_tab, [*chosen, "ds_table"], outputs, special=("evt", "progress"), compute=True)
    opened = page.on([page["ds_table"].select, page["ds_gallery"].select], on_open,
                     ["state", "ds_name", "ds_table", "device", *FOCUS[1:], *weights], page.restorable(),
                     special=("evt", "progress"), compute=True)
    page.show_opened(opened)
