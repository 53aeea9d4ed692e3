"""The dashboard, the only package that imports Gradio: one session's state (``state``), the tabs
(``tabs``), shared components (``components``), the page and its server (``dashboard``).
"""

__all__: list[str] = []
