"""Shared fixtures: where the real data lives, small synthetic projects, refused writes."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# ../shared/data beside the repository; KPCAL_SHARED_DATA points elsewhere (e.g. from a worktree)
SHARED_DATA = Path(os.environ.get("KPCAL_SHARED_DATA") or REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` with real SLEAP and DeepLabCut outputs; skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture
def refuse_writes(monkeypatch) -> Callable[..., None]:
    """Make saves under a folder fail as a full disk makes them fail.

    ``refuse_writes(folder)`` from then on fails the fsync of every regular file
    written under ``folder`` (what :func:`kpcal_core.atomic.atomic_write` does before
    it replaces a file) with ``OSError(ENOSPC)``; ``errno=`` another error, ``name=``
    only files whose name contains it (a temporary file starts with the target's
    name); ``refuse_writes(None)``: the disk has room again. Only this test process's
    ``os.fsync`` is patched (Linux: the file is found through ``/proc/self/fd``).
    """
    real_fsync = os.fsync
    refused: dict = {"folder": None, "errno": errno.ENOSPC, "name": None}

    def fsync(fd: int) -> None:
        folder = refused["folder"]
        if folder is not None and stat.S_ISREG(os.fstat(fd).st_mode):
            try:
                path = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                path = ""
            name = refused["name"]
            if path.startswith(folder + os.sep) and (name is None or name in Path(path).name):
                raise OSError(refused["errno"], os.strerror(refused["errno"]))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)

    def control(folder, errno: int = errno.ENOSPC, *, name: str | None = None) -> None:
        refused.update(
            folder=None if folder is None else os.path.realpath(folder), errno=errno, name=name
        )

    return control


@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A real 4 MiB filesystem (tmpfs) mounted in ``tmp_path``; skips where mount is not allowed."""
    mount = tmp_path / "small_disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0777", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)


@pytest.fixture
def fill_disk() -> Callable[[Path], Path]:
    """``fill_disk(folder)``: fill the filesystem of ``folder`` (a :func:`small_disk`) to the
    last byte; returns the file to delete to free it."""
    return _fill_disk


def _fill_disk(folder: Path) -> Path:
    filler = folder / "filler.bin"
    block = b"\0" * 65536
    with open(filler, "wb", buffering=0) as handle:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    handle.write(block[:size])
            except OSError as error:
                assert error.errno == errno.ENOSPC, error
    return filler
