"""DeepLabCut .h5: every layout is read with h5py alone and gives pandas' arrays, bit for bit."""

from __future__ import annotations

import contextlib
import os
import pickle

import h5py
import numpy as np
import pandas as pd
import pytest
from pose_files import dlc_frame, write_dlc

from kpcal_core.errors import KpcalError
from kpcal_core.formats import deeplabcut_columns, deeplabcut_h5
from kpcal_core.keypoints import load_keypoints


def with_nans(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.iloc[3, 0:2] = np.nan  # a position missing
    frame.iloc[5, 2] = np.nan  # a likelihood missing
    return frame


def coords_major(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns x of every bodypart, then y, then likelihood (not DeepLabCut's order)."""
    order = sorted(frame.columns, key=lambda c: (["x", "y", "likelihood"].index(c[-1]), c[1]))
    return frame[order]


def several_blocks(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame[frame.columns[0]] = frame[frame.columns[0]].astype(np.int64)  # an int64 block too
    return frame


def unnamed_levels(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.columns = frame.columns.set_names([None, None, None])
    return frame


def write_two_appends(frame: pd.DataFrame, path) -> None:
    half = len(frame) // 2
    frame.iloc[:half].to_hdf(path, key="df_with_missing", format="table")
    frame.iloc[half:].to_hdf(path, key="df_with_missing", format="table", append=True)


def image_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """DeepLabCut's predictions on frames saved as images: rows named by image."""
    return frame.set_axis([f"img{i:04d}.png" for i in range(len(frame))])


def labelled_data_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """DeepLabCut's labelled-data layout: a row MultiIndex (folder, video, image)."""
    rows = [("labeled-data", "video1", f"img{i:04d}.png") for i in range(len(frame))]
    return frame.set_axis(pd.MultiIndex.from_tuples(rows))


BODYPARTS = ["nose", "left_ear", "tail"]
INDIVIDUALS = {"mouse1": ["nose", "tail"], "mouse2": ["nose", "tail"], "single": ["cage"]}

# name: (make the frame, how to write it)
LAYOUTS = {
    "single animal": (lambda: with_nans(dlc_frame(BODYPARTS, n_frames=40)), "table"),
    "multi-animal": (lambda: dlc_frame(None, n_frames=9, individuals=INDIVIDUALS), "table"),
    "float32": (lambda: dlc_frame(BODYPARTS, n_frames=8).astype(np.float32), "table"),
    "two appends": (lambda: with_nans(dlc_frame(BODYPARTS, n_frames=40)), "append"),
    "rows indexed backwards": (
        lambda: dlc_frame(BODYPARTS, n_frames=6).set_axis(range(5, -1, -1), axis=0),
        "table",
    ),
    "rows indexed by image names": (lambda: image_rows(dlc_frame(BODYPARTS, n_frames=9)), "table"),
    "columns x.., y.., likelihood..": (
        lambda: coords_major(dlc_frame(BODYPARTS, n_frames=7)),
        "table",
    ),
    "an extra coordinate column": (
        lambda: dlc_frame(BODYPARTS, n_frames=7, coords=("x", "y", "likelihood", "var")),
        "table",
    ),
    "unnamed column levels": (lambda: unnamed_levels(dlc_frame(BODYPARTS)), "table"),
    "other key": (lambda: dlc_frame(BODYPARTS), "key df"),
    "fixed format": (lambda: with_nans(dlc_frame(BODYPARTS, n_frames=40)), "fixed"),
    "several blocks": (lambda: several_blocks(dlc_frame(BODYPARTS)), "table"),
    "fixed, several blocks": (lambda: several_blocks(dlc_frame(BODYPARTS, n_frames=20)), "fixed"),
    "fixed, multi-animal": (
        lambda: dlc_frame(None, n_frames=9, individuals=INDIVIDUALS),
        "fixed",
    ),
    "fixed, float32, x.., y.., likelihood..": (
        lambda: coords_major(dlc_frame(BODYPARTS, n_frames=7)).astype(np.float32),
        "fixed",
    ),
    "fixed, rows indexed by image names": (
        lambda: image_rows(dlc_frame(BODYPARTS, n_frames=9)),
        "fixed",
    ),
    "fixed, labelled-data rows (a row MultiIndex)": (
        lambda: labelled_data_rows(dlc_frame(BODYPARTS, n_frames=9)),
        "fixed",
    ),
    "fixed, unnamed column levels": (lambda: unnamed_levels(dlc_frame(BODYPARTS)), "fixed"),
    "fixed, other key": (lambda: dlc_frame(BODYPARTS), "fixed key df"),
}


def write_layout(frame: pd.DataFrame, how: str, path) -> None:
    if how == "append":
        write_two_appends(frame, path)
    elif how in ("key df", "fixed key df"):
        frame.to_hdf(path, key="df", format="table" if how == "key df" else "fixed")
    else:
        write_dlc(frame, path, how)


def pandas_reference(path) -> tuple:
    """What ``load_keypoints`` must return for a DeepLabCut .h5, read by pandas (tests only).

    The table pandas reads under DeepLabCut's key (or the only key), split into
    tracks by the columns' labels as kpcal splits every DeepLabCut table.
    """
    with pd.HDFStore(path, mode="r") as store:
        keys = store.keys()
        key = keys[0] if len(keys) == 1 else "/df_with_missing"
        frame = store.get(key)
    columns, multi = deeplabcut_h5._column_levels(
        str(path), key, frame.columns.names, frame.columns
    )
    bodyparts, tracks = deeplabcut_columns.split_tracks(
        str(path), frame.to_numpy(dtype=np.float64), columns, multi, frozenset({"single"})
    )
    stem = os.path.splitext(os.path.basename(path))[0]
    coordinates = {stem + suffix: xy for suffix, (xy, _) in tracks.items()}
    confidences = {stem + suffix: conf for suffix, (_, conf) in tracks.items()}
    return coordinates, confidences, bodyparts


def assert_identical(read, reference) -> None:
    (coords_a, conf_a, parts_a), (coords_b, conf_b, parts_b) = read, reference
    assert parts_a == parts_b
    assert list(coords_a) == list(coords_b) and list(conf_a) == list(conf_b)
    for name in coords_b:
        for a, b in ((coords_a[name], coords_b[name]), (conf_a[name], conf_b[name])):
            assert a.dtype == b.dtype == np.float64 and a.shape == b.shape
            assert a.flags.c_contiguous
            assert a.tobytes() == b.tobytes()  # bit for bit, NaNs included


@contextlib.contextmanager
def pytables_blocked(monkeypatch):
    """pandas' HDF readers and PyTables fail if anything calls them (inside the block)."""
    import tables

    def refuse(*args, **kwargs):
        raise AssertionError("pandas or PyTables opened a file")

    with monkeypatch.context() as patch:
        for owner, name in (
            (pd, "read_hdf"),
            (pd, "HDFStore"),
            (pd.io.pytables, "HDFStore"),
            (pd.io.pytables, "read_hdf"),
            (tables, "open_file"),
            (tables, "File"),
        ):
            patch.setattr(owner, name, refuse)
        yield


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_each_layout_reads_as_pandas_reads_it_without_pandas(tmp_path, monkeypatch, layout):
    monkeypatch.setattr(deeplabcut_h5, "ROWS_PER_READ", 7)  # several blocks and a shorter last one
    make, how = LAYOUTS[layout]
    path = tmp_path / "sessionDLC_resnet50.h5"
    write_layout(make(), how, path)
    reference = pandas_reference(path)
    with pytables_blocked(monkeypatch):
        read = load_keypoints(path)
    assert_identical(read, reference)
    # and the values are the table's: value (t, column j) = 1000 t + j, as written
    coordinates, confidences, bodyparts = read
    name = next(iter(coordinates))
    table = pd.read_hdf(path)
    x_column = table.columns.get_loc(
        next(c for c in table.columns if c[-2] == bodyparts[-1] and c[-1] == "x")
    )
    raw = table.to_numpy(dtype=np.float64)
    np.testing.assert_array_equal(coordinates[name][:, -1, 0], raw[:, x_column])


@pytest.mark.parametrize("other", ["table", "fixed"])
def test_two_tables_read_df_with_missing(tmp_path, monkeypatch, other):
    path = tmp_path / "two.h5"
    dlc_frame(["a", "b"]).to_hdf(path, key="df_with_missing", format=other)
    dlc_frame(["zzz"]).to_hdf(path, key="other", format="table")
    reference = pandas_reference(path)
    with pytables_blocked(monkeypatch):
        read = load_keypoints(path)
    assert read[2] == ["a", "b"]
    assert_identical(read, reference)


def test_two_tables_neither_deeplabcut_s_is_refused_naming_them(tmp_path, monkeypatch):
    path = tmp_path / "two.h5"
    dlc_frame(["a", "b"]).to_hdf(path, key="first", format="table")
    dlc_frame(["zzz"]).to_hdf(path, key="second", format="fixed")
    with pytables_blocked(monkeypatch), pytest.raises(KpcalError) as refused:
        load_keypoints(path)
    assert "two.h5" in str(refused.value) and "several pandas tables" in str(refused.value)
    assert "/first" in str(refused.value) and "/second" in str(refused.value)


def test_real_dlc_file_reads_as_pandas_reads_it(shared_data, monkeypatch):
    (path,) = (shared_data / "dlc_tiny").glob("*.h5")
    reference = pandas_reference(path)
    with pytables_blocked(monkeypatch):
        read = load_keypoints(path)
    assert_identical(read, reference)
    raw = pd.read_hdf(path).to_numpy()
    np.testing.assert_array_equal(
        read[0][path.stem].reshape(len(raw), -1), np.delete(raw, np.s_[2::3], axis=1)
    )


@pytest.mark.parametrize(
    "n_columns, x, y, likelihood",
    [
        (60, list(range(0, 60, 3)), list(range(1, 60, 3)), list(range(2, 60, 3))),
        (8, [0, 4], [1, 5], [2, 6]),  # an extra column per bodypart
        (7, [1, 4], [2, 5], [3, 6]),  # an index column first
        (6, [0, 1], [2, 3], [4, 5]),  # coordinates-major
        (6, [3, 0], [4, 1], [5, 2]),  # bodyparts in another order
        (3, [0], [1], [2]),  # one bodypart
    ],
)
def test_gather_equals_indexing_column_by_column(n_columns, x, y, likelihood):
    rng = np.random.default_rng(0)
    values = rng.normal(size=(33, n_columns))
    values[4, :] = np.nan
    for table in (values, np.asfortranarray(values), values[::2], values.astype(np.float32)):
        xy, conf = deeplabcut_columns._gather(table, x, y, likelihood)
        expected = np.stack((table[:, x], table[:, y]), axis=-1)
        assert xy.dtype == table.dtype and xy.tobytes() == expected.tobytes()
        assert conf.tobytes() == np.ascontiguousarray(table[:, likelihood]).tobytes()
        assert xy.flags.c_contiguous and conf.flags.c_contiguous


@pytest.mark.parametrize("kind", ["table", "fixed"])
def test_a_table_without_rows_says_so(tmp_path, monkeypatch, kind):
    path = tmp_path / "empty.h5"
    if kind == "table":
        dlc_frame(BODYPARTS, n_frames=3).to_hdf(path, key="df_with_missing", format="table")
        with h5py.File(path, "a") as handle:  # pandas writes no empty tables: remove the rows
            handle["df_with_missing/table"].resize((0,))
            handle["df_with_missing/table"].attrs["NROWS"] = np.int64(0)
    else:
        dlc_frame(BODYPARTS, n_frames=0).to_hdf(path, key="df_with_missing", format="fixed")
        assert len(pd.read_hdf(path)) == 0
    with pytables_blocked(monkeypatch), pytest.raises(KpcalError, match="empty.h5.*no frames"):
        load_keypoints(path)


def pickled(value) -> np.bytes_:
    return np.bytes_(pickle.dumps(value, protocol=0))


# Changes to a DeepLabCut table's metadata: (where, attribute, new value, words of the refusal).
TAMPERED = {
    "block labels differ from the frame's": (
        "df_with_missing/table",
        "values_block_0_kind",
        pickled([("s", bp, c) for bp in "ab" for c in ("x", "y", "likelihood")]),
        "labels are not the frame's column labels",
    ),
    "column labels differ from the block's": (
        "df_with_missing",
        "non_index_axes",
        pickled([(1, [("s", "a", "x"), ("s", "a", "y"), ("s", "a", "likelihood")])]),
        "labels are not the frame's column labels",
    ),
    "plain column index": (
        "df_with_missing",
        "info",
        pickled({1: {"names": [None]}, "index": {}}),
        "column labels are not tuples of names",
    ),
    "two blocks named": (
        "df_with_missing",
        "values_cols",
        pickled(["values_block_0", "values_block_1"]),
        "no field 'values_block_1'",
    ),
    "not a frame table": (
        "df_with_missing",
        "pandas_type",
        np.bytes_(b"frame"),
        "no whole-number attribute 'ndim'",
    ),
    "labels not a pickle": (
        "df_with_missing",
        "non_index_axes",
        np.bytes_(b"not a pickle"),
        "'non_index_axes' of table '/df_with_missing' is not plain data",
    ),
    "labels a number": (
        "df_with_missing",
        "non_index_axes",
        np.int64(3),
        "no pickled attribute 'non_index_axes'",
    ),
    "labels a pickle that imports": (
        "df_with_missing",
        "non_index_axes",
        np.bytes_(b"cos\ngetcwd\n(tR."),
        "refused for safety: attribute 'non_index_axes' of /df_with_missing is a pickle",
    ),
    "block labels are lists": (
        "df_with_missing/table",
        "values_block_0_kind",
        pickled([["s", bp, c] for bp in "ab" for c in ("x", "y", "likelihood")]),
        "a block's labels are not tuples of names",
    ),
    "column labels not a pair": (
        "df_with_missing",
        "non_index_axes",
        pickled([3]),
        "has no column labels",
    ),
    "a series, not a frame": (
        "df_with_missing",
        "pandas_type",
        np.bytes_(b"series_table"),
        "holds a pandas 'series_table', not a DataFrame",
    ),
    "values are text": (
        "df_with_missing/table",
        None,  # rewritten below: the block holds strings
        None,
        "holds non-numeric values",
    ),
}


@pytest.mark.parametrize("change", list(TAMPERED))
def test_altered_metadata_is_refused_saying_what_differs(tmp_path, monkeypatch, change):
    where, attribute, value, words = TAMPERED[change]
    path = tmp_path / "altered.h5"
    if attribute is None:  # a text block: pandas writes strings as their own block
        frame = dlc_frame(["a", "b"], n_frames=6).astype(str)
        frame.to_hdf(path, key="df_with_missing", format="table")
    else:
        write_dlc(dlc_frame(["a", "b"], n_frames=6), path)
        with h5py.File(path, "a") as handle:
            handle[where].attrs[attribute] = value
    with pytables_blocked(monkeypatch), pytest.raises(KpcalError) as refused:
        load_keypoints(path)
    assert "altered.h5" in str(refused.value)
    assert words in str(refused.value)


def test_blocks_of_whole_chunks_read_the_same(tmp_path, monkeypatch):
    path = write_dlc(with_nans(dlc_frame(BODYPARTS, n_frames=3000)), tmp_path / "long.h5")
    with h5py.File(path, "r") as handle:
        chunk = handle["df_with_missing/table"].chunks[0]
    monkeypatch.setattr(deeplabcut_h5, "ROWS_PER_READ", chunk + chunk // 2)  # one chunk a block
    assert 2 * chunk < 3000
    reference = pandas_reference(path)
    with pytables_blocked(monkeypatch):
        assert_identical(load_keypoints(path), reference)


def test_wide_rows_are_read_fewer_at_a_time(tmp_path, monkeypatch):
    monkeypatch.setattr(deeplabcut_h5, "BYTES_PER_READ", 1000)  # fewer rows than ROWS_PER_READ
    path = write_dlc(with_nans(dlc_frame(BODYPARTS, n_frames=300)), tmp_path / "wide.h5")
    reference = pandas_reference(path)
    with pytables_blocked(monkeypatch):
        assert_identical(load_keypoints(path), reference)
