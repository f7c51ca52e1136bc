"""Every chart kpcal draws, as Altair charts, and one colour per bodypart.

The app shows these charts (``st.altair_chart``) and ``kpcal export`` writes
:func:`fit_chart` as PNG (:func:`chart_png`), so a figure in a paper is the
figure on the fit page. :func:`bodypart_colours` gives each bodypart one
colour used everywhere: the chart points and the markers on the annotate view.

Names from the files (bodyparts, recordings) are only ever values in a chart's
data: never a field name, an expression, a title or an ``href``/``url`` channel.
Vega draws them as text (SVG text; its tooltips escape HTML), so a name holding
markup is shown as written and no name becomes a link.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from .colours import bodypart_colours
from .errors import KpcalError
from .fitting import FittedLine

LINE_DASHES = {"least-squares": [1, 0], "theil-sen": [6, 3], "huber": [2, 2]}


def _colour_scale(bodyparts: Sequence[str]) -> alt.Scale:
    colours = bodypart_colours(bodyparts)
    return alt.Scale(domain=list(colours), range=list(colours.values()))


def fit_chart(
    points: pd.DataFrame,
    lines: Sequence[FittedLine],
    conf_threshold: float | None = None,
    *,
    bodyparts: Sequence[str] | None = None,
    part_lines: pd.DataFrame | None = None,
    selection: alt.Parameter | None = None,
    width: int | str = 560,
    height: int = 400,
) -> alt.LayerChart:
    """The scatter of log10(error + 1) against log10(confidence) with the fitted lines.

    Parameters
    ----------
    points
        ``(n rows)`` table from :func:`~kpcal_core.fitting.error_points`.
    lines
        Lines to draw (:class:`~kpcal_core.fitting.FittedLine`: method, slope, intercept).
    conf_threshold
        Drawn as a dashed vertical rule at ``log10(conf_threshold)``.
    bodyparts
        The project's bodyparts, for :func:`bodypart_colours` (default: those in ``points``).
    part_lines
        ``bodypart, x, y`` rows of each bodypart's own line (two per bodypart).
    selection
        An Altair point selection added to the scatter (the fit page picks a
        threshold by clicking a point).
    """
    columns = ["recording", "frame", "bodypart", "confidence", "error_px"]
    data = points[columns + ["log10_confidence", "log10_error"]].copy()
    names = list(bodyparts) if bodyparts is not None else sorted(data["bodypart"].unique())
    colour = alt.Color("bodypart:N", scale=_colour_scale(names), title="bodypart")
    scatter = (
        alt.Chart(data)
        .mark_circle(size=55, opacity=0.8)
        .encode(
            x=alt.X("log10_confidence:Q", title="log10(confidence + pseudocount)"),
            y=alt.Y("log10_error:Q", title="log10(error + 1)"),
            color=colour,
            tooltip=[
                "recording:N",
                "frame:Q",
                "bodypart:N",
                alt.Tooltip("confidence:Q", format=".4f"),
                alt.Tooltip("error_px:Q", title="error (px)", format=".2f"),
            ],
        )
    )
    if selection is not None:
        scatter = scatter.add_params(selection)
    layers: list = [scatter]
    if lines and len(data):
        low, high = float(data["log10_confidence"].min()), float(data["log10_confidence"].max())
        rows = [
            {"x": x, "y": line.slope * x + line.intercept, "line": line.method}
            for line in lines
            for x in (low, high)
        ]
        methods = list(dict.fromkeys(line.method for line in lines))
        layers.append(
            alt.Chart(pd.DataFrame(rows))
            .mark_line(color="black")
            .encode(
                x="x:Q",
                y="y:Q",
                strokeDash=alt.StrokeDash(
                    "line:N",
                    title="line",
                    scale=alt.Scale(domain=methods, range=[LINE_DASHES[m] for m in methods]),
                ),
            )
        )
    if part_lines is not None and len(part_lines):
        layers.append(
            alt.Chart(part_lines)
            .mark_line(opacity=0.6)
            .encode(x="x:Q", y="y:Q", color=colour, detail="bodypart:N")
        )
    if conf_threshold is not None and conf_threshold > 0:
        layers.append(
            alt.Chart(pd.DataFrame({"x": [math.log10(conf_threshold)]}))
            .mark_rule(strokeDash=[6, 4], color="gray")
            .encode(x="x:Q")
        )
    title = f"log10(error + 1) against log10(confidence), n = {len(data)}"
    if lines:
        first = lines[0]
        title = (
            f"{first.method}: slope {first.slope:.4f}, intercept {first.intercept:.4f}, "
            f"n = {len(data)}"
        )
    return alt.LayerChart(layer=layers).properties(width=width, height=height, title=title)


def histogram_chart(bars: pd.DataFrame, bins: pd.DataFrame) -> alt.LayerChart:
    """The setup page's confidence histogram: filled bars, bin edges, samples per bin.

    Parameters
    ----------
    bars, bins
        :class:`kpcal_core.workflows.SamplingHistogram`'s: the bars ``start, end,
        keypoints`` and the sampling bins ``start, end, mid, samples``.
    """
    top = max(1.0, float(bars["keypoints"].max()))
    bar_layer = (
        alt.Chart(bars)
        .mark_rect(color="#4e79a7", opacity=0.85)
        .encode(
            x=alt.X("start:Q", title="log10(confidence + pseudocount)"),
            x2="end:Q",
            y=alt.Y(
                "keypoints:Q",
                title="keypoints (square-root scale)",
                scale=alt.Scale(type="sqrt", domain=[0, top * 1.15], nice=False),
            ),
            y2=alt.datum(0),
            tooltip=[alt.Tooltip("keypoints:Q", format=",")],
        )
    )
    edges = pd.DataFrame({"edge": list(bins["start"]) + [float(bins["end"].iloc[-1])]})
    rules = alt.Chart(edges).mark_rule(color="#e15759", strokeDash=[4, 3]).encode(x="edge:Q")
    labelled = bins.assign(label=[f"{n}" for n in bins["samples"]], y=top * 1.08)
    labels = (
        alt.Chart(labelled)
        .mark_text(color="#e15759", fontWeight="bold")
        .encode(
            x="mid:Q",
            y=alt.Y("y:Q"),
            text="label:N",
            tooltip=[alt.Tooltip("samples:Q", title="samples drawn from this bin")],
        )
    )
    return alt.LayerChart(layer=[bar_layer, rules, labels]).properties(height=260)


#: The trusted chart's error axis ends at most this many times the largest predicted error.
BAND_AXIS_FACTOR = 10.0
#: Errors below this many pixels are drawn at it (a log axis has no 0).
BAND_FLOOR_PX = 0.01


def band_view(band: pd.DataFrame) -> tuple[pd.DataFrame, tuple[float, float], tuple[float, float]]:
    """What the trusted chart draws: the bins that hold keypoints, and its two axes' ends.

    Parameters
    ----------
    band
        :func:`kpcal_core.diagnostics.prediction_band` output: one row per
        histogram bin of the population (the keypoints with a position).

    Returns
    -------
    rows
        The rows from the first to the last bin holding a keypoint, with
        ``conf_low``, ``conf_high`` (the bin's ends as confidence + pseudocount)
        and ``shown_px``, ``shown_low``, ``shown_high`` (the error and its band
        in pixels, clipped to the error axis).
    x_domain
        ``(lowest, highest)`` confidence + pseudocount of those bins: every
        keypoint with a position is inside, nothing else.
    y_domain
        ``(low, high)`` pixels of the log error axis: ``high`` is at most
        :data:`BAND_AXIS_FACTOR` times the largest error the line predicts
        there (and no more than the band's top), ``low`` at least
        :data:`BAND_FLOOR_PX`.
    """
    held = np.flatnonzero(band["keypoints"].to_numpy() > 0)
    if held.size == 0:
        raise KpcalError("the trusted chart needs keypoints with a position; none has one")
    rows = band.iloc[held[0] : held[-1] + 1].copy()
    rows["conf_low"] = 10 ** rows["bin_low"]
    rows["conf_high"] = 10 ** rows["bin_high"]
    predicted = rows["predicted_px"].to_numpy(dtype=float)
    top = max(float(predicted.max()), BAND_FLOOR_PX) * BAND_AXIS_FACTOR
    high = min(top, max(float(rows["px_high"].max()), float(predicted.max())))
    positive = rows[["px_low", "predicted_px"]].to_numpy(dtype=float)
    positive = positive[positive > 0]
    low = max(BAND_FLOOR_PX, float(positive.min()) if positive.size else BAND_FLOOR_PX)
    if high <= low * 1.5:  # a flat, precise line: still a readable axis around it
        low, high = low / 2, max(high, low) * 2
    for name, column in (
        ("shown_px", "predicted_px"),
        ("shown_low", "px_low"),
        ("shown_high", "px_high"),
    ):
        rows[name] = rows[column].clip(lower=low, upper=high)
    x_domain = (float(rows["conf_low"].iloc[0]), float(rows["conf_high"].iloc[-1]))
    return rows.reset_index(drop=True), x_domain, (low, high)


def band_chart(band: pd.DataFrame, *, height: int = 320) -> alt.LayerChart:
    """The predicted error with its 95% band over the keypoints' confidences, the keypoints beneath.

    One layered chart (so it fits its container at any width): the error the
    line predicts and its band on a log pixel axis (left), the number of
    keypoints per bin as grey bars (right axis), both over confidence +
    pseudocount on a log axis that spans the confidences holding keypoints
    with a position (:func:`band_view`).

    Parameters
    ----------
    band
        :func:`kpcal_core.diagnostics.prediction_band` output.
    height
        Pixels.
    """
    rows, x_domain, y_domain = band_view(band)
    x_scale = alt.Scale(type="log", domain=list(x_domain), nice=False)
    x = alt.X("confidence:Q", title="confidence + pseudocount (log scale)", scale=x_scale)
    y_scale = alt.Scale(type="log", domain=list(y_domain), nice=False, clamp=True)
    tooltip = [
        alt.Tooltip("confidence:Q", title="confidence + pseudocount", format=".3f"),
        alt.Tooltip("predicted_px:Q", title="predicted error (px)", format=".2f"),
        alt.Tooltip("px_low:Q", title="95% band from (px)", format=".2f"),
        alt.Tooltip("px_high:Q", title="to (px)", format=".2f"),
        alt.Tooltip("keypoints:Q", format=","),
    ]
    bars = (
        alt.Chart(rows)
        .mark_rect(color="#bab0ac", opacity=0.55)
        .encode(
            x=alt.X("conf_low:Q", scale=x_scale, title="confidence + pseudocount (log scale)"),
            x2="conf_high:Q",
            y=alt.Y(
                "keypoints:Q",
                title="keypoints (grey bars, square-root scale)",
                scale=alt.Scale(type="sqrt"),
                axis=alt.Axis(orient="right", grid=False),
            ),
            y2=alt.datum(0),
            tooltip=[alt.Tooltip("keypoints:Q", format=",")],
        )
    )
    area = (
        alt.Chart(rows)
        .mark_area(opacity=0.3, color="#4e79a7")
        .encode(
            x=x,
            y=alt.Y("shown_low:Q", title="predicted error (px, log scale)", scale=y_scale),
            y2="shown_high:Q",
        )
    )
    line = (
        alt.Chart(rows)
        .mark_line(color="#4e79a7")
        .encode(x=x, y=alt.Y("shown_px:Q", scale=y_scale), tooltip=tooltip)
    )
    return (
        alt.layer(bars, area + line)
        .resolve_scale(y="independent")
        .properties(width="container", height=height)
    )


def running_chart(running: pd.DataFrame) -> alt.LayerChart:
    """The slope after each annotation with its interval (``running_fit`` output)."""
    band = (
        alt.Chart(running)
        .mark_area(opacity=0.25)
        .encode(
            x=alt.X("n:Q", title="annotations"),
            y=alt.Y("slope_low:Q", title="slope"),
            y2="slope_high:Q",
        )
    )
    return band + alt.Chart(running).mark_line().encode(x="n:Q", y="slope:Q")


def distances_chart(distances: Sequence[float]) -> alt.Chart:
    """Histogram of the distances between annotators' clicks (pixels)."""
    table = pd.DataFrame({"distance_px": [float(d) for d in distances]})
    return (
        alt.Chart(table)
        .mark_bar()
        .encode(
            x=alt.X("distance_px:Q", bin=alt.Bin(maxbins=30), title="distance between clicks (px)"),
            y=alt.Y("count():Q", title="samples"),
        )
        .properties(height=180)
    )


def chart_png(chart: alt.TopLevelMixin, scale: float = 2.0) -> bytes:
    """PNG bytes of an Altair chart, rendered by vl-convert (no browser needed)."""
    try:
        import vl_convert
    except ImportError:
        raise KpcalError(
            "writing the chart as PNG needs vl-convert-python: pip install -r requirements.txt "
            "(or pass --no-png)"
        ) from None
    return vl_convert.vegalite_to_png(chart.to_json(), scale=scale)
