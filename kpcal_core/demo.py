"""A small demo project with a known answer.

:func:`make_demo_project` writes synthetic videos of a moving animal (its
bodyparts drawn as coloured dots), network "predictions" in DeepLabCut CSV
form, and a ``config.yml``. Each prediction is the true position plus an error
whose size follows a known line::

    log10(error_px + 1) = slope * log10(confidence + 0.001) + intercept + noise

so annotating at the true positions and fitting must give back ``slope`` and
``intercept``. The app opens it when a user has no data yet; tests use it as
ground truth. Everything is derived from ``seed``: the same call writes the
same project.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .colours import bodypart_colours, hex_to_rgb
from .config import config_path, setup_project
from .errors import KpcalError
from .session import CalibrationSession, save_session
from .statedir import state_dir, user_state_dir

DEMO_BODYPARTS = ["nose", "left_ear", "right_ear", "neck", "back", "tail_base"]
DEMO_SKELETON = [
    ["nose", "left_ear"],
    ["nose", "right_ear"],
    ["left_ear", "neck"],
    ["right_ear", "neck"],
    ["neck", "back"],
    ["back", "tail_base"],
]
# Bodypart positions in the animal's frame (pixels ahead, pixels to the left).
_BODY_OFFSETS = np.array(
    [[46.0, 0.0], [30.0, 13.0], [30.0, -13.0], [18.0, 0.0], [-8.0, 0.0], [-38.0, 0.0]]
)
_COLOURS = [hex_to_rgb(c) for c in bodypart_colours(DEMO_BODYPARTS).values()]
DEMO_SCORER = "DLC_resnet50_demoNov24shuffle1_100000"
GROUND_TRUTH_FILENAME = "demo_ground_truth.npz"
PSEUDOCOUNT = 1e-3


@dataclass
class DemoProject:
    """What :func:`make_demo_project` wrote, and the truth behind it.

    Attributes
    ----------
    project_dir, video_dir, keypoints_dir
        Folders of the project, its videos and its DeepLabCut CSV files.
    bodyparts, skeleton
        Names and edges.
    true_coordinates
        ``{recording: (T, K, 2)}`` true positions, in video pixels.
    coordinates, confidences
        ``{recording: (T, K, 2)}`` predictions and ``{recording: (T, K)}`` confidences,
        as written to the CSV files.
    slope, intercept, noise_sd
        The error line the predictions follow, and the spread around it.
    """

    project_dir: Path
    video_dir: Path
    keypoints_dir: Path
    bodyparts: list[str]
    skeleton: list[list[str]]
    true_coordinates: dict[str, np.ndarray]
    coordinates: dict[str, np.ndarray]
    confidences: dict[str, np.ndarray]
    slope: float
    intercept: float
    noise_sd: float


def _trajectory(
    n_frames: int, width: int, height: int, phase: float
) -> tuple[np.ndarray, np.ndarray]:
    """Centre (T, 2) and heading (T,) of an animal wandering on a smooth loop."""
    t = np.linspace(0, 2 * np.pi, n_frames, endpoint=False) + phase
    margin = 70
    cx = width / 2 + (width / 2 - margin) * np.sin(t)
    cy = height / 2 + (height / 2 - margin) * np.sin(2 * t + 0.5) * 0.9
    dx, dy = np.gradient(cx), np.gradient(cy)
    return np.stack([cx, cy], axis=1), np.arctan2(dy, dx)


def _true_positions(centre: np.ndarray, heading: np.ndarray) -> np.ndarray:
    """(T, K, 2) bodypart positions from the centre and heading."""
    forward = np.stack([np.cos(heading), np.sin(heading)], axis=1)  # (T, 2)
    left = np.stack([np.sin(heading), -np.cos(heading)], axis=1)
    return (
        centre[:, None, :]
        + _BODY_OFFSETS[None, :, 0:1] * forward[:, None, :]
        + _BODY_OFFSETS[None, :, 1:2] * left[:, None, :]
    )


def _draw_frame(
    background: np.ndarray, centre: np.ndarray, heading: float, points: np.ndarray
) -> np.ndarray:
    """BGR frame: the body as a grey ellipse, each bodypart a coloured dot at its true place."""
    frame = background.copy()
    shift = 4  # sub-pixel drawing: coordinates in 1/16 px
    scale = 1 << shift
    body_centre = (int(round(centre[0] * scale)), int(round(centre[1] * scale)))
    cv2.ellipse(
        frame,
        body_centre,
        (48 * scale, 20 * scale),
        float(np.degrees(heading)),
        0,
        360,
        (150, 150, 150),
        -1,
        cv2.LINE_AA,
        shift,
    )
    for (x, y), (r, g, b) in zip(points, _COLOURS):
        cv2.circle(
            frame,
            (int(round(x * scale)), int(round(y * scale))),
            4 * scale,
            (b, g, r),
            -1,
            cv2.LINE_AA,
            shift,
        )
    return frame


def _write_video(path: Path, frames_bgr, fps: float, size: tuple[int, int]) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise KpcalError(
            f"cannot write the demo video {str(path)!r}: its folder cannot be written (is the "
            "disk full?), or this OpenCV has no mp4v encoder"
        )
    n_frames = 0
    try:
        for frame in frames_bgr:
            writer.write(frame)
            n_frames += 1
    finally:
        writer.release()
    # OpenCV's writer reports no error: a full disk leaves a short or empty video.
    reader = cv2.VideoCapture(str(path))
    written = int(reader.get(cv2.CAP_PROP_FRAME_COUNT)) if reader.isOpened() else 0
    reader.release()
    if written != n_frames:
        raise KpcalError(
            f"the demo video {str(path)!r} was not written whole ({written} of {n_frames} "
            "frames): is the disk full?"
        )


def write_deeplabcut_csv(
    path: str | os.PathLike,
    coordinates: np.ndarray,
    confidences: np.ndarray,
    bodyparts: list[str],
    scorer: str = DEMO_SCORER,
) -> None:
    """Write single-animal DeepLabCut CSV (scorer / bodyparts / coords header rows).

    Parameters
    ----------
    coordinates
        (T, K, 2) positions.
    confidences
        (T, K) likelihoods.
    """
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["scorer"] + [scorer] * (3 * len(bodyparts)))
        writer.writerow(["bodyparts"] + [b for b in bodyparts for _ in range(3)])
        writer.writerow(["coords"] + ["x", "y", "likelihood"] * len(bodyparts))
        for t in range(len(coordinates)):
            row = [str(t)]
            for k in range(len(bodyparts)):
                row += [
                    repr(float(coordinates[t, k, 0])),
                    repr(float(coordinates[t, k, 1])),
                    repr(float(confidences[t, k])),
                ]
            writer.writerow(row)


def make_demo_project(
    project_dir: str | os.PathLike,
    *,
    n_recordings: int = 2,
    n_frames: int = 200,
    width: int = 480,
    height: int = 360,
    fps: float = 30.0,
    slope: float = -0.55,
    intercept: float = 0.2,
    noise_sd: float = 0.05,
    seed: int = 0,
    overwrite: bool = False,
) -> DemoProject:
    """Write a demo project and return its ground truth.

    Parameters
    ----------
    project_dir
        Folder to write (``config.yml``, ``videos/``, ``keypoints/``,
        ``demo_ground_truth.npz`` and a calibration session pointing at them).
    n_recordings, n_frames, width, height, fps
        Size of the synthetic data: each recording is one video.
    slope, intercept, noise_sd
        The true error line and the spread (in log10 units) around it.
    seed
        Seed for everything random.
    overwrite
        Replace an existing project's ``config.yml``.

    Returns
    -------
    DemoProject
    """
    project_dir = Path(project_dir)
    video_dir = project_dir / "videos"
    keypoints_dir = project_dir / "keypoints"
    rng = np.random.default_rng(seed)
    truth, predictions, confidences = {}, {}, {}
    video_dir.mkdir(parents=True, exist_ok=True)
    keypoints_dir.mkdir(parents=True, exist_ok=True)
    k = len(DEMO_BODYPARTS)
    for r in range(n_recordings):
        video_name = f"mouse{r + 1}"
        recording = f"{video_name}{DEMO_SCORER}"
        centre, heading = _trajectory(n_frames, width, height, phase=1.3 * r)
        true_xy = _true_positions(centre, heading)
        # Mostly confident, with a long tail of low confidences.
        confident = rng.uniform(0.85, 1.0, size=(n_frames, k))
        doubtful = 10 ** rng.uniform(-3, 0, size=(n_frames, k))
        conf = np.where(rng.random((n_frames, k)) < 0.35, doubtful, confident)
        log_error = (
            slope * np.log10(conf + PSEUDOCOUNT) + intercept + rng.normal(0, noise_sd, conf.shape)
        )
        error_px = np.maximum(10**log_error - 1, 0.0)
        angle = rng.uniform(0, 2 * np.pi, size=conf.shape)
        predicted = true_xy + error_px[..., None] * np.stack(
            [np.cos(angle), np.sin(angle)], axis=-1
        )

        background = np.full((height, width, 3), 40, np.uint8)
        noise = rng.integers(0, 25, size=(height // 8 + 1, width // 8 + 1), dtype=np.uint8)
        texture = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
        background += texture[..., None].astype(np.uint8, copy=False)  # uint8 already
        frames = (
            _draw_frame(background, centre[t], heading[t], true_xy[t]) for t in range(n_frames)
        )
        _write_video(video_dir / f"{video_name}.mp4", frames, fps, (width, height))
        write_deeplabcut_csv(keypoints_dir / f"{recording}.csv", predicted, conf, DEMO_BODYPARTS)
        truth[recording], predictions[recording], confidences[recording] = true_xy, predicted, conf

    setup_project(
        project_dir,
        bodyparts=DEMO_BODYPARTS,
        skeleton=DEMO_SKELETON,
        video_dir=str(video_dir.resolve()),
        overwrite=overwrite,
        fps=fps,
    )
    save_session(
        project_dir,
        CalibrationSession(
            keypoints_path="keypoints", keypoints_format="deeplabcut", video_dir="videos", seed=seed
        ),
    )
    names = sorted(truth)
    np.savez(
        project_dir / GROUND_TRUTH_FILENAME,
        allow_pickle=False,  # plain arrays: never a pickle
        recordings=np.array(names),
        slope=slope,
        intercept=intercept,
        noise_sd=noise_sd,
        **{f"true_{i}": truth[n] for i, n in enumerate(names)},
    )
    return DemoProject(
        project_dir=project_dir,
        video_dir=video_dir,
        keypoints_dir=keypoints_dir,
        bodyparts=list(DEMO_BODYPARTS),
        skeleton=[list(e) for e in DEMO_SKELETON],
        true_coordinates=truth,
        coordinates=predictions,
        confidences=confidences,
        slope=slope,
        intercept=intercept,
        noise_sd=noise_sd,
    )


def load_ground_truth(project_dir: str | os.PathLike) -> dict:
    """The truth a demo project was written with: ``slope``, ``intercept``, ``true_coordinates``."""
    path = Path(project_dir) / GROUND_TRUTH_FILENAME
    if not path.exists():
        raise KpcalError(f"{path}: not a demo project (no ground truth file)")
    with np.load(path, allow_pickle=False) as data:
        names = [str(n) for n in data["recordings"]]
        return {
            "slope": float(data["slope"]),
            "intercept": float(data["intercept"]),
            "noise_sd": float(data["noise_sd"]),
            "true_coordinates": {n: data[f"true_{i}"] for i, n in enumerate(names)},
        }


#: Bytes a scalar of the ground-truth file may hold, as stored (a .npy header and one number).
_SCALAR_BYTES = 1024


def demo_truth(project_dir: str | os.PathLike) -> dict | None:
    """The line a demo project was written with, ``{"slope", "intercept"}``; ``None`` otherwise.

    Any project folder may hold a file of the ground truth's name (a data share is
    written by many): only its two scalars are read, each at most
    :data:`_SCALAR_BYTES` as stored, and a file that is not what
    :func:`make_demo_project` writes gives ``None``, never an error.
    """
    path = Path(project_dir) / GROUND_TRUTH_FILENAME
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            truth = {}
            for name in ("slope", "intercept"):
                if data.zip.getinfo(f"{name}.npy").file_size > _SCALAR_BYTES:
                    return None
                value = data[name]
                if value.shape != () or value.dtype.kind not in "fiu":
                    return None
                truth[name] = float(value)
    except Exception:  # not a ground-truth file (a zip, a .npy or a name missing, any damage)
        return None
    return truth if all(np.isfinite(v) for v in truth.values()) else None


def default_demo_dir(user: str | None = None) -> Path:
    """Where the demo project lives: in the state folder, one per signed-in user.

    Parameters
    ----------
    user
        The signed-in user (e-mail) on a server with sign-in: the demo project
        is then ``{state folder}/users/{user}/demo-project``, never shared.
        ``None`` on a laptop: ``KPCAL_DEMO_DIR`` when set, else
        ``{state folder}/demo-project`` (see :mod:`kpcal_core.statedir`).
    """
    if user:
        return user_state_dir(user) / "demo-project"
    if os.environ.get("KPCAL_DEMO_DIR"):
        return Path(os.environ["KPCAL_DEMO_DIR"]).expanduser()
    return state_dir() / "demo-project"


def ensure_demo_project(
    project_dir: str | os.PathLike | None = None, *, user: str | None = None
) -> Path:
    """The demo project's folder (default: :func:`default_demo_dir` of ``user``), written on first use."""
    folder = Path(project_dir) if project_dir is not None else default_demo_dir(user)
    if not (folder / GROUND_TRUTH_FILENAME).exists() or not config_path(folder).exists():
        make_demo_project(folder, overwrite=True)
    return folder
