"""The click view: streamlit-image-coordinates' frontend, declared as our own component.

:func:`click_image` shows an image and reports a click on it, with the
frontend of ``streamlit-image-coordinates`` (its ``main.js``, unchanged)
served from a folder assembled at run time (:func:`frontend_folder`) with
our own ``index.html``, declared through Streamlit's public
``components.v1.declare_component``. Our page differs from the package's in
two ways:

* the image element comes before the scripts: 0.4.1 loads its scripts in
  ``<head>`` and says "ready" before its ``<img>`` exists, so on a busy
  browser its first render can fail on a null element and stay blank;
* the image is sized to the window: as wide as the column allows, but never
  taller than the window below the image's top (the whole view above the
  fold), always a whole number of pixels wide. A click reports that width,
  and :meth:`kpcal_core.views.CropView.to_frame` maps the click with it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.util
import io
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import streamlit as st
import streamlit.components.v1 as components
from PIL import Image

from kpcal_core import statedir

NAME = "kpcal_click"
# What the browser shows as the component's iframe title (Streamlit names a declared
# component after the declaring module).
IFRAME_TITLE = f"{__name__}.{NAME}"
PACKAGE = "streamlit_image_coordinates"
PACKAGE_FILES = ("streamlit-component-lib.js", "main.js", "style.css")
MIN_WIDTH = 240  # px: the view never shrinks below this, however small the window
BOTTOM_MARGIN = 16  # px left free below the image

INDEX_HTML = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8" />
    <link rel="stylesheet" href="./style.css" />
    <style>#image-container { overflow: hidden; }</style>
  </head>
  <body>
    <div id="image-container"><img id="image" draggable="false" /></div>
    <script src="./streamlit-component-lib.js"></script>
    <script src="./main.js"></script>
    <script>
      // kpcal: fit the image in the window. The component is served by the app's own
      // server (same origin), so the iframe can read its place in the page.
      (function () {
        const img = document.getElementById("image");
        function pageTop(element) {
          let top = element.getBoundingClientRect().top;
          for (let e = element.parentElement; e; e = e.parentElement) top += e.scrollTop;
          return top + window.parent.scrollY;
        }
        function fit() {
          const frame = window.frameElement;
          if (!frame || !img.naturalWidth) return;
          const below = window.parent.innerHeight - pageTop(frame) - BOTTOM_MARGIN;
          const column = Math.floor(document.body.getBoundingClientRect().width);
          const tallest = Math.floor(below * img.naturalWidth / img.naturalHeight);
          const width = Math.max(MIN_WIDTH, Math.min(column, tallest)) + "px";
          if (img.style.width !== width) img.style.width = width;
          img.style.height = "auto";
          Streamlit.setFrameHeight(img.height);
        }
        img.addEventListener("load", fit);
        Streamlit.events.addEventListener(Streamlit.RENDER_EVENT, fit);
        window.addEventListener("resize", fit);
        if (!window.frameElement) return;  // served from another origin: the column decides
        window.parent.addEventListener("resize", fit);
        // Content above the image that grows or shrinks (a spinner, a message) moves it:
        // every element around the frame changes size then.
        const moved = new ResizeObserver(fit);
        for (let e = window.frameElement; e; e = e.parentElement) moved.observe(e);
        window.addEventListener("pagehide", () => {
          window.parent.removeEventListener("resize", fit);
          moved.disconnect();
        });
      })();
    </script>
  </body>
</html>
""".replace("BOTTOM_MARGIN", str(BOTTOM_MARGIN)).replace("MIN_WIDTH", str(MIN_WIDTH))

# A click on the image moves the keyboard focus into the image's iframe, where the
# page's shortcuts (arrows, N, Delete, V) do not reach: hand it back.
REFOCUS_SCRIPT = (
    """<script>
if (!window.kpcalRefocus) {
  window.kpcalRefocus = true;
  window.addEventListener("blur", () => setTimeout(() => {
    const active = document.activeElement;
    if (active && active.tagName === "IFRAME" && active.title === "%s") {
      active.blur();
      window.focus();
    }
  }, 0));
}
</script>"""
    % IFRAME_TITLE
)


def package_frontend() -> Path:
    """The ``frontend/`` folder of the installed streamlit-image-coordinates."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{PACKAGE} is not installed (pip install -r requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "frontend"


def frontend_folder(parent: Path | None = None) -> Path:
    """The component's folder: the package's frontend files and our ``index.html``.

    Written once per content under ``parent`` (default: the state folder,
    see :mod:`kpcal_core.statedir`; the temporary folder if that
    cannot be written), as ``click-frontend-<digest of the content>``. It is
    filled in a private temporary folder and renamed into place, so servers
    starting at the same moment never see a half-written folder: the first
    rename wins, the others find the same content and use it.
    """
    source = package_frontend()
    files = {name: (source / name).read_bytes() for name in PACKAGE_FILES}
    files["index.html"] = INDEX_HTML.encode()
    digest = hashlib.sha256()
    for name, content in sorted(files.items()):
        digest.update(name.encode() + b"\0" + content + b"\0")
    for base in [parent] if parent else [statedir.state_dir(), Path(tempfile.gettempdir())]:
        try:
            return _write_folder(base / f"click-frontend-{digest.hexdigest()[:16]}", files)
        except OSError:
            continue
    return _write_folder(Path(tempfile.mkdtemp(prefix="kpcal-click-")) / "frontend", files)


def _holds(folder: Path, files: dict[str, bytes]) -> bool:
    try:
        return all((folder / name).read_bytes() == content for name, content in files.items())
    except OSError:
        return False


def _write_folder(folder: Path, files: dict[str, bytes]) -> Path:
    if _holds(folder, files):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for name, content in files.items():
            (staging / name).write_bytes(content)
        staging.chmod(0o755)
        try:
            staging.rename(folder)
        except OSError:
            if not _holds(folder, files):  # not another server's copy: a damaged one
                shutil.rmtree(folder, ignore_errors=True)
                staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


@functools.cache
def _component() -> components.CustomComponent:
    """Declared once per server process (a second declaration would re-register it)."""
    return components.declare_component(NAME, path=str(frontend_folder()))


def encode_image(image: np.ndarray, jpeg_quality: int = 85) -> str:
    """``(H, W, 3)`` uint8 RGB as a JPEG data URL."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=jpeg_quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def click_image(
    image: np.ndarray,
    *,
    key: str,
    on_click: Callable[[], None] | None = None,
    jpeg_quality: int = 85,
) -> dict | None:
    """Show ``image`` (``(H, W, 3)`` uint8 RGB) sized to the window; return the last click.

    The click is ``{"x", "y", "width", "height", "unix_time"}``: the position in
    the pixels of the image as shown, and the size it was shown at (pass
    ``width`` to :meth:`kpcal_core.views.CropView.to_frame`). The arguments
    are the ones streamlit-image-coordinates' own wrapper sends its
    ``main.js`` (``width="stretch"``: as wide as the column; our page then
    caps the width to the window's height).
    """
    clicked = _component()(
        src=encode_image(image, jpeg_quality),
        height=None,
        width="stretch",
        use_column_width=None,
        key=key,
        click_and_drag=False,
        on_change=on_click,
        cursor="crosshair",
        default=None,
    )
    st.html(REFOCUS_SCRIPT, unsafe_allow_javascript=True)  # after the view: not above it
    return clicked
