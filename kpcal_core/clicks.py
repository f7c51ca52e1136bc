"""Which sample a click on the annotate page belongs to, and whether it may be saved there.

The app's click view (``kpcal_app/click.py``) shows one image at a time; each
image comes with a *view token* (:func:`view_token`) naming the sample and zoom
it shows, and each click reports the token of the image it was made on. This
module owns the three rules about a click, kept apart from Streamlit so they can
be tested alone:

- :func:`parse_click`: what the browser sent is a click only if it has the click
  view's exact shape (finite numbers, a sane size, a short token); anything else
  is refused quietly (it came from a forged or broken message, not a person);
- :func:`view_token`: a short token per (project, sample, zoom, image size),
  whatever the length of the names in it;
- :func:`parse_view_size`: the other message the click view sends, the width it
  can show the image at, so the image is drawn at that size (one video pixel per
  shown pixel at zoom 1x), bounded whatever the browser says;
- :func:`late_click`: a click whose sample is no longer the one shown (the
  session moved on, by Next, Previous or a key, before the click arrived) is
  saved on the sample it was made on only while that sample has no annotation;
  it never replaces one the person is not looking at.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from .annotations import CLEARED, Annotation
from .samplekeys import SampleKey

#: Longest view token accepted (:func:`view_token` makes 16 hex digits, ``@``, the zoom,
#: ``/`` and the image size).
MAX_VIEW_TOKEN = 40
#: The sizes the view's image is drawn at, in pixels a side (whatever the browser asks).
MIN_VIEW_PX = 240
MAX_VIEW_PX = 1600
#: The image size before the browser said what it can show.
DEFAULT_VIEW_PX = 560
#: Largest width or height, in CSS pixels, an image can be shown at (a 16K screen at 2x).
MAX_SHOWN_PX = 32_768.0
#: How far outside the image shown a click position may be (in its widths and heights).
MAX_OUTSIDE = 1.0


@dataclass(frozen=True)
class Click:
    """A click the click view reported.

    Attributes
    ----------
    x, y
        Where the pointer went down, in CSS pixels of the image as shown (from its
        top-left corner).
    width, height
        The size the image was shown at, in CSS pixels.
    view
        The view token of the image clicked (:func:`view_token`).
    """

    x: float
    y: float
    width: float
    height: float
    view: str


def _number(value: object) -> float | None:
    """``value`` as a finite float when it is a JSON number (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def parse_click(value: object) -> Click | None:
    """The click in a value the click view sent, or ``None`` when it is not one.

    Parameters
    ----------
    value
        Any JSON value (the browser, or whoever forged the message, chose it).

    Returns
    -------
    Click or None
        ``None`` unless ``value`` is a dict with finite numbers ``x`` and ``y``
        (at most :data:`MAX_OUTSIDE` image sizes outside the image), finite
        positive ``width`` and ``height`` up to :data:`MAX_SHOWN_PX`, and a
        non-empty string ``view`` up to :data:`MAX_VIEW_TOKEN` characters. Other
        keys (``unix_time``) are ignored.
    """
    if not isinstance(value, dict):
        return None
    x, y = _number(value.get("x")), _number(value.get("y"))
    width, height = _number(value.get("width")), _number(value.get("height"))
    view = value.get("view")
    if x is None or y is None or width is None or height is None:
        return None
    if not (0 < width <= MAX_SHOWN_PX and 0 < height <= MAX_SHOWN_PX):
        return None
    if not (abs(x - width / 2) <= width * (0.5 + MAX_OUTSIDE)):
        return None
    if not (abs(y - height / 2) <= height * (0.5 + MAX_OUTSIDE)):
        return None
    if not isinstance(view, str) or not 0 < len(view) <= MAX_VIEW_TOKEN:
        return None
    return Click(x, y, width, height, view)


def view_token(project: str, key: SampleKey, zoom: str | float, size: int = DEFAULT_VIEW_PX) -> str:
    """The view token of sample ``key`` of ``project`` shown at ``zoom``, ``size`` px a side.

    16 hex digits of a SHA-256 of the project and the sample, then ``@``, the zoom,
    ``/`` and the size (``"3f9a…@2/560"``, ``"3f9a…@fit/480"``): the same for the same
    view, short whatever the names.
    """
    recording, frame, bodypart = key
    named = "\0".join([str(project), str(recording), str(int(frame)), str(bodypart)])
    digest = hashlib.sha256(named.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    shown = f"{zoom:g}" if isinstance(zoom, int | float) else str(zoom)[:8]
    return f"{digest}@{shown}/{int(size)}"


def parse_view_size(value: object) -> int | None:
    """The image size the click view asks for, or ``None`` when ``value`` is not such a message.

    Parameters
    ----------
    value
        Any JSON value. The click view sends ``{"fit": width}`` when the image is
        shown at another width than it was drawn at (the window or the layout
        changed): ``width`` in CSS pixels.

    Returns
    -------
    int or None
        The width, a whole number of pixels, bounded to
        [:data:`MIN_VIEW_PX`, :data:`MAX_VIEW_PX`]; ``None`` unless ``value`` is a
        dict whose ``fit`` is a finite positive number (other keys are ignored).
    """
    if not isinstance(value, dict):
        return None
    width = _number(value.get("fit"))
    if width is None or not 0 < width <= MAX_SHOWN_PX:
        return None
    return int(min(max(round(width), MIN_VIEW_PX), MAX_VIEW_PX))


@dataclass(frozen=True)
class ClickRule:
    """Whether a click is saved on the sample it was made on, and what to tell the person.

    Attributes
    ----------
    save
        True: save it on the clicked sample.
    message
        ``None`` for a click on the sample shown (the save's own message says
        enough); else the sentence to show (for a saved late click, shown before
        the save's message).
    """

    save: bool
    message: str | None


NO_LONGER_SHOWN = "That click was on an image no longer shown: not saved."


def late_click(
    clicked: SampleKey,
    shown: SampleKey,
    samples: Sequence[SampleKey],
    annotation: Annotation | None,
) -> ClickRule:
    """The rule for a click made on sample ``clicked`` while ``shown`` is the sample shown now.

    Parameters
    ----------
    clicked
        The sample of the image the click was made on (from its view token).
    shown
        The sample the session shows now (it moved on if they differ).
    samples
        The project's samples, in order (sample ``n`` is ``samples[n - 1]``).
    annotation
        ``clicked``'s annotation as this session knows it, or ``None``.

    Returns
    -------
    ClickRule
        A click on the sample shown is saved (it may move its annotation: the
        person sees it). A click on another sample is saved only if that sample is
        still one of ``samples`` and has no annotation (none, or cleared), with a
        message naming it; else refused with a message naming it.
    """
    if tuple(clicked) == tuple(shown):
        return ClickRule(True, None)
    try:
        number = list(map(tuple, samples)).index(tuple(clicked)) + 1
    except ValueError:
        return ClickRule(False, NO_LONGER_SHOWN)
    if annotation is not None and annotation.status != CLEARED:
        return ClickRule(
            False,
            f"Not saved: that click was on sample {number}, which already has an annotation "
            f"and is no longer shown. To move its annotation, go back to sample {number} "
            "and click again.",
        )
    return ClickRule(True, f"Saved on sample {number}, the image you clicked.")
