"""What leaves the engine for people: figures as plotly dicts and colour-mapped images (``figures``),
bundles, the HTML report and the saved-session store (``session``).
"""

__all__: list[str] = []
