"""The video package's shape (issue 22, item 4): one frame source, formats free of video code.

Read from the source files (AST), so each test says which file breaks the rule.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "kpcal_core"
#: Modules that decode video: what "video code" means for the pose format readers.
DECODERS = ("cv2", "av")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(CORE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The kpcal_core modules and decoders ``path`` imports, as absolute names.

    ``from . import x`` names ``pkg.x`` when that is a module, else ``pkg`` itself.
    """
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            names = [
                f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in modules else stem
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            if name in modules:
                found.add(name)
            elif name.split(".")[0] in DECODERS:
                found.add(name.split(".")[0])
    return found


def _graph() -> dict[str, set[str]]:
    """``{kpcal_core module: the kpcal_core modules and decoders it imports}``."""
    files = {_module_name(p): p for p in CORE.rglob("*.py")}
    return {name: _imports(path, set(files)) for name, path in files.items()}


def _reached(graph: dict[str, set[str]], start: str) -> dict[str, str]:
    """Every module ``start`` imports, directly or not: ``{module: the module importing it}``.

    ``from .. import limits`` depends on ``kpcal_core.limits``, not on what
    ``kpcal_core/__init__`` imports.
    """
    seen: dict[str, str] = {}
    todo = [start]
    while todo:
        module = todo.pop()
        for imported in graph.get(module, ()):
            if imported not in seen and imported != start:
                seen[imported] = module
                todo.append(imported)
    return seen


def test_the_format_readers_import_no_video_code():
    graph = _graph()
    formats = sorted(m for m in graph if m.startswith("kpcal_core.formats"))
    assert "kpcal_core.formats.loading" in formats
    for module in formats:
        reached = _reached(graph, module)
        video = sorted(m for m in reached if m in DECODERS or m.startswith("kpcal_core.video"))
        assert not video, f"{module} imports {video[0]} (through {reached[video[0]]})"


def test_the_old_frame_modules_are_gone():
    for old in ("videos", "decoding", "framecache", "prefetch", "recording_videos"):
        assert importlib.util.find_spec(f"kpcal_core.{old}") is None, old
    assert importlib.util.find_spec("kpcal_core.video.source") is not None


def _public_functions(prefix: str) -> list[str]:
    """``module.function`` of every public top-level function of kpcal_core named ``prefix...``."""
    out = []
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith(prefix):
                out.append(f"{_module_name(path)}.{node.name}")
    return out


def test_one_frame_reader_and_one_fill():
    assert _public_functions("read_frames") == ["kpcal_core.video.decode.read_frames"]
    assert _public_functions("fill_") == [
        "kpcal_core.video.source.fill_cache",  # the frame cache's one fill
        "kpcal_core.workflows.drawing.fill_frame_cache",  # the project step (app and CLI) calling it
    ]


def test_each_video_module_is_short_and_says_what_it_owns():
    modules = sorted((CORE / "video").glob("*.py"))
    assert {p.stem for p in modules} >= {"match", "index", "decode", "cache", "source", "prefetch"}
    for path in modules:
        text = path.read_text(encoding="utf-8")
        doc = ast.get_docstring(ast.parse(text)) or ""
        assert "Owns" in doc if path.stem != "__init__" else "match" in doc, path.name
