"""DeepLabCut .h5: the direct (h5py) read of the usual layout gives pandas' arrays, bit for bit."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pandas as pd
import pytest
from pose_files import dlc_frame, write_dlc

from kpcal_core.errors import KpcalError
from kpcal_core.formats import deeplabcut
from kpcal_core.formats.probe import FileProbe
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


BODYPARTS = ["nose", "left_ear", "tail"]
INDIVIDUALS = {"mouse1": ["nose", "tail"], "mouse2": ["nose", "tail"], "single": ["cage"]}

# name: (make the frame, how to write it, read without pandas?)
LAYOUTS = {
    "single animal": (lambda: with_nans(dlc_frame(BODYPARTS, n_frames=40)), "table", True),
    "multi-animal": (lambda: dlc_frame(None, n_frames=9, individuals=INDIVIDUALS), "table", True),
    "float32": (lambda: dlc_frame(BODYPARTS, n_frames=8).astype(np.float32), "table", True),
    "two appends": (lambda: with_nans(dlc_frame(BODYPARTS, n_frames=40)), "append", True),
    "rows indexed backwards": (
        lambda: dlc_frame(BODYPARTS, n_frames=6).set_axis(range(5, -1, -1), axis=0),
        "table",
        True,
    ),
    "rows indexed by image names": (  # DeepLabCut's predictions on frames saved as images
        lambda: dlc_frame(BODYPARTS, n_frames=9).set_axis([f"img{i:04d}.png" for i in range(9)]),
        "table",
        True,
    ),
    "columns x.., y.., likelihood..": (
        lambda: coords_major(dlc_frame(BODYPARTS, n_frames=7)),
        "table",
        True,
    ),
    "an extra coordinate column": (
        lambda: dlc_frame(BODYPARTS, n_frames=7, coords=("x", "y", "likelihood", "var")),
        "table",
        True,
    ),
    "unnamed column levels": (lambda: unnamed_levels(dlc_frame(BODYPARTS)), "table", True),
    "other key": (lambda: dlc_frame(BODYPARTS), "key df", True),
    "fixed format": (lambda: with_nans(dlc_frame(BODYPARTS, n_frames=40)), "fixed", False),
    "several blocks": (lambda: several_blocks(dlc_frame(BODYPARTS)), "table", False),
}


def write_layout(frame: pd.DataFrame, how: str, path) -> None:
    if how == "append":
        write_two_appends(frame, path)
    elif how == "key df":
        frame.to_hdf(path, key="df", format="table")
    else:
        write_dlc(frame, path, how)


def read_both_ways(path, monkeypatch) -> tuple:
    direct = load_keypoints(path)
    with monkeypatch.context() as patch:
        patch.setattr(deeplabcut, "READ_DIRECTLY", False)
        through_pandas = load_keypoints(path)
    return direct, through_pandas


def assert_identical(direct, through_pandas) -> None:
    (coords_a, conf_a, parts_a), (coords_b, conf_b, parts_b) = direct, through_pandas
    assert parts_a == parts_b
    assert list(coords_a) == list(coords_b) and list(conf_a) == list(conf_b)
    for name in coords_b:
        for a, b in ((coords_a[name], coords_b[name]), (conf_a[name], conf_b[name])):
            assert a.dtype == b.dtype == np.float64 and a.shape == b.shape
            assert a.flags.c_contiguous
            assert a.tobytes() == b.tobytes()  # bit for bit, NaNs included


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_each_layout_reads_the_same_directly_or_through_pandas(tmp_path, monkeypatch, layout):
    monkeypatch.setattr(deeplabcut, "ROWS_PER_READ", 7)  # several blocks and a shorter last one
    make, how, directly = LAYOUTS[layout]
    path = tmp_path / "sessionDLC_resnet50.h5"
    frame = make()
    write_layout(frame, how, path)
    with FileProbe(path) as probe:
        assert (deeplabcut._read_table_directly(probe) is not None) == directly
    direct, through_pandas = read_both_ways(path, monkeypatch)
    assert_identical(direct, through_pandas)
    # and the values are the table's: value (t, column j) = 1000 t + j, as written
    coordinates, confidences, bodyparts = direct
    name = next(iter(coordinates))
    table = pd.read_hdf(path)
    x_column = table.columns.get_loc(
        next(c for c in table.columns if c[-2] == bodyparts[-1] and c[-1] == "x")
    )
    raw = table.to_numpy(dtype=np.float64)
    np.testing.assert_array_equal(coordinates[name][:, -1, 0], raw[:, x_column])


def test_two_tables_read_df_with_missing_directly(tmp_path, monkeypatch):
    path = tmp_path / "two.h5"
    dlc_frame(["a", "b"]).to_hdf(path, key="df_with_missing", format="table")
    dlc_frame(["zzz"]).to_hdf(path, key="other", format="table")
    with FileProbe(path) as probe:
        key, *_ = deeplabcut._read_table_directly(probe)
    assert key == "/df_with_missing"
    direct, through_pandas = read_both_ways(path, monkeypatch)
    assert direct[2] == ["a", "b"]
    assert_identical(direct, through_pandas)


def test_real_dlc_file_is_read_directly_and_equals_pandas(shared_data, monkeypatch):
    (path,) = (shared_data / "dlc_tiny").glob("*.h5")
    with FileProbe(path) as probe:
        assert deeplabcut._read_table_directly(probe) is not None
    direct, through_pandas = read_both_ways(path, monkeypatch)
    assert_identical(direct, through_pandas)
    raw = pd.read_hdf(path).to_numpy()
    np.testing.assert_array_equal(
        direct[0][path.stem].reshape(len(raw), -1), np.delete(raw, np.s_[2::3], axis=1)
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
        xy, conf = deeplabcut._gather(table, x, y, likelihood)
        expected = np.stack((table[:, x], table[:, y]), axis=-1)
        assert xy.dtype == table.dtype and xy.tobytes() == expected.tobytes()
        assert conf.tobytes() == np.ascontiguousarray(table[:, likelihood]).tobytes()
        assert xy.flags.c_contiguous and conf.flags.c_contiguous


def test_a_table_without_rows_says_so_both_ways(tmp_path, monkeypatch):
    path = tmp_path / "empty.h5"
    frame = dlc_frame(BODYPARTS, n_frames=3)
    frame.to_hdf(path, key="df_with_missing", format="table")
    with h5py.File(path, "a") as handle:  # pandas does not write empty tables: remove the rows
        handle["df_with_missing/table"].resize((0,))
        handle["df_with_missing/table"].attrs["NROWS"] = np.int64(0)
    with FileProbe(path) as probe:
        assert deeplabcut._read_table_directly(probe) is not None
    messages = []
    for directly in (True, False):
        monkeypatch.setattr(deeplabcut, "READ_DIRECTLY", directly)
        with pytest.raises(KpcalError, match="no frames") as excinfo:
            load_keypoints(path)
        messages.append(str(excinfo.value))
    assert messages[0] == messages[1]


def pickled(value) -> np.bytes_:
    return np.bytes_(pickle.dumps(value, protocol=0))


# Changes to a DeepLabCut table's metadata: (where, attribute, new value).
TAMPERED = {
    "block labels differ from the frame's": (
        "df_with_missing/table",
        "values_block_0_kind",
        pickled([("s", "b", "x"), ("s", "b", "y"), ("s", "a", "likelihood")]),
    ),
    "column labels differ from the block's": (
        "df_with_missing",
        "non_index_axes",
        pickled([(1, [("s", "a", "x"), ("s", "a", "y"), ("s", "a", "likelihood")])]),
    ),
    "plain column index": ("df_with_missing", "info", pickled({1: {"names": [None]}, "index": {}})),
    "two blocks named": (
        "df_with_missing",
        "values_cols",
        pickled(["values_block_0", "values_block_1"]),
    ),
    "not a frame table": ("df_with_missing", "pandas_type", np.bytes_(b"frame")),
    "labels not a pickle": ("df_with_missing", "non_index_axes", np.bytes_(b"not a pickle")),
    "labels a number": ("df_with_missing", "non_index_axes", np.int64(3)),
    "labels a pickle that imports": (
        "df_with_missing",
        "non_index_axes",
        np.bytes_(b"cos\ngetcwd\n(tR."),
    ),
}


@pytest.mark.parametrize("change", list(TAMPERED))
def test_altered_metadata_gives_what_pandas_gives(tmp_path, monkeypatch, change):
    where, attribute, value = TAMPERED[change]
    path = write_dlc(dlc_frame(["a", "b"], n_frames=6), tmp_path / "altered.h5")
    with h5py.File(path, "a") as handle:
        handle[where].attrs[attribute] = value
    outcomes = []
    for directly in (True, False):
        monkeypatch.setattr(deeplabcut, "READ_DIRECTLY", directly)
        try:
            coordinates, confidences, bodyparts = load_keypoints(path)
        except KpcalError as error:  # never another exception type
            assert "altered.h5" in str(error)
            outcomes.append(("error", str(error)))
        else:
            arrays = {n: (coordinates[n].tobytes(), confidences[n].tobytes()) for n in coordinates}
            outcomes.append(("read", bodyparts, arrays))
    assert outcomes[0] == outcomes[1]


def test_blocks_of_whole_chunks_read_the_same(tmp_path, monkeypatch):
    path = write_dlc(with_nans(dlc_frame(BODYPARTS, n_frames=3000)), tmp_path / "long.h5")
    with h5py.File(path, "r") as handle:
        chunk = handle["df_with_missing/table"].chunks[0]
    monkeypatch.setattr(deeplabcut, "ROWS_PER_READ", chunk + chunk // 2)  # one chunk a block
    assert 3000 > 2 * chunk
    direct, through_pandas = read_both_ways(path, monkeypatch)
    assert_identical(direct, through_pandas)
