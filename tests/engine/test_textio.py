"""The one text reader for files a user may have edited."""

from __future__ import annotations

import contextlib

import pytest

from kpcal_core.errors import KpcalError
from kpcal_core.textio import read_user_text


def test_bom_is_skipped_and_line_endings_are_kept(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b'\xef\xbb\xbfx,"a\rb"\r\ny,\xc3\xa9\n')
    assert read_user_text(path) == 'x,"a\rb"\r\ny,é\n'
    assert read_user_text(path, max_lines=1) == 'x,"a\rb"\r\n'


@pytest.mark.parametrize(("data", "offset"), [(b"ab\xffc", 2), (b"\xef\xbb\xbfab\xe9", 5)])
def test_not_utf8_names_the_file_and_the_byte_offset_in_the_file(tmp_path, data, offset):
    path = tmp_path / "notes.csv"
    path.write_bytes(data)
    with pytest.raises(KpcalError, match=f"not UTF-8 text .* at byte {offset}\\)") as info:
        read_user_text(path)
    assert str(path) in str(info.value)


def test_missing_file_and_folder_are_named(tmp_path):
    with pytest.raises(KpcalError, match="does not exist") as info:
        read_user_text(tmp_path / "gone.yml")
    assert "gone.yml" in str(info.value)
    with pytest.raises(KpcalError, match="is a folder"):
        read_user_text(tmp_path)


# ------------------------------------------------------------- read_when_changed


def test_a_file_is_read_again_only_when_it_changed(tmp_path):
    from kpcal_core.atomic import atomic_write
    from kpcal_core.textio import read_when_changed

    path = tmp_path / "settings.txt"
    atomic_write(path, "one")
    reads = []

    def read():
        reads.append(1)
        return {"text": path.read_text()}

    first = read_when_changed(path, "test", read)
    first["text"] = "changed by a caller"  # a caller's copy: the kept value is unchanged
    assert read_when_changed(path, "test", read) == {"text": "one"}
    assert len(reads) == 1
    atomic_write(path, "two")  # replaced, as kpcal writes: read again
    assert read_when_changed(path, "test", read) == {"text": "two"}
    assert len(reads) == 2
    with open(path, "a") as handle:  # an editor appending in place: read again
        handle.write("!")
    assert read_when_changed(path, "test", read) == {"text": "two!"}
    assert len(reads) == 3


def test_a_failed_read_is_not_kept(tmp_path):
    from kpcal_core.textio import read_when_changed

    path = tmp_path / "broken.txt"
    path.write_text("x")
    calls = []

    def read():
        calls.append(1)
        raise ValueError("broken")

    for _ in range(2):
        with contextlib.suppress(ValueError):
            read_when_changed(path, "test", read)
    assert len(calls) == 2
