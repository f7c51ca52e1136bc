"""The command line: ``kpcal {app,check,sample,video,fit,export,agreement}`` (or ``python -m kpcal_core``).

This module parses arguments and prints (text, or JSON with ``--json``), data in
terminal-safe form (:func:`terminal_text`: a name holding ``ESC[`` or another control
character cannot move the cursor, recolour or rewrite the terminal);
every step is a function of :mod:`kpcal_core.workflows`, the same the app's
pages call, so a script and a person in the browser take turns on one project
and get the same numbers and files:

- ``check``: the recordings table (:func:`~kpcal_core.workflows.recordings_report`);
- ``sample``: choose the keypoints and videos, draw samples
  (:func:`~kpcal_core.workflows.draw_samples`), fill the frame cache;
- ``video``: set (or unset) the video of one recording;
- ``fit``: the line with bootstrap intervals, whether it has settled, optionally
  a robust line, and ``--save`` to ``config.yml``
  (:func:`~kpcal_core.workflows.save_calibration`);
- ``export``: the annotations CSV, the error table and a PNG of the chart;
- ``agreement``: how far apart several annotators click (the project's file, or one CSV each);
- ``app``: serve the Streamlit app (:mod:`kpcal_core.appfiles` finds it, installed or in a
  checkout; Streamlit is imported only by the server it starts).

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
import re
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from . import appfiles, cli_parser, sentences, workflows
from .agreement import (
    annotator_agreement,
    annotator_bias,
    load_annotator_files,
    mean_click_annotations,
    project_annotators,
)
from .annotations import ANNOTATIONS_FILENAME, format_annotations
from .atomic import atomic_write
from .cli_parser import PROG
from .config import config_path, load_config
from .errors import KpcalError, NotEnoughAnnotations, NotSaved
from .fitting import FittedLine
from .intervals import bootstrap_fit
from .logs import errors_only, every_line_asked
from .per_bodypart import per_bodypart_fits
from .prior import ModelPrior, SlopeCheck, slope_check
from .session import (
    CalibrationSession,
    frame_cache_dir,
    load_session,
    session_dir,
    session_path,
)
from .wording import count

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_NOT_ENOUGH = 4


# --------------------------------------------------------------------------- output helpers

# What could rewrite a terminal or reorder a printed line: C0 controls but tab and line feed
# (ESC starts ANSI sequences, CR and BS move back), DEL, C1 controls (CSI, OSC...) and
# Unicode's bidirectional controls.
_TERMINAL_CONTROLS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def terminal_text(text: str) -> str:
    r"""``text`` with every character that could rewrite a terminal shown as an escape.

    Parameters
    ----------
    text
        What is printed (names, paths and messages from files included).

    Returns
    -------
    str
        ``text`` with C0 controls other than tab and line feed, DEL, C1 controls and
        bidirectional controls written as ``\x1b``, ``\u202e`` (Python's escapes).
    """
    return _TERMINAL_CONTROLS.sub(lambda m: repr(m.group())[1:-1], text)


class TerminalStream:
    """A text stream that writes everything through :func:`terminal_text`.

    :func:`main` wraps its ``out`` and ``err`` in one, so no printed name or path can
    hold a control sequence; :meth:`rewrite_line` is the one deliberate carriage return.
    """

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> int:
        """Write ``text`` with its terminal controls escaped; the count the stream gives."""
        return self.stream.write(terminal_text(text))

    def rewrite_line(self, text: str) -> None:
        """Go back to the start of the line and write ``text`` over it (a progress line)."""
        self.stream.write("\r" + terminal_text(text))

    def flush(self) -> None:
        """Flush the stream underneath."""
        self.stream.flush()

    def isatty(self) -> bool:
        """Whether the stream underneath is a terminal (False when it cannot say)."""
        return bool(getattr(self.stream, "isatty", lambda: False)())


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
    text = json.dumps(_plain(data), indent=1, ensure_ascii=False, allow_nan=False)
    # json escapes C0 controls; the rest :func:`terminal_text` would show are escaped the JSON
    # way (they can only be inside strings), so the output stays the same JSON.
    out.write(_TERMINAL_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")


def _table(frame: pd.DataFrame) -> str:
    with pd.option_context("display.max_rows", None, "display.width", 200):
        return frame.to_string(index=False)


# --------------------------------------------------------------------------- project


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


def _sources(project: Path, args: argparse.Namespace) -> workflows.Sources | None:
    """The keypoint and video options given, over the session's (``None``: none given)."""
    given = [
        getattr(args, name, None)
        for name in ("keypoints", "format", "video_dir", "video_extension", "duplicates")
    ]
    if not any(given) and getattr(args, "recording_name_suffix", None) is None:
        return None
    session = load_session(project) if project.is_dir() else None
    session = session or CalibrationSession()
    keypoints = _stored_path(project, args.keypoints) if args.keypoints else session.keypoints_path
    if not keypoints:
        raise KpcalError(
            f"project {str(project)!r} has no keypoints yet: pass --keypoints FILE_FOLDER_OR_GLOB "
            "(and --video-dir), or choose them on the app's setup page"
        )
    fmt = args.format if args.format else session.keypoints_format
    suffix = args.recording_name_suffix
    return workflows.Sources(
        keypoints=keypoints,
        format=None if fmt in (None, "auto") else fmt,
        video_dir=_stored_path(project, args.video_dir) if args.video_dir else session.video_dir,
        video_extension=args.video_extension or session.video_extension,
        recording_name_suffix=session.recording_name_suffix if suffix is None else suffix,
        duplicates=args.duplicates or session.keypoints_duplicates,
    )


def _open(args: argparse.Namespace, err: TextIO, *, create: bool = False):
    """The project, after saving any keypoint/video options given (as the setup page does)."""
    project = Path(os.path.expanduser(args.project))
    sources = _sources(project, args)
    if sources is not None:
        chosen = workflows.choose_sources(project, sources, create=create)
        for warning in chosen.warnings:
            err.write(f"kpcal: {warning}\n")
        if chosen.anatomy_note:
            err.write(
                f"kpcal: {chosen.anatomy_note} Set anterior_bodyparts and posterior_bodyparts "
                "in config.yml (keypoint-MoSeq uses them to find the animal's heading).\n"
            )
        if chosen.created_config:
            err.write(f"kpcal: created {config_path(project)} from the keypoints' bodyparts\n")
    return workflows.open_project(project)


# --------------------------------------------------------------------------- check


def cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The recordings table; exit 3 when a recording cannot be annotated."""
    data = _open(args, err)
    table = workflows.recordings_report(data)
    blocking = table[table["status"].isin(workflows.BLOCKING_STATUSES)]
    if args.json:
        _print_json(
            {
                "project": str(data.project_dir),
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
            f"kpcal: {len(blocking)} of {count(len(table), 'recording')} cannot be annotated "
            f"({names}): "
            "see the reason column; fix the video folder (--video-dir) or set a recording's "
            f"video with `{PROG} video PROJECT RECORDING PATH`\n"
        )
        return EXIT_BAD_INPUT
    return EXIT_OK


# --------------------------------------------------------------------------- sample


def cmd_sample(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Draw samples (keeping annotated ones), save the session, fill the frame cache."""
    data = _open(args, err, create=bool(args.keypoints))
    use = (
        [b.strip() for b in args.use_bodyparts.split(",") if b.strip()]
        if args.use_bodyparts
        else None
    )
    session = data.session
    seed = args.seed if args.seed is not None else session.seed
    draw = workflows.draw_samples(
        data,
        use_bodyparts=use,
        num_bins=args.num_bins,
        num_samples=args.num_samples,
        conf_pseudocount=args.conf_pseudocount,
        seed=seed,
        order=args.order,
        second_look_share=args.second_look,
    )
    interactive = err.isatty() if hasattr(err, "isatty") else False

    def progress(done: int, total: int, ready: list) -> None:
        if interactive:
            line = f"kpcal: {sentences.frames_ready(done, total)}"
            if isinstance(err, TerminalStream):
                err.rewrite_line(line)
            else:
                err.write("\r" + line)
            err.flush()

    cached = 0 if args.no_frames else workflows.fill_frame_cache(data, progress=progress)
    if interactive and not args.no_frames:
        err.write("\n")
    summary = {
        "project": str(data.project_dir),
        "samples": len(draw.sample_keys),
        "asked": draw.asked,
        "annotated_kept": draw.kept,
        "new": draw.new,
        "available": draw.available,
        "left_out": draw.left_out,
        "seed": draw.seed,
        "order": draw.order,
        "num_bins": int(session.num_bins),
        "num_samples": int(session.num_samples),
        "conf_pseudocount": float(session.conf_pseudocount),
        "use_bodyparts": data.use_bodyparts,
        "frames_cached": cached,
        "frame_cache": str(frame_cache_dir(data.project_dir)),
        "message": sentences.sample_draw_message(draw),
    }
    if args.json:
        _print_json(summary, out)
    else:
        out.write(
            sentences.sample_draw_message(draw) + f" Saved in {session_path(data.project_dir)}.\n"
        )
        if not args.no_frames:
            out.write(f"{count(cached, 'frame')} ready. {workflows.frame_cache_summary(data)}\n")
    return EXIT_OK


# --------------------------------------------------------------------------- video


def cmd_video(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Set (or with ``--unset``, forget) the video of one recording."""
    data = workflows.open_project(Path(os.path.expanduser(args.project)))
    if args.recording not in data.coordinates:
        known = ", ".join(repr(r) for r in list(data.coordinates)[:10])
        raise KpcalError(f"no recording {args.recording!r} in the project (recordings: {known})")
    if bool(args.path) == bool(args.unset):
        raise KpcalError("give either a video PATH or --unset")
    workflows.set_video(data.project_dir, args.recording, None if args.unset else args.path)
    row = workflows.recordings_report(workflows.open_project(data.project_dir))
    row = row[row["recording"] == args.recording].iloc[0]
    out.write(f"{args.recording}: {row['status']} ({row['video']}). {row['reason']}\n")
    return EXIT_OK if row["status"] not in workflows.BLOCKING_STATUSES else EXIT_BAD_INPUT


# --------------------------------------------------------------------------- fit


def _fit_summary(result: workflows.CalibrationFit, args: argparse.Namespace) -> dict:
    project = result.project
    fit = project.fit
    boot = bootstrap_fit(project.line_points, args.bootstrap, args.seed, args.level)
    data = project.data
    stop = workflows.stop_status(data, project.records, level=args.level)
    more_samples = len(data.session.sample_keys) + (stop.draw_more or 0)
    draw_hint = (
        f"kpcal sample {shlex.quote(str(data.project_dir))} --num-samples {more_samples}: "
        "same order and seed"
    )
    return {
        "project": str(project.data.project_dir),
        "slope": fit.slope,
        "intercept": fit.intercept,
        "r2": fit.r2,
        "n": fit.n,
        "not_visible": project.counts["not_visible"],
        "cleared": project.counts["cleared"],
        "left_out": project.n_left_out,
        "conf_pseudocount": project.data.conf_pseudocount,
        "interval": {
            "method": "percentile bootstrap",
            "level": boot.level,
            "n_resamples": boot.n_resamples,
            "seed": boot.seed,
            "slope": [boot.slope_low, boot.slope_high],
            "intercept": [boot.intercept_low, boot.intercept_high],
        },
        "settled": stop.settled,
        "settled_statement": sentences.stop_statement(stop, draw_hint),
        "stop_rule": stop.as_dict(),
        "per_bodypart": fit.as_dict()["per_bodypart"],
        "robust": result.line.as_dict() if result.method != "least-squares" else None,
        "slope_check": _slope_check_summary(slope_check(project.line_points, result.line.slope)),
        "model_prior": _model_prior_summary(
            workflows.project_model_prior(
                project.data,
                result.line,
                args.conf_threshold,
                per_bodypart=per_bodypart_fits(project.line_points, args.bootstrap, args.seed),
            )
        ),
        "saved": None,
    }


def _slope_check_summary(check: SlopeCheck) -> dict:
    """``kpcal fit --json``'s ``slope_check``: whether the line may be written unconfirmed."""
    return {
        "slope": check.slope,
        "interval": [check.low, check.high],
        "kind": check.kind,
        "needs_confirmation": not check.decreasing,
        "problem": check.problem,
    }


def _model_prior_summary(prior: ModelPrior) -> dict:
    """``kpcal fit --json``'s ``model_prior``.

    s0 per bodypart under this fit, the default line and config.yml's
    (:mod:`kpcal_core.prior`), and the sentences the fit page shows.
    """
    out = prior.as_dict()
    out["formula"] = (
        "s0 = 10 ** (2 * (log10(conf + 1e-6) * slope + intercept)), conf = confidence "
        "(0 where no position) + conf_pseudocount (jax-moseq estimate_error)"
    )
    out["sentences"] = [
        *sentences.model_prior_lines(prior),
        sentences.bodypart_line_statement(prior),
    ]
    return out


def cmd_fit(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Fit the project's annotations (as the app does); print; optionally save."""
    if args.save_robust and not args.robust:
        raise KpcalError("--save-robust needs --robust METHOD (theil-sen or huber)")
    data = _open(args, err)
    records = None
    if args.mean_of:
        records = mean_click_annotations(
            load_annotator_files(args.mean_of), min_annotators=args.min_annotators
        )
    result = workflows.calibration_fit(data, records, args.robust or "least-squares")
    summary = _fit_summary(result, args)
    saved = None
    if args.save or args.save_robust:
        line = result.line if args.save_robust else FittedLine.least_squares(result.project.fit)
        threshold = (
            args.conf_threshold
            if args.conf_threshold is not None
            else float(load_config(data.project_dir).get("conf_threshold", 0.5))
        )
        saved = workflows.save_calibration(
            data,
            slope=line.slope,
            intercept=line.intercept,
            conf_threshold=threshold,
            method=line.method,
            points=result.project.line_points,
            confirm_slope=args.confirm_slope,
        )
        summary["saved"] = asdict(saved)
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
    problem = summary["slope_check"]["problem"]
    if problem:  # the fit page's words; a line saved with --confirm-slope was written
        lines.append(problem if saved else sentences.slope_not_written(problem))
    lines += summary["model_prior"]["sentences"]
    robust = summary["robust"]
    if robust:
        lines.append(
            f"robust ({robust['method']}): slope {robust['slope']:.6f}, "
            f"intercept {robust['intercept']:.6f}"
        )
    if saved is not None:
        lines.append(sentences.line_saved(saved))
    out.write("\n".join(lines) + "\n")
    return EXIT_OK


# --------------------------------------------------------------------------- export


def cmd_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Write the annotations CSV, the error table CSV and the chart PNG."""
    data = _open(args, err)
    try:
        written = workflows.export(
            data, args.out, conf_threshold=args.conf_threshold, png=not args.no_png
        ).paths()
    except NotEnoughAnnotations:
        folder = Path(args.out) if args.out else session_dir(data.project_dir) / "export"
        out.write(f"{folder / ANNOTATIONS_FILENAME}\n")
        raise
    if args.json:
        _print_json({name: str(path) for name, path in written.items()}, out)
    else:
        for path in written.values():
            out.write(f"{path}\n")
    return EXIT_OK


# --------------------------------------------------------------------------- agreement


def cmd_agreement(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Distances between annotators' clicks on shared samples, and each one's bias.

    One project folder (its ``error_annotations.csv`` and working copy, rows per
    annotator; bias also in log10(error + 1) when its keypoints load) or CSV
    files (a file of several annotators gives each of them; px only).
    """
    predictions = None
    if len(args.csv) == 1 and Path(args.csv[0]).is_dir():
        project = Path(args.csv[0])
        if not config_path(project).exists() and not session_dir(project).is_dir():
            raise KpcalError(f"{str(project)!r} is not a kpcal project folder (no config.yml)")
        by_annotator = project_annotators(project)
        predictions = _predictions(project, by_annotator, err)
    else:
        by_annotator = load_annotator_files(args.csv)
    result = annotator_agreement(by_annotator)
    bias = annotator_bias(by_annotator, predictions)
    if args.distances:
        atomic_write(args.distances, result.distances.to_csv(index=False))
    if args.mean_out:
        mean = mean_click_annotations(by_annotator, min_annotators=args.min_annotators)
        atomic_write(args.mean_out, format_annotations(mean, None))
    flagged = bias.loc[bias["flagged"], "annotator"].tolist()
    statement = sentences.agreement_statement(result)
    if args.json:
        _print_json(
            {k: v for k, v in result.as_dict().items() if k != "distances"}
            | {
                "statement": statement,
                "by_pair": result.by_pair.to_dict(orient="records"),
                "by_annotator": bias.to_dict(orient="records"),
                "flagged": flagged,
                "flag_rule": sentences.FLAG_RULE,
            },
            out,
        )
    else:
        out.write(statement + "\n")
        if result.n_pairs:
            out.write(_table(result.by_pair) + "\n")
        if len(bias):
            out.write("Each annotator against the mean of the others (px; log10(error + 1)):\n")
            out.write(_table(bias) + "\n")
            out.write(
                (f"Flagged: {', '.join(flagged)}." if flagged else "No annotator is flagged.")
                + f" {sentences.flag_rule(sentences.FLAG_RULE)}\n"
            )
    if result.n_pairs == 0:
        err.write("kpcal: no sample is annotated by two or more annotators\n")
        return EXIT_NOT_ENOUGH
    return EXIT_OK


def _predictions(project: Path, by_annotator: dict, err: TextIO) -> dict | None:
    """The network's position of every annotated sample.

    ``None`` (said on ``err``) when the project's keypoints cannot be loaded.
    """
    try:
        data = workflows.open_project(project)
    except KpcalError as error:
        err.write(f"kpcal: bias in log10(error + 1) left out: {error}\n")
        return None
    out = {}
    for records in by_annotator.values():
        for recording, frame, bodypart in records:
            coords = data.coordinates.get(recording)
            if coords is None or bodypart not in data.bodyparts or frame >= len(coords):
                continue
            x, y = coords[frame, data.bodyparts.index(bodypart)]
            out[(recording, frame, bodypart)] = (float(x), float(y))
    return out


# --------------------------------------------------------------------------- parser


def cmd_app(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Serve the app on the project (Streamlit's own options after ``--``)."""
    return appfiles.serve(appfiles.app_arguments(args.project, args.streamlit_options))


#: What each subcommand runs (:func:`kpcal_core.cli_parser.build_parser` sets it as ``func``).
COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO, TextIO], int]] = {
    "app": cmd_app,
    "check": cmd_check,
    "sample": cmd_sample,
    "video": cmd_video,
    "fit": cmd_fit,
    "export": cmd_export,
    "agreement": cmd_agreement,
}


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser, each subcommand running its function of :data:`COMMANDS`."""
    return cli_parser.build_parser(COMMANDS)


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
    shown_out = TerminalStream(out or sys.stdout)
    shown_err = TerminalStream(err or sys.stderr)
    argv = list(sys.argv[1:] if argv is None else argv)
    streamlit_options: list[str] = []
    if argv[:1] == ["app"] and "--" in argv:  # kpcal app [PROJECT] -- streamlit options
        streamlit_options = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    parser = build_parser()
    if argv[:1] == ["app"]:
        args, unknown = parser.parse_known_args(argv)
        if unknown:
            args.subparser.error(
                f"unrecognized arguments: {' '.join(unknown)} (Streamlit's options go after "
                "--, e.g. kpcal app PROJECT -- --server.port 8502)"
            )
        args.streamlit_options = streamlit_options
    else:
        args = parser.parse_args(argv)
    try:
        with errors_only(not (args.log or every_line_asked())):
            return args.func(args, shown_out, shown_err)
    except NotEnoughAnnotations as error:
        shown_err.write(f"kpcal: not enough annotations: {error}\n")
        return EXIT_NOT_ENOUGH
    except KpcalError as error:
        if isinstance(error, NotSaved):  # a full disk...: the operator's log says so too
            _log_not_saved(args, error)
        shown_err.write(f"kpcal: {error}\n")
        return EXIT_BAD_INPUT
    except OSError as error:
        shown_err.write(f"kpcal: {error}\n")
        return EXIT_BAD_INPUT


def _log_not_saved(args: argparse.Namespace, error: NotSaved) -> None:
    """The ``event=error`` log line of a save the system refused, with the project and user."""
    import getpass

    from .logs import log_event

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    log_event(
        "error",
        user=user,
        project=getattr(args, "project", "") or "",
        page=f"cli {args.command}",
        kind="NotSaved",
        message=str(error),
    )
