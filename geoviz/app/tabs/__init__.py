"""One module per dashboard tab: pure ``views`` (tested without Gradio) and what they need.
"""

__all__: list[str] = []
