"""Paths on a shared server (KPCAL_DATA_ROOT), and nothing read from user files is unpickled."""

from __future__ import annotations

import ast
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from kpcal_core import Annotation
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
from kpcal_core.video import cache, decode, match, source
from kpcal_core.video import index as video_index
from kpcal_core.video.cache import read_cached_frame
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
    video = tmp_path / "v.mp4"
    video.write_bytes(b"not really a video")
    marker = tmp_path / "was_unpickled"
    bomb = Boom()
    bomb.marker = marker
    folder = cache.video_cache_folder(tmp_path / "cache", video)
    folder.mkdir(parents=True)
    np.save(cache.npy_file(folder, 3), np.array([bomb], dtype=object), allow_pickle=True)
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
    for path in sorted(CORE.rglob("*.py")):  # the sub-packages too (formats, video)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in _calls(tree):
            name = _name(call.func)
            where = f"{path.relative_to(CORE)}:{call.lineno} {name}"
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
    monkeypatch.setattr(match, "MAX_SEARCHED", 10)
    with pytest.raises(KpcalError, match=r"'.*big' holds more than 10 files and folders"):
        discovery.list_files(str(tmp_path / "big"), (".csv",), True)
    with pytest.raises(KpcalError, match=r"video folder '.*big' holds more than 10 files"):
        match.list_videos(tmp_path / "big")
    monkeypatch.setattr(match, "MAX_SEARCHED", 100)
    assert match.list_videos(tmp_path / "big", "txt") == sorted((tmp_path / "big").rglob("*.txt"))


# --------------------------------------------------------------------------- paths from files
# With a data root, a path read from a file (a pose file's stored video, session.json,
# config.yml) and every file kpcal opens in a project must lead inside the root.


def _snapshot(folder: Path) -> dict:
    """Every file below ``folder`` (links not followed) with its bytes: nothing may change."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() and not p.is_symlink() else "")
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A demo project inside the data root ``root/``, and ``outside/`` beside the root."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    project = root / "proj"
    make_demo_project(project, n_recordings=1, n_frames=12, width=96, height=64)
    monkeypatch.setenv(DATA_ROOT_ENV, str(root))
    return root.resolve(), outside.resolve(), project.resolve()


def _video(path: Path, n: int = 12) -> Path:
    from frame_videos import coded_frame, write_mp4v

    return write_mp4v(path, [coded_frame(i) for i in range(n)])


def _pose_project(root: Path, kind: str, stored: str, video_dir: str = "") -> tuple[Path, str]:
    """A project whose one SLEAP file (``kind``: analysis ``h5`` or ``slp``) stores ``stored``."""
    from pose_files import write_sleap_analysis, write_slp

    from kpcal_core.config import setup_project

    (root / "kp").mkdir(parents=True)
    if kind == "h5":
        pose = write_sleap_analysis(
            root / "kp" / "rec.h5",
            np.ones((1, 12, 2, 2)),
            np.ones((1, 12, 2)),
            ["nose", "tail"],
            video_path=stored,
        )
        bodyparts = ["nose", "tail"]
    else:
        pose = write_slp(root / "kp" / "rec.slp", 1, n_frames=12, tracked=False, video=stored)
        bodyparts = ["nose", "tail", "paw"]
    project = root / "proj"
    setup_project(project, bodyparts=bodyparts)
    save_session(project, CalibrationSession(keypoints_path=str(pose), video_dir=video_dir))
    return project, str(pose)


@pytest.mark.parametrize("kind", ["h5", "slp"])
def test_a_video_stored_in_a_pose_file_outside_the_root_is_not_used(tmp_path, monkeypatch, kind):
    """Issue 19, finding 4: the frames of a stored video outside the root were decoded and shown."""
    from kpcal_core import workflows

    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    secret = _video(outside / "rec.mp4")
    project, pose = _pose_project(root, kind, str(secret))
    monkeypatch.setenv(DATA_ROOT_ENV, str(root))
    data = load_project_data(project)
    (name,) = data.coordinates
    choice = data.video_choices[name]
    assert choice.path is None and data.video_paths[name] is None
    assert "Stored video outside the data folder" in choice.reason, choice.reason
    assert f"the video path stored in {pose!r} ({str(secret)!r})" in choice.reason
    assert f"outside the data folder this server allows ({root.resolve()})" in choice.reason
    report = workflows.recordings_report(data)
    assert list(report["status"]) == ["no video"]
    assert "outside the data folder" in report["reason"].iloc[0]
    data.session.sample_keys = [(name, 0, data.bodyparts[0])]
    assert workflows.fill_frame_cache(data) == 0  # nothing decoded, nothing cached


def test_a_stored_video_outside_the_root_leaves_the_video_folder_rule(tmp_path, monkeypatch):
    """Not an error for the project: the file of that name in the video folder is used."""
    from kpcal_core.video.match import STORED_NAME_IN_VIDEO_FOLDER

    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    secret = _video(outside / "rec.mp4")
    project, _ = _pose_project(root, "h5", str(secret), video_dir=str(root / "videos"))
    (root / "videos").mkdir()
    mine = _video(root / "videos" / "rec.mp4")
    monkeypatch.setenv(DATA_ROOT_ENV, str(root))
    choice = load_project_data(project).video_choices["rec"]
    assert choice.path == str(mine) and choice.rule == STORED_NAME_IN_VIDEO_FOLDER
    assert "outside the data folder" in choice.reason  # and it says why the stored one is not


def test_no_decoder_opens_a_video_outside_the_root(tmp_path, monkeypatch):
    """The last check: whatever path reaches them, the decoders refuse one outside the root."""
    (tmp_path / "root").mkdir()
    secret = _video(tmp_path / "secret.mp4")
    link = tmp_path / "root" / "link.mp4"
    link.symlink_to(secret)
    assert source.load_frame(secret, 3).shape == (120, 160, 3)  # no root: any path
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "root"))
    for path in (secret, link):
        with pytest.raises(KpcalError, match="outside the data folder this server allows"):
            source.load_frame(path, 3)
        with pytest.raises(KpcalError, match="outside the data folder"):
            decode.video_info(path)
        with pytest.raises(KpcalError, match="outside the data folder"):
            video_index.build_frame_index(path)


@pytest.mark.parametrize(
    ("field", "value", "names"),
    [
        ("keypoints_path", "{outside}/keypoints", "session.json"),
        ("keypoints_path", "../../outside/keypoints", "session.json"),
        ("keypoints_path", "{outside}/*", "session.json"),
        ("video_dir", "{outside}/videos", "session.json"),
        ("config video_dir", "{outside}/videos", "config.yml"),
    ],
)
def test_paths_in_the_project_files_outside_the_root_are_refused_naming_the_file(
    served, field, value, names
):
    """Issue 19, finding 4: absolute or '..' paths in session.json and config.yml were used."""
    from kpcal_core.config import update_config
    from kpcal_core.session import load_session

    root, outside, project = served
    for sub in ("keypoints", "videos"):  # the same data, outside the root
        shutil.copytree(project / sub, outside / sub)
    value = value.format(outside=outside)
    session = load_session(project)
    if field == "config video_dir":
        session.video_dir = ""
        update_config(project, video_dir=value)
    else:
        setattr(session, field, value)
    save_session(project, session)
    with pytest.raises(KpcalError) as info:
        load_project_data(project)
    message = str(info.value)
    assert "outside the data folder this server allows" in message, message
    assert names in message and str(root) in message, message


def test_a_video_set_by_hand_outside_the_root_is_not_used(served):
    from kpcal_core.session import load_session
    from kpcal_core.video.match import PREFIX_MATCH

    root, outside, project = served
    secret = shutil.copy(project / "videos" / "mouse1.mp4", outside / "mouse1.mp4")
    session = load_session(project)
    name = next(iter(load_project_data(project).coordinates))
    session.video_paths = {name: str(secret)}
    save_session(project, session)
    choice = load_project_data(project).video_choices[name]
    assert choice.path == str(project / "videos" / "mouse1.mp4") and choice.rule == PREFIX_MATCH
    assert "The video set for it is not used" in choice.reason
    assert "session.json" in choice.reason and "outside the data folder" in choice.reason


def test_a_config_linked_to_a_file_outside_the_root_is_neither_read_nor_quoted(served):
    """Issue 19, finding 4: the YAML error quoted a line of the file the link led to."""
    from kpcal_core.config import load_config, update_config

    root, outside, project = served
    (outside / "notes.txt").write_text("password: hunter2\n  [broken: yaml\n")
    (project / "config.yml").unlink()
    (project / "config.yml").symlink_to(outside / "notes.txt")
    before = _snapshot(outside)
    for call in (lambda: load_config(project), lambda: update_config(project, fps=10)):
        with pytest.raises(KpcalError) as info:
            call()
        assert "hunter2" not in str(info.value) and "broken" not in str(info.value)
        assert "outside the data folder this server allows" in str(info.value)
    assert _snapshot(outside) == before


def test_a_yaml_error_in_a_config_linked_inside_the_root_is_not_quoted(served):
    from kpcal_core.config import load_config

    root, _, project = served
    (root / "shared.yml").write_text("fps: 30\n  token: s3cr3t [\n")
    (project / "config.yml").unlink()
    (project / "config.yml").symlink_to(root / "shared.yml")
    with pytest.raises(KpcalError, match=r"line 2, column \d+") as info:
        load_config(project)
    assert "s3cr3t" not in str(info.value)


LINKED = [
    "calibration",
    "calibration/session.json",
    "calibration/annotations_draft.csv",
    "error_annotations.csv",
    "config.yml",
    ".kpcal.lock",
    "calibration/frame_cache",
    "calibration/keypoint_store",
]


@pytest.mark.parametrize("linked", LINKED)
def test_nothing_in_a_project_is_read_or_written_through_a_link_out_of_the_root(served, linked):
    """Issue 19, finding 4: a symlinked calibration/ was written through (and each file in
    the project: a linked lock file was truncated, a linked CSV read, a linked cache filled)."""
    from kpcal_core import workflows
    from kpcal_core.config import load_config, update_config
    from kpcal_core.project import load_working_annotations, save_work
    from kpcal_core.session import load_session

    root, outside, project = served
    data = load_project_data(project)
    keys = workflows.draw_samples(data, seed=0, num_samples=4).sample_keys
    records = {
        key: Annotation(1.0, 2.0, "me", f"2025-01-01T00:00:0{i}+00:00")
        for i, key in enumerate(keys)
    }
    save_work(data, records, force_export=True)  # every file of the project exists
    workflows.fill_frame_cache(data, keys)
    target = outside / "target"
    inside = project / linked
    if inside.is_dir():
        shutil.copytree(inside, target)
        shutil.rmtree(inside)
    else:
        shutil.copy(inside, target)
        inside.unlink()
    inside.symlink_to(target, target_is_directory=target.is_dir())
    before = _snapshot(outside)

    more = {**records, keys[0]: Annotation(5.0, 6.0, "me", "2025-01-02T00:00:00+00:00")}
    calls = {
        "open": lambda: load_project_data(project),
        "session": lambda: load_session(project),
        "save session": lambda: save_session(project, CalibrationSession()),
        "config": lambda: load_config(project),
        "edit config": lambda: update_config(project, fps=12),
        "annotations": lambda: load_working_annotations(project),
        "save": lambda: save_work(data, more, force_export=True),
        "frames": lambda: workflows.fill_frame_cache(data, keys),
    }
    refused = []
    for what, call in calls.items():
        try:
            call()
        except KpcalError as error:
            assert "outside the data folder this server allows" in str(error), (what, error)
            assert "/target" in str(error), (what, error)  # says where the link leads
            refused.append(what)
    assert _snapshot(outside) == before, f"written through {linked}"
    assert refused, f"nothing refused {linked}"
    assert inside.is_symlink()  # the link itself is left for the owner to fix


@pytest.mark.parametrize("recursive", [False, True])
def test_a_link_in_a_keypoint_folder_leading_out_of_the_root_is_refused(served, recursive):
    """Issue 19, finding 4: a link inside a typed keypoint folder was followed (and, searched
    recursively, a linked folder: docs/guarantees.md, "not guaranteed")."""
    from kpcal_core.formats import read_keypoints

    root, outside, project = served
    (outside / "other").mkdir()
    for csv in (project / "keypoints").glob("*.csv"):
        shutil.copy(csv, outside / "other" / ("x" + csv.name))
    if recursive:
        (project / "keypoints" / "more").symlink_to(outside / "other")
    else:
        (project / "keypoints" / "x.csv").symlink_to(next((outside / "other").iterdir()))
    with pytest.raises(KpcalError, match="outside the data folder this server allows") as info:
        read_keypoints(str(project / "keypoints"), recursive=recursive)
    assert "keypoint file" in str(info.value) and str(outside) in str(info.value)


def test_links_that_stay_inside_the_root_are_followed(served):
    from kpcal_core import workflows
    from kpcal_core.formats import read_keypoints
    from kpcal_core.project import save_work

    root, _, project = served
    shutil.move(project / "calibration", root / "calib-elsewhere")
    (project / "calibration").symlink_to(root / "calib-elsewhere")
    (root / "more-keypoints").mkdir()
    (project / "keypoints" / "more").symlink_to(root / "more-keypoints")
    data = load_project_data(project)
    keys = workflows.draw_samples(data, seed=0, num_samples=2).sample_keys
    save_work(data, {keys[0]: Annotation(1.0, 2.0, "me", "2025-01-01T00:00:00+00:00")})
    assert (root / "calib-elsewhere" / "annotations_draft.csv").is_file()
    assert workflows.fill_frame_cache(data, keys) >= 1
    assert read_keypoints(str(project / "keypoints")).coordinates


def test_without_a_root_links_and_stored_paths_are_used_as_before(tmp_path, monkeypatch):
    """A laptop: nothing of the above is checked."""
    from kpcal_core.project import save_work
    from kpcal_core.video.match import STORED_PATH

    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    secret = _video(outside / "rec.mp4")
    project, _ = _pose_project(root, "h5", str(secret))
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    (outside / "calib").mkdir()
    (project / "calibration").rename(outside / "calib" / "c")
    (project / "calibration").symlink_to(outside / "calib" / "c")
    data = load_project_data(project)
    assert data.video_choices["rec"].path == str(secret)
    assert data.video_choices["rec"].rule == STORED_PATH
    save_work(data, {("rec", 0, "nose"): Annotation(1.0, 2.0, "me", "2025-01-01T00:00:00+00:00")})
    assert (outside / "calib" / "c" / "annotations_draft.csv").is_file()
