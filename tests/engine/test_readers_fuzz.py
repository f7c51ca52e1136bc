"""Corrupt or foreign files: the readers raise KpcalError naming the file, or read it right.

Property-based (hypothesis) tests feed the readers random bytes and text,
truncated files, wrong columns, NaN and inf, huge numbers, other encodings
(latin-1, UTF-16, a BOM) and recording names with commas, quotes and line
breaks. Whatever comes in, the only exception that comes out is
:class:`KpcalError`, whose message names the file; and what the writers
accept reads back exactly. A corrupt ``error_annotations.csv`` is never
silently replaced by ``save_work``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import struct
import tempfile
from contextlib import contextmanager
from pathlib import Path

import helpers_save_loop as helper
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kpcal_core.annotations import (
    CLEARED,
    NOT_VISIBLE,
    POSITION,
    Annotation,
    annotations_path,
    format_annotations,
    load_annotation_records,
    load_annotations,
    parse_annotations,
    save_annotations,
)
from kpcal_core.config import config_path, load_config, setup_project, update_config
from kpcal_core.demo import make_demo_project, write_deeplabcut_csv
from kpcal_core.errors import KpcalError
from kpcal_core.keypoints import load_keypoints
from kpcal_core.project import (
    backup_file,
    broken_annotation_files,
    draft_path,
    load_project_data,
    load_working_annotations,
    save_work,
)
from kpcal_core.session import CalibrationSession, load_session, save_session, session_dir

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
EXAMPLES: dict[str, int] = {}  # reader -> examples run, printed at the end (pytest -s)


def count(name: str) -> None:
    EXAMPLES[name] = EXAMPLES.get(name, 0) + 1


@pytest.fixture(scope="module", autouse=True)
def report_examples():
    yield
    print("\nhypothesis examples per reader:")
    for name, n in sorted(EXAMPLES.items()):
        print(f"  {name}: {n}")


@contextmanager
def scratch():
    folder = tempfile.mkdtemp(prefix="kpcal-fuzz-")
    try:
        yield Path(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def assert_names(error: KpcalError, source: str) -> None:
    assert source in str(error), f"message does not name {source!r}: {error}"


# --------------------------------------------------------------------------- strategies

SPECIAL = [",", '"', "\n", "\r", "\r\n", "'", "#", " ", "\t", ";", "é", "日本", "\u2028", "\x85"]
character = st.one_of(
    st.sampled_from(SPECIAL), st.characters(blacklist_categories=("Cs",))
)  # no lone surrogates: they cannot be written as UTF-8


def texts(min_size: int = 0, max_size: int = 12):
    return st.lists(character, min_size=min_size, max_size=max_size).map("".join)


names = texts(1, 10)
finite = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e300, -1e300, -0.0, 0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1e-310]),
)


@st.composite
def annotation_records(draw):
    keys = draw(st.lists(st.tuples(names, st.integers(0, 2**63), names), max_size=8, unique=True))
    records = {}
    for key in keys:
        status = draw(st.sampled_from([POSITION, POSITION, NOT_VISIBLE, CLEARED]))
        x, y = (draw(finite), draw(finite)) if status == POSITION else (math.nan, math.nan)
        annotator = draw(texts(max_size=8))
        at = draw(st.one_of(st.just("2024-05-01T12:00:00.000001+00:00"), texts(max_size=8)))
        records[key] = Annotation(x, y, annotator, at, status)
    return records


def same_float(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return struct.pack("<d", a) == struct.pack("<d", b)  # bit for bit: -0.0 is not 0.0


def assert_same_records(got: dict, expected: dict) -> None:
    assert list(got) == list(expected) or set(got) == set(expected)
    for key, ann in expected.items():
        other = got[key]
        assert (other.annotator, other.annotated_at, other.status) == (
            ann.annotator,
            ann.annotated_at,
            ann.status,
        ), key
        assert same_float(other.x, ann.x) and same_float(other.y, ann.y), (key, other, ann)


def valid_csv_text(records: dict) -> str:
    return format_annotations(records, None)


# --------------------------------------------------------------------------- annotations


@FUZZ
@given(records=annotation_records())
@example(
    records={
        ("a,b", 0, 'say "hi"'): Annotation(1e300, -0.0, "x", "t"),
        ("line\nbreak", 1, "cr\ronly"): Annotation(5e-324, -5e-324, "a\r\nb", "t"),
        ("日本\u2028語", 2**63, "#hash"): Annotation(math.nan, math.nan, "", "", NOT_VISIBLE),
        (" spaced ", 3, "\x85"): Annotation(math.nan, math.nan, "", "", CLEARED),
    }
)
def test_annotations_round_trip_exactly(records):
    """save_annotations -> load_annotation_records gives back every value, bit for bit."""
    count("save_annotations/load_annotation_records round trip")
    with scratch() as folder:
        save_annotations(folder, records, None)
        got = load_annotation_records(folder)
        assert_same_records(got, records)
        positions = load_annotations(folder)
        assert positions == {k: a.xy for k, a in records.items() if a.status == POSITION}
        with open(annotations_path(folder), encoding="utf-8", newline="") as handle:
            assert_same_records(parse_annotations(handle.read()), records)


def test_writer_refuses_what_the_reader_would_refuse(tmp_path):
    """An empty recording or bodypart name is refused before anything is written."""
    save_annotations(tmp_path, {("rec", 1, "nose"): (1.0, 2.0)}, None)
    before = annotations_path(tmp_path).read_bytes()
    for key in (("", 1, "nose"), ("rec", 1, "")):
        with pytest.raises(KpcalError, match="empty"):
            save_annotations(tmp_path, {key: (1.0, 2.0)}, None)
    assert annotations_path(tmp_path).read_bytes() == before


@FUZZ
@given(text=texts(max_size=400))
@example(text="")
@example(text="# only a comment\n")
@example(text="key,coordinate_index,video_frame_index,bodypart,x,y\n")
@example(text='key,coordinate_index,video_frame_index,bodypart,x,y\n"unterminated,1,1,b,1,2\n')
@example(text="key,frame,bodypart,x,y\nr,1,b,nan,2\n")
@example(text="key,frame,bodypart,x,y\nr," + "9" * 5000 + ",b,1,2\n")
@example(text="key,coordinate_index,video_frame_index,bodypart,x,y\nr,1,1,b,1e999,2\n")
def test_parse_annotations_random_text(text):
    count("parse_annotations (random text)")
    try:
        records = parse_annotations(text, "SOURCE.csv")
    except KpcalError as error:
        assert str(error).startswith("SOURCE.csv")
        return
    for key, ann in records.items():
        assert isinstance(key[0], str) and key[0] and isinstance(key[2], str) and key[2]
        assert isinstance(key[1], int) and key[1] >= 0
        if ann.status == POSITION:
            assert math.isfinite(ann.x) and math.isfinite(ann.y)


@FUZZ
@given(data=st.binary(max_size=400))
@example(data=b"\xff\xfe" + "key,frame,bodypart,x,y\n".encode("utf-16-le"))
@example(data="key,frame,bodypart,x,y\nr\xe9c,1,b,1,2\n".encode("latin-1"))
def test_annotation_files_of_random_bytes(data):
    count("load_annotation_records / load_annotations / load_working_annotations (random bytes)")
    with scratch() as folder:
        annotations_path(folder).write_bytes(data)
        for reader in (load_annotation_records, load_annotations, load_working_annotations):
            try:
                reader(folder)
            except KpcalError as error:
                assert_names(error, str(annotations_path(folder)))
        session_dir(folder).mkdir()
        os.replace(annotations_path(folder), draft_path(folder))
        try:
            load_working_annotations(folder)
        except KpcalError as error:
            assert_names(error, str(draft_path(folder)))


@FUZZ
@given(records=annotation_records().filter(bool), data=st.data())
def test_truncated_annotation_file_never_gives_altered_values(records, data):
    """A file cut anywhere is refused, or reads as a subset of the whole rows it still has."""
    count("parse_annotations (truncated file)")
    text = valid_csv_text(records)
    cut = data.draw(st.integers(0, len(text)))
    try:
        got = parse_annotations(text[:cut], "CUT.csv")
    except KpcalError as error:
        assert str(error).startswith("CUT.csv")
        return
    for key, ann in got.items():
        assert key in records, f"cut at {cut}: invented sample {key}"
        assert_same_records({key: ann}, {key: records[key]})


def test_every_cut_of_a_tricky_file():
    """Exhaustive over cut positions: quoted names with line breaks, a not-visible row."""
    records = {
        ("rec,1", 0, 'say "hi"'): Annotation(123.456, 789.25, "Zoë\nB", "2024-05-01T12:00:00Z"),
        ("r\r2", 7, "nose"): Annotation(math.nan, math.nan, "a,b", "t2", NOT_VISIBLE),
        ("plain", 3, "tail"): Annotation(-0.0, 1e300, "", ""),
    }
    text = valid_csv_text(records)
    for cut in range(len(text) + 1):
        try:
            got = parse_annotations(text[:cut], "CUT.csv")
        except KpcalError as error:
            assert str(error).startswith("CUT.csv")
            continue
        for key, ann in got.items():
            assert key in records, (cut, key)
            assert_same_records({key: ann}, {key: records[key]})


@pytest.mark.parametrize(
    "cell, value, needle",
    [
        ("x", "nan", "not finite"),
        ("y", "inf", "not finite"),
        ("x", "-inf", "not finite"),
        ("x", "1e999", "not finite"),
        ("x", "", "numbers"),
        ("x", "abc", "numbers"),
        ("coordinate_index", "1.5", "whole number"),
        ("coordinate_index", "-3", "negative"),
        ("coordinate_index", "9" * 5000, "whole number"),
        ("video_frame_index", "x", "video_frame_index"),
        ("status", "maybe", "unknown status"),
        ("key", "", "empty recording"),
    ],
)
def test_hand_edited_cells_are_refused_with_the_row(tmp_path, cell, value, needle):
    records = {("rec", 1, "nose"): Annotation(1.0, 2.0, "me", "t"), ("rec", 2, "tail"): (3.0, 4.0)}
    save_annotations(tmp_path, records, None)
    path = annotations_path(tmp_path)
    lines = path.read_text(encoding="utf-8").split("\n")
    header = lines[6].split(",")
    row = next(csv.reader([lines[8]]))
    row[header.index(cell)] = value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(row)
    lines[8] = buffer.getvalue()
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(KpcalError, match=needle) as info:
        load_annotation_records(tmp_path)
    assert_names(info.value, str(path))
    assert "data row 2" in str(info.value)


@pytest.mark.parametrize(
    "header",
    [
        "key,frame,x,y",
        "recording,coordinate_index,video_frame_index,bodypart,x,y",
        "x,y,key,coordinate_index,video_frame_index,bodypart",
        "",
    ],
)
def test_wrong_columns_are_refused(tmp_path, header):
    annotations_path(tmp_path).write_text(header + "\nrec,1,1,nose,1.0,2.0\n", encoding="utf-8")
    with pytest.raises(KpcalError) as info:
        load_annotation_records(tmp_path)
    assert_names(info.value, str(annotations_path(tmp_path)))


def test_extra_and_missing_fields_in_a_row_are_refused():
    text = valid_csv_text({("rec", 1, "nose"): (1.0, 2.0)})
    with pytest.raises(KpcalError, match="11 fields, expected 10"):  # one too many
        parse_annotations(text.rstrip("\n") + ",extra\n", "F.csv")
    with pytest.raises(KpcalError, match="5 fields"):  # fewer than keypoint-MoSeq's six
        parse_annotations(text.replace(",1.0,2.0,,,,", ",1.0\n"), "F.csv")
    with pytest.raises(KpcalError, match="x, y numbers"):  # y left empty
        parse_annotations(text.replace(",1.0,2.0,", ",1.0,,", 1), "F.csv")


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "latin-1", "cp1252"])
def test_other_encodings(tmp_path, encoding):
    """A BOM is accepted (keypoint-MoSeq's pandas reader takes it); other encodings of
    non-ASCII text are refused as not UTF-8, naming the file."""
    records = {("souris-é", 1, "museau"): Annotation(1.5, 2.5, "Zoë", "t")}
    text = valid_csv_text(records)
    annotations_path(tmp_path).write_bytes(text.encode(encoding))
    if encoding == "utf-8-sig":
        assert_same_records(load_annotation_records(tmp_path), records)
        return
    with pytest.raises(KpcalError, match="not UTF-8") as info:
        load_annotation_records(tmp_path)
    assert_names(info.value, str(annotations_path(tmp_path)))


# --------------------------------------------------------------------------- save_work on a corrupt CSV


@pytest.fixture(scope="module")
def saved_project(tmp_path_factory):
    """A demo project with 24 annotations saved (the CSV exists); copied per test."""
    project = tmp_path_factory.mktemp("saved") / "project"
    make_demo_project(project, n_recordings=1, n_frames=10, width=160, height=160)
    data = load_project_data(project)
    keys = helper.sample_keys(data)
    records = {}
    for counter in range(24):
        _, key, x, y = helper.crash_edit(data, keys, counter)
        records[key] = Annotation(x, y, "me", f"2024-05-01T12:00:{counter:02d}.000000+00:00")
    assert save_work(data, records).exported
    return project


def corruptions(text: str) -> dict[str, bytes]:
    last_row_start = text.rstrip("\n").rfind("\n") + 1
    row = text[last_row_start:]
    y_start = last_row_start
    for _ in range(5):  # y is the sixth field (the demo's names hold no commas)
        y_start = text.index(",", y_start) + 1
    return {
        "truncated in the last row": text[: last_row_start + len(row) // 2].encode(),
        "truncated inside y": text[: y_start + 3].encode(),
        "truncated in the header": text[: text.index("video_frame_index,bodypart")].encode(),
        "hand-edited decimal comma": (text[:last_row_start] + row.replace(".", ",", 1)).encode(),
        "hand-edited x to text": (text[:last_row_start] + row.replace(",", ",abc", 4)).encode(),
        "wrong columns": text.replace("coordinate_index", "frame_index").encode(),
        "random bytes": bytes(range(256)) * 2,
        "UTF-16": text.encode("utf-16"),
        "empty": b"",
    }


@pytest.mark.parametrize(
    "kind",
    [
        "truncated in the last row",
        "truncated inside y",
        "truncated in the header",
        "hand-edited decimal comma",
        "hand-edited x to text",
        "wrong columns",
        "random bytes",
        "UTF-16",
        "empty",
    ],
)
def test_save_work_never_replaces_a_corrupt_csv(saved_project, tmp_path, kind):
    project = tmp_path / "project"
    shutil.copytree(saved_project, project)
    csv_file = annotations_path(project)
    good = load_annotation_records(project)
    broken = corruptions(csv_file.read_text(encoding="utf-8"))[kind]
    csv_file.write_bytes(broken)
    draft_before = draft_path(project).read_bytes()
    config_before = config_path(project).read_bytes()
    data = load_project_data(project)
    new_key = helper.sample_keys(data)[50]
    session = {**good, new_key: Annotation(10.0, 20.0, "me", "2024-06-01T00:00:00.000000+00:00")}

    with pytest.raises(KpcalError) as info:
        save_work(data, session)
    assert_names(info.value, str(csv_file))
    assert csv_file.read_bytes() == broken, "the corrupt CSV was changed"
    assert draft_path(project).read_bytes() == draft_before
    assert config_path(project).read_bytes() == config_before
    assert broken_annotation_files(project) == [csv_file]

    backup = backup_file(csv_file)
    assert re.fullmatch(r"error_annotations\.csv\.broken-\d{8}T\d{6}(-\d+)?", backup.name)
    assert backup.parent == project and backup.read_bytes() == broken
    assert not csv_file.exists() and broken_annotation_files(project) == []
    result = save_work(data, session)
    assert result.exported
    assert set(load_annotation_records(project)) == set(good) | {new_key}
    assert backup.read_bytes() == broken  # the backup is kept
    # a second backup on the same second gets its own name
    csv_file.write_bytes(broken)
    assert backup_file(csv_file) != backup


def test_save_work_refuses_a_corrupt_draft_too(saved_project, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(saved_project, project)
    draft = draft_path(project)
    broken = draft.read_bytes()[:-20]
    draft.write_bytes(broken)
    csv_before = annotations_path(project).read_bytes()
    with pytest.raises(KpcalError) as info:
        save_work(load_project_data(project), {})
    assert_names(info.value, str(draft))
    assert draft.read_bytes() == broken and annotations_path(project).read_bytes() == csv_before
    assert broken_annotation_files(project) == [draft]


# --------------------------------------------------------------------------- config.yml

yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(),  # NaN and inf included
    texts(max_size=10),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
CONFIG_KEYS = [
    "bodyparts",
    "use_bodyparts",
    "skeleton",
    "anterior_bodyparts",
    "error_estimator",
    "conf_threshold",
    "conf_pseudocount",
    "video_dir",
    "fps",
]


@pytest.fixture(scope="module")
def good_config(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("config")
    setup_project(folder, bodyparts=["nose", "ear", "tail"], skeleton=[["nose", "ear"]])
    return config_path(folder).read_text(encoding="utf-8")


def check_config_readers(folder: Path, raw: bytes) -> None:
    """load_config: a dict or KpcalError; update_config: KpcalError leaves the bytes alone."""
    path = config_path(folder)
    path.write_bytes(raw)
    for check in (True, False):
        try:
            config = load_config(folder, check_if_valid=check)
        except KpcalError as error:
            assert_names(error, str(path))
        else:
            assert isinstance(config, dict)
    try:
        update_config(folder, slope=-0.3, intercept=0.2)
    except KpcalError as error:
        assert_names(error, str(path))
        assert path.read_bytes() == raw, "a failed update changed the file"
    else:
        config = load_config(folder)
        assert config["error_estimator"]["slope"] == -0.3


@FUZZ
@given(text=texts(max_size=300))
@example(text="")
@example(text="- a\n- b\n")
@example(text="just a string")
@example(text="bodyparts: [a\n")
@example(text="[" * 5000)
@example(text="a:\n" + "".join(" " * i + "- \n" for i in range(1, 1200)))
@example(text="bodyparts: !!python/object/apply:os.system ['true']\n")
@example(text="? [a, b]\n: 1\n")
@example(text="bodyparts: [a]\nuse_bodyparts: [a]\nbodyparts: [b]\n")
def test_config_random_text(text):
    count("load_config / update_config (random text)")
    with scratch() as folder:
        check_config_readers(folder, text.encode("utf-8"))


@FUZZ
@given(data=st.binary(max_size=300))
@example(data=b"\xff\xfeb\x00o\x00")
@example(data="bodyparts: [\xe9]\n".encode("latin-1"))
def test_config_random_bytes(data):
    count("load_config / update_config (random bytes)")
    with scratch() as folder:
        check_config_readers(folder, data)


@FUZZ
@given(key=st.sampled_from(CONFIG_KEYS), value=yaml_values)
def test_config_wrong_types(good_config, key, value):
    count("load_config / update_config (a setting of a random type)")
    document = yaml.safe_load(good_config)
    if key in document:
        document[key] = value
    else:
        document["error_estimator"][key] = value
    text = yaml.safe_dump(document, allow_unicode=True)
    with scratch() as folder:
        check_config_readers(folder, text.encode("utf-8"))
        # a failed update leaves the file as it was, whatever value was asked for
        config_path(folder).write_text(good_config, encoding="utf-8")
        try:
            update_config(folder, **{key: value})
        except KpcalError as error:
            assert_names(error, str(config_path(folder)))
            assert config_path(folder).read_text(encoding="utf-8") == good_config


@FUZZ
@given(
    value=st.one_of(
        texts(max_size=12),
        finite,
        st.integers(-(2**70), 2**70),
        st.booleans(),
        st.lists(texts(max_size=6), max_size=3),
    )
)
@example(value="yes")
@example(value="no")
@example(value="on")
@example(value="Off")
@example(value="~")
@example(value="null")
@example(value="1e5")
@example(value="0x1F")
@example(value="12:30:00")
@example(value="2024-05-01")
@example(value="=")
@example(value=["yes", "no"])
@example(value=1e300)
@example(value=-0.0)
@example(value=5e-324)
def test_update_config_values_read_back_the_same(good_config, value):
    """What update_config writes, keypoint-MoSeq's reader (PyYAML) reads back as written."""
    count("update_config -> load_config round trip")
    with scratch() as folder:
        config_path(folder).write_text(good_config, encoding="utf-8")
        update_config(folder, my_setting=value, video_dir=value if isinstance(value, str) else "")
        config = load_config(folder)
        got = config["my_setting"]
        assert type(got) is type(value) and got == value, (value, got)
        if isinstance(value, float):
            assert same_float(got, value)
        raw = yaml.safe_load(config_path(folder).read_text(encoding="utf-8"))
        assert raw["my_setting"] == value
        if isinstance(value, str):
            assert raw["video_dir"] == value


def test_update_config_keeps_existing_ambiguous_strings_as_they_were(tmp_path):
    """Values already in the file are not re-quoted (keypoint-MoSeq must read them as before)."""
    setup_project(tmp_path, bodyparts=["a", "b"])
    path = config_path(tmp_path)
    path.write_text(path.read_text(encoding="utf-8") + "flag: yes\nword: 'no'\n", encoding="utf-8")
    update_config(tmp_path, fps=25)
    config = load_config(tmp_path)
    assert config["flag"] is True and config["word"] == "no" and config["fps"] == 25


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "latin-1"])
def test_config_encodings(tmp_path, encoding):
    """A BOM is read (PyYAML skips it); UTF-16 and latin-1 are refused, the file untouched."""
    setup_project(tmp_path, bodyparts=["museau", "queue"], video_dir="vidéos")
    raw = config_path(tmp_path).read_text(encoding="utf-8").encode(encoding)
    config_path(tmp_path).write_bytes(raw)
    if encoding == "utf-8-sig":
        assert load_config(tmp_path)["video_dir"] == "vidéos"
        assert update_config(tmp_path, fps=50)["fps"] == 50
        return
    for call in (lambda: load_config(tmp_path), lambda: update_config(tmp_path, fps=50)):
        with pytest.raises(KpcalError, match="not UTF-8") as info:
            call()
        assert_names(info.value, str(config_path(tmp_path)))
    assert config_path(tmp_path).read_bytes() == raw


# --------------------------------------------------------------------------- session


SESSION_TYPES = {
    "keypoints_path": (str, type(None)),
    "keypoints_format": (str, type(None)),
    "keypoints_duplicates": (str,),
    "video_dir": (str,),
    "video_extension": (str, type(None)),
    "recording_name_suffix": (str,),
    "num_bins": (int,),
    "num_samples": (int,),
    "conf_pseudocount": (float,),
    "seed": (int, type(None)),
    "sample_keys": (list,),
    "video_paths": (dict,),
    "updated_at": (str,),
}
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**80), 2**80),
        st.floats(),
        texts(max_size=8),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


def check_session_reader(folder: Path, raw: bytes) -> None:
    path = session_dir(folder) / "session.json"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(raw)
    try:
        session = load_session(folder)
    except KpcalError as error:
        assert_names(error, str(path))
        return
    assert isinstance(session, CalibrationSession)
    for name, types in SESSION_TYPES.items():
        assert isinstance(getattr(session, name), types), (name, getattr(session, name))
    for key in session.sample_keys:
        assert isinstance(key, tuple) and len(key) == 3 and isinstance(key[1], int)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in session.video_paths.items())


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), texts(max_size=300).map(str.encode)))
@example(data=b"[" * 100000)
@example(data=b'{"num_bins": Infinity}')
@example(data=b'{"num_samples": NaN}')
@example(data=b'{"sample_keys": [["a", Infinity, "b"]]}')
@example(data=b'{"sample_keys": [["a", 1e400, "b"]]}')
@example(data=b'\xef\xbb\xbf{"num_bins": 3}')
@example(data='{"video_dir": "é"}'.encode("utf-16"))
def test_session_random_bytes(data):
    count("load_session (random bytes / text)")
    with scratch() as folder:
        check_session_reader(folder, data)


@FUZZ
@given(field=st.sampled_from(sorted(SESSION_TYPES)), value=json_values)
def test_session_wrong_types(field, value):
    count("load_session (a field of a random type)")
    document = json.loads(
        CalibrationSession(
            keypoints_path="kp", sample_keys=[("rec", 1, "nose")], video_paths={"rec": "v.mp4"}
        ).to_json()
    )
    document[field] = value
    with scratch() as folder:
        check_session_reader(folder, json.dumps(document).encode())


def test_session_round_trip(tmp_path):
    session = CalibrationSession(
        keypoints_path='a,b/"c"\n', seed=7, sample_keys=[("r,é", 2, "n\r")], conf_pseudocount=0.5
    )
    save_session(tmp_path, session)
    assert load_session(tmp_path) == session


# --------------------------------------------------------------------------- keypoints


cells = st.one_of(
    finite.map(repr),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "", " ", "1e999", "9" * 400, "0x10", "1,5"]),
    texts(max_size=6),
)


@FUZZ
@given(
    n_rows=st.integers(0, 4),
    data=st.data(),
    header_noise=st.booleans(),
)
def test_load_keypoints_dlc_csv_with_random_cells(n_rows, data, header_noise):
    count("load_keypoints (DeepLabCut-looking CSV, random cells)")
    bodyparts = ["nose", "tail"]
    header = [
        ["scorer"] + ["DLC_net"] * 6,
        ["bodyparts"] + [b for b in bodyparts for _ in range(3)],
        ["coords"] + ["x", "y", "likelihood"] * 2,
    ]
    if header_noise:
        row = data.draw(st.integers(0, 2))
        col = data.draw(st.integers(0, 6))
        header[row][col] = data.draw(texts(max_size=6))
    rows = [[str(t)] + [data.draw(cells) for _ in range(6)] for t in range(n_rows)]
    if n_rows and data.draw(st.booleans()):
        rows[-1] = rows[-1][: data.draw(st.integers(1, 6))]  # a short (truncated) last row
    buffer = io.StringIO()
    # "\r\n" line ends (DeepLabCut on Windows): a cell holding a bare "\r" or "\n" is then
    # quoted. With "\n" line ends a bare "\r" in a cell is written unquoted, and is a line
    # break to every reader (universal newlines): another file than the one meant.
    csv.writer(buffer, lineterminator="\r\n").writerows(header + rows)
    with scratch() as folder:
        path = folder / "rec.csv"
        path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
        try:
            coordinates, confidences, names = load_keypoints(str(path))
        except KpcalError as error:
            assert_names(error, str(path))
            return
        assert names == bodyparts
        assert coordinates["rec"].shape == (n_rows, 2, 2) and confidences["rec"].shape == (
            n_rows,
            2,
        )


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "latin-1"])
def test_load_keypoints_encodings(tmp_path, encoding):
    import numpy as np

    path = tmp_path / "souris.csv"
    write_deeplabcut_csv(path, np.ones((2, 2, 2)), np.ones((2, 2)), ["museau", "été"])
    path.write_bytes(path.read_text(encoding="utf-8").encode(encoding))
    if encoding == "utf-8-sig":
        assert load_keypoints(str(path))[2] == ["museau", "été"]
        return
    with pytest.raises(KpcalError) as info:
        load_keypoints(str(path))
    assert_names(info.value, str(path))


def test_load_keypoints_round_trip_of_a_clean_file(tmp_path):
    import numpy as np

    coords = np.array([[[1e300, -0.0], [5e-324, 2.5]], [[np.nan, 3.0], [4.0, 5.0]]])
    conf = np.array([[0.5, 1.0], [np.nan, 0.0]])
    write_deeplabcut_csv(tmp_path / "rec.csv", coords, conf, ["nose", "tail"])
    got_coords, got_conf, bodyparts = load_keypoints(str(tmp_path / "rec.csv"))
    assert bodyparts == ["nose", "tail"]
    np.testing.assert_array_equal(got_coords["rec"], coords)
    np.testing.assert_array_equal(got_conf["rec"], conf)
