"""The one text reader for files a user may have edited."""

from __future__ import annotations

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
