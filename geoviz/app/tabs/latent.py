"""The Latent geometry tab (002): the soft change mask against the target mask, the signed distance
map, the boundary band and the weighted-MSE weight map of the inspected prediction; and what its
TAEF1 latents decode to. ``views`` is plain Python; ``build`` puts it on the page."""

from __future__ import annotations

import gradio as gr

import geoviz.report.figures as FG
from geoviz.app.labels import fmt
from geoviz.app.page import Page
from geoviz.app.state import Focus, Session, Update
from geoviz.models.choice import cached_model, resolve_device
from geoviz.models.encoders import images_to_tensor

__all__ = ["ID", "TITLE", "VIEWS", "LAZY", "views", "build", "wire", "decoded_latents"]

ID, TITLE, LAZY = "latent", "Latent", False  # short: ten tab names fit one row
VIEWS = {"prediction": ("latent_md", "m_hat", "m_target", "sdm", "band", "weight_map", "decoded")}


def decoded_latents(session: Session, pred: str):
    """The prediction's TAEF1 latents decoded back to an image ``[H, W, 3]`` (when TAEF1 with a
    decoder is in use), else None."""
    if session.models is None or session.models.latents != "TAEF1" or session.report.encoder != "taef1":
        return None
    enc = cached_model("taef1", session.models.taef1_weights, str(resolve_device(session.device)))
    if getattr(enc, "decoder", None) is None:
        return None
    z = enc.encode(images_to_tensor(session.sample.predictions[pred]))
    return enc.decode(z)[0].permute(1, 2, 0).numpy()


def summary_md(ex: dict, res: dict) -> str:
    """The tab's headline: latent source, the change mask's τ and s, the 002 values and leakage."""
    dice, area, bnd = res["latent_dice"], res["latent_area"], res["latent_boundary"]
    src = "**proxy latents**" if ex.get("latent_source") == "proxy" else f"latents: {ex.get('latent_source')}"
    leaks = ex["leakage_share_of_target"] > 0.2
    return (f"{src} · τ = {ex['tau']:.4g}, s = {ex['s']:.4g} (σ_bg = {ex['std_bg']:.3g}) · Dice loss {fmt(dice.value)}"
            f" · area loss {fmt(area.value)} (ΣM̂/ΣM = {ex['area_ratio']:.3f}) · boundary {fmt(bnd.value)}\n\n"
            f"Background leakage: mean M̂ over the sure background = **{ex['leakage_mean']:.3f}**, "
            f"{100 * ex['leakage_share_of_target']:.0f}% of the target's area"
            + (" — the change mask leaks; try temperature 0.25 and s_min 0.05 (Params)" if leaks else ""))


def views(session: Session, focus: Focus, kinds) -> dict:
    """The tab's views of ``focus.pred`` (kind ``prediction``): ``latent_md`` and five figures, and
    ``decoded`` (shown only when TAEF1 latents decode)."""
    if "prediction" not in kinds:
        return {}
    pred = focus.pred_in(session)
    res = session.report.results[pred]
    ex, bnd = res["latent_dice"].extras, res["latent_boundary"]
    decoded = decoded_latents(session, pred)
    return {
        "latent_md": summary_md(ex, res),
        "m_hat": FG.map_figure(ex["m_hat"], title="soft change mask M̂", zmin=0, zmax=1, colorscale="Viridis"),
        "m_target": FG.map_figure(ex["mask_latent"], title="target mask (latent)", zmin=0, zmax=1, colorscale="Viridis"),
        "sdm": FG.map_figure(bnd.extras["sdm"], title="signed distance map φ (0 contour)", symmetric=True,
                             colorscale=FG.DIVERGING, contour_zero=True),
        "band": FG.overlay_figure(session.prediction_image(pred), bnd.extras["boundary_band"], opacity=0.7, zmin=0,
                                  zmax=1, title="boundary band over the prediction", colorscale="Viridis"),
        "weight_map": FG.map_figure(res["latent_mse"].extras["weight_map"], title="weighted-MSE weight map W",
                                    colorscale="Viridis"),
        "decoded": Update.of(decoded, visible=decoded is not None),
    }


def build(page: Page) -> None:
    """The headline, five figures and the decoded image."""
    page.add("latent_md", gr.Markdown(elem_id="latent_md"))
    with gr.Row():
        page.add("m_hat", gr.Plot(show_label=False))
        page.add("m_target", gr.Plot(show_label=False))
    with gr.Row():
        page.add("sdm", gr.Plot(show_label=False))
        page.add("band", gr.Plot(show_label=False))
    page.add("weight_map", gr.Plot(show_label=False))
    page.add("decoded", gr.Image(label="what the prediction's latents decode to (TAEF1 decoder)", visible=False,
                                 elem_id="decoded", height=300))


def wire(page: Page) -> None:
    """Nothing of its own: its views follow the inspected prediction."""
