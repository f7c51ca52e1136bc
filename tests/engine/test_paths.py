"""Paths on a shared server (KPCAL_DATA_ROOT), and nothing read from user files is unpickled."""

from __future__ import annotations

import ast
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from kpcal_core import videos
from kpcal_core.demo import make_demo_project
from kpcal_core.errors import KpcalError
from kpcal_core.formats import discovery
from kpcal_core.paths import (
    DATA_ROOT_ENV,
    check_path_length,
    clean_user_path,
    data_root,
    resolve_user_path,
)
from kpcal_core.project import load_project_data
from kpcal_core.session import (
    CalibrationSession,
    load_session_keypoints,
    save_session,
    save_session_keypoints,
    session_dir,
)
from kpcal_core.videos import read_cached_frame
from kpcal_core.workflows import ProjectFolderMissing, project_folder

CORE = Path(__file__).resolve().parents[2] / "kpcal_core"


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """``root/`` (the data root, with data, a link inside and links out) and ``outside/``."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (root / "lab" / "mouse1").mkdir(parents=True)
    (root / "lab" / "mouse1" / "a.csv").write_text("x")
    (root / "lab" / "mouse2").mkdir()
    (root / "lab" / "mouse2" / "b.csv").write_text("x")
    outside.mkdir()
    (outside / "secret.csv").write_text("x")
    (root / "lab" / "inside_link").symlink_to(root / "lab" / "mouse1")
    (root / "lab" / "escape").symlink_to(outside)
    (root / "lab" / "escape_file.csv").symlink_to(outside / "secret.csv")
    monkeypatch.setenv(DATA_ROOT_ENV, str(root))
    monkeypatch.chdir(root)
    return root.resolve(), outside.resolve()


def refused(text, root: Path, **kwargs) -> KpcalError:
    with pytest.raises(KpcalError) as info:
        resolve_user_path(text, **kwargs)
    message = str(info.value)
    assert str(text) in message or repr(str(text)) in message, message
    assert str(root) in message, message
    return info.value


def test_paths_inside_the_root_are_resolved(tree):
    root, _ = tree
    assert data_root() == root
    assert resolve_user_path(root / "lab" / "mouse1" / "a.csv") == root / "lab/mouse1/a.csv"
    assert resolve_user_path(str(root)) == root
    assert resolve_user_path(f"  {root}/lab/mouse2/../mouse1  ") == root / "lab/mouse1"
    assert resolve_user_path("lab/mouse1", base=root) == root / "lab/mouse1"
    assert resolve_user_path("lab/mouse1") == root / "lab/mouse1"  # relative to the cwd
    # a symlink inside the root that points inside it: allowed, resolved to its target
    assert resolve_user_path(root / "lab" / "inside_link" / "a.csv") == root / "lab/mouse1/a.csv"
    # a path that does not exist yet (a new project folder) inside the root
    assert resolve_user_path(root / "lab" / "new_project") == root / "lab/new_project"


@pytest.mark.parametrize(
    "make",
    [
        lambda root, out: out / "secret.csv",
        lambda root, out: f"{root}/../outside/secret.csv",
        lambda root, out: f"{root}/lab/../../outside",
        lambda root, out: "/",
        lambda root, out: "/etc/passwd",
        lambda root, out: "~",
        lambda root, out: f"{root}/lab/escape",
        lambda root, out: f"{root}/lab/escape/secret.csv",
        lambda root, out: f"{root}/lab/escape_file.csv",
        lambda root, out: f"{root}/lab/inside_link/../../../outside",
        lambda root, out: f"{root}_sibling/data",  # a prefix of the root is not inside it
    ],
)
def test_paths_outside_the_root_are_refused(tree, make):
    root, outside = tree
    (root.parent / "root_sibling").mkdir(exist_ok=True)
    refused(make(root, outside), root)


def test_relative_paths_and_bases_outside_are_refused(tree):
    root, outside = tree
    refused("../outside/secret.csv", root)  # relative to the cwd, which is the root
    refused("secret.csv", root, base=outside)
    refused("../../outside", root, base=root / "lab")


def test_the_message_names_what_was_asked(tree):
    root, outside = tree
    error = refused(str(outside / "secret.csv"), root, what="keypoint file")
    assert "keypoint file" in str(error)


def test_globs_inside_the_root_are_allowed(tree):
    root, _ = tree
    assert resolve_user_path(f"{root}/lab/mouse*/*.csv") == root / "lab" / "mouse*" / "*.csv"
    (root / "lab" / "escape").unlink()  # links out are matched by the globs below
    (root / "lab" / "escape_file.csv").unlink()
    got = resolve_user_path(f"{root}/lab/*/*.csv")
    assert got == root / "lab" / "*" / "*.csv"
    assert resolve_user_path("lab/mouse[12]/*.csv", base=root) == root / "lab/mouse[12]/*.csv"
    assert resolve_user_path(f"{root}/lab/**/*.csv") == root / "lab/**/*.csv"
    assert resolve_user_path(f"{root}/lab/inside_link/*.csv") == root / "lab/mouse1/*.csv"


def test_globs_cannot_climb_or_follow_links_out(tree):
    root, outside = tree
    refused(f"{root}/../*/secret.csv", root)  # the part before the wildcard is outside
    refused(f"{root}/lab/*/../../../outside/*.csv", root)  # ".." after a wildcard
    refused(f"{root}/lab/escape/*.csv", root)  # a link out before the wildcard
    refused(f"{root}/lab/escape*/*.csv", root)  # a link out matched by the wildcard
    refused(f"{root}/lab/*", root)  # matches escape and escape_file.csv
    (root / "lab" / "escape").unlink()
    (root / "lab" / "escape_file.csv").unlink()
    assert resolve_user_path(f"{root}/lab/*") == root / "lab" / "*"


def test_without_the_variable_any_path_is_allowed(tree, monkeypatch):
    root, outside = tree
    monkeypatch.delenv(DATA_ROOT_ENV)
    assert data_root() is None
    assert resolve_user_path(outside / "secret.csv") == outside / "secret.csv"
    assert resolve_user_path("/etc") == Path("/etc").resolve()
    assert resolve_user_path(f"{root}/../outside/*.csv") == outside / "*.csv"
    assert resolve_user_path(f"{root}/lab/escape/secret.csv") == outside / "secret.csv"
    assert resolve_user_path("~") == Path.home().resolve()
    monkeypatch.setenv(DATA_ROOT_ENV, "")  # empty: unrestricted too
    assert resolve_user_path("/etc") == Path("/etc").resolve()


def test_empty_path_is_refused(tree):
    with pytest.raises(KpcalError, match="empty"):
        resolve_user_path("   ", what="video folder")


def test_a_root_given_through_a_symlink_works(tmp_path, monkeypatch):
    real = tmp_path / "real_root"
    (real / "data").mkdir(parents=True)
    (tmp_path / "link_root").symlink_to(real)
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "link_root"))
    assert resolve_user_path(tmp_path / "link_root" / "data") == real.resolve() / "data"
    assert resolve_user_path(real / "data") == real.resolve() / "data"


# --------------------------------------------------------------------------- no unpickling


class Boom:
    """Unpickling this creates a marker folder: proof that a file was unpickled."""

    marker: Path

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_object_array_in_session_keypoints_is_refused_not_unpickled(tmp_path):
    project = tmp_path / "project"
    make_demo_project(project, n_recordings=1, n_frames=10, width=160, height=160)
    data = load_project_data(project)
    save_session_keypoints(
        project, data.coordinates, data.confidences, data.bodyparts, data.video_frame_indexes
    )
    save_session(project, CalibrationSession(keypoints_path=None))
    assert load_session_keypoints(project) is not None  # the plain file loads

    marker = tmp_path / "was_unpickled"
    bomb = Boom()
    bomb.marker = marker
    arrays = dict(np.load(session_dir(project) / "keypoints.npz", allow_pickle=False))
    arrays["names"] = np.array([bomb, "x"], dtype=object)
    np.savez(session_dir(project) / "keypoints.npz", **arrays)
    with pytest.raises(KpcalError, match="keypoints.npz") as info:
        load_session_keypoints(project)
    assert "pickle" in str(info.value).lower() or "object" in str(info.value).lower()
    with pytest.raises(KpcalError):
        load_project_data(project)
    assert not marker.exists(), "the stored keypoints were unpickled"


def test_a_pickle_in_the_frame_cache_is_ignored_not_unpickled(tmp_path):
    import kpcal_core.videos as videos

    video = tmp_path / "v.mp4"
    video.write_bytes(b"not really a video")
    marker = tmp_path / "was_unpickled"
    bomb = Boom()
    bomb.marker = marker
    folder = videos._video_cache_folder(tmp_path / "cache", video)
    folder.mkdir(parents=True)
    np.save(videos._cache_file(folder, 3), np.array([bomb], dtype=object), allow_pickle=True)
    (folder / f"{4:08d}.npy").write_bytes(pickle.dumps(bomb))
    assert read_cached_frame(tmp_path / "cache", video, 3) is None
    assert read_cached_frame(tmp_path / "cache", video, 4) is None
    assert not marker.exists()


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def _name(func: ast.expr) -> str:
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return ".".join(reversed(parts))


def test_sources_never_unpickle():
    """Every np.load passes allow_pickle=False; no pickle/joblib/torch/read_pickle loads."""
    np_loads = 0
    for path in sorted(CORE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in _calls(tree):
            name = _name(call.func)
            where = f"{path.name}:{call.lineno} {name}"
            if name in ("np.load", "numpy.load"):
                np_loads += 1
                flags = {k.arg: k.value for k in call.keywords}
                assert "allow_pickle" in flags, f"{where} without allow_pickle=False"
                value = flags["allow_pickle"]
                assert isinstance(value, ast.Constant) and value.value is False, where
            if name == "yaml.load":  # only with a safe loader named explicitly
                flags = {k.arg: k.value for k in call.keywords}
                loader = flags.get("Loader")
                assert isinstance(loader, ast.Name) and loader.id == "_SAFE_LOADER", where
            assert name not in (
                "pickle.load",
                "pickle.loads",
                "pickle.Unpickler",
                "cPickle.load",
                "joblib.load",
                "torch.load",
                "pd.read_pickle",
                "pandas.read_pickle",
                "dill.load",
                "shelve.open",
                "yaml.unsafe_load",
                "yaml.full_load",
            ), where
    assert np_loads >= 3  # session keypoints, frame cache, demo ground truth


def test_config_yaml_loader_is_a_safe_one():
    import yaml

    from kpcal_core import config

    assert config._SAFE_LOADER in (yaml.SafeLoader, getattr(yaml, "CSafeLoader", None))
    with pytest.raises(yaml.constructor.ConstructorError):
        config._safe_load("!!python/object/apply:os.system ['echo hacked']")


# --------------------------------------------------------------------------- typed paths


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("'/data/my project'", "/data/my project"),
        ('  "/data/x"\t', "/data/x"),
        ('"/data/x', '"/data/x'),  # unmatched: kept as typed
        ("'it''s'", "it''s"),  # one pair only
    ],
)
def test_surrounding_quotes_and_spaces_are_not_part_of_the_path(typed, meant):
    assert clean_user_path(typed) == meant
    assert resolve_user_path(typed) == Path(meant).resolve()


@pytest.mark.parametrize("typed", ["", "   ", "''", '" "'])
def test_nothing_inside_the_quotes_is_an_empty_path(typed):
    with pytest.raises(KpcalError, match="the keypoint path is empty"):
        resolve_user_path(typed, what="keypoint path")


def test_a_nul_character_is_refused_naming_the_path():
    with pytest.raises(KpcalError, match=r"'a\\x00b' contains a NUL character"):
        resolve_user_path("a\x00b", what="video folder")


@pytest.mark.parametrize(
    ("typed", "why"),
    [("x" * 300, "has a name of 300 bytes"), ("/".join(["y" * 200] * 30), "bytes long")],
)
def test_a_path_too_long_is_refused_before_the_system_refuses_it(tmp_path, typed, why):
    with pytest.raises(KpcalError, match=why) as error:
        resolve_user_path(typed, tmp_path, what="project folder")
    assert typed[:80] in str(error.value)
    with pytest.raises(KpcalError, match=why):
        check_path_length(Path(tmp_path, typed), typed)


def test_a_link_loop_is_refused_naming_the_path(tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    try:
        resolved = resolve_user_path("loop/inside", tmp_path)
    except KpcalError as error:
        assert "'loop/inside'" in str(error)
    else:  # Python versions that resolve loops leniently: the folder check refuses it
        with pytest.raises(KpcalError, match="loop"):
            project_folder(resolved)


def test_a_project_folder_below_a_file_cannot_be_created_and_is_not_offered(tmp_path):
    (tmp_path / "a file").write_text("x")
    for create in (False, True):
        with pytest.raises(KpcalError, match=r"cannot be created: '.*a file' is a file") as error:
            project_folder(tmp_path / "a file" / "new" / "deeper", create=create)
        assert not isinstance(error.value, ProjectFolderMissing)


def test_a_missing_project_folder_is_created_only_when_asked(tmp_path):
    with pytest.raises(ProjectFolderMissing, match="does not exist"):
        project_folder(tmp_path / "new" / "deeper")
    assert not (tmp_path / "new").exists()
    assert project_folder(tmp_path / "new" / "deeper", create=True).is_dir()


def test_searching_a_folder_too_large_is_refused_for_keypoints_and_videos(tmp_path, monkeypatch):
    for i in range(30):
        (tmp_path / "big" / f"sub{i % 3}").mkdir(parents=True, exist_ok=True)
        (tmp_path / "big" / f"sub{i % 3}" / f"f{i}.txt").write_text("")
    monkeypatch.setattr(discovery, "MAX_SEARCHED", 10)
    monkeypatch.setattr(videos, "MAX_SEARCHED", 10)
    with pytest.raises(KpcalError, match=r"'.*big' holds more than 10 files and folders"):
        discovery.list_files(str(tmp_path / "big"), (".csv",), True)
    with pytest.raises(KpcalError, match=r"video folder '.*big' holds more than 10 files"):
        videos.list_videos(tmp_path / "big")
    monkeypatch.setattr(videos, "MAX_SEARCHED", 100)
    assert videos.list_videos(tmp_path / "big", "txt") == sorted((tmp_path / "big").rglob("*.txt"))
