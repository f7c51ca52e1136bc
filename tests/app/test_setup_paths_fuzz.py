"""Any path a user can type on the setup page gets a message naming it, never a traceback.

A fixed, generated list of a few hundred paths (relative, absolute, quoted, ``~``, ``..``,
a file where a folder is wanted, a folder below a file (which cannot be created), a link
loop, names and paths too long for the system, NUL and control characters, unicode, glob
characters, empty and blank) is typed into the "Project folder", "Keypoint files" and
"Video folder" fields, one AppTest per field. After each: no exception on the page; a path
that is refused gives exactly one message, which names it; a path that is taken leaves the
page on an existing folder; and nothing is created (a new project folder only after the
"Create the folder" button).

Tests run as root, for whom permissions do not stop reading or writing: an unwritable place
is a folder below a file (``a file.txt/new``), which no one can create.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
from pathlib import Path

import pytest
from apptest_support import SETUP, button, check, errors, new_app, open_page, shown, widget

from kpcal_app.state import PENDING_FOLDER, PROJECT
from kpcal_core.session import load_session

QUOTES = ("'", '"')

# Names relative to the sandbox (the server's working folder and the home folder's parent).
NAMES = [
    "",
    " ",
    "\t",
    "''",
    '""',
    ".",
    "..",
    "../..",
    "proj",
    "dir",
    "dir/",
    "dir/../dir",
    "dir/sub/../..",
    "kp",
    "../kp",
    "~/../kp/",
    "videos",
    "a file.txt",
    "a file.txt/",
    "a file.txt/new",
    "a file.txt/new/deeper",
    "junk.csv",
    "missing",
    "missing/deeper/still",
    "ñandú 日本 😀",
    "ñandú 日本 😀/missing",
    "loop",
    "loop/inside",
    "~",
    "~/missing",
    "~nobody-here/x",
    "*",
    "**",
    "dir/*",
    "*/../..",
    "k?",
    "[",
    "[!a]",
    "{kp,videos}",
    "$HOME/x",
    "%USERPROFILE%\\data",
    "C:\\Users\\me\\project",
    "\\\\server\\share\\project",
    "file:///tmp/project",
    "x" * 300,
    "y" * 255,
    "/".join(["z" * 200] * 25),
    "a\x00b",
    "\x00",
    "dir\x00/x",
    "\x1b[31mred",
    "new\nline",
    "tab\there",
    "-rf",
    "--help",
    ".hidden",
    "/dev/null",
    "/proc/self/mem",
    "/",
    "//",
]
# Decorations of a typed path: as is, quoted as a file manager or shell copies it, with
# spaces around, a "./" prefix, doubled slashes, an unmatched quote.
DECORATIONS = [
    lambda s: s,
    lambda s: f'"{s}"',
    lambda s: f"'{s}'",
    lambda s: f"  {s}\t",
    lambda s: f"./{s}",
    lambda s: s.replace("/", "//"),
    lambda s: f'"{s}',
]
RANDOM_ALPHABET = "ab/._-~*?[]{}'\" \t\\\x00\x07ñ日😀:$%"


def typed_paths(sandbox: Path) -> list[str]:
    """The paths typed: each name as is, plus three decorations (rotating), plus absolute
    versions of the names, plus 40 random strings of awkward characters (seeded)."""
    paths = []
    for i, name in enumerate(NAMES):
        paths.append(name)
        for k in range(3):
            paths.append(DECORATIONS[1 + (i + 2 * k) % (len(DECORATIONS) - 1)](name))
        if name.strip() and not name.startswith(("/", "~")):
            paths.append(str(sandbox / name))
    rng = random.Random(11)
    paths += ["".join(rng.choices(RANDOM_ALPHABET, k=rng.randint(1, 30))) for _ in range(40)]
    return list(dict.fromkeys(paths))


def unquoted(typed: str) -> str:
    text = typed.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in QUOTES:
        text = text[1:-1].strip()
    return text


def forms(typed: str, base: Path) -> list[str]:
    """Ways a message may name the path typed: as typed, without quotes, ``~`` expanded, made
    absolute, resolved, each also as Python shows it in quotes (control characters escaped)."""
    text = unquoted(typed)
    found = [typed.strip(), text, os.path.expanduser(text)]
    if text:
        joined = Path(base, os.path.expanduser(text))
        found += [str(joined), os.path.normpath(joined)]
        with contextlib.suppress(OSError, RuntimeError, ValueError):
            found.append(str(joined.resolve()))
    return [f for f in found if f] + [repr(f)[1:-1] for f in found if f]


def names_path(message: str, typed: str, base: Path) -> bool:
    """The message names the path typed (or, for a folder or glob, a file it matches)."""
    text = unquoted(typed)
    if not text:
        return "empty" in message
    if any(f in message or (len(f) > 80 and f[:80] in message) for f in forms(typed, base)):
        return True
    parts = Path(base, os.path.expanduser(text)).parts
    fixed = next((i for i, p in enumerate(parts) if any(c in p for c in "*?[")), len(parts))
    searched = Path(*parts[:fixed])
    return (fixed < len(parts) or searched.is_dir()) and str(searched.resolve()) + "/" in message


def messages(at) -> list[str]:
    return shown(at.error) + shown(at.warning)


def tree(folder: Path) -> set[str]:
    """Every file and folder under ``folder`` (links not followed)."""
    found = set()
    for root, dirs, files in os.walk(folder):
        found.update(os.path.join(root, name) for name in dirs + files)
    return found


@pytest.fixture
def sandbox(tmp_path, demo_template, monkeypatch) -> Path:
    """The server's working folder and HOME's parent: an empty project ``proj``, a keypoint
    folder ``kp`` (the demo's), an empty ``videos`` folder, a file, a CSV that is no pose
    file, a folder ``dir``, a unicode folder, a link loop; the app opens ``proj``."""
    box = tmp_path / "sandbox"
    for folder in ("proj", "dir", "videos", "home", "ñandú 日本 😀"):
        (box / folder).mkdir(parents=True)
    shutil.copytree(demo_template / "keypoints", box / "kp")
    (box / "a file.txt").write_text("not a folder\n")
    (box / "junk.csv").write_text("a,b\n1,2\n")
    (box / "loop").symlink_to(box / "loop")
    monkeypatch.chdir(box)
    monkeypatch.setenv("HOME", str(box / "home"))
    monkeypatch.setenv("KPCAL_PROJECT", str(box / "proj"))
    return box


def type_and_submit(at, label: str, typed: str, submit: str):
    widget(at.text_input, label).input(typed)
    return check(button(at, submit).click().run())


def test_any_project_folder_typed_gets_a_message_naming_it(sandbox):
    at = open_page(new_app(), SETUP)
    typed_list = [p for p in typed_paths(sandbox)]
    assert len(typed_list) > 200
    refused = 0
    for typed in typed_list:
        before = tree(sandbox)
        type_and_submit(at, "Project folder", typed, "Open project")
        shown = messages(at)
        assert tree(sandbox) == before, f"{typed!r} created {tree(sandbox) - before}"
        project = Path(at.session_state[PROJECT])
        if shown:
            refused += 1
            assert len(shown) == 1, (typed, shown)
            assert names_path(shown[0], typed, sandbox), (typed, shown)
            # Not .get(): AppTest's session state has none on streamlit 1.55 (the lowest).
            pending = (
                at.session_state[PENDING_FOLDER]  # noqa: SIM401
                if PENDING_FOLDER in at.session_state
                else None
            )
            create = [b for b in at.button if b.label.startswith("Create the folder")]
            if at.warning:  # missing: the user is asked before anything is created
                assert "does not exist" in shown[0] and pending == typed, (typed, shown)
                assert len(create) == 1, (typed, [b.label for b in at.button])
            else:
                assert pending != typed, (typed, shown)
        else:
            assert project.is_dir(), (typed, project)
    assert 0.5 * len(typed_list) < refused < len(typed_list)


@pytest.mark.parametrize(
    ("typed", "created"),
    [('"new project"', "new project"), ("  ~/deep/new  ", "home/deep/new")],
)
def test_creating_a_project_folder_asks_first_then_creates_it(sandbox, typed, created):
    at = open_page(new_app(), SETUP)
    type_and_submit(at, "Project folder", typed, "Open project")
    assert not (sandbox / created).exists()
    (create,) = [b for b in at.button if b.label.startswith("Create the folder")]
    check(create.click().run())
    assert (sandbox / created).is_dir()
    assert at.session_state[PROJECT] == str((sandbox / created).resolve())
    assert not at.error, messages(at)


def test_a_folder_that_cannot_be_created_is_refused_without_offering_to_create_it(sandbox):
    at = open_page(new_app(), SETUP)
    type_and_submit(at, "Project folder", "a file.txt/new", "Open project")
    assert len(at.error) == 1 and "a file.txt" in errors(at)[0], messages(at)
    assert "is a file" in errors(at)[0]
    assert not [b for b in at.button if b.label.startswith("Create the folder")]


@pytest.mark.parametrize("label", ["Keypoint files (file, folder or glob)", "Video folder"])
def test_any_keypoint_or_video_path_typed_gets_a_message_naming_it(sandbox, label):
    at = open_page(new_app(), SETUP)
    kp = str(sandbox / "kp")
    if label == "Video folder":
        widget(at.text_input, "Keypoint files (file, folder or glob)").input(kp)
    typed_list = typed_paths(sandbox)
    if label != "Video folder":
        # A whole disk is refused after 100,000 entries: slow, covered by an engine test.
        typed_list = [p for p in typed_list if unquoted(p).rstrip("/") not in ("", "/")]
    base = sandbox / "proj"  # relative paths are taken from the project folder
    taken = 0
    for typed in typed_list:
        before = tree(sandbox)
        type_and_submit(at, label, typed, "Load keypoints")
        shown = errors(at)  # refusals; warnings are about the recordings
        if shown:
            assert tree(sandbox) == before, f"{typed!r} created {tree(sandbox) - before}"
            assert len(shown) == 1, (typed, shown)
            assert names_path(shown[0], typed, base), (typed, shown)
        else:  # taken: saved as meant (without quotes and spaces), config.yml written
            taken += 1
            session = load_session(base)
            saved = session.keypoints_path if label != "Video folder" else session.video_dir
            assert saved == unquoted(typed), (typed, saved)
            assert (base / "config.yml").is_file(), typed
            # Back to a fresh project, whose page stops early: keeps each input cheap.
            (base / "config.yml").unlink()
            shutil.rmtree(base / "calibration")
            check(at.run())  # the fields' defaults changed (no saved paths): new widgets
            if label == "Video folder":
                widget(at.text_input, "Keypoint files (file, folder or glob)").input(kp)
    assert taken >= 3  # the good paths among them (plain, quoted, relative) were taken
