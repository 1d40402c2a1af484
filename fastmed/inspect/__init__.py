"""``fastmed inspect``: look at what a pipeline does to a volume (a PNG montage).

>>> from fastmed.inspect import inspect_pipeline
>>> inspect_pipeline("series_folder/", "r3d", "inspect.png", n=4, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

from fastmed.inspect.caption import caption, op_caption
from fastmed.inspect.run import inspect_pipeline
from fastmed.inspect.source import InspectInput, load_input, load_pipeline

__all__ = ["InspectInput", "caption", "inspect_pipeline", "load_input", "load_pipeline", "op_caption"]
