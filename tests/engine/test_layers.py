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


#: At most this many words of our own in a string built from values in the app: more is a
#: sentence, and a sentence built from values lives in kpcal_core.sentences (one place for the
#: pages and the command line). A word is a run of non-blanks with a letter ("Zoom:", "open-").
MAX_WORDS_BESIDE_A_VALUE = 1

#: Strings built from values in the app that may hold more words, each with its reason:
#: ``(file, how the words start)``.
SENTENCE_EXEMPTIONS = {
    # For whoever installs the app, raised when the module is imported (never on a page).
    ("kpcal_app/click.py", " is not installed"),
    # The page's own Markdown (the bold names a form of this page) after the anatomy note,
    # a sentence of kpcal_core.sentences; no value inside these words.
    ("pages/setup.py", " Choose them under **Front and back bodyparts**"),
}


def _words(text: str) -> int:
    return sum(any(c.isalpha() for c in token) for token in text.split())


def _string_parts(node: ast.expr) -> list[ast.expr]:
    """The operands of a chain of ``+`` (``a + b + c``), else ``[node]``."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _string_parts(node.left) + _string_parts(node.right)
    return [node]


def _is_text(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _calls_sentences(node: ast.expr) -> bool:
    """``node`` is a call of a kpcal_core.sentences function (a whole sentence)."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "sentences"
    )


def _sentences_built_from_values(source: str) -> list[tuple[int, str]]:
    """``(line, words)`` of each string ``source`` builds from values with too many words.

    Caught: f-strings with a value, ``"..." % x``, ``"...".format(x)`` and ``+`` chains
    joining our words to a value (not to a whole sentence from ``sentences.<name>(...)``).
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        pieces: list[str] = []
        if isinstance(node, ast.JoinedStr) and any(
            isinstance(v, ast.FormattedValue) for v in node.values
        ):
            pieces = [v.value for v in node.values if _is_text(v)]
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and _is_text(node.left):
            pieces = [node.left.value]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and _is_text(node.func.value)
        ):
            pieces = [node.func.value.value]
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            parts = _string_parts(node)
            values = [p for p in parts if not _is_text(p) and not isinstance(p, ast.JoinedStr)]
            if values and not all(_calls_sentences(p) for p in values):
                pieces = [p.value for p in parts if _is_text(p)]
        words = "…".join(pieces)  # the words of one string, wherever its values go
        if _words(words) > MAX_WORDS_BESIDE_A_VALUE:
            found.append((node.lineno, words))
    return sorted(set(found))


def test_the_app_builds_no_sentence_from_values():
    """Follow-up of issue 22: a sentence built from values (numbers, names, errors) is a
    function of kpcal_core.sentences; the app only escapes the names it passes and draws."""
    scripts = [REPO / "app.py", *sorted((REPO / "pages").glob("*.py"))]
    scripts += sorted((REPO / "kpcal_app").rglob("*.py"))
    built, exempted = {}, set()
    for path in scripts:
        name = str(path.relative_to(REPO))
        for line, words in _sentences_built_from_values(path.read_text(encoding="utf-8")):
            exemption = next(
                (e for e in SENTENCE_EXEMPTIONS if e[0] == name and words.startswith(e[1])), None
            )
            if exemption is None:
                built.setdefault(name, []).append((line, words))
            exempted.add(exemption)
    assert not built, f"move these sentences into kpcal_core/sentences/: {built}"
    assert exempted >= SENTENCE_EXEMPTIONS, "an exemption no longer needed: drop it"


def test_the_sentence_check_finds_sentences_built_from_values():
    source = (
        'a = f"Zoom: {z}"\n'
        'b = f"open-{key}"\n'
        'c = f"No fit yet: {error}"\n'
        'd = "Kept the broken config as " + literal(name)\n'
        'e = "**Demo project**: " + sentences.demo_note(1, 2)\n'
        'f = "Saved %s to the project" % path\n'
        'g = "Saved {} here".format(path)\n'
        'h = "Annotator: " + code(name)\n'
        'i = f"Sample {i} of {n} · recording {r}"\n'
    )
    assert _sentences_built_from_values(source) == [
        (3, "No fit yet: "),
        (4, "Kept the broken config as "),
        (6, "Saved %s to the project"),
        (7, "Saved {} here"),
        (9, "Sample … of … · recording "),
    ]
