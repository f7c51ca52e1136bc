"""The README stays short and every page of ``docs/`` is reachable from it; no link is dead."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def relative_links(markdown_file: Path) -> list[Path]:
    """The files a Markdown file links to by relative path (web addresses left out)."""
    targets = LINK.findall(markdown_file.read_text(encoding="utf-8"))
    return [
        (markdown_file.parent / target).resolve()
        for target in targets
        if not re.match(r"[a-z]+:", target)
    ]


def test_readme_is_short_and_links_every_docs_page():
    readme = ROOT / "README.md"
    assert len(readme.read_text(encoding="utf-8").splitlines()) <= 120
    linked = set(relative_links(readme))
    pages = {page.resolve() for page in (ROOT / "docs").glob("*.md")}
    assert pages and pages <= linked, sorted(p.name for p in pages - linked)


def test_no_link_in_the_readme_or_docs_is_dead():
    files = [ROOT / "README.md", ROOT / "bench" / "README.md", *(ROOT / "docs").glob("*.md")]
    dead = [(f.name, str(t)) for f in files for t in relative_links(f) if not t.exists()]
    assert not dead
