"""The layers stay as docs/layout.md draws them: `lint-imports` with pyproject.toml's contracts.

The engine never imports Streamlit or the app; the format readers import no video code; the
statistics of the stop rule, the planned order and the sampling read and write no file, and
they and the annotators' agreement say no words (sentences and grammar live in
kpcal_core.sentences and kpcal_core.wording); the app
(app.py, pages/, kpcal_app/) imports from the engine only kpcal_core.workflows, kpcal_core.errors
and kpcal_core.sentences.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` with pyproject.toml's contracts over the packages under ``root``."""
    command = shutil.which("lint-imports")
    assert command, "import-linter is in requirements-dev.txt"
    return subprocess.run(
        [command, "--config", str(REPO / "pyproject.toml")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=240,
        env={"PYTHONPATH": str(root), "PATH": str(Path(sys.executable).parent)},
    )


def test_the_import_contracts_hold():
    run = _lint_imports(REPO)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "5 kept, 0 broken" in run.stdout


def test_a_statistics_module_that_builds_words_breaks_the_contract(tmp_path):
    """per_bodypart or agreement importing the grammar or the sentences again fails lint-imports
    (direct imports: a lower module's error message may still count with wording)."""
    for package in ("kpcal_core", "kpcal_app"):
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    for module, line in (
        ("per_bodypart", "from .wording import count"),
        ("agreement", "from .sentences import agreement_statement"),
    ):
        path = tmp_path / "kpcal_core" / f"{module}.py"
        path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    run = _lint_imports(tmp_path)
    assert run.returncode != 0 and "4 kept, 1 broken" in run.stdout, run.stdout[-4000:]
    assert "The statistics say no words BROKEN" in run.stdout
    assert "kpcal_core.per_bodypart is not allowed to import kpcal_core.wording" in run.stdout
    assert "kpcal_core.agreement is not allowed to import kpcal_core.sentences" in run.stdout


def test_each_project_file_name_is_spelled_in_one_module():
    """A project file's name appears as a string in one module of kpcal_core: its owner's."""
    import ast

    names = (
        "config.yml",
        "session.json",
        "error_annotations.csv",
        "annotations_draft.csv",
        "keypoints.npz",
        ".kpcal.lock",
        "error_points.csv",
        "calibration",
    )
    spelled: dict[str, set[str]] = {name: set() for name in names}
    for path in sorted((REPO / "kpcal_core").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and node.value in spelled
                and id(node) not in docstrings
            ):
                spelled[node.value].add(str(path.relative_to(REPO)))
    for name, modules in spelled.items():
        assert len(modules) == 1, (name, sorted(modules))


#: The engine modules the app may import: the workflows (which re-export the types and
#: constants the app needs), the errors and the sentences.
APP_WAY_IN = {"kpcal_core.workflows", "kpcal_core.errors", "kpcal_core.sentences"}


def _engine_imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every kpcal_core module ``path`` imports, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("kpcal_core")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "kpcal_core":
                found += [(node.lineno, f"kpcal_core.{a.name}") for a in node.names]
            elif node.module.startswith("kpcal_core."):
                found.append((node.lineno, node.module))
    return sorted(found)


def _outside_the_way_in(found: list[tuple[int, str]]) -> list[tuple[int, str]]:
    return [
        (line, module)
        for line, module in found
        if not any(module == allowed or module.startswith(allowed + ".") for allowed in APP_WAY_IN)
    ]


def test_the_app_imports_only_the_workflows_errors_and_sentences():
    """pages/ and app.py are scripts, not a package, so import-linter cannot see them: their
    imports are read here (kpcal_app's too, which pyproject's contract also checks)."""
    scripts = [REPO / "app.py", *sorted((REPO / "pages").glob("*.py"))]
    scripts += sorted((REPO / "kpcal_app").rglob("*.py"))
    wrong = {
        str(path.relative_to(REPO)): bad
        for path in scripts
        if (bad := _outside_the_way_in(_engine_imports(path)))
    }
    assert not wrong, f"import these through kpcal_core.workflows instead: {wrong}"


def test_the_engine_import_check_finds_a_forbidden_import(tmp_path):
    page = tmp_path / "page.py"
    page.write_text(
        "from kpcal_core import workflows, sentences\n"
        "from kpcal_core.workflows import FIT\n"
        "import kpcal_core.errors\n"
        "def f():\n    from kpcal_core.project import save_work\n"
        "from kpcal_core import clicks\n",
        encoding="utf-8",
    )
    assert _outside_the_way_in(_engine_imports(page)) == [
        (5, "kpcal_core.project"),
        (6, "kpcal_core.clicks"),
    ]


def test_the_app_contract_forbids_every_other_engine_module():
    """pyproject's contract lists the forbidden modules by name: a new kpcal_core module must
    be added there (or imported by the app through the workflows)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (app,) = [c for c in contracts if c["source_modules"] == ["kpcal_app"]]
    core = REPO / "kpcal_core"
    modules = {f"kpcal_core.{p.stem}" for p in core.glob("*.py") if p.stem != "__main__"}
    modules |= {f"kpcal_core.{p.parent.name}" for p in core.glob("*/__init__.py")}
    modules -= {"kpcal_core.__init__"}
    assert set(app["forbidden_modules"]) == modules - APP_WAY_IN


def test_every_engine_module_is_short_and_says_what_it_owns():
    """Issue 22: no module of kpcal_core above 700 lines, each with a docstring saying what it owns."""
    modules = sorted((REPO / "kpcal_core").rglob("*.py"))
    assert len(modules) > 60
    for path in modules:
        text = path.read_text(encoding="utf-8")
        name = str(path.relative_to(REPO))
        assert len(text.splitlines()) <= 700, name
        docstring = ast.get_docstring(ast.parse(text)) or ""
        assert len(docstring.split()) >= 5, name
