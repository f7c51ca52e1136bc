"""Sampling and frames: drawing the samples to annotate, filling the frame cache, indexing videos, and the sampling histogram."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..annotations import CLEARED
from ..atomic import together
from ..errors import KpcalError
from ..planning import plan_annotation_order
from ..project import ProjectData, load_working_annotations, project_lock, save_use_bodyparts
from ..samplekeys import SampleKey
from ..sampling import confidence_histogram, sample_error_frames
from ..sentences import frame_cache_sentence
from ..session import CalibrationSession, frame_cache_dir, load_session, save_session
from ..video import (
    DEFAULT_MAX_BYTES,
    BackgroundJob,
    cache_size,
    fill_cache,
    index_videos,
    sample_video_frames,
)
from .opening import recordings_report

#: ``recordings_report`` statuses that make a recording impossible to annotate.
BLOCKING_STATUSES = ("no video", "video too short", "video unreadable")
#: How the samples are chosen: the planned order (default) or keypoint-MoSeq's equal bins.
SAMPLE_ORDERS = ("planned", "keypoint-moseq")

Progress = Callable[[int, int], None]


@dataclass
class SampleDraw:
    """What :func:`draw_samples` did, with the counts a user is told.

    Attributes
    ----------
    sample_keys
        The project's samples from now on: annotated ones kept first, then new ones.
    asked
        ``num_samples`` as asked.
    kept
        Annotated samples kept (positions and "not visible"; cleared ones are not).
    new
        Samples drawn now.
    available
        Keypoints that could be drawn (a position, a used bodypart, a usable video,
        not already annotated, not labelled by a person).
    left_out
        ``{recording: status}`` of recordings left out (no usable video).
    left_out_keypoints
        Keypoints of the used bodyparts in those recordings.
    seed
        The seed used.
    order
        ``"planned"`` or ``"keypoint-moseq"``.
    human_labelled
        Keypoints of the used bodyparts labelled by a person (SLEAP user
        instances): never drawn.
    """

    sample_keys: list[SampleKey]
    asked: int
    kept: int
    new: int
    available: int
    left_out: dict[str, str] = field(default_factory=dict)
    left_out_keypoints: int = 0
    seed: int = 0
    order: str = "planned"
    human_labelled: int = 0


def draw_samples(
    data: ProjectData,
    *,
    use_bodyparts: Sequence[str] | None = None,
    num_bins: int | None = None,
    num_samples: int | None = None,
    conf_pseudocount: float | None = None,
    seed: int | None = None,
    order: str | None = None,
    report: pd.DataFrame | None = None,
    second_look_share: float | None = None,
) -> SampleDraw:
    """Draw the samples to annotate and save them in the project's session.

    Annotated samples (positions and "not visible") are kept and count towards
    ``num_samples``; the rest are drawn by
    :func:`~kpcal_core.sampling.sample_error_frames` among keypoints not
    annotated yet, of recordings whose video can be used (a recording whose
    status in :func:`recordings_report` is blocking is left out and named).
    ``use_bodyparts`` is saved to ``config.yml`` when it changes. Parameters
    left ``None`` come from the session (``seed``: a new random one).

    Parameters
    ----------
    order
        ``"planned"`` (default): :func:`~kpcal_core.planning.plan_annotation_order`,
        the order that teaches the line most, annotated in that order;
        ``"keypoint-moseq"``: keypoint-MoSeq's equal numbers per confidence bin
        (:func:`~kpcal_core.sampling.sample_error_frames`). Recorded in the session.
    report
        :func:`recordings_report` of ``data`` when the caller has it already.
    second_look_share
        Share of the samples a second annotator sees too (0 to 1; default: the
        session's, 0.1 for a new one). Recorded in the session.
    """
    settings = _draw_settings(
        data, use_bodyparts, num_bins, num_samples, conf_pseudocount, seed, order, second_look_share
    )
    report = recordings_report(data) if report is None else report
    left_out = _blocked_recordings(data, report)
    columns = _bodypart_columns(data, settings.use)
    records = load_working_annotations(data.project_dir)
    kept = [k for k, a in records.items() if a.status != CLEARED and k[0] in data.coordinates]
    never = data.never_drawn()  # no position, or labelled by a person
    confidences, excluded = _sampleable(data, left_out, kept, never)
    left_out_keypoints = sum(int((~data.missing[r][:, columns]).sum()) for r in left_out)
    # a confidence and a position, not a human label, not annotated yet
    available = sum(
        int((np.isfinite(c[:, columns]) & ~excluded[r][:, columns]).sum())
        for r, c in confidences.items()
    )
    wanted = max(0, settings.asked - len(kept))
    new = []
    if wanted and available:
        new = _new_samples(data, settings, wanted, kept, confidences, excluded, never)
    sample_keys = list(dict.fromkeys([*kept, *new]))
    _save_draw(data, settings, sample_keys)
    return SampleDraw(
        sample_keys=sample_keys,
        asked=settings.asked,
        kept=len(kept),
        new=len(new),
        available=available,
        left_out=left_out,
        left_out_keypoints=left_out_keypoints,
        seed=settings.seed,
        order=settings.order,
        human_labelled=data.n_labelled(settings.use),
    )


@dataclass(frozen=True)
class _DrawSettings:
    """What one draw uses: the caller's values, else the session's (checked)."""

    use: list[str]
    num_bins: int
    asked: int
    pseudocount: float
    order: str
    seed: int
    share: float


def _draw_settings(
    data: ProjectData,
    use_bodyparts: Sequence[str] | None,
    num_bins: int | None,
    num_samples: int | None,
    conf_pseudocount: float | None,
    seed: int | None,
    order: str | None,
    second_look_share: float | None,
) -> _DrawSettings:
    """The settings of a draw: each ``None`` from the session (``seed``: a new random one)."""
    session = data.session
    share = session.second_look_share if second_look_share is None else second_look_share
    try:
        share = float(share)
    except (TypeError, ValueError):
        raise KpcalError(f"second_look_share must be a number, got {share!r}") from None
    if not 0.0 <= share <= 1.0:  # NaN too
        raise KpcalError(f"second_look_share must be between 0 and 1, got {share!r}")
    order = session.sample_order if order is None else order
    if order not in SAMPLE_ORDERS:
        raise KpcalError(f"unknown sample order {order!r}: use one of {', '.join(SAMPLE_ORDERS)}")
    return _DrawSettings(
        use=list(use_bodyparts) if use_bodyparts else data.use_bodyparts,
        num_bins=int(session.num_bins if num_bins is None else num_bins),
        asked=int(session.num_samples if num_samples is None else num_samples),
        pseudocount=float(
            session.conf_pseudocount if conf_pseudocount is None else conf_pseudocount
        ),
        order=order,
        seed=int(np.random.default_rng().integers(2**31)) if seed is None else int(seed),
        share=share,
    )


def _blocked_recordings(data: ProjectData, report: pd.DataFrame) -> dict[str, str]:
    """``{recording: status}`` of the recordings that cannot be annotated (none left: an error)."""
    blocked = report[report["status"].isin(BLOCKING_STATUSES)]
    left_out = dict(zip(blocked["recording"], blocked["status"], strict=True))
    if len(left_out) == len(data.coordinates):
        raise KpcalError(
            f"no recording can be annotated ({len(left_out)} of {len(left_out)} have no usable "
            "video): fix the video folder or set each recording's video first"
        )
    return left_out


def _bodypart_columns(data: ProjectData, use: Sequence[str]) -> list[int]:
    """The keypoint columns of the bodyparts ``use`` (a name not in the keypoints: an error)."""
    columns = [data.bodyparts.index(b) for b in use if b in data.bodyparts]
    if len(columns) != len(use):
        unknown = [b for b in use if b not in data.bodyparts]
        raise KpcalError(f"bodypart(s) {unknown} are not in the keypoints ({data.bodyparts})")
    return columns


def _new_samples(
    data: ProjectData,
    settings: _DrawSettings,
    wanted: int,
    kept: Sequence[SampleKey],
    confidences: Mapping[str, np.ndarray],
    excluded: Mapping[str, np.ndarray],
    never: Mapping[str, np.ndarray],
) -> list[SampleKey]:
    """``wanted`` samples beyond ``kept``, in the settings' order, among what may be drawn."""
    if settings.order == "planned":  # the annotations made count in the design
        draw = functools.partial(
            plan_annotation_order,
            annotated=kept,
            missing={r: never[r] for r in confidences},  # never reads coordinates
        )
    else:
        draw = functools.partial(sample_error_frames, missing=excluded)
    return draw(
        confidences,
        data.bodyparts,
        settings.use,
        settings.num_bins,
        wanted,
        settings.pseudocount,
        seed=settings.seed,
    )


def _save_draw(data: ProjectData, settings: _DrawSettings, sample_keys: list[SampleKey]) -> None:
    """Save the samples and settings in the session (and ``use_bodyparts``), both or neither."""
    new_config = None
    with project_lock(data.project_dir), together():  # use_bodyparts and the samples, or neither
        if settings.use != data.use_bodyparts:
            new_config = save_use_bodyparts(data.project_dir, settings.use)
        on_disk = load_session(data.project_dir) or data.session
        _set_draw(on_disk, settings, sample_keys)
        save_session(data.project_dir, on_disk)
    if new_config is not None:
        data.config = new_config
    _set_draw(data.session, settings, sample_keys)


def _set_draw(
    session: CalibrationSession, settings: _DrawSettings, sample_keys: list[SampleKey]
) -> None:
    """Write the draw's samples and settings into ``session`` (in memory)."""
    session.num_bins, session.num_samples = settings.num_bins, settings.asked
    session.conf_pseudocount, session.seed = settings.pseudocount, settings.seed
    session.sample_keys, session.sample_order = sample_keys, settings.order
    session.second_look_share = settings.share


def _sampleable(
    data: ProjectData,
    left_out: Mapping[str, str],
    annotated: Sequence[SampleKey],
    never: Mapping[str, np.ndarray],
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Confidences of the recordings that can be annotated, and what may not be drawn.

    Returns ``({recording: (T, K) confidences}, {recording: (T, K) bool})``:
    the confidences as loaded (never copied) and a mask, True where a keypoint
    has no position, was labelled by a person (``never``:
    :meth:`~kpcal_core.project.ProjectData.never_drawn`) or is annotated
    already (only recordings holding an annotated sample get a copy of the
    mask: 1 byte per keypoint).
    """
    by_recording: dict[str, list[tuple[int, int]]] = {}
    for recording, frame, bodypart in annotated:
        if bodypart in data.bodyparts and frame < len(data.confidences[recording]):
            by_recording.setdefault(recording, []).append((frame, data.bodyparts.index(bodypart)))
    confidences, excluded = {}, {}
    for recording, conf in data.confidences.items():
        if recording in left_out:
            continue
        mask = never[recording]
        if recording in by_recording:
            mask = mask.copy()
            frames, parts = zip(*by_recording[recording], strict=True)
            mask[list(frames), list(parts)] = True
        confidences[recording], excluded[recording] = conf, mask
    return confidences, excluded


def fill_frame_cache(
    data: ProjectData,
    sample_keys: Sequence[SampleKey] | None = None,
    *,
    progress: Callable[[int, int, list[SampleKey]], object] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Decode the samples' frames into the project's frame cache; keep none in memory.

    The first sample's frame comes first, so annotating can start at once;
    at most a few frames per video are in memory at any time
    (:func:`kpcal_core.video.source.fill_cache`).

    Parameters
    ----------
    sample_keys
        Default: the session's samples. Samples of recordings without a video are skipped.
    progress
        Called as ``progress(done, total, ready)``: video frames cached so far, of
        ``total``, and the sample keys whose frame just became ready.
    should_stop
        Checked between frames; ``True`` stops (frames cached so far stay).

    Returns
    -------
    int
        Distinct video frames now in the cache.
    """
    keys = list(data.session.sample_keys if sample_keys is None else sample_keys)
    keys = [k for k in keys if data.video_paths.get(k[0])]
    if not keys:
        return 0
    video_of = sample_video_frames(
        keys,
        "",
        data.video_frame_indexes,
        video_paths={r: p for r, p in data.video_paths.items() if p},
    )
    summary = fill_cache(
        frame_cache_dir(data.project_dir), video_of, progress=progress, should_stop=should_stop
    )
    return summary.cached_before + summary.written


def start_frame_fill(
    data: ProjectData, sample_keys: Sequence[SampleKey] | None = None
) -> BackgroundJob:
    """:func:`fill_frame_cache` in a background thread: it goes on when the page is left.

    The job's :meth:`~kpcal_core.video.prefetch.BackgroundJob.progress` gives the
    frames cached so far and the sample keys whose frame is ready (the first
    sample's comes first), so a page can offer annotating at once.
    """
    keys = list(data.session.sample_keys if sample_keys is None else sample_keys)
    return BackgroundJob(
        lambda progress, should_stop: fill_frame_cache(
            data, keys, progress=progress, should_stop=should_stop
        ),
        name="kpcal-fill-frames",
    )


def start_video_indexing(data: ProjectData) -> BackgroundJob:
    """Index the project's videos in the background (:func:`kpcal_core.video.source.index_videos`).

    Started when a project is opened, so that the first "Sample frames" does not
    wait for a scan of each video's packets (about 0.75 s for 21,000 frames of
    1280×1024 H.264).
    """
    videos = sorted({str(p) for p in data.video_paths.values() if p})
    cache_dir = frame_cache_dir(data.project_dir)
    return BackgroundJob(
        lambda progress, should_stop: index_videos(
            cache_dir, videos, progress=progress, should_stop=should_stop
        ),
        name="kpcal-index-videos",
    )


def frame_cache_summary(data: ProjectData) -> str:
    """One sentence: where the project's frame cache is, its size and its cap."""
    folder = frame_cache_dir(data.project_dir)
    size = cache_size(folder)
    cap = DEFAULT_MAX_BYTES / 2**30
    return frame_cache_sentence(size.frames, size.bytes, cap, folder)


@dataclass(frozen=True)
class SamplingHistogram:
    """The setup page's confidence histogram (:func:`sampling_histogram`).

    Attributes
    ----------
    bars
        DataFrame ``start, end, keypoints`` (log10 units; keypoints with a
        position only).
    bins
        DataFrame ``start, end, mid, samples``: one row per sampling bin.
    no_position
        Keypoints with a confidence but no position (never sampled).
    human_labelled
        Keypoints labelled by a person (SLEAP user instances, never sampled).
    """

    bars: pd.DataFrame
    bins: pd.DataFrame
    no_position: int
    human_labelled: int


def sampling_histogram(
    data: ProjectData,
    use_bodyparts: Sequence[str],
    conf_pseudocount: float,
    num_bins: int,
    sample_keys: Sequence[SampleKey] = (),
) -> SamplingHistogram:
    """The confidence histogram of the used bodyparts, the sampling bins, samples per bin.

    Returns
    -------
    SamplingHistogram
        The bars, the sampling bins with their samples, and the keypoints never sampled.
    """
    counts, hist_edges, sample_edges = confidence_histogram(
        data.confidences,
        data.bodyparts,
        use_bodyparts,
        conf_pseudocount,
        int(num_bins),
        missing=data.missing,
    )
    columns = [data.bodyparts.index(b) for b in use_bodyparts if b in data.bodyparts]
    no_position = sum(
        int((data.missing[r][:, columns] & ~np.isnan(c[:, columns])).sum())
        for r, c in data.confidences.items()
    )
    sampled = [k for k in sample_keys if k[0] in data.confidences and k[2] in use_bodyparts]
    logs = np.array(
        [
            math.log10(float(data.confidences[r][f, data.bodyparts.index(b)]) + conf_pseudocount)
            for r, f, b in sampled
        ],
        dtype=float,
    )
    per_bin = np.zeros(len(sample_edges) - 1, dtype=int)
    if logs.size:
        index = np.clip(np.searchsorted(sample_edges, logs, side="right") - 1, 0, len(per_bin) - 1)
        per_bin = np.bincount(index, minlength=len(per_bin))
    bars = pd.DataFrame({"start": hist_edges[:-1], "end": hist_edges[1:], "keypoints": counts})
    bins = pd.DataFrame(
        {
            "start": sample_edges[:-1],
            "end": sample_edges[1:],
            "mid": (sample_edges[:-1] + sample_edges[1:]) / 2,
            "samples": per_bin,
        }
    )
    return SamplingHistogram(bars, bins, no_position, data.n_labelled(use_bodyparts))


def draw_more_samples(data: ProjectData, more: int) -> SampleDraw:
    """Draw ``more`` samples beyond the session's, keeping every annotation.

    :func:`draw_samples` with the session's settings, order and seed and
    ``num_samples`` raised by ``more``: annotated samples are kept (and, in
    the planned order, count in the design), and the samples not annotated yet
    come back first where the order gives them again (the planned order with
    the same seed continues its plan).
    """
    if not is_whole_number(more) or more < 1:
        raise KpcalError(f"the number of samples to draw must be a whole number >= 1, got {more!r}")
    session = data.session
    return draw_samples(
        data,
        num_samples=len(session.sample_keys) + int(more),
        seed=session.seed,
        order=session.sample_order,
    )


def is_whole_number(value: object) -> bool:
    """``value`` is an int (Python's or numpy's) and not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
