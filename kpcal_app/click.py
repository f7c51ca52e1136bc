"""The click view: one image, sized to the window, that reports each click once.

The view is a custom component declared through Streamlit's public
``components.v1.declare_component``, served from a folder assembled at run
time (:func:`frontend_folder`): streamlit-image-coordinates' frontend library
and style (``streamlit-component-lib.js``, ``style.css``, unchanged) with our
own ``index.html`` and ``click.js``. Three things differ from the package's
own page and ``main.js``:

* **one view for every sample**: the component keeps one key, so Next sends the
  iframe only the new image (no new iframe loading its scripts each time). Each
  image comes with a *view token* naming the sample and zoom it shows; a click
  reports the token of the image it was made on, and the page applies it to that
  view, once (:func:`click_image`). While a new image is loading, the old one
  takes no clicks;
* the image element comes before the scripts: 0.4.1 loads its scripts in
  ``<head>`` and says "ready" before its ``<img>`` exists, so on a busy browser
  its first render can fail on a null element and stay blank;
* the image is sized to the window: as wide as the column allows, but never
  taller than the window below the image's top (the whole view above the fold),
  always a whole number of pixels wide. A click reports that width, and
  :meth:`kpcal_core.views.CropView.to_frame` maps the click with it.

A click reports where the pointer went down on the image, in CSS pixels to the
fraction (the pointer event's ``offsetX``/``offsetY``; a click event's are whole
pixels). A mouse's position is the corner of the device pixel under its tip, so
when the position is on whole device pixels half a device pixel is added: the
pixel's centre, where the tip is aimed.
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
PACKAGE_FILES = ("streamlit-component-lib.js", "style.css")
MIN_WIDTH = 240  # px: the view never shrinks below this, however small the window
BOTTOM_MARGIN = 16  # px left free below the image

CLICK_JS = """// kpcal's click view (see kpcal_app/click.py). Streamlit's component library is
// loaded before this script; the image element exists before both.
(function () {
  const img = document.getElementById("image");
  let wanted = null;  // {src, view} of the latest render
  let shownView = null;  // view token of the image on screen, once loaded

  function pageTop(element) {
    let top = element.getBoundingClientRect().top;
    for (let e = element.parentElement; e; e = e.parentElement) top += e.scrollTop;
    return top + window.parent.scrollY;
  }
  // Fit the image in the window. The component is served by the app's own server
  // (same origin), so the iframe can read its place in the page; from another
  // origin, the column decides.
  function fit() {
    if (!img.naturalWidth) return;
    const column = Math.floor(document.body.getBoundingClientRect().width);
    let width = column;
    const frame = window.frameElement;
    if (frame) {
      const below = window.parent.innerHeight - pageTop(frame) - BOTTOM_MARGIN;
      width = Math.min(column, Math.floor(below * img.naturalWidth / img.naturalHeight));
    }
    width = Math.max(MIN_WIDTH, width) + "px";
    if (img.style.width !== width) img.style.width = width;
    img.style.height = "auto";
    Streamlit.setFrameHeight(img.height);
  }

  img.addEventListener("load", () => {
    if (wanted && img.src === wanted.src) {
      shownView = wanted.view;
      img.dataset.view = shownView;  // what the image shows, for people and tests
    }
    fit();
  });
  // A click reports where it was made on the image and which view the image showed.
  // Where the pointer went down, to the fraction of a pixel: a click event's offsets are
  // whole CSS pixels, a pointer event's are not. A mouse on a screen reports the corner
  // of the device pixel under its tip (its screen position is whole device pixels): the
  // tip covers that pixel, whose centre is half a device pixel further.
  let pressed = null;
  img.addEventListener("pointerdown", (event) => {
    const ratio = window.devicePixelRatio || 1;
    const whole = (v) => Math.abs(v * ratio - Math.round(v * ratio)) < 1e-6;
    const centre = event.pointerType === "mouse" && whole(event.screenX) && whole(event.screenY);
    const half = centre ? 0.5 / ratio : 0;
    pressed = {x: event.offsetX + half, y: event.offsetY + half};
  });
  img.onclick = (event) => {
    const at = pressed || {x: event.offsetX, y: event.offsetY};
    pressed = null;
    // While another view's image loads, the old one takes no click (a new picture of the
    // same view, e.g. with the click's mark, maps clicks the same way).
    if (!wanted || shownView !== wanted.view) return;
    Streamlit.setComponentValue({
      x: at.x, y: at.y, width: img.width, height: img.height,
      unix_time: Date.now(), view: shownView,
    });
  };
  Streamlit.events.addEventListener(Streamlit.RENDER_EVENT, (event) => {
    const {src, view, cursor} = event.detail.args;
    img.style.cursor = cursor || "crosshair";
    if (!wanted || wanted.src !== src) {
      wanted = {src, view};
      img.src = src;
    } else if (wanted.view !== view) {  // the same picture for another view
      wanted.view = shownView = img.dataset.view = view;
    }
    fit();
  });
  window.addEventListener("resize", fit);
  if (window.frameElement) {
    window.parent.addEventListener("resize", fit);
    // Content above the image that grows or shrinks (a spinner, a message) moves it:
    // every element around the frame changes size then.
    const moved = new ResizeObserver(fit);
    for (let e = window.frameElement; e; e = e.parentElement) moved.observe(e);
    window.addEventListener("pagehide", () => {
      window.parent.removeEventListener("resize", fit);
      moved.disconnect();
    });
  }
  Streamlit.setComponentReady();
})();
""".replace("BOTTOM_MARGIN", str(BOTTOM_MARGIN)).replace("MIN_WIDTH", str(MIN_WIDTH))

INDEX_HTML = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8" />
    <link rel="stylesheet" href="./style.css" />
    <style>#image-container { overflow: hidden; } #image { display: block; }</style>
  </head>
  <body>
    <div id="image-container"><img id="image" draggable="false" /></div>
    <script src="./streamlit-component-lib.js"></script>
    <script src="./click.js"></script>
  </body>
</html>
"""

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
    files["click.js"] = CLICK_JS.encode()
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
    view: str,
    on_click: Callable[[], None] | None = None,
    jpeg_quality: int = 85,
) -> dict | None:
    """Show ``image`` (``(H, W, 3)`` uint8 RGB) sized to the window; return the last click.

    Parameters
    ----------
    key
        The component's key: keep it the same from one sample to the next, so the
        browser keeps its view and swaps in the new image.
    view
        A token naming what ``image`` shows (sample and zoom); a click reports the
        token of the image it was made on.
    on_click
        Called once for each new click, before the rerun.

    Returns
    -------
    dict or None
        The last click, ``{"x", "y", "width", "height", "unix_time", "view"}``:
        the position in the pixels of the image as shown, the size it was shown
        at (pass ``width`` to :meth:`kpcal_core.views.CropView.to_frame`), when,
        and the view token of the image clicked.
    """
    clicked = _component()(
        src=encode_image(image, jpeg_quality),
        view=view,
        cursor="crosshair",
        key=key,
        on_change=on_click,
        default=None,
    )
    return clicked


def give_keys_back_to_the_page() -> None:
    """After a click on the view, the page's keyboard shortcuts work again.

    Call once per page run, below the view (an element above it would move it), and
    outside any fragment: the script stays in the page, nothing is sent per sample.
    """
    st.html(REFOCUS_SCRIPT, unsafe_allow_javascript=True)
