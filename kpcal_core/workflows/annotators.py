"""Several annotators: leases on samples, the next sample, second looks, team progress and agreement, review, and edits held in memory when a save fails."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import team
from ..agreement import Agreement
from ..annotations import CLEARED, Annotation, annotation_counts, parse_annotations
from ..colours import bodypart_colours, hex_to_rgb
from ..errors import KpcalError, NotSaved
from ..fit_service import fit_project
from ..logs import log_event
from ..project import ProjectData, SaveResult, save_work
from ..samplekeys import SampleKey
from ..sentences import FLAG_RULE, held_sentence
from ..textio import decode_user_text
from ..views import FIT, CropView, crop_for_sample, render_view, skeleton_edges


def second_look(data: ProjectData) -> set[SampleKey]:
    """The samples offered to a second annotator.

    :func:`kpcal_core.team.second_look_samples` of the session's samples and
    ``second_look_share``.
    """
    keys = [
        k
        for k in data.session.sample_keys
        if k[0] in data.confidences
        and k[2] in data.bodyparts
        and k[1] < len(data.confidences[k[0]])
    ]
    confidences = [float(data.confidences[r][f, data.bodyparts.index(b)]) for r, f, b in keys]
    return team.second_look_samples(keys, confidences, data.session.second_look_share)


def next_sample(
    data: ProjectData,
    annotator: str,
    current: int | None,
    *,
    unannotated: bool,
    session: str = "",
) -> int | None:
    """The index of ``annotator``'s next sample, leased to them (:func:`kpcal_core.team.claim_next`).

    In the planned order, one nobody has done or is doing (or a second look
    offered to them); "Next" (``unannotated`` False) may also go to their own.
    ``None``: none left. ``session``: the page session asking (its lease stays
    its own when the name changes).
    """
    return team.claim_next(
        data.project_dir,
        data.session.sample_keys,
        annotator,
        current,
        unannotated=unannotated,
        second_look=second_look(data),
        session=session,
    )


def not_for(
    data: ProjectData,
    records: Mapping[SampleKey, Annotation],
    annotator: str,
    session: str = "",
    *,
    second_looks: bool = True,
) -> Callable[[SampleKey], bool]:
    """``is_done(key)`` for ``annotator``: which samples are not theirs to do.

    True for a sample done by anyone or held by someone else, unless
    (``second_looks``) it is a second look offered to them (leases read once,
    now). Where a session starts uses ``second_looks=False``: the first sample
    nobody has done (a second look comes with "Next unannotated").
    """
    leases = team.read_leases(data.project_dir)
    looks: set[SampleKey] | frozenset = second_look(data) if second_looks else frozenset()
    return lambda key: not team.wanted_by(annotator, key, records, leases, looks, session)


def hold_sample(data: ProjectData, key: SampleKey, annotator: str, session: str = "") -> str | None:
    """Lease the sample shown to ``annotator`` in page session ``session``.

    Renewed while shown. Returns who else is working on it, or ``None``.
    """
    return team.take_lease(data.project_dir, key, annotator, session=session)


def leave_samples(data: ProjectData, annotator: str, session: str = "") -> bool:
    """``annotator`` (page session ``session``) left the annotate page: their lease is released.

    The setup and fit pages call this on every run, so a sample someone was shown is free for
    the others as soon as they go to another page (a closed browser's lease lapses after
    :data:`kpcal_core.team.LEASE_SECONDS`). Returns False when the lease file could not be
    written or locked (a full disk, a busy lock): the lease then lapses by itself.
    """
    try:
        team.release_leases(data.project_dir, annotator, session=session)
    except KpcalError:
        return False
    return True


def shown_annotation(
    data: ProjectData, records: Mapping[SampleKey, Annotation], key: SampleKey, annotator: str
) -> Annotation | None:
    """What the annotate page draws on ``key`` for ``annotator``.

    :func:`kpcal_core.team.shown_annotation`: never another's click on a second look.
    """
    return team.shown_annotation(records, key, annotator, second_look(data))


@dataclass
class TeamProgress:
    """Who did what on a project.

    Attributes
    ----------
    counts
        ``{annotator: samples done}``, most first.
    samples_done
        Samples done by anyone (what the stop rule counts).
    samples
        Samples drawn.
    second_look_done, second_look
        Second-look samples done by two or more people, and how many there are.
    working
        ``{annotator: sample index (0-based)}`` of the leases held now.
    """

    counts: dict[str, int]
    samples_done: int
    samples: int
    second_look_done: int
    second_look: int
    working: dict[str, int]


def team_progress(data: ProjectData, records: Mapping[SampleKey, Annotation]) -> TeamProgress:
    """Each annotator's count, the team's samples done and who works on which sample now."""
    samples = list(data.session.sample_keys)
    looks = second_look(data)
    index = {k: i for i, k in enumerate(samples)}
    return TeamProgress(
        counts=team.annotator_counts(records),
        samples_done=sum(1 for k in samples if team.done_by(records.get(k))),
        samples=len(samples),
        second_look_done=sum(1 for k in looks if len(team.done_by(records.get(k))) >= 2),
        second_look=len(looks),
        working={
            lease.annotator: index[k]
            for k, lease in team.read_leases(data.project_dir).items()
            if k in index
        },
    )


@dataclass
class TeamAgreement:
    """How far apart the project's annotators click, and who is off.

    Attributes
    ----------
    agreement
        :func:`kpcal_core.agreement.annotator_agreement` of the project's rows.
    bias
        :func:`kpcal_core.agreement.annotator_bias`: one row per annotator, px and
        log10(error + 1) against the network's positions.
    flagged
        Names of the annotators flagged (:func:`kpcal_core.agreement.annotator_bias`).
    rule
        The flag rule in words (:data:`kpcal_core.sentences.FLAG_RULE`).
    """

    agreement: Agreement
    bias: pd.DataFrame
    flagged: list[str]
    rule: str


def team_agreement(data: ProjectData, records: Mapping[SampleKey, Annotation]) -> TeamAgreement:
    """Agreement of the project's own annotators (second looks and reviews of one file)."""
    from ..agreement import annotator_agreement, annotator_bias

    predictions = {}
    for key in records:
        recording, frame, bodypart = key
        coords = data.coordinates.get(recording)
        if coords is not None and bodypart in data.bodyparts and frame < len(coords):
            x, y = coords[frame, data.bodyparts.index(bodypart)]
            predictions[key] = (float(x), float(y))
    agreement = annotator_agreement(records)
    bias = annotator_bias(records, predictions)
    flagged = bias.loc[bias["flagged"], "annotator"].tolist()
    return TeamAgreement(agreement, bias, flagged, FLAG_RULE)


@dataclass(frozen=True)
class OtherAnnotators:
    """The project's annotations beside other annotators' CSV files (:func:`compare_with_files`).

    Attributes
    ----------
    everyone
        ``{"this project": records, file name: records, ...}``: this project's
        annotations (cleared ones left out) and each file that could be read.
    problems
        ``{file name: message}`` for each file that could not be read (left out
        of ``everyone``).
    agreement
        :func:`kpcal_core.agreement.annotator_agreement` of ``everyone``, or
        ``None`` when no file could be read.
    """

    everyone: dict[str, dict[SampleKey, Annotation]]
    problems: dict[str, str]
    agreement: Agreement | None

    def mean_clicks(self) -> dict[SampleKey, Annotation]:
        """One annotation per sample at the mean of everyone's clicks, ready to fit."""
        from ..agreement import mean_click_annotations

        return mean_click_annotations(self.everyone)


def compare_with_files(
    records: Mapping[SampleKey, Annotation], files: Mapping[str, bytes]
) -> OtherAnnotators:
    """How far apart this project's clicks and other annotators' CSV files are.

    Parameters
    ----------
    records
        This project's annotations by sample.
    files
        ``{file name: bytes}``: other annotators' ``error_annotations.csv`` files
        of this project (e.g. uploads). Each is decoded and parsed on its own; a
        file that cannot be is named in :attr:`OtherAnnotators.problems`.
    """
    from ..agreement import annotator_agreement

    others: dict[str, dict[SampleKey, Annotation]] = {}
    problems: dict[str, str] = {}
    for name, content in files.items():
        try:
            others[name] = parse_annotations(decode_user_text(content, name), name)
        except KpcalError as error:
            problems[name] = str(error)
    if not others:
        return OtherAnnotators({}, problems, None)
    everyone = {"this project": {k: v for k, v in records.items() if v.status != CLEARED}}
    everyone.update(others)
    return OtherAnnotators(everyone, problems, annotator_agreement(everyone))


def review_samples(
    data: ProjectData, records: Mapping[SampleKey, Annotation], annotator: str
) -> list[int]:
    """Indexes of samples whose click ``annotator`` may review.

    Another person's click flagged as a likely gross error by the fit, or one
    of a second look whose two clicks are far apart
    (:func:`kpcal_core.agreement.disagreeing_samples`).
    """
    from ..agreement import disagreeing_samples

    flagged: set[SampleKey] = set(disagreeing_samples(records))
    with contextlib.suppress(KpcalError):  # no fit yet: nothing flagged by it
        flagged |= {g.key for g in fit_project(data=data, records=records).gross_errors.flagged}
    out = []
    for i, key in enumerate(data.session.sample_keys):
        ann = records.get(key)
        if key in flagged and ann is not None and any(n != annotator for n in ann.annotators()):
            out.append(i)
    return out


def save_held_edits(
    data: ProjectData,
    records: dict[SampleKey, Annotation],
    held: dict[SampleKey, Annotation],
) -> SaveResult:
    """Save the edits ``held`` in memory (merged with the annotations on disk).

    What :func:`record_annotation` does after keeping its edit; also what a
    "save again" button calls. ``records`` and ``held`` are updated in place:
    after a save that works ``records`` holds the merged annotations on disk
    and ``held`` is empty; otherwise both stay as they were.
    """
    user = max(held.values(), key=lambda r: r.annotated_at or "").annotator if held else None
    try:
        result = save_work(data, {**records, **held}, user=user)
    except TimeoutError:
        return _held_result(
            records,
            held,
            "Not saved yet: another session holds the project's lock. " + held_sentence(len(held)),
        )
    except NotSaved as error:
        log_event(
            "error",
            user=user or "",
            project=data.project_dir,
            kind="NotSaved",
            held=len(held),
            message=str(error),
        )
        return _held_result(records, held, f"N{str(error)[1:]}. " + held_sentence(len(held)))
    records.clear()
    records.update(result.records)
    held.clear()
    return result


def _held_result(
    records: Mapping[SampleKey, Annotation], held: Mapping[SampleKey, Annotation], message: str
) -> SaveResult:
    """The :class:`SaveResult` of a save that wrote nothing: what is on disk, and the held edits."""
    return SaveResult(
        dict(records),
        annotation_counts(records)["positions"],
        False,
        None,
        message,
        saved=False,
        held=dict(held),
    )


def sample_view(
    data: ProjectData,
    key: SampleKey,
    frame_rgb: np.ndarray,
    zoom: str | float = FIT,
    annotation: Annotation | None = None,
    display_size: int = 560,
) -> tuple[CropView, np.ndarray]:
    """The view of one sample: the crop window and the marked-up image to click on.

    Parameters
    ----------
    frame_rgb
        ``(H, W, 3)`` uint8 video frame of the sample.
    zoom
        One of :data:`kpcal_core.views.ZOOMS` (see :func:`~kpcal_core.views.crop_for_sample`).
    annotation
        The sample's annotation, drawn as a red X when it has a position.

    Returns
    -------
    tuple
        ``(CropView, (display_size, display_size, 3) uint8 RGB image)``.
    """
    recording, frame, bodypart = key
    keypoints = np.asarray(data.coordinates[recording][frame], dtype=float)
    target = keypoints[data.bodyparts.index(bodypart)]
    view = crop_for_sample(frame_rgb.shape, target, keypoints, zoom, display_size)
    colours = [hex_to_rgb(c) for c in bodypart_colours(data.bodyparts).values()]
    image = render_view(
        frame_rgb,
        view,
        target_xy=target,
        keypoints_xy=keypoints,
        edges=skeleton_edges(data.bodyparts, data.config.get("skeleton") or []),
        annotation_xy=annotation.xy if annotation is not None and annotation.has_position else None,
        colours=colours,
    )
    return view, image
