"""The click view: one image, sized to the window, that reports each click once.

The view is a custom component declared through Streamlit's public
``components.v1.declare_component``, served from a folder assembled at run
time (:func:`frontend_folder`): streamlit-image-coordinates' frontend library
and style (``streamlit-component-lib.js``, ``style.css``, unchanged) with our
own ``index.html`` and ``click.js``. Four things differ from the package's
own page and ``main.js``:

* **one view for every sample**: the component keeps one key, so Next sends the
  iframe only the new image (no new iframe loading its scripts each time). Each
  image comes with a *view token* naming the sample and zoom it shows
  (:func:`kpcal_core.clicks.view_token`); a click reports the token of the image
  it was made on, and the page applies it to that view, once, by the rules of
  :mod:`kpcal_core.clicks` (:func:`click_image`);
* **the sample's lines come with its image**: what identifies the sample (target
  bodypart and confidence, sample n of N, recording, frames, the bodypart legend;
  :class:`SampleLines`) is sent with the image and written by ``click.js`` as text
  (``textContent``, never HTML: the names come from the project's files) at the
  moment that image has loaded, so the lines never name another sample than the
  image under them. While another view's image loads, the old one takes no click:
  a click then is refused with a word on the image ("Loading another sample:
  click again once it shows.");
* the image element comes before the scripts: 0.4.1 loads its scripts in
  ``<head>`` and says "ready" before its ``<img>`` exists, so on a busy browser
  its first render can fail on a null element and stay blank;
* the image is sized to the window: as wide as the column allows, but never
  taller than the window below the image's top (the whole image, and the sample's
  lines above it and the legend below it, above the fold: the legend wraps,
  one entry per bodypart, the target's ringed in the yellow of its circle),
  always a whole number of pixels wide. A click reports that width, and
  :meth:`kpcal_core.views.CropView.to_frame` maps the click with it. When that
  width is not the one the image was drawn at, the view asks for the image drawn
  at it (``{"fit": width}``, :func:`kpcal_core.clicks.parse_view_size`), so the
  image is shown at its own size: one video pixel per shown pixel at zoom 1x. It
  never asks between a click and the page's answer to it (the click's value would
  be replaced before the page read it).

The page's keys (:func:`give_keys_back_to_the_page`): a click on the image hands
the keyboard back to the page (the shortcuts of the buttons: arrows, N, V,
Delete, 0), "+" and "-" press the zoom buttons (Streamlit's shortcuts take no
punctuation), Enter in a text box leaves it, and a zoom button never keeps the
focus.

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
import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
import streamlit.components.v1 as components
from PIL import Image

from kpcal_core import workflows

NAME = "kpcal_click"
# What the browser shows as the component's iframe title (Streamlit names a declared
# component after the declaring module).
IFRAME_TITLE = f"{__name__}.{NAME}"
PACKAGE = "streamlit_image_coordinates"
PACKAGE_FILES = ("streamlit-component-lib.js", "style.css")
MIN_WIDTH = workflows.MIN_VIEW_PX  # px: the view never shrinks below this, however small the window
BOTTOM_MARGIN = 16  # px left free below the image
NOTE_MS = 2500  # ms the word on a refused click stays once the new image shows
SIZE_DELAY_MS = 120  # ms the shown width must stay the same before the view asks for it
# The zoom buttons' containers (``st.container(key=...)``: Streamlit gives each the CSS
# class ``st-key-<key>``): the "+" and "-" keys press the buttons in them.
ZOOM_IN_KEY = "kpcal-zoom-in"
ZOOM_OUT_KEY = "kpcal-zoom-out"
ZOOM_KEYS = "kpcal-zoom"  # the container of all the zoom buttons (they never keep the focus)

CLICK_JS = """// kpcal's click view (see kpcal_app/click.py). Streamlit's component library is
// loaded before this script; the page's elements exist before both.
(function () {
  const img = document.getElementById("image");
  const sampleBox = document.getElementById("sample");
  const title = document.getElementById("sample-title");
  const caption = document.getElementById("sample-caption");
  const legend = document.getElementById("legend");
  const note = document.getElementById("note");
  let wanted = null;  // {src, view, sample, cursor} of the latest render
  let shownView = null;  // view token of the image on screen, once loaded
  let refused = 0;  // clicks refused while an image was being replaced
  let noteTimer = null;
  let clickPending = false;  // a click sent, the page's answer (a render) not yet here
  let sizeTimer = null;
  let askedFor = null;  // "view/width" last asked for: asked once

  // What identifies the sample (its lines above the image, the legend below), written as
  // text only: the names come from the project's files.
  function showSample(sample) {
    sample = sample && typeof sample === "object" ? sample : {};
    title.textContent = typeof sample.title === "string" ? sample.title : "";
    caption.textContent = typeof sample.caption === "string" ? sample.caption : "";
    sampleBox.hidden = !title.textContent && !caption.textContent;
    const items = [];
    for (const item of Array.isArray(sample.legend) ? sample.legend : []) {
      if (!Array.isArray(item) || item.length !== 2) continue;
      const [name, colour] = item.map(String);
      const entry = document.createElement("span");
      entry.className = "entry";
      const dot = document.createElement("span");
      dot.textContent = "\\u25cf";
      dot.style.color = colour;
      const label = document.createElement(name === sample.target ? "b" : "span");
      label.textContent = name;
      dot.className = "dot";
      entry.append(dot, document.createTextNode(" "), label);
      if (name === sample.target) {  // ringed like the target on the image
        entry.classList.add("target");
        entry.title = "the target bodypart (the yellow circle on the image)";
      }
      if (items.length) items.push(document.createTextNode(" "));
      items.push(entry);
    }
    legend.replaceChildren(...items);
    legend.hidden = items.length === 0;
  }

  // A click on an image being replaced is not taken: say so on the image. Once the new
  // image shows, the word stays a moment (it may have loaded at once), then goes.
  function refuse() {
    refused += 1;
    note.dataset.refused = String(refused);  // for tests: how many clicks were refused
    note.textContent = "Loading another sample: click again once it shows.";
    note.hidden = false;
    clearTimeout(noteTimer);
    noteTimer = null;
  }
  function settleNote() {
    if (note.hidden || noteTimer !== null) return;
    note.textContent = "That click was not taken (the image was changing): click again.";
    noteTimer = setTimeout(() => { note.hidden = true; noteTimer = null; }, NOTE_MS);
  }

  function pageTop(element) {
    let top = element.getBoundingClientRect().top;
    for (let e = element.parentElement; e; e = e.parentElement) top += e.scrollTop;
    return top + window.parent.scrollY;
  }
  // Fit the image in the window, below the sample's lines. The component is served by the
  // app's own server (same origin), so the iframe can read its place in the page; from
  // another origin, the column decides.
  function fit() {
    if (!img.naturalWidth) return;
    const frame = window.frameElement;
    // The column's width, whole pixels (the iframe's own may be fractional: not beyond it).
    let column = document.body.getBoundingClientRect().width;
    if (frame) column = Math.min(column, frame.getBoundingClientRect().width);
    column = Math.floor(column);
    let width = column;
    if (frame) {
      const above = img.getBoundingClientRect().top + window.scrollY;  // the lines above
      // the legend under the image stays in the window too
      const legendHeight = legend.hidden ? 0 : legend.getBoundingClientRect().height;
      const below =
        window.parent.innerHeight - pageTop(frame) - above - legendHeight - BOTTOM_MARGIN;
      width = Math.min(column, Math.floor(below * img.naturalWidth / img.naturalHeight));
    }
    width = Math.max(MIN_WIDTH, width);
    if (img.style.width !== width + "px") img.style.width = width + "px";
    img.style.height = "auto";
    Streamlit.setFrameHeight(Math.ceil(document.body.getBoundingClientRect().height));
    askSize(Math.min(width, MAX_VIEW_PX));
  }

  // The image drawn at the width it is shown at: asked once the width has stayed the same
  // a moment, never while an image loads or a click waits for its answer.
  function askSize(width) {
    clearTimeout(sizeTimer);
    sizeTimer = null;
    if (loading() || clickPending || width === img.naturalWidth) return;
    if (askedFor === shownView + "/" + width) return;
    sizeTimer = setTimeout(() => {
      sizeTimer = null;
      if (loading() || clickPending || width === img.naturalWidth) return;
      askedFor = shownView + "/" + width;
      Streamlit.setComponentValue({fit: width, unix_time: Date.now()});
    }, SIZE_DELAY_MS);
  }

  function loading() {
    return !wanted || shownView !== wanted.view;
  }
  img.addEventListener("load", () => {
    if (wanted && img.src === wanted.src) {
      // The image, its view token and its sample's lines change together.
      shownView = wanted.view;
      img.dataset.view = shownView;  // what the image shows, for people and tests
      showSample(wanted.sample);
      img.style.cursor = wanted.cursor;
      settleNote();
    }
    fit();
  });
  // A click reports where it was made on the image and which view the image showed when
  // the pointer went down. Where, to the fraction of a pixel: a click event's offsets are
  // whole CSS pixels, a pointer event's are not. A mouse on a screen reports the corner
  // of the device pixel under its tip (its screen position is whole device pixels): the
  // tip covers that pixel, whose centre is half a device pixel further.
  let pressed = null;
  img.addEventListener("pointerdown", (event) => {
    const ratio = window.devicePixelRatio || 1;
    const whole = (v) => Math.abs(v * ratio - Math.round(v * ratio)) < 1e-6;
    const centre = event.pointerType === "mouse" && whole(event.screenX) && whole(event.screenY);
    const half = centre ? 0.5 / ratio : 0;
    pressed = {
      x: event.offsetX + half, y: event.offsetY + half, width: img.width, height: img.height,
      view: loading() ? null : shownView,
    };
  });
  img.onclick = (event) => {
    const at = pressed || {
      x: event.offsetX, y: event.offsetY, width: img.width, height: img.height,
      view: loading() ? null : shownView,
    };
    pressed = null;
    // While another view's image loads, the old one takes no click (a new picture of the
    // same view, e.g. with the click's mark, maps clicks the same way).
    if (at.view === null) {
      refuse();
      return;
    }
    clearTimeout(sizeTimer);
    sizeTimer = null;
    clickPending = true;
    Streamlit.setComponentValue({
      x: at.x, y: at.y, width: at.width, height: at.height, unix_time: Date.now(), view: at.view,
    });
  };
  Streamlit.events.addEventListener(Streamlit.RENDER_EVENT, (event) => {
    const {src, view, cursor, sample} = event.detail.args;
    clickPending = false;  // the page has answered
    const theme = event.detail.theme;
    if (theme && typeof theme.font === "string") document.body.style.fontFamily = theme.font;
    if (theme && typeof theme.textColor === "string") document.body.style.color = theme.textColor;
    const pointer = typeof cursor === "string" ? cursor : "crosshair";
    if (!wanted || wanted.src !== src) {
      wanted = {src, view, sample, cursor: pointer};
      if (loading()) img.style.cursor = "progress";
      img.src = src;
    } else {  // the same picture: shown now, for this view and sample
      wanted.view = shownView = img.dataset.view = view;
      wanted.sample = sample;
      wanted.cursor = img.style.cursor = pointer;
      if (img.complete && img.naturalWidth) showSample(sample);
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
"""
for _name, _value in {
    "BOTTOM_MARGIN": BOTTOM_MARGIN,
    "MIN_WIDTH": MIN_WIDTH,
    "MAX_VIEW_PX": workflows.MAX_VIEW_PX,
    "NOTE_MS": NOTE_MS,
    "SIZE_DELAY_MS": SIZE_DELAY_MS,
}.items():
    CLICK_JS = CLICK_JS.replace(_name, str(_value))

INDEX_HTML = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8" />
    <link rel="stylesheet" href="./style.css" />
    <style>
      body { font-family: sans-serif; line-height: 1.6; }
      #sample { padding-bottom: 8px; }
      #sample-title { font-weight: 600; font-size: 16px; }
      #sample-caption { font-size: 14px; opacity: 0.6; }
      #image-container { overflow: hidden; position: relative; }
      #image { display: block; }
      #note { position: absolute; top: 0; left: 0; right: 0; padding: 6px 10px;
              background: rgba(0, 0, 0, 0.7); color: #fff; font-size: 15px;
              font-weight: 600; text-align: center; pointer-events: none; }
      #legend { padding-top: 4px; font-size: 14px; line-height: 1.8; }
      #legend .entry { display: inline-block; white-space: nowrap; line-height: 1.4;
                       padding: 0 6px 0 3px; border: 2px solid transparent; border-radius: 10px; }
      #legend .dot { font-size: 18px; line-height: 1; vertical-align: -1px; }
      #legend .entry.target { border-color: #ffdd00; }
      [hidden] { display: none !important; }
    </style>
  </head>
  <body>
    <div id="sample" hidden>
      <div id="sample-title"></div>
      <div id="sample-caption"></div>
    </div>
    <div id="image-container">
      <img id="image" draggable="false" />
      <div id="note" role="status" aria-live="assertive" hidden></div>
    </div>
    <div id="legend" hidden></div>
    <script src="./streamlit-component-lib.js"></script>
    <script src="./click.js"></script>
  </body>
</html>
"""

# The page's keys. A click on the image moves the keyboard focus into the image's iframe,
# where the page's shortcuts (arrows, N, Delete, V, 0) do not reach: hand it back. "+" and
# "-" press the zoom buttons (Streamlit's button shortcuts take no punctuation), unless the
# person is typing in a box; Enter in a text box (the annotator's name) commits it and
# leaves it; a zoom button pressed with the mouse gives the focus back.
KEYS_SCRIPT = """<script>
if (!window.kpcalKeys) {
  window.kpcalKeys = true;
  window.addEventListener("blur", () => setTimeout(() => {
    const active = document.activeElement;
    if (active && active.tagName === "IFRAME" && active.title === IFRAME_TITLE) {
      active.blur();
      window.focus();
    }
  }, 0));
  const typing = (e) => e && (e.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(e.tagName));
  // A name typed and committed with Enter: once the key is up (the box has taken it), the
  // box is left, so the keys act on samples. Seen before the page's own handlers.
  document.addEventListener("keyup", (event) => {
    const box = event.target;
    if (event.key === "Enter" && box && box.tagName === "INPUT" && box.type === "text") box.blur();
  }, true);
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    if (typing(event.target)) return;
    const which = {"+": "ZOOM_IN_KEY", "=": "ZOOM_IN_KEY", "-": "ZOOM_OUT_KEY", "_": "ZOOM_OUT_KEY"}[event.key];
    const button = which && document.querySelector(`.st-key-${which} button`);
    if (!button) return;
    event.preventDefault();
    if (!button.disabled) button.click();
  });
  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest(".st-key-ZOOM_KEYS button");
    if (button) setTimeout(() => button.blur(), 0);
  }, true);
}
</script>"""
for _name, _value in {
    "IFRAME_TITLE": json.dumps(IFRAME_TITLE),
    "ZOOM_IN_KEY": ZOOM_IN_KEY,
    "ZOOM_OUT_KEY": ZOOM_OUT_KEY,
    "ZOOM_KEYS": ZOOM_KEYS,
}.items():
    KEYS_SCRIPT = KEYS_SCRIPT.replace(_name, _value)


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
    for base in [parent] if parent else [workflows.state_dir(), Path(tempfile.gettempdir())]:
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


@dataclass(frozen=True)
class SampleLines:
    """What identifies the sample shown, written by the click view with its image.

    Attributes
    ----------
    title
        The bold line above the image (target bodypart, confidence).
    caption
        The small grey line below it (sample n of N, recording, frames).
    legend
        ``[(bodypart, "#rrggbb"), ...]``: the dot colours, shown below the image.
    target
        The legend's entry shown in bold.
    """

    title: str
    caption: str
    legend: Sequence[tuple[str, str]] = ()
    target: str | None = None

    def as_arg(self) -> dict:
        """The component argument (JSON): plain strings, shown by ``click.js`` as text."""
        return {
            "title": str(self.title),
            "caption": str(self.caption),
            "legend": [[str(name), str(colour)] for name, colour in self.legend],
            "target": None if self.target is None else str(self.target),
        }


def click_image(
    image: np.ndarray,
    *,
    key: str,
    view: str,
    sample: SampleLines | None = None,
    on_click: Callable[[], None] | None = None,
    jpeg_quality: int = 85,
) -> object:
    """Show ``image`` (``(H, W, 3)`` uint8 RGB) sized to the window; return the last click.

    Parameters
    ----------
    key
        The component's key: keep it the same from one sample to the next, so the
        browser keeps its view and swaps in the new image.
    view
        A token naming what ``image`` shows (sample and zoom); a click reports the
        token of the image it was made on.
    sample
        The lines that identify the sample: the browser shows them when, and only
        when, ``image`` has loaded, so a caption never names another sample than the
        image under it.
    on_click
        Called once for each new click, before the rerun.

    Returns
    -------
    object
        The component's last value, as the browser sent it (check it with
        :func:`kpcal_core.clicks.parse_click`). The click view sends
        ``{"x", "y", "width", "height", "unix_time", "view"}``: the position in the
        pixels of the image as shown, the size it was shown at (pass ``width`` to
        :meth:`kpcal_core.views.CropView.to_frame`), when, and the view token of
        the image clicked; or ``{"fit": width, "unix_time"}`` when the image is shown
        at another width than it was drawn at (read it with
        :func:`kpcal_core.clicks.parse_view_size` and draw the next image at that width).
    """
    return _component()(
        src=encode_image(image, jpeg_quality),
        view=view,
        sample=None if sample is None else sample.as_arg(),
        cursor="crosshair",
        key=key,
        on_change=on_click,
        default=None,
    )


def give_keys_back_to_the_page() -> None:
    """Make the page's keys always act on the page.

    After a click on the view the keyboard shortcuts work again, "+" and "-" zoom, and a
    zoom button never keeps the focus.

    Call once per page run, below the view (an element above it would move it), and
    outside any fragment: the script stays in the page, nothing is sent per sample.
    """
    st.html(KEYS_SCRIPT, unsafe_allow_javascript=True)
