"""error_annotations.csv: keypoint-MoSeq's layout, safe quoting, atomic writes, all readers."""

from __future__ import annotations

import csv
import io
import os

import numpy as np
import pandas as pd
import pytest

from kpcal_core import Annotation, KpcalError, load_annotations, save_annotations

KPMS_COMMENTS = [
    "# key: recording name",
    "# coordinate_index: index of the keypoint data in coordinates (same as video_frame_index if every frame was used)",
    "# video_frame_index: frame number in the video",
    "# bodypart: name of the bodypart that was annotated",
    "# x: x-coordinate of the annotated keypoint",
    "# y: y-coordinate of the annotated keypoint",
]
KPMS_HEADER = "key,coordinate_index,video_frame_index,bodypart,x,y"


def csv_path(project):
    return project / "error_annotations.csv"


def data_rows(project):
    text = csv_path(project).read_text(encoding="utf-8")
    body = "\n".join(line for line in text.split("\n")[6:])
    return list(csv.reader(io.StringIO(body)))


# --------------------------------------------------------------------------- layout


def test_kpms_comment_lines_then_header_then_rows(tmp_path):
    annotations = {("rec1", 3, "nose"): (10.5, 20.25), ("rec2", 0, "tail"): (1.0, 2.0)}
    save_annotations(tmp_path, annotations, None)
    lines = csv_path(tmp_path).read_text(encoding="utf-8").split("\n")
    assert lines[:6] == KPMS_COMMENTS
    header = lines[6].split(",")
    assert header[:6] == KPMS_HEADER.split(",")
    rows = data_rows(tmp_path)[1:]
    rows = [r for r in rows if r]
    assert [r[:6] for r in rows] == [
        ["rec1", "3", "3", "nose", "10.5", "20.25"],
        ["rec2", "0", "0", "tail", "1.0", "2.0"],
    ]
    # pandas, as a keypoint-MoSeq user would read it
    table = pd.read_csv(csv_path(tmp_path), comment="#")
    assert list(table.columns[:6]) == KPMS_HEADER.split(",")
    assert table["x"].tolist() == [10.5, 1.0]


def test_video_frame_index_uses_the_mapping(tmp_path):
    mapping = {"rec": 7 + 3 * np.arange(100), "other": np.arange(5)}
    save_annotations(tmp_path, {("rec", 10, "nose"): (1, 2), ("rec", 0, "ear"): (3, 4)}, mapping)
    rows = [r for r in data_rows(tmp_path)[1:] if r]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("rec", "10", "37", "nose"),
        ("rec", "0", "7", "ear"),
    ]
    assert load_annotations(tmp_path) == {
        ("rec", 10, "nose"): (1.0, 2.0),
        ("rec", 0, "ear"): (3.0, 4.0),
    }


@pytest.mark.parametrize(
    "recording",
    [
        "plain",
        "with,comma",
        'with "quotes"',
        "with\nnewline",
        "with\r\nwindows newline",
        "with\rreturn",
        "# looks like a comment",
        " spaces around ",
        "ünïcødé 鼠",
        "key,coordinate_index,video_frame_index,bodypart,x,y",
    ],
)
def test_awkward_recording_names_round_trip(tmp_path, recording):
    annotations = {
        (recording, 4, "nose"): (1.5, 2.5),
        ("second", 1, 'bp,"odd"\nname'): (0.1 + 0.2, -0.0),
    }
    save_annotations(tmp_path, annotations, {recording: np.arange(10), "second": np.arange(3)})
    loaded = load_annotations(tmp_path)
    assert loaded == annotations
    assert list(loaded) == list(annotations)


def test_loaded_types_are_exact_and_floats_round_trip(tmp_path):
    values = [(0.1 + 0.2, 1e-300), (123456.78901234567, -5.5e-7), (np.float32(1.1), np.int64(3))]
    annotations = {("r", i, "nose"): v for i, v in enumerate(values)}
    save_annotations(tmp_path, annotations, None)
    loaded = load_annotations(tmp_path)
    for (key, value), (raw_key, raw) in zip(loaded.items(), annotations.items(), strict=True):
        assert key == raw_key
        assert type(key[0]) is str and type(key[1]) is int and type(key[2]) is str
        assert type(value) is tuple and all(type(v) is float for v in value)
        assert value == (float(raw[0]), float(raw[1]))


def test_annotation_records_keep_annotator_and_time(tmp_path):
    from kpcal_core.annotations import load_annotation_records

    annotations = {
        ("r", 1, "nose"): Annotation(
            3.0, 4.0, 'ana, the "annotator"', "2025-01-02T03:04:05.000006+00:00"
        )
    }
    save_annotations(tmp_path, annotations, None)
    assert load_annotation_records(tmp_path) == annotations
    assert load_annotations(tmp_path) == {("r", 1, "nose"): (3.0, 4.0)}


def test_numpy_keys_are_written_as_plain_values(tmp_path):
    save_annotations(tmp_path, {(np.str_("r"), np.int64(5), np.str_("nose")): (1, 2)}, None)
    assert load_annotations(tmp_path) == {("r", 5, "nose"): (1.0, 2.0)}


def test_empty_annotations_write_header_only(tmp_path):
    save_annotations(tmp_path, {}, None)
    assert load_annotations(tmp_path) == {}
    assert csv_path(tmp_path).read_text().split("\n")[6].startswith(KPMS_HEADER)


# --------------------------------------------------------------------------- atomic


def test_crash_during_replace_keeps_previous_file_and_no_temp(tmp_path, monkeypatch):
    save_annotations(tmp_path, {("r", 1, "nose"): (1, 2)}, None)
    before = csv_path(tmp_path).read_bytes()

    def crash(*args, **kwargs):
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        save_annotations(tmp_path, {("r", 1, "nose"): (5, 6), ("r", 2, "nose"): (7, 8)}, None)
    assert csv_path(tmp_path).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["error_annotations.csv"]


def test_crash_during_write_keeps_previous_file_and_no_temp(tmp_path, monkeypatch):
    save_annotations(tmp_path, {("r", 1, "nose"): (1, 2)}, None)
    before = csv_path(tmp_path).read_bytes()

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        save_annotations(tmp_path, {("r", 9, "nose"): (5, 6)}, None)
    monkeypatch.undo()
    assert csv_path(tmp_path).read_bytes() == before
    assert load_annotations(tmp_path) == {("r", 1, "nose"): (1.0, 2.0)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["error_annotations.csv"]


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "annotations, mapping, needle",
    [
        ({("r", 1, "nose"): (float("nan"), 2.0)}, None, "nan"),
        ({("r", 1, "nose"): (1.0, float("inf"))}, None, "inf"),
        ({("r", 1, "nose"): (1.0, 2.0)}, {"r": np.arange(1)}, "frame 1"),
        ({("r", 1, "nose"): (1.0, 2.0)}, {"other": np.arange(5)}, "'r'"),
        ({("r", -1, "nose"): (1.0, 2.0)}, None, "-1"),
        ({("r", -1, "nose"): (1.0, 2.0)}, {"r": np.arange(5)}, "-1"),
        ({("r", "two", "nose"): (1.0, 2.0)}, None, "two"),
        ({("r", 1.5, "nose"): (1.0, 2.0)}, None, "1.5"),
        ({("r", 1): (1.0, 2.0)}, None, "('r', 1)"),
        ({("r", 1, "nose"): (1.0,)}, None, "('r', 1, 'nose')"),
        ({("r", 1, "nose"): ("a", "b")}, None, "('r', 1, 'nose')"),
        ({("r", 1, "nose"): None}, None, "('r', 1, 'nose')"),
    ],
)
def test_bad_input_raises_and_writes_nothing(tmp_path, annotations, mapping, needle):
    good = {("good", 0, "nose"): (1.0, 2.0)}
    save_annotations(tmp_path, good, None)
    before = csv_path(tmp_path).read_bytes()
    with pytest.raises(KpcalError) as info:
        save_annotations(
            tmp_path,
            {**good, **annotations},
            mapping if mapping is None else {"good": [0], **mapping},
        )
    assert needle in str(info.value)
    assert csv_path(tmp_path).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["error_annotations.csv"]
    # and into an empty project: no file at all
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(KpcalError):
        save_annotations(empty, annotations, mapping)
    assert list(empty.iterdir()) == []


def test_missing_project_folder(tmp_path):
    with pytest.raises(KpcalError, match="nowhere"):
        save_annotations(tmp_path / "nowhere", {("r", 1, "nose"): (1, 2)}, None)
    assert not (tmp_path / "nowhere").exists()


# --------------------------------------------------------------------------- reading other files


def test_reads_keypoint_moseq_file_exactly_as_it_writes_it(tmp_path):
    # keypoint-MoSeq: lines joined with "\n", no quoting, no trailing newline
    lines = KPMS_COMMENTS + [
        KPMS_HEADER,
        "mouse1DLC_resnet50,12,36,nose,101.25,88.5",
        "mouse2DLC_resnet50,0,0,tail_base,3.0,4",
    ]
    csv_path(tmp_path).write_text("\n".join(lines), encoding="utf-8")
    loaded = load_annotations(tmp_path)
    assert loaded == {
        ("mouse1DLC_resnet50", 12, "nose"): (101.25, 88.5),
        ("mouse2DLC_resnet50", 0, "tail_base"): (3.0, 4.0),
    }
    assert all(type(k[1]) is int and type(v[1]) is float for k, v in loaded.items())


def test_reads_the_older_layout(tmp_path):
    csv_path(tmp_path).write_text("key,frame,bodypart,x,y\nrec,5,nose,1.5,2.5\nrec,6,ear,3,4")
    assert load_annotations(tmp_path) == {
        ("rec", 5, "nose"): (1.5, 2.5),
        ("rec", 6, "ear"): (3.0, 4.0),
    }


def test_reads_windows_line_endings(tmp_path):
    text = "\r\n".join(KPMS_COMMENTS + [KPMS_HEADER, "rec,1,1,nose,1,2", ""])
    csv_path(tmp_path).write_bytes(text.encode())
    assert load_annotations(tmp_path) == {("rec", 1, "nose"): (1.0, 2.0)}


def test_missing_file_is_empty(tmp_path):
    assert load_annotations(tmp_path) == {}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# only comments\n",
        "a,b,c\n1,2,3",
        "key,frame,x,y\nr,1,2,3",
        KPMS_HEADER + "\nrec,1,1,nose,abc,2",
        KPMS_HEADER + "\nrec,one,1,nose,1,2",
        KPMS_HEADER + "\nrec,1,one,nose,1,2",
        KPMS_HEADER + "\nrec,-1,1,nose,1,2",
        KPMS_HEADER + "\nrec,1,1,nose,nan,2",
        KPMS_HEADER + "\nrec,1,1,nose,1",
        KPMS_HEADER + "\nrec,1,1,nose",
        KPMS_HEADER + "\nrec,1,1,nose,1,2,extra",
        KPMS_HEADER + "\n,1,1,nose,1,2",
        KPMS_HEADER + '\n"rec,1,1,nose,1,2',
        "key,frame,bodypart,x,y\nrec,1,nose",
        "key,frame,bodypart,x,y\nrec,1,nose,1,2,3",
    ],
)
def test_malformed_file_raises_naming_the_file(tmp_path, text):
    csv_path(tmp_path).write_text(text, encoding="utf-8")
    with pytest.raises(KpcalError) as info:
        load_annotations(tmp_path)
    assert "error_annotations.csv" in str(info.value)


def test_non_utf8_file_raises_naming_the_file(tmp_path):
    csv_path(tmp_path).write_bytes(KPMS_HEADER.encode() + b"\nr\xff\xfe,1,1,nose,1,2")
    with pytest.raises(KpcalError, match="error_annotations.csv"):
        load_annotations(tmp_path)


def test_numpy_scalars_in_annotation_records_are_written_as_plain_numbers(tmp_path):
    """numpy 2 reprs np.float64 as 'np.float64(...)': the file must hold plain numbers."""
    import numpy as np

    annotations = {("r", 0, "nose"): Annotation(np.float64(1.25), np.float32(2.5), "a", "t")}
    save_annotations(tmp_path, annotations, None)
    assert "np.float" not in (tmp_path / "error_annotations.csv").read_text()
    assert load_annotations(tmp_path) == {("r", 0, "nose"): (1.25, 2.5)}
