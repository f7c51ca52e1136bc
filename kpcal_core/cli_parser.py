"""The command line's arguments: every ``kpcal`` subcommand, its options and their types.

Owns :func:`build_parser` (what ``kpcal --help`` shows) and the argument types (whole
numbers, fractions, shares). What each subcommand does, and what it prints, is
:mod:`kpcal_core.cli`'s.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping

from . import workflows
from .fitting import FIT_METHODS
from .formats import DUPLICATE_CHOICES
from .formats import FORMATS as KEYPOINT_FORMATS
from .logs import LOG_ENV

PROG = "kpcal"


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
    group.add_argument(
        "--duplicates",
        choices=DUPLICATE_CHOICES,
        help="several outputs of one video (DeepLabCut .h5 and filtered .csv): keep the "
        "unfiltered one (default), the filtered one, or all",
    )


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


def _number(text: str) -> float:
    """``text`` as a float, or argparse's error naming it."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _non_negative(text: str) -> float:
    value = _number(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def _share(text: str) -> float:
    value = _non_negative(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be a share between 0 and 1, got {text!r}")
    return value


def _command(
    commands,
    name: str,
    func,
    *,
    help: str,
    description: str,
    project: str | None = "project folder",
    sources: bool = True,
) -> argparse.ArgumentParser:
    """One subcommand: its PROJECT argument, the source options, ``--json`` and its function."""
    parser = commands.add_parser(name, help=help, description=description)
    if project:
        parser.add_argument("project", help=project)
    if sources:
        _add_sources(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--log",
        action="store_true",
        help="also write the log lines a server keeps in its journal (kpcal time=... "
        f"event=save or params) on stderr; {LOG_ENV}=1 does the same (errors always are)",
    )
    parser.set_defaults(func=func, subparser=parser)
    return parser


def build_parser(handlers: Mapping[str, Callable] | None = None) -> argparse.ArgumentParser:
    """The ``argparse`` parser of every subcommand.

    ``handlers`` (``{command: function}``, :data:`kpcal_core.cli.COMMANDS`) become each
    subcommand's ``func``.
    """
    handlers = handlers or {}
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="kpcal without the browser: check recordings, sample, fit, export.",
        epilog="Exit codes: 0 ok; 2 bad arguments; 3 bad input (the message says what to fix); "
        "4 not enough annotations.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    app = commands.add_parser(
        "app",
        usage="kpcal app [-h] [PROJECT] [-- STREAMLIT_OPTION ...]",
        help="open the app in the browser (kpcal app [PROJECT] [-- streamlit options])",
        description="Serve the kpcal app with Streamlit, from the installed package or this "
        "checkout, from any folder. Give Streamlit's own options after --, e.g. "
        "kpcal app PROJECT -- --server.port 8502 --server.headless true.",
        epilog="Without PROJECT: KPCAL_PROJECT, else the demo project.",
    )
    app.add_argument("project", nargs="?", help="project folder to open")
    app.set_defaults(func=handlers.get("app"), subparser=app, streamlit_options=[], log=False)

    _command(
        commands,
        "check",
        handlers.get("check"),
        help="the recordings table: which video each recording uses, and whether it fits",
        description="Print each recording's video and status. Exit 3 when a recording has "
        "no usable video (no video, video too short, video unreadable).",
        project="project folder (with config.yml)",
    )

    sample = _command(
        commands,
        "sample",
        handlers.get("sample"),
        help="draw the keypoints to annotate and cache their frames",
        description="Draw samples (already annotated samples are kept), save the session "
        "like the app's setup page, and decode their frames into the frame cache. Options "
        "given are saved in the session; the others come from it.",
        project="project folder (created with --keypoints if missing)",
    )
    sample.add_argument("--num-samples", type=_whole(1), help="samples to draw")
    sample.add_argument("--num-bins", type=_whole(1), help="log-spaced confidence bins")
    sample.add_argument("--conf-pseudocount", type=_non_negative, help="added to confidences")
    sample.add_argument(
        "--seed", type=_whole(0), help="random seed (default: the session's, else random)"
    )
    sample.add_argument(
        "--use-bodyparts", help="comma-separated bodyparts to calibrate (saved to config.yml)"
    )
    sample.add_argument(
        "--order",
        choices=workflows.SAMPLE_ORDERS,
        help="planned (default: the order that teaches the line most) or keypoint-moseq "
        "(equal numbers per confidence bin)",
    )
    sample.add_argument(
        "--second-look",
        type=_share,
        help="share of the samples a second annotator sees too, 0 to 1 (default: the "
        "session's, 0.1 for a new one)",
    )
    sample.add_argument("--no-frames", action="store_true", help="do not decode frames")

    video = _command(
        commands,
        "video",
        handlers.get("video"),
        help="set the video of one recording (when matching by name does not find it)",
        description="Use PATH as the video of RECORDING from now on (kept in the project's "
        "session, as the app's setup page does); --unset goes back to matching by name.",
        sources=False,
    )
    video.add_argument("recording", help="recording name (see the check command)")
    video.add_argument("path", nargs="?", help="the video file")
    video.add_argument("--unset", action="store_true", help="forget the video set for it")

    fit = _command(
        commands,
        "fit",
        handlers.get("fit"),
        help="fit the error line to the project's annotations (same numbers as the app)",
        description="Fit log10(error + 1) = slope * log10(confidence) + intercept to the "
        "positioned annotations (error_annotations.csv merged with the working copy) by "
        "least squares, as the app and keypoint-MoSeq do. Exit 4 with too few annotations.",
    )
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
        choices=FIT_METHODS[1:],
        help="also print a robust fit (default method: theil-sen)",
    )
    fit.add_argument(
        "--save-robust", action="store_true", help="save the robust line instead (with --robust)"
    )
    fit.add_argument(
        "--confirm-slope",
        action="store_true",
        help="with --save: write the line even when its slope is flat or positive (errors not "
        "shown to shrink as confidence grows); without it such a line is refused (exit 3)",
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

    export = _command(
        commands,
        "export",
        handlers.get("export"),
        help="write the annotations CSV, the error table and a PNG of the chart",
        description="Write error_annotations.csv (every annotation: saved file merged with "
        "the working copy), error_points.csv (each fitted annotation's confidence as in the keypoint file and "
        "plus the pseudocount, error, their logs and residual) and error_fit.png (the chart) into --out.",
    )
    export.add_argument("--out", help="output folder (default: PROJECT/calibration/export)")
    export.add_argument(
        "--conf-threshold", type=_non_negative, help="threshold drawn (default: the config's)"
    )
    export.add_argument("--no-png", action="store_true", help="skip the chart")

    agreement = _command(
        commands,
        "agreement",
        handlers.get("agreement"),
        help="how far apart annotators click on the same samples (a project or CSV files)",
        description="Distances between the clicks of several annotators on the samples they "
        "all positioned (the human error floor), and each annotator's bias and spread against "
        "the others, flagging one systematically off. Give a project folder (its annotators' "
        "rows) or CSV files (one per annotator, or a project's file of several). "
        "Exit 4 when no sample is shared.",
        project=None,
        sources=False,
    )
    agreement.add_argument(
        "csv",
        nargs="+",
        metavar="PROJECT_OR_CSV",
        help="a project folder, or annotation CSV files (one per annotator, or one of several)",
    )
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
    return parser
