"""The click view's frontend folder (``kpcal_app.click.frontend_folder``).

Assembled at run time from the installed streamlit-image-coordinates'
``frontend/`` files and our ``index.html`` and ``click.js``; several servers may start at the
same moment and must all end with one complete folder. The browser side (the
served page, the view fitted to the window, exact clicks) is in
``test_browser_app.py``.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from pathlib import Path

from kpcal_app.click import CLICK_JS, INDEX_HTML, PACKAGE_FILES, frontend_folder, package_frontend


def assert_complete(folder: Path) -> None:
    for name in PACKAGE_FILES:  # the package's own scripts and style, unchanged
        assert (folder / name).read_bytes() == (package_frontend() / name).read_bytes(), name
    page = (folder / "index.html").read_text()
    assert page == INDEX_HTML
    assert (folder / "click.js").read_text() == CLICK_JS
    # The image element before every script: the package's 0.4.1 page ran its scripts before
    # the image existed (test_browser_app.py shows the blank view it gave).
    assert page.index('<img id="image"') < page.index("<script")


def test_the_folder_holds_the_package_files_and_our_page(tmp_path):
    folder = frontend_folder(tmp_path)
    assert folder.parent == tmp_path and folder.name.startswith("click-frontend-")
    assert_complete(folder)
    assert frontend_folder(tmp_path) == folder  # the same content: the same folder
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]  # nothing left over


def test_a_damaged_folder_is_rebuilt(tmp_path):
    folder = frontend_folder(tmp_path)
    (folder / "click.js").write_text("broken")
    assert frontend_folder(tmp_path) == folder
    assert_complete(folder)


def test_servers_starting_at_once_share_one_complete_folder(tmp_path):
    context = multiprocessing.get_context("fork")  # fast to start; the code is already loaded
    with concurrent.futures.ProcessPoolExecutor(4, mp_context=context) as pool:
        folders = list(pool.map(frontend_folder, [tmp_path] * 8))
    assert len(set(folders)) == 1
    assert_complete(folders[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == [folders[0].name]
