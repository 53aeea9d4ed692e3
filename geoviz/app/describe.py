"""Sentences about a session, shared by the panels and tabs that show them (no Gradio)."""

from __future__ import annotations

from geoviz.app.labels import esc
from geoviz.app.state import Session
from geoviz.engine.terms import resolve_params, settings_of
from geoviz.engine.weights import preset_matching

__all__ = ["scale_label", "scale_title", "settings_text", "notices_md", "failed_notice"]


def scale_label(readout) -> str:
    """What a card says of a prediction's scale: ``"scale 1.00"``, or ``"scale ?"`` when declined."""
    return "scale —" if readout is None else readout.short()


def scale_title(readout) -> str:
    """The card's tooltip: the method, or why the scale was declined."""
    if readout is None:
        return ""
    return readout.method if readout.estimate is not None else f"no scale: {readout.reason}"


def settings_text(params: dict) -> str:
    """Which change-mask settings are in force, in words."""
    name = settings_of(params)
    cm = resolve_params(params)["change_mask"]
    values = f"temperature {cm['temperature']:g}, s_min {'off' if cm['s_min'] is None else format(cm['s_min'], 'g')}, " \
             f"reference {cm['reference']}"
    if name == "leak-free":
        return f"change mask **leak-free** ({values})"
    if name == "as in the document":
        return f"change mask **as in the document** ({values}) — it leaks onto the background and reads objects too large"
    return f"change mask **custom** ({values})"


def notices_md(session: Session) -> str:
    """Markdown: what is diagnosed (sample, kind, weights preset, change-mask settings, device, sizes),
    then every notice of the report (resizes, skipped files, models…)."""
    r = session.report
    dev = r.device.upper() if r.device != "cpu" else "CPU"
    kind = f"**{r.kind}** ({r.kind_reason})"
    preset_name = preset_matching(session.effective_weights())
    items = [f"sample **{esc(r.sample_name)}** · {kind} · weights **{preset_name}** · {settings_text(r.params)}",
             f"device **{dev}** · image {r.image_size[1]}×{r.image_size[0]} · latents {r.latent_size[1]}×{r.latent_size[0]}"]
    items += [f"⚠ {esc(n)}" for n in r.notices]
    if session.notes:  # a shared session's notes come first: they say what to look at
        items.insert(0, f"📝 **Notes from whoever shared this session:** {esc(session.notes)}")
    head = 3 if session.notes else 2  # paragraphs; the notices after them are a list
    return "\n\n".join(items[:head]) + ("\n\n" + "\n".join(f"- {n}" for n in items[head:]) if len(items) > head else "")


def failed_notice(session: Session | None) -> str:
    """After a failed Diagnose: the results on screen are the previous ones; say so at the top."""
    if session is None:
        return "⚠ **The last Diagnose failed** (the message says why); nothing is diagnosed yet."
    return (f"⚠ **The last Diagnose failed** (the message says why): the results below are still those of "
            f"**{esc(session.report.sample_name)}**.\n\n" + notices_md(session))
