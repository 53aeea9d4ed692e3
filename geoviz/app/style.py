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
"""
