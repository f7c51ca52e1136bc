"""The calibration session stored in ``{project_dir}/calibration/``.

A session is what the app needs to pick up where anyone left off: where the
keypoints and videos are, the sampling parameters and seed, and the list of
samples to annotate (``session.json``). When keypoints come from a notebook
(:func:`kpcal_core.noise_calibration`) rather than from files, the arrays are
stored beside it (``keypoints.npz``, plain arrays: nothing is pickled).
Decoded frames are cached in ``frame_cache/``. Every write is atomic. With a
data root, a ``calibration/`` folder (or a file in it) that a link leads out
of the root is neither read nor written (:func:`kpcal_core.paths.check_no_link_out`);
the paths the session holds are checked where they are used
(:func:`kpcal_core.project.load_project_data`).
Reading is bounded (:mod:`kpcal_core.limits`): ``session.json`` by the
text-file size limit, ``keypoints.npz`` by its arrays' headers, checked
before anything is allocated.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import limits
from .annotations import now_utc
from .atomic import atomic_write, not_saved
from .errors import KpcalError
from .fitting import FIT_METHODS
from .formats.model import keypoint_float
from .paths import check_no_link_out
from .samplekeys import SampleKey
from .textio import read_user_text, read_when_changed

SESSION_DIRNAME = "calibration"
SESSION_FILENAME = "session.json"
KEYPOINTS_FILENAME = "keypoints.npz"
FRAME_CACHE_DIRNAME = "frame_cache"


@dataclass
class CalibrationSession:
    """Settings and samples of one project's calibration.

    Attributes
    ----------
    keypoints_path
        File, folder or glob of the keypoint files; ``None`` when the keypoints
        are stored in the session (``keypoints.npz``).
    keypoints_format
        Format name for :func:`kpcal_core.load_keypoints`, or ``None`` to detect.
    keypoints_duplicates
        Which of several outputs for one video to load: ``"unfiltered"``,
        ``"filtered"`` or ``"all"`` (``duplicates`` of
        :func:`kpcal_core.formats.read_keypoints`).
    video_dir, video_extension, recording_name_suffix
        How recordings are matched to videos.
    num_bins, num_samples, conf_pseudocount, seed
        The sampling parameters of :func:`kpcal_core.sample_error_frames`.
    sample_keys
        ``(recording, frame, bodypart)`` samples to annotate, in order.
    video_paths
        ``{recording: video path}`` set explicitly (overrides matching).
    sample_order
        How the samples were chosen: ``"planned"`` or ``"keypoint-moseq"``.
    fit_method
        The line last saved to ``config.yml`` (one of
        :data:`~kpcal_core.fitting.FIT_METHODS`); autosave fits with it.
    kept_gross_errors
        Samples flagged as likely gross errors that the user chose to keep in
        the line (:func:`kpcal_core.diagnostics.screen_gross_errors`); other
        flagged samples are left out of it.
    second_look_share
        Share of the samples (0 to 1) offered to a second annotator after the
        first has done them (:func:`kpcal_core.team.second_look_samples`).
    """

    keypoints_path: str | None = None
    keypoints_format: str | None = None
    keypoints_duplicates: str = "unfiltered"
    video_dir: str = ""
    video_extension: str | None = None
    recording_name_suffix: str = ""
    num_bins: int = 10
    num_samples: int = 100
    conf_pseudocount: float = 1e-3
    seed: int | None = None
    sample_keys: list[SampleKey] = field(default_factory=list)
    video_paths: dict[str, str] = field(default_factory=dict)
    fit_method: str = "least-squares"
    sample_order: str = "planned"
    kept_gross_errors: list[SampleKey] = field(default_factory=list)
    second_look_share: float = 0.1
    updated_at: str = ""

    def to_json(self) -> str:
        """The session as the text of ``session.json`` (sample keys as lists)."""
        data = asdict(self)
        data["sample_keys"] = [list(k) for k in self.sample_keys]
        data["kept_gross_errors"] = [list(k) for k in self.kept_gross_errors]
        return json.dumps(data, indent=1, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str, source: str) -> CalibrationSession:
        """The session ``text`` (a ``session.json``) holds, every field checked.

        Raises
        ------
        KpcalError
            Naming ``source`` and what is wrong, when the text is not a session.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise KpcalError(
                f"{source}: not valid JSON ({error.msg}, line {error.lineno})"
            ) from None
        except RecursionError:
            raise KpcalError(f"{source}: not valid JSON (nested too deeply)") from None
        if not isinstance(data, dict):
            raise KpcalError(f"{source}: expected a JSON object")
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        try:
            for name in ("sample_keys", "kept_gross_errors"):
                values[name] = [(str(k), int(f), str(b)) for k, f, b in values.get(name, [])]
            session = cls(**values)
            session.num_bins, session.num_samples = int(session.num_bins), int(session.num_samples)
            session.conf_pseudocount = float(session.conf_pseudocount)
            session.second_look_share = float(session.second_look_share)
        except (TypeError, ValueError, OverflowError) as error:  # OverflowError: int(Infinity)
            raise KpcalError(f"{source}: a setting has the wrong type ({error})") from None
        for name, types in _FIELD_TYPES.items():
            value = getattr(session, name)
            if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                raise KpcalError(
                    f"{source}: {name} must be {' or '.join(t.__name__ for t in types)}, "
                    f"got {value!r}"
                )
        if not 0.0 <= session.second_look_share <= 1.0:
            raise KpcalError(
                f"{source}: second_look_share must be between 0 and 1, "
                f"got {session.second_look_share!r}"
            )
        if session.fit_method not in FIT_METHODS:
            raise KpcalError(
                f"{source}: fit_method must be one of {', '.join(FIT_METHODS)}, "
                f"got {session.fit_method!r}"
            )
        if not all(
            isinstance(k, str) and isinstance(v, str) for k, v in session.video_paths.items()
        ):
            raise KpcalError(f"{source}: video_paths must map recording names to paths")
        return session


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "keypoints_path": (str, type(None)),
    "keypoints_format": (str, type(None)),
    "keypoints_duplicates": (str,),
    "video_dir": (str,),
    "video_extension": (str, type(None)),
    "recording_name_suffix": (str,),
    "seed": (int, type(None)),
    "video_paths": (dict,),
    "fit_method": (str,),
    "sample_order": (str,),
    "updated_at": (str,),
}


def session_dir(project_dir: str | os.PathLike) -> Path:
    """``calibration/`` of a project: the session, the working copy, leases and caches."""
    return Path(project_dir) / SESSION_DIRNAME


def session_path(project_dir: str | os.PathLike) -> Path:
    """``calibration/session.json`` of a project."""
    return session_dir(project_dir) / SESSION_FILENAME


def make_session_dir(project_dir: str | os.PathLike) -> Path:
    """``calibration/``, created when missing; refused when a link leads it out of the data root.

    Raises
    ------
    KpcalError
        The link (nothing is created); :class:`~kpcal_core.errors.NotSaved` when
        the system refuses to create it.
    """
    folder = check_no_link_out(session_dir(project_dir), what="calibration folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise not_saved(folder, error) from None
    return folder


def frame_cache_dir(project_dir: str | os.PathLike) -> Path:
    """The folder of a project's cached frames, in ``calibration/``."""
    return session_dir(project_dir) / FRAME_CACHE_DIRNAME


def save_session(project_dir: str | os.PathLike, session: CalibrationSession) -> Path:
    """Write ``calibration/session.json`` atomically.

    Raises
    ------
    NotSaved
        The system refused the write (disk full...): the file is as it was.
    """
    folder = make_session_dir(project_dir)
    session.updated_at = now_utc()
    return atomic_write(folder / SESSION_FILENAME, session.to_json())


def load_session(project_dir: str | os.PathLike) -> CalibrationSession | None:
    """The project's session, or ``None`` if it has none yet."""
    path = check_no_link_out(session_path(project_dir), what="session file")
    if not path.exists():
        return None
    return read_when_changed(
        path, "session", lambda: CalibrationSession.from_json(read_user_text(path), str(path))
    )


def save_session_keypoints(
    project_dir: str | os.PathLike,
    coordinates: Mapping[str, np.ndarray],
    confidences: Mapping[str, np.ndarray],
    bodyparts: Sequence[str],
    video_frame_indexes: Mapping[str, np.ndarray],
) -> Path:
    """Store keypoints given in memory as ``calibration/keypoints.npz`` (no pickling)."""
    names = list(coordinates)
    arrays = {
        "names": np.array(names, dtype=str),
        "bodyparts": np.array(list(bodyparts), dtype=str),
    }
    for i, name in enumerate(names):
        arrays[f"coordinates_{i}"] = keypoint_float(coordinates[name])  # float32 stays float32
        arrays[f"confidences_{i}"] = keypoint_float(confidences[name])
        arrays[f"video_frame_indexes_{i}"] = np.asarray(video_frame_indexes[name], dtype=np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)  # plain arrays: never a pickle
    folder = make_session_dir(project_dir)
    return atomic_write(folder / KEYPOINTS_FILENAME, buffer.getvalue())


def load_session_keypoints(project_dir: str | os.PathLike):
    """Keypoints stored by :func:`save_session_keypoints`, or ``None``.

    Returns
    -------
    tuple or None
        ``(coordinates, confidences, bodyparts, video_frame_indexes)``.
    """
    path = check_no_link_out(session_dir(project_dir) / KEYPOINTS_FILENAME, what="stored keypoints")
    if not path.exists():
        return None
    # float64 x, y and confidence per keypoint value (24 bytes): checked before NumPy allocates
    limits.check_npz(path, "keypoint_values", 24)
    try:
        with np.load(path, allow_pickle=False) as data:
            names = [str(n) for n in data["names"]]
            coordinates = {n: data[f"coordinates_{i}"] for i, n in enumerate(names)}
            confidences = {n: data[f"confidences_{i}"] for i, n in enumerate(names)}
            indexes = {n: data[f"video_frame_indexes_{i}"] for i, n in enumerate(names)}
            bodyparts = [str(b) for b in data["bodyparts"]]
    except (OSError, ValueError, KeyError) as error:
        raise KpcalError(f"{path}: unreadable stored keypoints ({error})") from None
    return coordinates, confidences, bodyparts, indexes
