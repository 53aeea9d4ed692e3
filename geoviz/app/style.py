"""The dashboard's CSS (Gradio 6 takes it at launch): ``CSS``."""

__all__ = ["CSS"]

CSS = """
#totals .total-card {display:inline-block; margin:4px 10px 4px 0; padding:6px 12px; border-radius:8px;
  background:var(--block-background-fill); border:1px solid var(--border-color-primary)}
#totals .total-card b {font-size:1.25em} #totals .best {border-color:#2CA02C; box-shadow:0 0 0 1px #2CA02C}
#notices {font-size:0.9em}
#totals .scale-value {font-weight:600}
/* file lists: whole names (Gradio cuts the stem to "step_….png", and every checkpoint then reads alike) */
.file-preview .filename {display:block; overflow:visible; overflow-wrap:anywhere}
.file-preview .filename .stem, .file-preview .filename .ext {display:inline; white-space:normal; overflow:visible; text-overflow:clip}
/* the checkpoints' thumbnails: whole names in a small caption (Gradio cuts them at 80 % with "…") */
#thumbs .caption-label {max-width:100%; font-size:10px; padding:1px 4px; white-space:normal; overflow-wrap:anywhere}
/* two columns that fit the narrow pane (Gradio's minimum of 100 px a column overflows it) */
#thumbs .grid-container {grid-template-columns:repeat(2, minmax(0, 1fr)); grid-auto-rows:auto; gap:6px}
/* a box only scripts write (the run charts' clicks reach the server through it) */
.geoviz-bridge {display:none !important}
/* the eleven tabs in one row at 1280 px (Gradio's 16 px each side put the last two behind a "…" menu) */
#main_tabs .tab-wrapper > .tab-container > button {padding:0 9px}
"""
