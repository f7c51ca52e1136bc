"""The headless command line: ``python -m kpcal_core {check,sample,fit,export,agreement}``.

This module owns the command-line interface: argument parsing, printing
(text, or JSON with ``--json``), exit codes, and the PNG of the fit chart.
Every command works on a project folder through the same engine functions as
the app (its session, config, annotation files and frame cache), so a script
and a person in the browser can take turns on one project:

- ``check``: the recordings table (:func:`kpcal_core.recordings.check_videos`);
- ``sample``: draw samples keeping every annotated one, save the session,
  decode the frames into the cache (as the setup page does);
- ``fit``: the line, through :func:`kpcal_core.diagnostics.fit_project` (the
  app's code path), with bootstrap intervals, whether it has settled,
  optionally a robust fit, and ``--save`` to ``config.yml``;
- ``export``: the annotations CSV, the error table and a PNG of the chart;
- ``agreement``: how far apart several annotators click (one CSV each).

Exit codes, for scripts: :data:`EXIT_OK` 0; :data:`EXIT_USAGE` 2 (bad
arguments, from argparse); :data:`EXIT_BAD_INPUT` 3 (a
:class:`~kpcal_core.errors.KpcalError` or an unreadable file: the message on
stderr says what to fix; ``check`` also when a recording cannot be
annotated); :data:`EXIT_NOT_ENOUGH` 4 (too few annotations to fit, or no
sample shared by two annotators).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from .annotations import CLEARED, format_annotations
from .atomic import atomic_write
from .config import config_path, load_config, save_params, setup_project
from .diagnostics import (
    NotEnoughAnnotations,
    ProjectFit,
    annotator_agreement,
    bootstrap_fit,
    fit_project,
    has_settled,
    load_annotator_files,
    mean_click_annotations,
    robust_fit,
    running_fit,
)
from .errors import KpcalError
from .formats import FORMATS as KEYPOINT_FORMATS
from .formats import load_keypoints
from .project import (
    draw_samples,
    load_project_data,
    load_working_annotations,
    project_lock,
    resolve,
    save_use_bodyparts,
    video_dir_of,
)
from .recordings import check_videos
from .session import (
    KEYPOINTS_FILENAME,
    CalibrationSession,
    frame_cache_dir,
    load_session,
    save_session,
    session_dir,
)

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_NOT_ENOUGH = 4

#: ``check_videos`` statuses that make a recording impossible to annotate.
BLOCKING_STATUSES = ("no video", "video too short", "video unreadable")
#: Samples decoded per call while filling the frame cache (bounds memory).
FRAME_BATCH = 64
PROG = "python -m kpcal_core"


# --------------------------------------------------------------------------- output helpers


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN/inf to None, tuples to lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _print_json(data: Any, out: TextIO) -> None:
    out.write(json.dumps(_plain(data), indent=1, ensure_ascii=False, allow_nan=False) + "\n")


def _table(frame: pd.DataFrame) -> str:
    with pd.option_context("display.max_rows", None, "display.width", 200):
        return frame.to_string(index=False)


# --------------------------------------------------------------------------- project helpers


def _existing_project(text: str) -> Path:
    folder = Path(os.path.expanduser(text))
    if not folder.is_dir():
        raise KpcalError(
            f"project folder {text!r} does not exist (give the folder holding config.yml)"
        )
    return folder


def _stored_path(project: Path, text: str) -> str:
    """A path typed on the command line (relative to the current folder) as the session keeps it.

    Relative to the project folder when it lies inside it (the project can be
    moved), absolute otherwise. Glob characters are kept.
    """
    path = Path(os.path.abspath(os.path.expanduser(text)))
    try:
        return str(path.relative_to(Path(os.path.abspath(project))))
    except ValueError:
        return str(path)


def _session(project: Path, args: argparse.Namespace) -> CalibrationSession:
    """The project's session with the source options of the command line applied."""
    session = load_session(project) or CalibrationSession()
    if getattr(args, "keypoints", None):
        session.keypoints_path = _stored_path(project, args.keypoints)
    if getattr(args, "format", None):
        session.keypoints_format = None if args.format == "auto" else args.format
    if getattr(args, "video_dir", None):
        session.video_dir = _stored_path(project, args.video_dir)
    if getattr(args, "video_extension", None):
        session.video_extension = args.video_extension.lstrip(".") or None
    if getattr(args, "recording_name_suffix", None) is not None:
        session.recording_name_suffix = args.recording_name_suffix
    return session


def _require_keypoints(project: Path, session: CalibrationSession) -> None:
    stored = session_dir(project) / KEYPOINTS_FILENAME
    if not session.keypoints_path and not stored.exists():
        raise KpcalError(
            f"project {str(project)!r} has no keypoints yet: pass --keypoints FILE_FOLDER_OR_GLOB "
            "(and --video-dir) to the sample command, or choose them on the app's setup page"
        )


def _load(project: Path, session: CalibrationSession):
    if not config_path(project).exists():
        raise KpcalError(
            f"{config_path(project)} does not exist: create the project with "
            f"`{PROG} sample PROJECT --keypoints FILE_FOLDER_OR_GLOB --video-dir VIDEOS` "
            "or on the app's setup page"
        )
    _require_keypoints(project, session)
    return load_project_data(project, session)


# --------------------------------------------------------------------------- check


def cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The recordings table; exit 3 when a recording cannot be annotated."""
    project = _existing_project(args.project)
    session = _session(project, args)
    data = _load(project, session)
    video_dir = video_dir_of(project, session, data.config)
    table = check_videos(
        data.coordinates,
        video_dir,
        data.video_frame_indexes,
        video_extension=session.video_extension,
        recording_name_suffix=session.recording_name_suffix,
        video_choices=data.video_choices,
    )
    blocking = table[table["status"].isin(BLOCKING_STATUSES)]
    if args.json:
        _print_json(
            {
                "project": str(project),
                "video_dir": None if video_dir is None else str(video_dir),
                "ok": blocking.empty,
                "recordings": table.to_dict(orient="records"),
            },
            out,
        )
    else:
        out.write(
            _table(table[["recording", "status", "video_frames", "keypoint_frames", "video"]])
            + "\n"
        )
        for row in table.itertuples():
            if row.status != "ok":
                out.write(f"\n{row.recording} ({row.status}): {row.reason}\n")
    if not blocking.empty:
        names = ", ".join(repr(r) for r in blocking["recording"])
        err.write(
            f"kpcal: {len(blocking)} of {len(table)} recording(s) cannot be annotated ({names}): "
            "see the reason column; fix the video folder (--video-dir) or the videos\n"
        )
        return EXIT_BAD_INPUT
    return EXIT_OK


# --------------------------------------------------------------------------- sample


def cmd_sample(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Draw samples (keeping annotated ones), save the session, fill the frame cache."""
    project = Path(os.path.expanduser(args.project))
    if args.keypoints:
        project.mkdir(parents=True, exist_ok=True)
    else:
        project = _existing_project(args.project)
    session = _session(project, args)
    _require_keypoints(project, session)
    if not config_path(project).exists():
        _, _, bodyparts = load_keypoints(
            str(resolve(project, session.keypoints_path)), session.keypoints_format
        )
        video_dir = resolve(project, session.video_dir)
        setup_project(project, bodyparts=bodyparts, video_dir=str(video_dir) if video_dir else None)
        err.write(f"kpcal: created {config_path(project)} from the keypoints' bodyparts\n")
    data = load_project_data(project, session)
    if args.use_bodyparts:
        use = [b.strip() for b in args.use_bodyparts.split(",") if b.strip()]
        data.config = save_use_bodyparts(project, use)
    num_bins = session.num_bins if args.num_bins is None else args.num_bins
    num_samples = session.num_samples if args.num_samples is None else args.num_samples
    pseudocount = (
        session.conf_pseudocount if args.conf_pseudocount is None else args.conf_pseudocount
    )
    if args.seed is not None:
        seed = args.seed
    elif session.seed is not None:
        seed = int(session.seed)
    else:
        seed = int(np.random.default_rng().integers(2**31))
    annotated = list(load_working_annotations(project))
    samples = draw_samples(
        data,
        annotated,
        use_bodyparts=data.use_bodyparts,
        num_bins=num_bins,
        num_samples=num_samples,
        conf_pseudocount=pseudocount,
        seed=seed,
    )
    missing = sorted({r for r, _, _ in samples if not data.video_paths.get(r)})
    if missing:
        raise KpcalError(
            f"recording {missing[0]!r} has no video: fix the video folder first "
            "(--video-dir; see the check command)"
        )
    annotated_keys = set(annotated)
    kept = sum(1 for k in samples if k in annotated_keys)
    session.num_bins, session.num_samples = int(num_bins), int(num_samples)
    session.conf_pseudocount, session.seed = float(pseudocount), int(seed)
    session.sample_keys = samples
    save_session(project, session)
    decoded = 0 if args.no_frames else _cache_frames(project, data, samples, err)
    summary = {
        "project": str(project),
        "samples": len(samples),
        "annotated_kept": kept,
        "seed": seed,
        "num_bins": int(num_bins),
        "num_samples": int(num_samples),
        "conf_pseudocount": float(pseudocount),
        "use_bodyparts": data.use_bodyparts,
        "frames_cached": decoded,
        "frame_cache": str(frame_cache_dir(project)),
    }
    if args.json:
        _print_json(summary, out)
    else:
        out.write(
            f"Drew {len(samples)} samples (seed {seed}; {kept} already annotated kept) "
            f"into {session_dir(project) / 'session.json'}\n"
        )
        if not args.no_frames:
            out.write(f"{decoded} frames ready in {frame_cache_dir(project)}\n")
    return EXIT_OK


def _cache_frames(project: Path, data, samples: list, err: TextIO) -> int:
    """Decode the samples' frames into the project's frame cache, a batch at a time."""
    from .videos import load_sampled_frames

    ordered = sorted(samples, key=lambda k: (k[0], k[1]))
    wanted = {(r, int(data.video_frame_indexes[r][f])) for r, f, _ in ordered}
    done = 0
    interactive = err.isatty() if hasattr(err, "isatty") else False
    for start in range(0, len(ordered), FRAME_BATCH):
        batch = ordered[start : start + FRAME_BATCH]
        load_sampled_frames(
            batch,
            "",
            data.video_frame_indexes,
            cache_dir=frame_cache_dir(project),
            video_paths={r: data.video_paths[r] for r in {s[0] for s in batch}},
        )
        done = min(len(ordered), start + FRAME_BATCH)
        if interactive:
            err.write(f"\rkpcal: frames for {done} of {len(ordered)} samples")
            err.flush()
    if interactive and ordered:
        err.write("\n")
    return len(wanted)


# --------------------------------------------------------------------------- fit


def _fit_summary(result: ProjectFit, args: argparse.Namespace) -> dict:
    fit = result.fit
    boot = bootstrap_fit(result.points, args.bootstrap, args.seed, args.level)
    settled, statement = has_settled(running_fit(result.points, level=args.level))
    summary: dict[str, Any] = {
        "project": str(result.data.project_dir),
        "slope": fit["slope"],
        "intercept": fit["intercept"],
        "r2": fit["r2"],
        "n": fit["n"],
        "not_visible": result.counts["not_visible"],
        "cleared": result.counts["cleared"],
        "left_out": result.n_left_out,
        "conf_pseudocount": result.data.conf_pseudocount,
        "interval": {
            "method": "percentile bootstrap",
            "level": boot["level"],
            "n_resamples": boot["n_resamples"],
            "seed": boot["seed"],
            "slope": [boot["slope_low"], boot["slope_high"]],
            "intercept": [boot["intercept_low"], boot["intercept_high"]],
        },
        "settled": settled,
        "settled_statement": statement,
        "per_bodypart": fit["per_bodypart"],
        "robust": None,
        "saved": None,
    }
    if args.robust:
        summary["robust"] = robust_fit(result.points, args.robust)
    return summary


def cmd_fit(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Fit the project's annotations (as the app does); print; optionally save."""
    if args.save_robust and not args.robust:
        raise KpcalError("--save-robust needs --robust METHOD (theil-sen or huber)")
    project = _existing_project(args.project)
    session = _session(project, args)
    data = _load(project, session)
    records = None
    if args.mean_of:
        records = mean_click_annotations(
            load_annotator_files(args.mean_of), min_annotators=args.min_annotators
        )
    result = fit_project(data=data, records=records)
    summary = _fit_summary(result, args)
    if args.save or args.save_robust:
        source = summary["robust"] if args.save_robust else summary
        threshold = (
            args.conf_threshold
            if args.conf_threshold is not None
            else float(load_config(project).get("conf_threshold", 0.5))
        )
        with project_lock(project):
            save_params(
                project,
                {
                    "slope": source["slope"],
                    "intercept": source["intercept"],
                    "conf_threshold": threshold,
                },
            )
        summary["saved"] = {
            "path": str(config_path(project)),
            "method": source.get("method", "least-squares"),
            "slope": source["slope"],
            "intercept": source["intercept"],
            "conf_threshold": threshold,
        }
    if args.json:
        _print_json(summary, out)
        return EXIT_OK
    interval = summary["interval"]
    level = f"{interval['level']:.0%}"
    lines = [
        f"slope      {summary['slope']:.6f}   ({level} CI {interval['slope'][0]:.4f} .. "
        f"{interval['slope'][1]:.4f})",
        f"intercept  {summary['intercept']:.6f}   ({level} CI {interval['intercept'][0]:.4f} .. "
        f"{interval['intercept'][1]:.4f})",
        f"r2         {summary['r2']:.4f}",
        f"n          {summary['n']} positioned annotations fitted "
        f"({summary['not_visible']} not visible, left out"
        + (
            f"; {summary['left_out']} of recordings or bodyparts not loaded, left out"
            if summary["left_out"]
            else ""
        )
        + ")",
        summary["settled_statement"],
    ]
    robust = summary["robust"]
    if robust:
        lines.append(
            f"robust ({robust['method']}): slope {robust['slope']:.6f}, "
            f"intercept {robust['intercept']:.6f}"
        )
    saved = summary["saved"]
    if saved:
        lines.append(
            f"Saved {saved['method']} slope {saved['slope']:.6f}, intercept "
            f"{saved['intercept']:.6f}, conf_threshold {saved['conf_threshold']:.4f} "
            f"to {saved['path']}"
        )
    out.write("\n".join(lines) + "\n")
    return EXIT_OK


# --------------------------------------------------------------------------- export


def fit_chart(points: pd.DataFrame, fit: Mapping | None, conf_threshold: float | None = None):
    """The fit page's chart as an Altair chart: points by bodypart, the line, the threshold.

    Parameters
    ----------
    points
        ``(n rows)`` table from :func:`~kpcal_core.fitting.error_points`.
    fit
        ``slope``, ``intercept`` (and ``r2``, ``n``) of the line, or ``None``
        for the points alone.
    conf_threshold
        Drawn as a dashed vertical rule at ``log10(conf_threshold)``.
    """
    import altair as alt

    columns = ["recording", "frame", "bodypart", "confidence", "error_px"]
    data = points[columns + ["log10_confidence", "log10_error"]].copy()
    title = "log10(error + 1) against log10(confidence)"
    if fit is not None:
        title = (
            f"slope {fit['slope']:.4f}, intercept {fit['intercept']:.4f}"
            + (f", R² {fit['r2']:.3f}" if fit.get("r2") is not None else "")
            + f", n = {len(points)}"
        )
    layers = [
        alt.Chart(data)
        .mark_circle(size=50, opacity=0.8)
        .encode(
            x=alt.X("log10_confidence:Q", title="log10(confidence)"),
            y=alt.Y("log10_error:Q", title="log10(error + 1)"),
            color=alt.Color("bodypart:N"),
        )
    ]
    if fit is not None and len(points):
        low, high = float(data["log10_confidence"].min()), float(data["log10_confidence"].max())
        line = pd.DataFrame({"log10_confidence": [low, high]})
        line["log10_error"] = fit["slope"] * line["log10_confidence"] + fit["intercept"]
        layers.append(
            alt.Chart(line)
            .mark_line(color="black")
            .encode(x="log10_confidence:Q", y="log10_error:Q")
        )
    if conf_threshold is not None and conf_threshold > 0:
        layers.append(
            alt.Chart(pd.DataFrame({"x": [math.log10(conf_threshold)]}))
            .mark_rule(strokeDash=[6, 4], color="gray")
            .encode(x="x:Q")
        )
    return alt.layer(*layers).properties(width=560, height=380, title=title)


def chart_png(chart, scale: float = 2.0) -> bytes:
    """PNG bytes of an Altair chart, rendered by vl-convert (no browser needed)."""
    try:
        import vl_convert
    except ImportError:
        raise KpcalError(
            "writing the chart as PNG needs vl-convert-python: pip install -r requirements.txt "
            "(or pass --no-png)"
        ) from None
    return vl_convert.vegalite_to_png(chart.to_json(), scale=scale)


def cmd_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Write the annotations CSV, the error table CSV and the chart PNG."""
    project = _existing_project(args.project)
    session = _session(project, args)
    data = _load(project, session)
    records = load_working_annotations(project)
    folder = Path(args.out) if args.out else session_dir(project) / "export"
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    kept = {k: v for k, v in records.items() if v.status != CLEARED}
    written["annotations"] = atomic_write(
        folder / "error_annotations.csv", format_annotations(kept, data.video_frame_indexes)
    )
    try:
        result = fit_project(data=data, records=records)
    except NotEnoughAnnotations:
        for path in written.values():
            out.write(f"{path}\n")
        raise
    points = result.points.copy()
    line = result.fit["slope"] * points["log10_confidence"] + result.fit["intercept"]
    points["residual"] = points["log10_error"] - line
    written["points"] = atomic_write(folder / "error_points.csv", points.to_csv(index=False))
    if not args.no_png:
        threshold = (
            args.conf_threshold
            if args.conf_threshold is not None
            else float(data.config.get("conf_threshold", 0.5))
        )
        png = chart_png(fit_chart(result.points, result.fit, threshold))
        written["chart"] = atomic_write(folder / "error_fit.png", png)
    if args.json:
        _print_json({name: str(path) for name, path in written.items()}, out)
    else:
        for path in written.values():
            out.write(f"{path}\n")
    return EXIT_OK


# --------------------------------------------------------------------------- agreement


def cmd_agreement(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Distances between annotators' clicks on shared samples (one CSV per annotator)."""
    by_annotator = load_annotator_files(args.csv)
    result = annotator_agreement(by_annotator)
    if args.distances:
        atomic_write(args.distances, result["distances"].to_csv(index=False))
    if args.mean_out:
        mean = mean_click_annotations(by_annotator, min_annotators=args.min_annotators)
        atomic_write(args.mean_out, format_annotations(mean, None))
    if args.json:
        _print_json(
            {k: v for k, v in result.items() if k != "distances"}
            | {"by_pair": result["by_pair"].to_dict(orient="records")},
            out,
        )
    else:
        out.write(result["statement"] + "\n")
        if result["n_pairs"]:
            out.write(_table(result["by_pair"]) + "\n")
    if result["n_pairs"] == 0:
        err.write("kpcal: no sample is annotated by two or more of the given files\n")
        return EXIT_NOT_ENOUGH
    return EXIT_OK


# --------------------------------------------------------------------------- parser


def _add_sources(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "keypoints and videos (default: the project's calibration session)"
    )
    group.add_argument("--keypoints", help="keypoint file, folder or glob")
    group.add_argument(
        "--format", choices=("auto",) + KEYPOINT_FORMATS, help="keypoint format (default: detect)"
    )
    group.add_argument("--video-dir", help="folder of the videos")
    group.add_argument("--video-extension", help="only videos with this extension")
    group.add_argument("--recording-name-suffix", help="text after the video name in recordings")


def _whole(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``argparse`` parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="kpcal without the browser: check recordings, sample, fit, export.",
        epilog="Exit codes: 0 ok; 2 bad arguments; 3 bad input (the message says what to fix); "
        "4 not enough annotations.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "check",
        help="the recordings table: which video each recording uses, and whether it fits",
        description="Print each recording's video and status. Exit 3 when a recording has "
        "no usable video (no video, video too short, video unreadable).",
    )
    check.add_argument("project", help="project folder (with config.yml)")
    _add_sources(check)
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(func=cmd_check)

    sample = commands.add_parser(
        "sample",
        help="draw the keypoints to annotate and cache their frames",
        description="Draw samples (already annotated samples are kept), save the session "
        "like the app's setup page, and decode their frames into the frame cache. Options "
        "given are saved in the session; the others come from it.",
    )
    sample.add_argument("project", help="project folder (created with --keypoints if missing)")
    _add_sources(sample)
    sample.add_argument("--num-samples", type=_whole(1), help="samples to draw")
    sample.add_argument("--num-bins", type=_whole(1), help="log-spaced confidence bins")
    sample.add_argument("--conf-pseudocount", type=_non_negative, help="added to confidences")
    sample.add_argument(
        "--seed", type=_whole(0), help="random seed (default: the session's, else random)"
    )
    sample.add_argument(
        "--use-bodyparts", help="comma-separated bodyparts to calibrate (saved to config.yml)"
    )
    sample.add_argument("--no-frames", action="store_true", help="do not decode frames")
    sample.add_argument("--json", action="store_true", help="machine-readable output")
    sample.set_defaults(func=cmd_sample)

    fit = commands.add_parser(
        "fit",
        help="fit the error line to the project's annotations (same numbers as the app)",
        description="Fit log10(error + 1) = slope * log10(confidence) + intercept to the "
        "positioned annotations (error_annotations.csv merged with the working copy) by "
        "least squares, as the app and keypoint-MoSeq do. Exit 4 with too few annotations.",
    )
    fit.add_argument("project", help="project folder")
    _add_sources(fit)
    fit.add_argument("--save", action="store_true", help="save slope, intercept to config.yml")
    fit.add_argument(
        "--conf-threshold",
        type=_non_negative,
        help="conf_threshold saved with --save and drawn by export (default: the config's)",
    )
    fit.add_argument(
        "--robust",
        nargs="?",
        const="theil-sen",
        choices=("theil-sen", "huber"),
        help="also print a robust fit (default method: theil-sen)",
    )
    fit.add_argument(
        "--save-robust", action="store_true", help="save the robust line instead (with --robust)"
    )
    fit.add_argument(
        "--mean-of",
        nargs="+",
        metavar="CSV",
        help="fit the mean of several annotators' clicks (one CSV each) instead",
    )
    fit.add_argument(
        "--min-annotators",
        type=_whole(1),
        default=1,
        help="with --mean-of: samples positioned by at least this many annotators",
    )
    fit.add_argument("--bootstrap", type=_whole(1), default=1000, help="bootstrap resamples")
    fit.add_argument("--level", type=_fraction, default=0.95, help="interval coverage")
    fit.add_argument("--seed", type=_whole(0), default=0, help="bootstrap seed")
    fit.add_argument("--json", action="store_true", help="machine-readable output")
    fit.set_defaults(func=cmd_fit)

    export = commands.add_parser(
        "export",
        help="write the annotations CSV, the error table and a PNG of the chart",
        description="Write error_annotations.csv (every annotation: saved file merged with "
        "the working copy), error_points.csv (confidence, error and residual of each fitted "
        "annotation) and error_fit.png (the chart) into --out.",
    )
    export.add_argument("project", help="project folder")
    _add_sources(export)
    export.add_argument("--out", help="output folder (default: PROJECT/calibration/export)")
    export.add_argument(
        "--conf-threshold", type=_non_negative, help="threshold drawn (default: the config's)"
    )
    export.add_argument("--no-png", action="store_true", help="skip the chart")
    export.add_argument("--json", action="store_true", help="machine-readable output")
    export.set_defaults(func=cmd_export)

    agreement = commands.add_parser(
        "agreement",
        help="how far apart annotators click on the same samples (one CSV each)",
        description="Distances between the clicks of several annotators on the samples they "
        "all positioned: the human error floor. Give one error_annotations.csv per annotator. "
        "Exit 4 when no sample is shared.",
    )
    agreement.add_argument("csv", nargs="+", help="two or more annotation CSV files")
    agreement.add_argument("--distances", help="write every distance to this CSV")
    agreement.add_argument(
        "--mean-out", help="write annotations at the mean of the clicks to this CSV"
    )
    agreement.add_argument(
        "--min-annotators",
        type=_whole(1),
        default=1,
        help="with --mean-out: keep samples positioned by at least this many",
    )
    agreement.add_argument("--json", action="store_true", help="machine-readable output")
    agreement.set_defaults(func=cmd_agreement, subparser=agreement)
    return parser


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run the command line; returns the exit code (argparse errors exit 2 via ``SystemExit``).

    Parameters
    ----------
    argv
        Arguments without the program name; default ``sys.argv[1:]``.
    out, err
        Where to print; default ``sys.stdout``, ``sys.stderr``.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "agreement" and len(args.csv) < 2:
        args.subparser.error("needs two or more CSV files (one per annotator)")
    try:
        return args.func(args, out, err)
    except NotEnoughAnnotations as error:
        err.write(f"kpcal: not enough annotations: {error}\n")
        return EXIT_NOT_ENOUGH
    except KpcalError as error:
        err.write(f"kpcal: {error}\n")
        return EXIT_BAD_INPUT
    except OSError as error:
        err.write(f"kpcal: {error}\n")
        return EXIT_BAD_INPUT
