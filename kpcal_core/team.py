"""Several annotators on one project: who does which sample next (issue 23).

This module owns the rules that share the work:

- **Leases**: an annotator shown a sample holds a short lease on it
  (:data:`LEASE_SECONDS`, renewed while the sample is shown, released when they
  move on), kept in ``calibration/leases.json`` and changed only under the
  project's lock. An annotator holds at most one lease. The file is a
  convenience: a lease file that cannot be read is taken as empty and
  replaced at the next change (nothing else reads it).
- **The next sample** (:func:`claim_next`): in the planned order, the first
  sample nobody has done and nobody else holds, or a second-look sample done
  by exactly one other person (:func:`wanted_by`); chosen and leased in one
  step under the lock, so two people pressing Next at once get two samples.
- **Second look** (:func:`second_look_samples`): a share of the samples
  (default :data:`SECOND_LOOK_SHARE`), spread over their confidence range and
  chosen deterministically from the planned order, is offered to a second
  annotator after the first has done it; the second is not shown the first
  one's click before they click (:func:`shown_annotation`).
- **Review**: clicking a sample someone else did, outside the second-look
  share, corrects their click (:func:`edit_for`): the row names whom it
  corrects and the fit uses the reviewer's position
  (:func:`kpcal_core.annotations.combine_rows`).
- **Counts** (:func:`annotator_counts`): each annotator's samples.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from .annotations import CLEARED, Annotation
from .atomic import atomic_write
from .errors import KpcalError, NotSaved
from .samplekeys import SampleKey, check_sample_key
from .session import make_session_dir, session_dir
from .textio import read_user_text

LEASES_FILENAME = "leases.json"
#: How long a lease lasts without being renewed.
LEASE_SECONDS = 600
#: A lease with less than this left is renewed when its sample is shown again.
RENEW_BELOW_SECONDS = 300
#: Default share of the samples a second annotator does.
SECOND_LOOK_SHARE = 0.1


@dataclass(frozen=True)
class Lease:
    """``annotator`` is working on ``sample`` until ``until`` (UTC ISO 8601).

    ``session`` names the page session that holds it (empty when not given): a
    session keeps its lease when its annotator's name changes (typed anew).
    """

    sample: SampleKey
    annotator: str
    until: str
    session: str = ""

    def held_by(self, annotator: str, session: str = "") -> bool:
        """Whether this lease is ``annotator``'s, or the session ``session``'s."""
        return self.annotator == annotator or (bool(session) and self.session == session)


def leases_path(project_dir: str | os.PathLike) -> Path:
    """``calibration/leases.json`` of a project."""
    return session_dir(project_dir) / LEASES_FILENAME


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def read_leases(
    project_dir: str | os.PathLike, now: datetime | None = None
) -> dict[SampleKey, Lease]:
    """The leases not expired at ``now``: ``{sample_key: Lease}``.

    A missing or unreadable lease file gives ``{}`` (leases only steer who
    gets which sample; the next change rewrites the file).
    """
    path = leases_path(project_dir)
    if not path.exists():
        return {}
    try:
        entries = json.loads(read_user_text(path)).get("leases", [])
        leases = [
            Lease(
                check_sample_key(e["sample"]),
                str(e["annotator"]),
                str(e["until"]),
                str(e.get("session", "")),
            )
            for e in entries
        ]
        for lease in leases:
            datetime.fromisoformat(lease.until)
    except (KpcalError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return {}
    moment = _now(now).isoformat(timespec="microseconds")
    return {lease.sample: lease for lease in leases if lease.until > moment}


def _write_leases(project_dir: str | os.PathLike, leases: Mapping[SampleKey, Lease]) -> None:
    make_session_dir(project_dir)
    entries = [
        {
            "sample": list(lease.sample),
            "annotator": lease.annotator,
            "until": lease.until,
            "session": lease.session,
        }
        for lease in leases.values()
    ]
    atomic_write(leases_path(project_dir), json.dumps({"leases": entries}, ensure_ascii=False))


def _lock(project_dir: str | os.PathLike):
    from .project import project_lock  # project imports the annotations this module reads

    return project_lock(project_dir)


def holder(
    project_dir: str | os.PathLike, key: SampleKey, now: datetime | None = None
) -> str | None:
    """Who holds a lease on ``key`` now, or ``None``."""
    lease = read_leases(project_dir, now).get((*key,))  # a tuple, also when given a list
    return lease.annotator if lease else None


def take_lease(
    project_dir: str | os.PathLike,
    key: SampleKey,
    annotator: str,
    now: datetime | None = None,
    *,
    session: str = "",
) -> str | None:
    """Hold ``key`` for ``annotator``, releasing their other lease and their session's.

    Renew it when less than :data:`RENEW_BELOW_SECONDS` is left.

    Returns
    -------
    str or None
        ``None`` when ``annotator`` holds the lease now; else who else holds it
        (nothing is changed).
    """
    key = check_sample_key(key)
    moment = _now(now)
    current = read_leases(project_dir, moment).get(key)
    renew_at = (moment + timedelta(seconds=RENEW_BELOW_SECONDS)).isoformat(timespec="microseconds")
    if current is not None and current.annotator == annotator and current.until > renew_at:
        return None  # held, and long enough: no write
    with _lock(project_dir):
        leases = read_leases(project_dir, moment)
        current = leases.get(key)
        if current is not None and not current.held_by(annotator, session):
            return current.annotator
        _hold(leases, key, annotator, moment, session)
        with contextlib.suppress(NotSaved):  # a full disk: annotating goes on without the lease
            _write_leases(project_dir, leases)
    return None


def _hold(
    leases: dict[SampleKey, Lease],
    key: SampleKey,
    annotator: str,
    moment: datetime,
    session: str = "",
) -> None:
    for sample in [k for k, lease in leases.items() if lease.held_by(annotator, session)]:
        del leases[sample]
    until = (moment + timedelta(seconds=LEASE_SECONDS)).isoformat(timespec="microseconds")
    leases[key] = Lease(key, annotator, until, session)


def release_leases(project_dir: str | os.PathLike, annotator: str, *, session: str = "") -> None:
    """Give up ``annotator``'s lease and ``session``'s (they left the page or the project)."""
    leases = read_leases(project_dir)
    if not any(lease.held_by(annotator, session) for lease in leases.values()):
        return
    with _lock(project_dir):
        leases = read_leases(project_dir)
        kept = {k: v for k, v in leases.items() if not v.held_by(annotator, session)}
        if len(kept) != len(leases):
            _write_leases(project_dir, kept)


def second_look_samples(
    sample_keys: Sequence[SampleKey],
    confidences: Sequence[float],
    share: float = SECOND_LOOK_SHARE,
) -> set[SampleKey]:
    """The samples a second annotator is offered after the first has done them.

    ``round(share * n)`` of the ``n`` samples, spread evenly over the ranks of
    their confidences (ties in the planned order): the sample at the middle of
    each of that many equal slices of the samples sorted by confidence. The
    same samples for everyone, every time.

    Parameters
    ----------
    sample_keys
        ``(n,)`` the samples in the planned order.
    confidences
        ``(n,)`` each sample's confidence (NaN sorts last).
    share
        0 to 1.
    """
    if not 0.0 <= float(share) <= 1.0 or math.isnan(float(share)):
        raise KpcalError(f"the second-look share must be between 0 and 1, got {share!r}")
    n = len(sample_keys)
    if len(confidences) != n:
        raise KpcalError(f"{len(confidences)} confidences for {n} samples")
    wanted = int(round(float(share) * n))
    if wanted == 0:
        return set()
    conf = np.asarray(confidences, dtype=float)
    order = np.lexsort((np.arange(n), np.where(np.isnan(conf), np.inf, conf)))
    ranks = np.floor((np.arange(wanted) + 0.5) * n / wanted).astype(int)
    return {tuple(sample_keys[i]) for i in order[ranks]}


def done_by(ann: Annotation | None) -> list[str]:
    """Who has done a sample (a position or "not visible"; not cleared)."""
    return [] if ann is None else ann.annotators()


def wanted_by(
    annotator: str,
    key: SampleKey,
    records: Mapping[SampleKey, Annotation],
    leases: Mapping[SampleKey, Lease],
    second_look: set[SampleKey] | frozenset = frozenset(),
    session: str = "",
) -> bool:
    """Whether ``key`` is one for ``annotator`` (in page session ``session``) to do now.

    True when nobody else holds it and either nobody has done it, or it is a
    second-look sample done by exactly one other, named, person (unnamed
    annotations, from keypoint-MoSeq or an older file, are nobody's to check).
    """
    lease = leases.get(key)
    if lease is not None and not lease.held_by(annotator, session):
        return False
    names = done_by(records.get(key))
    if not names:
        return True
    return key in second_look and len(names) == 1 and names[0] not in ("", annotator)


def _open_to(
    annotator: str,
    key: SampleKey,
    records: Mapping[SampleKey, Annotation],
    leases: Mapping[SampleKey, Lease],
    second_look: set[SampleKey] | frozenset,
    session: str = "",
) -> bool:
    """May ``annotator`` be taken to ``key`` by "Next": their own, or one :func:`wanted_by`."""
    if wanted_by(annotator, key, records, leases, second_look, session):
        return True
    lease = leases.get(key)
    mine = annotator in done_by(records.get(key))
    return mine and (lease is None or lease.held_by(annotator, session))


def claim_next(
    project_dir: str | os.PathLike,
    sample_keys: Sequence[SampleKey],
    annotator: str,
    current: int | None,
    *,
    unannotated: bool,
    second_look: set[SampleKey] | frozenset = frozenset(),
    now: datetime | None = None,
    session: str = "",
) -> int | None:
    """Choose ``annotator``'s next sample and lease it, in one step under the project lock.

    Parameters
    ----------
    sample_keys
        The samples in the planned order.
    current
        The index shown now; ``None`` to start from the beginning.
    unannotated
        True ("Next unannotated", and where a session starts): a second look
        offered to ``annotator`` (the first in the planned order), else the
        first sample after ``current`` (wrapping round) that :func:`wanted_by`
        gives them. False ("Next"): the first sample after ``current`` (no
        wrap) that is theirs or wanted by them; samples others did or hold are
        skipped.
    second_look
        :func:`second_look_samples`.
    session
        The page session asking (its lease counts as the annotator's).

    Returns
    -------
    int or None
        The index now leased to ``annotator``, or ``None`` when there is none
        (nothing is changed). When the disk refuses the lease file the index
        is returned all the same (not leased).
    """
    from .project import load_working_annotations

    moment = _now(now)
    n = len(sample_keys)
    start = -1 if current is None else int(current)
    if unannotated:
        order = [*range(start + 1, n), *range(0, max(start + 1, 0))]
    else:
        order = list(range(start + 1, n))
    with _lock(project_dir):
        records = load_working_annotations(project_dir)
        leases = read_leases(project_dir, moment)
        if unannotated:  # a second look offered comes first: its first click is done
            looks = [i for i in range(n) if sample_keys[i] in second_look]
            order = [i for i in looks if done_by(records.get(sample_keys[i]))] + order
        rule = wanted_by if unannotated else _open_to
        chosen = next(
            (
                i
                for i in order
                if rule(annotator, sample_keys[i], records, leases, second_look, session)
            ),
            None,
        )
        if chosen is not None:
            _hold(leases, check_sample_key(sample_keys[chosen]), annotator, moment, session)
            with contextlib.suppress(NotSaved):  # a full disk: the sample is still theirs
                _write_leases(project_dir, leases)
    return chosen


def shown_annotation(
    records: Mapping[SampleKey, Annotation],
    key: SampleKey,
    annotator: str,
    second_look: set[SampleKey] | frozenset = frozenset(),
) -> Annotation | None:
    """The annotation the annotate page draws for ``annotator`` on ``key``.

    Their own row when they have one; on a second-look sample they have not
    done, nothing (they must not see the first click before theirs); else the
    sample's annotation (another's click, which they may correct).
    """
    ann = records.get(key)
    if ann is None:
        return None
    own = ann.row_of(annotator)
    if own is not None:
        return own
    if key in second_look:
        return None
    return ann if ann.status != CLEARED else None


def edit_for(
    records: Mapping[SampleKey, Annotation],
    key: SampleKey,
    annotation: Annotation,
    second_look: set[SampleKey] | frozenset = frozenset(),
) -> Annotation:
    """``annotation`` (an edit by ``annotation.annotator``) as it is saved.

    A position on a sample another person positioned, outside the second-look
    share, is a review: it names whom it corrects (the newest other click), so
    the fit uses the reviewer's position. Otherwise unchanged.
    """
    ann = records.get(key)
    if ann is None or not annotation.has_position or key in second_look or annotation.corrects:
        return annotation
    others = [
        r
        for r in ann.own_rows
        if r.annotator != annotation.annotator and r.has_position and not r.corrects
    ]
    if not others:
        return annotation
    target = max(others, key=lambda r: r.annotated_at).annotator
    return Annotation(
        annotation.x,
        annotation.y,
        annotation.annotator,
        annotation.annotated_at,
        annotation.status,
        annotation.video_frame,
        target,
    )


def annotator_counts(records: Mapping[SampleKey, Annotation]) -> dict[str, int]:
    """``{annotator: samples they did}`` (positions and "not visible"), most first."""
    counts: dict[str, int] = {}
    for ann in records.values():
        for name in done_by(ann):
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
