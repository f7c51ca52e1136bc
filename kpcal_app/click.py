"""The click component, served so that its first render cannot lose the image.

Registered from ``app.py`` on every run, before any page draws the component.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

CLICK_COMPONENT = "streamlit_image_coordinates.streamlit_image_coordinates"
# Our page for the click component: the image element first, then the component's own
# scripts (from the installed package), so they never run before the image exists.
CLICK_INDEX_HTML = """<!DOCTYPE html>
<html lang="en">
  <head><meta charset="UTF-8" /><link rel="stylesheet" href="./style.css" /></head>
  <body>
    <div id="image-container"><img id="image" draggable="false" /></div>
    <script src="./streamlit-component-lib.js"></script>
    <script src="./main.js"></script>
  </body>
</html>
"""


def use_fixed_click_frontend() -> None:
    """Serve the click component with its scripts loaded after its image element.

    streamlit-image-coordinates 0.4.1 loads its scripts in ``<head>`` and reports
    "ready" before its ``<img>`` exists; on a busy browser or server its first
    render then fails on a null element and the view stays blank (seen in the
    five-session load test). The fix is assembled at run time in the state
    folder (:func:`kpcal_core.statedir.state_dir`) from the installed package's
    own files plus the page above, and registered under the same component name (the iframe keeps its title).
    Only for that version.
    """
    import streamlit_image_coordinates
    from streamlit import runtime
    from streamlit.components.v1.custom_component import CustomComponent

    from kpcal_core.atomic import atomic_write
    from kpcal_core.statedir import state_dir

    try:
        version = importlib.metadata.version("streamlit-image-coordinates")
    except importlib.metadata.PackageNotFoundError:
        return
    if version != "0.4.1" or not runtime.exists():
        return
    folder = state_dir() / f"click-frontend-{version}"
    registry = runtime.get_instance().component_registry
    if registry.get_component_path(CLICK_COMPONENT) == str(folder):
        return
    installed = Path(streamlit_image_coordinates.__file__).parent / "frontend"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("main.js", "streamlit-component-lib.js", "style.css"):
        if not (folder / name).exists():  # sessions start at once: each write is atomic
            atomic_write(folder / name, (installed / name).read_bytes())
    atomic_write(folder / "index.html", CLICK_INDEX_HTML)
    registry.register_component(
        CustomComponent(
            name=CLICK_COMPONENT, path=str(folder), module_name="streamlit_image_coordinates"
        )
    )
