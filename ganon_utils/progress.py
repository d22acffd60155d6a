"""Progress bars: Jupyter widgets when ipywidgets is installed, plain text otherwise.

``tqdm.auto`` picks the widget bar inside a notebook and warns ("IProgress not found") when ipywidgets
is missing; the text bar works everywhere and renders in the HTML reports, so it is the fallback.
"""

from __future__ import annotations

from importlib.util import find_spec

if find_spec("ipywidgets") is not None:
    from tqdm.auto import tqdm
else:
    from tqdm.std import tqdm

__all__ = ["tqdm"]
