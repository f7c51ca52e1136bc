"""The method page's figure (docs/method.md) of the two annotation orders: ``python bench/figure_design.py``.

Writes ``docs/annotation_order.png`` (Altair, rendered by vl-convert): the
histogram of the population's log10 confidences (the simulation's mixture,
100,000 keypoints), where the first 60 picks of each order fall, and the stop
rule's RMS half-width against the number of annotations (median of 100
simulated repetitions of generator B of ``bench_design.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import vl_convert

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench_design as bd  # noqa: E402

from kpcal_core.planning import plan_annotation_order, population_of  # noqa: E402
from kpcal_core.running import stop_numbers  # noqa: E402
from kpcal_core.sampling import sample_error_frames  # noqa: E402
from kpcal_core.stopping import STOP_RMS_HALF_WIDTH  # noqa: E402

LABELS = {"fixed": "keypoint-MoSeq's equal bins", "planned": "planned (I-optimal)"}


def main() -> int:
    rng = np.random.default_rng(0)
    conf = bd.confidences(bd.POOL, rng)[:, None]
    names = ["bp0"]
    population = population_of({"pool": conf}, names, names, bd.PC, n_hist_bins=40)
    edges = population.hist_edges
    hist = pd.DataFrame({"low": edges[:-1], "high": edges[1:], "keypoints": population.hist_counts})
    x = np.log10(conf[:, 0] + bd.PC)
    picks = []
    for design, keys in (
        ("fixed", sample_error_frames({"pool": conf}, names, names, 10, 60, bd.PC, seed=0)),
        ("planned", plan_annotation_order({"pool": conf}, names, names, 10, 60, bd.PC, seed=0)),
    ):
        for _, frame, _ in keys:
            picks.append({"order": LABELS[design], "x": x[frame]})
    picks = pd.DataFrame(picks)

    sim = bd.simulate("B", 100, 200, 0)
    rule = sim["rule_moments"]  # the stop rule's population mean and variance
    curves = []
    for design in ("fixed", "planned"):
        numbers = stop_numbers(sim["x"][design], sim["y"][design], rule[:, 0], rule[:, 1])
        rms = np.median(numbers["rms_half_width"][:, 19:], axis=0)
        for n in range(20, 201):
            curves.append({"order": LABELS[design], "annotations": n, "rms": rms[n - 20]})
    curves = pd.DataFrame(curves)

    scale = alt.Scale(domain=[float(edges[0]), float(edges[-1])])
    colour = alt.Color("order:N", title=None, legend=alt.Legend(orient="top"))
    bars = (
        alt.Chart(hist)
        .mark_bar(color="#9aa5b1")
        .encode(
            x=alt.X("low:Q", scale=scale, title="log10(confidence + 0.001)"),
            x2="high:Q",
            y=alt.Y("keypoints:Q", title="keypoints (√ scale)", scale=alt.Scale(type="sqrt")),
            y2=alt.datum(0),
        )
        .properties(width=520, height=120, title="All keypoints (what the line is applied to)")
    )
    ticks = (
        alt.Chart(picks)
        .mark_tick(thickness=2, size=18)
        .encode(
            x=alt.X("x:Q", scale=scale, title="log10(confidence + 0.001)"),
            y=alt.Y("order:N", title=None),
            color=colour,
        )
        .properties(width=520, height=70, title="The first 60 annotations of each order")
    )
    target = (
        alt.Chart(pd.DataFrame({"y": [STOP_RMS_HALF_WIDTH]}))
        .mark_rule(strokeDash=[4, 3], color="black")
        .encode(y="y:Q")
    )
    lines = (
        alt.Chart(curves)
        .mark_line()
        .encode(
            x=alt.X("annotations:Q", title="annotations"),
            y=alt.Y("rms:Q", title="RMS 95% half-width"),
            color=colour,
        )
        .properties(
            width=520,
            height=150,
            title="How well the line is known over all keypoints (floor/cap truth, noise 0.2; "
            "dashed: the stop)",
        )
    )
    chart = alt.vconcat(bars, ticks, lines + target).configure_title(fontSize=12, anchor="start")
    out = HERE.parent / "docs" / "annotation_order.png"
    out.write_bytes(vl_convert.vegalite_to_png(chart.to_json(), scale=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
