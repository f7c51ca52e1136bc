"""Annotating: the samples ahead of the one shown and recording one click (or clear / not visible) under the project lock."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .. import team
from ..annotations import Annotation
from ..project import ProjectData, SaveResult
from ..samplekeys import SampleKey
from .annotators import save_held_edits, second_look


def samples_ahead(
    sample_keys: Sequence[SampleKey], index: int, is_done: Callable[[SampleKey], bool], n: int = 3
) -> list[SampleKey]:
    """The samples a user may open next from sample ``index``.

    The next ``n``, the previous one and the next not done (what the annotate
    page prepares in the background).
    """
    after = list(sample_keys[index + 1 : index + 1 + n])
    ahead = [*after, *sample_keys[max(0, index - 1) : index]]
    later = (k for k in [*sample_keys[index + 1 :], *sample_keys[:index]] if not is_done(k))
    ahead.append(next(later, sample_keys[index]))
    return list(dict.fromkeys(ahead))


def record_annotation(
    data: ProjectData,
    records: dict[SampleKey, Annotation],
    key: SampleKey,
    annotation: Annotation,
    *,
    held: dict[SampleKey, Annotation] | None = None,
) -> SaveResult:
    """Keep one edit and save at once (merged with what other sessions saved).

    Parameters
    ----------
    records
        ``{sample_key: Annotation}``: the project's annotations as last saved;
        updated in place to the merged annotations on disk after a save.
    key, annotation
        The edit.
    held
        Edits not saved yet (see below), ``{sample_key: Annotation}``; the
        edit joins them and all are saved now. Updated in place (emptied by a
        save that works). Default: a new dict, returned in ``result.held``.

    Returns
    -------
    SaveResult
        When the disk refuses the save (full, quota, read-only, permissions,
        I/O error) or another session holds the project's lock for too long,
        nothing is written and ``records`` stays what is on disk: the result
        has ``saved`` False, the edits in ``held`` and a message saying they are
        held (an ``event=error`` log line is written for the disk); they are
        saved with the next save that works (:func:`save_held_edits`).
    """
    held = {} if held is None else held
    held[key] = team.edit_for(records, key, annotation, second_look(data))
    return save_held_edits(data, records, held)
