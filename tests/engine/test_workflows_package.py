"""The workflows and sentences packages (issue 22): short modules that say what they own,
every step re-exported from kpcal_core.workflows, typed results rather than bare dicts,
and the words in kpcal_core.sentences."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

from kpcal_core import sentences, workflows

PACKAGE = Path(workflows.__file__).parent

#: Workflows that still return a plain dict, and why.
DICT_RESULTS = {
    "set_anatomy": "the project's config as written (a YAML mapping)",
    "least_squares_line": "a fit's line, typed with the fit results (helper stats)",
    "fit_diagnostics": "typed with the fit results (helper stats)",
}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.glob("*.py") if p.name != "__init__.py")


def test_every_public_name_of_the_modules_is_re_exported():
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                assert getattr(workflows, node.name, None) is not None, (path.name, node.name)
                assert node.name in workflows.__all__, (path.name, node.name)


def test_the_workflows_return_typed_results_not_bare_dicts():
    bare = []
    for name in workflows.__all__:
        function = getattr(workflows, name)
        if not inspect.isfunction(function) or not function.__module__.startswith(PACKAGE.name):
            continue
        returns = inspect.signature(function).return_annotation
        if str(returns).startswith(("dict", "list[dict")) and name not in DICT_RESULTS:
            bare.append((name, returns))
    assert not bare, bare
    for result in (
        workflows.SampleDraw,
        workflows.SamplingHistogram,
        workflows.SavedLine,
        workflows.Exported,
        workflows.ResidualRow,
        workflows.OtherAnnotators,
    ):
        assert dataclasses.is_dataclass(result), result
    for frozen in (
        workflows.SamplingHistogram,
        workflows.SavedLine,
        workflows.Exported,
        workflows.ResidualRow,
        workflows.OtherAnnotators,
    ):
        assert frozen.__dataclass_params__.frozen, frozen  # type: ignore[attr-defined]


def test_no_sentence_is_built_in_the_workflows_and_the_sentences_again():
    """Each public sentence function lives in kpcal_core.sentences only."""
    said = {n for n in sentences.__all__ if n not in ("count", "verb", "COMBINE_RULE")}
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert not defined & said, (path.name, defined & said)
