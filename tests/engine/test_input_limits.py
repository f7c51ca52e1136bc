"""Bounded input (issue 19, finding 5): every oversized file kind is refused before it allocates.

Each kind is built small on disk (declared sizes, compressed chunks, a header),
then loaded through the entry points the app uses, in a fresh interpreter: the
refusal must be a KpcalError naming the file, the limit's variable, within a
generous time, with the process's peak RSS (imports included) under 500 MB.
``pytest -s`` prints the seconds and RSS of each kind.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
from hostile_support import (
    csv_with_columns,
    csv_with_rows,
    grow_dataset,
    gzip_bomb,
    oversized_npy,
    run_measured,
    sleap_analysis_bomb,
    slp_bomb,
)
from pose_files import dlc_frame, write_nwb, write_slp

from kpcal_core import limits
from kpcal_core.errors import KpcalError

REPO = Path(__file__).resolve().parents[2]
MAX_RSS_MB = 500
MAX_SECONDS = 30  # "a few seconds", generously


# --------------------------------------------------------------------------- the limits


def test_a_limit_is_read_from_its_variable_at_each_check(monkeypatch):
    monkeypatch.delenv("KPCAL_MAX_COLUMNS", raising=False)
    assert limits.limit("columns") == limits.LIMITS["columns"].default
    monkeypatch.setenv("KPCAL_MAX_COLUMNS", "1_000")
    assert limits.limit("columns") == 1000
    limits.check("columns", 1000, "file 'a.csv'")
    with pytest.raises(limits.LimitExceeded) as refused:
        limits.check("columns", 1001, "file 'a.csv'", "its header has ")
    message = str(refused.value)
    assert "'a.csv'" in message and "1,001 columns" in message and "1,000" in message
    assert "KPCAL_MAX_COLUMNS" in message


@pytest.mark.parametrize("value", ["abc", "-5", "0", "1e6", "12.5", "10 000"])
def test_a_bad_value_in_the_environment_is_refused_naming_it(monkeypatch, value):
    monkeypatch.setenv("KPCAL_MAX_VIDEO_PIXELS", value)
    with pytest.raises(KpcalError, match=f"KPCAL_MAX_VIDEO_PIXELS={re.escape(repr(value))}"):
        limits.limit("video_pixels")


def test_every_limit_is_documented_and_shown_in_the_service_unit():
    doc = limits.__doc__
    unit = (REPO / "deploy" / "kpcal.service").read_text()
    for entry in limits.LIMITS.values():
        assert re.search(rf"{entry.env}\s+{entry.default:,}\s", doc), entry.env
        assert f"#Environment={entry.env}={entry.default}\n" in unit, entry.env
    assert re.search(r"^MemoryMax=\d+G$", unit, re.M) and re.search(
        r"^MemoryHigh=\d+G$", unit, re.M
    )


# --------------------------------------------------------------------------- oversized files


def dlc_table_rows(path: Path, n_rows: int, layout: str) -> Path:
    """A DeepLabCut .h5 (3 bodyparts) whose table declares ``n_rows`` rows, a few KB on disk."""
    dlc_frame(["a", "b", "c"], n_frames=4).to_hdf(path, key="df_with_missing", format=layout)
    with h5py.File(path, "a") as handle:
        if layout == "table":
            handle["df_with_missing/table"].resize((n_rows,))
        else:
            grow_dataset(handle, "df_with_missing/block0_values", (n_rows, 9))
    return path


def nwb_series_frames(path: Path, n_frames: int) -> Path:
    """An NWB file whose two pose series each declare ``n_frames`` frames (never written)."""
    write_nwb(path, ["pose"])
    with h5py.File(path, "a") as handle:
        for node in ("snout", "tailbase"):
            grow_dataset(handle, f"processing/behavior/pose/{node}/data", (n_frames, 2))
            grow_dataset(handle, f"processing/behavior/pose/{node}/confidence", (n_frames,))
    return path


def slp_far_frame(path: Path) -> Path:
    """A real .slp whose one labelled frame claims to be frame 10^9 (sleap-io's array: 36 GB)."""
    write_slp(path, n_tracks=1, n_frames=1)
    with h5py.File(path, "a") as handle:
        frames = handle["frames"][()]
        frames["frame_idx"][0] = 10**9
        handle["frames"][...] = frames
    return path


def slp_json_rows(path: Path, n_rows: int) -> Path:
    """A real .slp whose ``videos_json`` declares ``n_rows`` rows of JSON text (never written)."""
    write_slp(path, n_tracks=1, n_frames=2)
    with h5py.File(path, "a") as handle:
        grow_dataset(handle, "videos_json", (n_rows,))
    return path


def mjpeg_16000(path: Path) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=gray:s=16000x16000:r=5"]
        + ["-frames:v", "2", "-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-q:v", "31", str(path)],
        check=True,
        timeout=120,
    )
    return path


LOAD = "keypoints.load_keypoints({path!r})"
CHOOSE = (
    "try:\n"
    "    workflows.choose_sources({project!r}, workflows.Sources(keypoints={path!r}), create=True)\n"
    "finally:\n"
    "    import os\n"
    "    result['written'] = sorted(os.listdir({project!r})) if os.path.isdir({project!r}) else []\n"
)
FRAME = (
    "try:\n"
    "    video.load_frame({path!r}, 0, cache_dir={project!r})\n"
    "finally:\n"
    "    import os\n"
    "    result['written'] = sorted(os.listdir({project!r})) if os.path.isdir({project!r}) else []\n"
)

# kind: (file name, make(path), how it is loaded, variable named, environment)
KINDS = {
    "SLEAP analysis .h5, 15 M frames": (
        "bomb.analysis.h5",
        lambda p: sleap_analysis_bomb(p, 15_000_000, n_nodes=4),
        CHOOSE,
        "KPCAL_MAX_KEYPOINT_VALUES",
        {},
    ),
    "gzip-compressed dataset bomb": (
        "gzip.analysis.h5",
        lambda p: gzip_bomb(p, 16_000_000, n_nodes=4),
        LOAD,
        "KPCAL_MAX_KEYPOINT_VALUES",
        {},
    ),
    ".slp, 2 M instances declared": (
        "bomb.slp",
        lambda p: slp_bomb(p, 2_000_000),
        LOAD,
        "KPCAL_MAX_SLP_INSTANCES",
        {},
    ),
    ".slp, a labelled frame at 10^9": (
        "far.slp",
        slp_far_frame,
        CHOOSE,
        "KPCAL_MAX_KEYPOINT_VALUES",
        {},
    ),
    ".slp, 3 M rows of JSON text": (
        "text.slp",
        lambda p: slp_json_rows(p, 3_000_000),
        LOAD,
        "KPCAL_MAX_HDF5_METADATA_BYTES",
        {},
    ),
    "NWB, 2 series of 30 M frames": (
        "bomb.nwb",
        lambda p: nwb_series_frames(p, 30_000_000),
        LOAD,
        "KPCAL_MAX_KEYPOINT_VALUES",
        {},
    ),
    "DeepLabCut .h5 table, 20 M rows": (
        "tableDLC.h5",
        lambda p: dlc_table_rows(p, 20_000_000, "table"),
        CHOOSE,
        "KPCAL_MAX_KEYPOINT_VALUES",
        {},
    ),
    "DeepLabCut .h5 fixed, 20 M rows": (
        "fixedDLC.h5",
        lambda p: dlc_table_rows(p, 20_000_000, "fixed"),
        LOAD,
        "KPCAL_MAX_KEYPOINT_VALUES",
        {},
    ),
    "CSV, 10 M columns (a 20 MB line)": (
        "wide.csv",
        lambda p: csv_with_columns(p, 10_000_000, n_lines=1),  # line 1 is refused: 20 MB
        LOAD,
        "KPCAL_MAX_CSV_LINE_BYTES",
        {},
    ),
    "CSV, 100,000 short columns": (
        "columns.csv",
        lambda p: csv_with_columns(p, 100_000),
        LOAD,
        "KPCAL_MAX_COLUMNS",
        {},
    ),
    "CSV, rows over the limit": (
        "long.csv",
        lambda p: csv_with_rows(p, 400_000, n_bodyparts=3),
        CHOOSE,
        "KPCAL_MAX_KEYPOINT_VALUES",
        {"KPCAL_MAX_KEYPOINT_VALUES": "1000000"},
    ),
    "MJPEG video, 16000 x 16000": ("huge.avi", mjpeg_16000, FRAME, "KPCAL_MAX_VIDEO_PIXELS", {}),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_oversized_file_is_refused_quickly_without_allocating(tmp_path, kind):
    name, make, call, variable, env = KINDS[kind]
    path = make(tmp_path / name)
    project = tmp_path / "project"
    result = run_measured(call.format(path=str(path), project=str(project)), env=env)
    size_kb = path.stat().st_size / 1024
    print(
        f"\n{kind}: {size_kb:,.0f} KB on disk; refused in {result['seconds']:.2f} s, "
        f"peak RSS {result['peak_rss_mb']:.0f} MB ({result['type']})"
    )
    assert result["refused"] is not None, f"{kind} was accepted"
    assert result["type"] == "LimitExceeded"
    assert name in result["refused"] and variable in result["refused"]
    assert result["seconds"] < MAX_SECONDS
    assert result["peak_rss_mb"] < MAX_RSS_MB
    assert result.get("written", []) == [], "something was written for a refused file"


def test_a_stored_keypoint_copy_declaring_too_much_is_refused(tmp_path, shared_data):
    """calibration/keypoint_store/*.npy: headers checked before mapping or loading."""
    project = tmp_path / "project"
    (csv,) = (shared_data / "dlc_tiny").glob("*.csv")
    run_measured(
        f"workflows.choose_sources({str(project)!r}, workflows.Sources(keypoints={str(csv)!r}),"
        " create=True)"
    )
    (copy,) = (project / "calibration" / "keypoint_store").iterdir()
    n = 10**9  # frames x 4 keypoints: a 64 GB coordinates file, 8 GB of confidences
    oversized_npy(copy / "0.coordinates.npy", (n, 4, 2))
    oversized_npy(copy / "0.confidences.npy", (n, 4))
    oversized_npy(copy / "0.missing.npy", (n, 4), dtype=np.bool_)
    result = run_measured(f"workflows.open_project({str(project)!r})")
    print(
        f"\nstored copy declaring {n:,} frames: refused in {result['seconds']:.2f} s, "
        f"peak RSS {result['peak_rss_mb']:.0f} MB"
    )
    assert result["type"] == "LimitExceeded"
    assert (
        "0.coordinates.npy" in result["refused"]
        and "KPCAL_MAX_KEYPOINT_VALUES" in result["refused"]
    )
    assert result["seconds"] < MAX_SECONDS and result["peak_rss_mb"] < MAX_RSS_MB


def test_session_keypoints_npz_declaring_too_much_is_refused(tmp_path):
    from kpcal_core.session import KEYPOINTS_FILENAME, load_session_keypoints, session_dir

    folder = session_dir(tmp_path)
    folder.mkdir(parents=True)
    member = tmp_path / "coordinates_0.npy"
    oversized_npy(member, (10**9, 4, 2))
    import zipfile

    with zipfile.ZipFile(folder / KEYPOINTS_FILENAME, "w") as archive:
        archive.write(member, "coordinates_0.npy")
    with pytest.raises(KpcalError) as refused:
        load_session_keypoints(tmp_path)
    assert KEYPOINTS_FILENAME in str(refused.value)
    assert "damaged" in str(refused.value) or "KPCAL_MAX_KEYPOINT_VALUES" in str(refused.value)


def test_a_text_file_too_large_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from kpcal_core.session import load_session, session_dir

    monkeypatch.setenv("KPCAL_MAX_TEXT_FILE_BYTES", "1000")
    folder = session_dir(tmp_path)
    folder.mkdir(parents=True)
    (folder / "session.json").write_text("{" + " " * 2000 + "}")
    with pytest.raises(limits.LimitExceeded, match="session.json.*KPCAL_MAX_TEXT_FILE_BYTES"):
        load_session(tmp_path)


# --------------------------------------------------------------------------- legit files


def test_files_just_under_the_limits_load(tmp_path, monkeypatch):
    path = csv_with_rows(tmp_path / "long.csv", 10_000, n_bodyparts=3)
    monkeypatch.setenv("KPCAL_MAX_KEYPOINT_VALUES", "30000")  # 10,000 rows x 3 bodyparts
    coordinates, _, bodyparts = __import__("kpcal_core").load_keypoints(path)
    assert coordinates["long"].shape == (10_000, 3, 2)
    monkeypatch.setenv("KPCAL_MAX_KEYPOINT_VALUES", "29999")
    with pytest.raises(limits.LimitExceeded, match="10,000 rows x 3 bodyparts"):
        __import__("kpcal_core").load_keypoints(path)


def test_real_data_loads_under_the_default_limits(shared_data, monkeypatch):
    from kpcal_core import load_keypoints
    from kpcal_core.video import load_frame

    for name in limits.LIMITS.values():
        monkeypatch.delenv(name.env, raising=False)
    for pattern in (
        "dlc_tiny/*.h5",
        "dlc_tiny/*.csv",
        "sleap_flies_clip/*.slp",
        "sleap_centered_pair/*.slp",
    ):
        (path,) = shared_data.glob(pattern)
        coordinates, _, _ = load_keypoints(path)
        assert coordinates
    for pattern in ("sleap_flies_clip/*.mp4", "dlc_tiny/*.avi"):
        (video,) = shared_data.glob(pattern)
        assert load_frame(video, 1).ndim == 3


def test_the_recordings_table_says_a_video_is_over_the_pixel_limit(shared_data, monkeypatch):
    from kpcal_core import check_videos

    (video,) = (shared_data / "dlc_tiny").glob("*.avi")  # 832 x 747
    monkeypatch.setenv("KPCAL_MAX_VIDEO_PIXELS", "100000")
    report = check_videos({"rec": np.zeros((5, 1, 2))}, None, video_paths={"rec": str(video)})
    row = report.iloc[0]
    assert row["status"] == "video unreadable"
    assert "832 x 747" in row["reason"] and "KPCAL_MAX_VIDEO_PIXELS" in row["reason"]
