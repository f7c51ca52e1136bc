"""No file runs code: pickles in HDF5 attributes of every kind, place, layout and format.

Each payload, if unpickled, creates a marker file in tmp_path; every test asserts
the marker is absent (no code ran) as well as the refusal naming the file.
"""

from __future__ import annotations

import ast
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from hostile_support import ATTRIBUTE_KINDS, marker_pickle, plant_pickle
from pose_files import dlc_frame, write_nwb, write_sleap_analysis, write_slp

from kpcal_core.errors import KpcalError
from kpcal_core.formats import probe as probe_module
from kpcal_core.formats.pickle_guard import pickle_is_unsafe
from kpcal_core.keypoints import load_keypoints

REPO = Path(__file__).resolve().parents[2]


def write_dlc_layout(path: Path, layout: str) -> dict[str, str]:
    """A DeepLabCut .h5 in ``layout``; returns the places to plant a pickle in."""
    frame = dlc_frame(["nose", "tail"], n_frames=6)
    if layout == "table":
        frame.to_hdf(path, key="df_with_missing", format="table")
        return {"the table group": "df_with_missing", "the table dataset": "df_with_missing/table"}
    if layout == "fixed":
        frame.to_hdf(path, key="df_with_missing", format="fixed")
        return {
            "the table group": "df_with_missing",
            "the table dataset": "df_with_missing/block0_values",
        }
    # two pandas keys, neither DeepLabCut's: a store pandas lists and opens whole
    frame.to_hdf(path, key="predictions", format="table")
    dlc_frame(["other"]).to_hdf(path, key="other", format="fixed")
    return {"the table group": "predictions", "the table dataset": "predictions/table"}


PLACES = (
    "the root group",
    "the table group",
    "the table dataset",
    "an extra group",
    "an extra dataset",
)
EXTRA = {"the root group": "/", "an extra group": "extra", "an extra dataset": "extra_data"}


def plant_in_layout(path: Path, layout: str, place: str, kind: str, marker: Path) -> None:
    places = write_dlc_layout(path, layout) | EXTRA
    plant_pickle(path, places[place], kind, marker)


def assert_refused_safely(path: Path, marker: Path) -> KpcalError:
    with pytest.raises(KpcalError) as refused:
        load_keypoints(path)
    assert str(path) in str(refused.value)
    assert not marker.exists(), "the pickle ran"
    return refused.value


def test_reproduction_vlen_ascii_attribute_on_the_root_of_a_fixed_store(tmp_path):
    """Issue 19, finding 1, as reported: this ran the payload before the fix."""
    marker = tmp_path / "code-ran"
    path = tmp_path / "videoDLC_resnet50.h5"
    plant_in_layout(path, "fixed", "the root group", "vlen ascii str", marker)
    refused = assert_refused_safely(path, marker)
    assert "refused for safety" in str(refused) and "'planted'" in str(refused)


@pytest.mark.parametrize("layout", ["table", "fixed", "two pandas keys"])
@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("kind", list(ATTRIBUTE_KINDS))
def test_a_pickle_anywhere_in_a_deeplabcut_store_is_refused(tmp_path, layout, place, kind):
    marker = tmp_path / "code-ran"
    path = tmp_path / "videoDLC_resnet50.h5"
    plant_in_layout(path, layout, place, kind, marker)
    refused = assert_refused_safely(path, marker)
    assert "refused for safety" in str(refused) and "'planted'" in str(refused)


@pytest.mark.parametrize("layout", ["table", "fixed", "two pandas keys"])
@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("kind", ["vlen ascii str", "fixed-length bytes"])
def test_without_the_guard_the_reader_still_runs_no_code(
    tmp_path, monkeypatch, layout, place, kind
):
    """The first line of defence alone: kpcal's reader never unpickles (no pandas, no PyTables)."""
    monkeypatch.setattr(probe_module, "check_hdf5_file", lambda handle, path: None)
    marker = tmp_path / "code-ran"
    path = tmp_path / "videoDLC_resnet50.h5"
    plant_in_layout(path, layout, place, kind, marker)
    try:
        load_keypoints(path)
    except KpcalError as error:
        assert str(path) in str(error)  # e.g. two keys, neither DeepLabCut's
    assert not marker.exists(), "the pickle ran"


def test_a_pickle_in_the_labels_pandas_reads_is_never_unpickled(tmp_path, monkeypatch):
    """Even where pandas stores its own pickles, an import is refused, not run."""
    monkeypatch.setattr(probe_module, "check_hdf5_file", lambda handle, path: None)
    marker = tmp_path / "code-ran"
    path = tmp_path / "videoDLC_resnet50.h5"
    write_dlc_layout(path, "table")
    with h5py.File(path, "a") as handle:
        handle["df_with_missing"].attrs["non_index_axes"] = np.bytes_(marker_pickle(marker))
    with pytest.raises(KpcalError, match="non_index_axes"):
        load_keypoints(path)
    assert not marker.exists()


def test_an_array_of_pickled_objects_is_refused(tmp_path):
    """pandas stores text columns of the 'fixed' layout as pickled objects (PyTables' VLArray)."""
    path = tmp_path / "textDLC.h5"
    dlc_frame(["nose"], n_frames=3).astype(str).to_hdf(path, key="df_with_missing", format="fixed")
    with pytest.raises(KpcalError, match="textDLC.h5.*array of pickled Python objects"):
        load_keypoints(path)


def sleap_analysis(path: Path) -> Path:
    tracks = np.zeros((1, 5, 3, 2))
    return write_sleap_analysis(path, tracks, np.ones((1, 5, 3)), ["a", "b", "c"])


FORMATS = {
    "SLEAP .slp": (lambda path: write_slp(path, n_tracks=1), "session.slp", "frames"),
    "SLEAP analysis .h5": (sleap_analysis, "session.analysis.h5", "tracks"),
    "NWB": (lambda path: write_nwb(path, ["pose"]), "session.nwb", "processing/behavior"),
}


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("where", ["root", "data"])
@pytest.mark.parametrize("kind", list(ATTRIBUTE_KINDS))
def test_a_pickle_in_other_hdf5_formats_is_refused(tmp_path, fmt, where, kind):
    write, name, inner = FORMATS[fmt]
    marker = tmp_path / "code-ran"
    path = write(tmp_path / name)
    plant_pickle(path, "/" if where == "root" else inner, kind, marker)
    refused = assert_refused_safely(path, marker)
    assert "refused for safety" in str(refused)


def test_files_without_pickles_still_read(tmp_path):
    """The check refuses pickles that import, not text that happens to look like opcodes."""
    path = write_slp(tmp_path / "session.slp", n_tracks=1)
    with h5py.File(path, "a") as handle:
        handle.attrs["TITLE"] = np.bytes_(b"Range Values")  # 'R' is the REDUCE opcode
        handle.attrs["note"] = np.bytes_(b"camera 1.")  # ends like a pickle
        handle.attrs["plain"] = np.bytes_(b"(lp0\nI1\na.")  # a pickle of [1]: plain data
    coordinates, _, bodyparts = load_keypoints(path)
    assert bodyparts == ["nose", "tail", "paw"] and "session" in coordinates


@pytest.mark.parametrize(
    "data, unsafe",
    [
        (b"Range Values", False),
        (b"camera 1.", False),
        (b"N.", False),
        (b"(lp0\nI1\na.", False),
        (b"cos\ngetcwd\n(tR.", True),
        (b"cos\ngetcwd\n", True),  # truncated after the import: the import still happens
    ],
)
def test_pickle_is_unsafe_exactly_when_unpickling_imports(data, unsafe):
    assert pickle_is_unsafe(data) is unsafe


def test_protocol_4_pickles_are_found_too(tmp_path):
    assert pickle_is_unsafe(marker_pickle(tmp_path / "m", protocol=4))
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("link", ["external link", "external storage", "virtual dataset"])
def test_links_into_other_files_are_refused(tmp_path, link):
    other = tmp_path / "secret.h5"
    with h5py.File(other, "w") as handle:
        handle["values"] = np.arange(10.0)
    path = write_sleap_analysis(
        tmp_path / "session.analysis.h5", np.zeros((1, 5, 3, 2)), np.ones((1, 5, 3)), list("abc")
    )
    with h5py.File(path, "a") as handle:
        if link == "external link":
            handle["elsewhere"] = h5py.ExternalLink(str(other), "/values")
        elif link == "external storage":
            (tmp_path / "raw.bin").write_bytes(b"\0" * 80)
            handle.create_dataset(
                "raw", shape=(10,), dtype="f8", external=[(str(tmp_path / "raw.bin"), 0, 80)]
            )
        else:
            layout = h5py.VirtualLayout(shape=(10,), dtype="f8")
            layout[:] = h5py.VirtualSource(str(other), "values", shape=(10,))
            handle.create_virtual_dataset("virtual", layout)
    with pytest.raises(KpcalError, match="refused for safety.*another file"):
        load_keypoints(path)


def test_a_file_with_too_many_attributes_is_refused_quickly(tmp_path, monkeypatch):
    path = write_sleap_analysis(
        tmp_path / "many.analysis.h5", np.zeros((1, 5, 3, 2)), np.ones((1, 5, 3)), list("abc")
    )
    with h5py.File(path, "a") as handle:
        group = handle.create_group("crowd")
        for i in range(3000):
            group.attrs[f"a{i}"] = i
    monkeypatch.setenv("KPCAL_MAX_HDF5_OBJECTS", "2000")
    started = time.perf_counter()
    with pytest.raises(KpcalError) as refused:
        load_keypoints(path)
    assert "many.analysis.h5" in str(refused.value) and "KPCAL_MAX_HDF5_OBJECTS" in str(
        refused.value
    )
    assert time.perf_counter() - started < 30  # generous: refused, not walked for minutes
    monkeypatch.setenv("KPCAL_MAX_HDF5_OBJECTS", "5000")
    assert load_keypoints(path)[2] == list("abc")


def test_attribute_bytes_are_bounded(tmp_path, monkeypatch):
    path = write_sleap_analysis(
        tmp_path / "big.analysis.h5", np.zeros((1, 5, 3, 2)), np.ones((1, 5, 3)), list("abc")
    )
    with h5py.File(path, "a") as handle:
        handle.attrs.create("notes", "x" * 200_000, dtype=h5py.string_dtype("utf-8"))
    monkeypatch.setenv("KPCAL_MAX_HDF5_METADATA_BYTES", "100000")
    with pytest.raises(KpcalError, match="KPCAL_MAX_HDF5_METADATA_BYTES"):
        load_keypoints(path)


def test_no_product_code_hands_a_file_to_an_unpickling_reader():
    """pandas' HDF readers, PyTables, pickle and np.load(allow_pickle=True): never in the product."""
    found = []
    files = [REPO / "app.py", *sorted((REPO / "kpcal_core").rglob("*.py"))]
    files += sorted((REPO / "kpcal_app").rglob("*.py"))
    for file in files:
        tree = ast.parse(file.read_text(), str(file))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any(n == "tables" or n.startswith("tables.") for n in names):
                    found.append(f"{file.name}:{node.lineno} imports PyTables")
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                owner = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
                if name in ("read_hdf", "HDFStore", "read_pickle", "open_file"):
                    found.append(f"{file.name}:{node.lineno} calls {owner}.{name}")
                if owner == "pickle" and name in ("load", "loads", "Unpickler"):
                    found.append(f"{file.name}:{node.lineno} calls pickle.{name}")
                for keyword in node.keywords:
                    if keyword.arg == "allow_pickle" and not (
                        isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                    ):
                        found.append(f"{file.name}:{node.lineno} allows pickles")
    assert found == []


def test_the_real_deeplabcut_file_passes_the_check_and_reads(shared_data):
    (path,) = (shared_data / "dlc_tiny").glob("*.h5")
    coordinates, confidences, bodyparts = load_keypoints(path)
    expected = pd.read_hdf(path)
    assert len(coordinates[path.stem]) == len(expected)
