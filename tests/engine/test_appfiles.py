"""``kpcal app`` and the packaging that lets it run from an installed wheel (issue 22, item 5).

The wheel itself is built, installed in a fresh venv and served over HTTP by
``tests/browser/test_installed_package.py``; these are the fast checks of the same
pieces: which packages ``pyproject.toml`` ships, where :mod:`kpcal_core.appfiles`
finds the app, the ``streamlit run`` command it builds, and the command line.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from kpcal_core import appfiles, cli
from kpcal_core.errors import KpcalError

REPO = Path(__file__).resolve().parents[2]


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_package_of_the_checkout_is_in_the_wheel():
    """``packages = ["kpcal_core", "kpcal_app"]`` left ``kpcal_core.formats`` out of the wheel,
    so an installed ``kpcal --help`` failed with ModuleNotFoundError."""
    shipped = set(pyproject()["tool"]["setuptools"]["packages"])
    # Every folder holding Python code (what setuptools' discovery would find, namespace
    # packages included), without needing setuptools in the test environment.
    found = {
        ".".join(path.parent.relative_to(REPO).parts)
        for package in ("kpcal_core", "kpcal_app")
        for path in (REPO / package).rglob("*.py")
    }
    missing = sorted(found - shipped)
    assert not missing, f"add {missing} to [tool.setuptools] packages in pyproject.toml"


def test_the_wheel_ships_app_py_pages_and_the_streamlit_settings_beside_each_other():
    setuptools = pyproject()["tool"]["setuptools"]
    folders = setuptools["package-dir"]
    entry = REPO / folders["kpcal_app.entry"]
    assert (entry / appfiles.APP_FILE).is_file()
    assert (REPO / folders["kpcal_app.entry.pages"]) == entry / appfiles.PAGES_FOLDER
    assert {"kpcal_app.entry", "kpcal_app.entry.pages"} <= set(setuptools["packages"])
    assert setuptools["package-data"]["kpcal_app.entry"] == [str(appfiles.CONFIG_FILE)]
    # The root folder is a package of the wheel: its only module is app.py (anything else
    # beside it would be shipped too).
    assert sorted(p.name for p in entry.glob("*.py")) == [appfiles.APP_FILE]
    pages = sorted(p.name for p in (entry / appfiles.PAGES_FOLDER).glob("*.py"))
    app_text = (entry / appfiles.APP_FILE).read_text(encoding="utf-8")
    assert all(f'"pages/{name}"' in app_text for name in pages), pages


def test_in_a_checkout_the_app_is_the_top_level_app_py():
    assert appfiles.app_script() == REPO / "app.py"


def test_the_installed_layout_is_found_first(tmp_path, monkeypatch):
    """A wheel puts app.py in ``kpcal_app/entry/``: found there, not beside the package."""
    package = tmp_path / "site" / "kpcal_app"
    (package / "entry" / "pages").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "entry" / "app.py").write_text("")
    monkeypatch.setattr(appfiles, "_app_package_folder", lambda: package)
    assert appfiles.app_script() == package / "entry" / "app.py"
    (package / "entry" / "app.py").unlink()
    with pytest.raises(KpcalError, match="app files are missing.*reinstall kpcal"):
        appfiles.app_script()


def test_the_command_applies_the_apps_settings_and_the_users_options_win():
    arguments = appfiles.app_arguments(None, ["--server.port", "8599", "--theme.base=dark"])
    assert arguments[:5] == [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py")]
    assert "--client.showErrorDetails=none" in arguments  # from .streamlit/config.toml
    assert "--server.enableXsrfProtection=true" in arguments
    assert "--theme.base=light" not in arguments  # given by the user: theirs only
    assert arguments[-3:] == ["--server.port", "8599", "--theme.base=dark"]
    assert "--" not in arguments


def test_every_setting_of_the_apps_config_is_passed():
    settings = appfiles.app_config(REPO / "app.py")
    assert settings["server.fileWatcherType"] == "none"
    arguments = appfiles.app_arguments()
    for name, value in settings.items():
        assert f"--{name}={str(value).lower() if isinstance(value, bool) else value}" in arguments


def test_the_project_is_passed_after_double_dash_as_an_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    arguments = appfiles.app_arguments("some project")
    assert arguments[-3:] == ["--", "--project", str(tmp_path / "some project")]


def test_a_file_given_as_the_project_is_refused_naming_it(tmp_path):
    file = tmp_path / "config.yml"
    file.write_text("x: 1\n")
    with pytest.raises(KpcalError, match=f"{file} is a file, not a folder"):
        appfiles.app_arguments(file)


def test_a_broken_streamlit_config_is_named(tmp_path):
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "config.toml").write_text("[server\n")
    with pytest.raises(KpcalError, match="config.toml are not valid TOML"):
        appfiles.app_config(tmp_path / "app.py")
    assert appfiles.app_config(tmp_path / "elsewhere" / "app.py") == {}


@pytest.fixture
def served(monkeypatch) -> list:
    """What ``kpcal app`` would run (not run: :func:`kpcal_core.appfiles.serve` replaced)."""
    calls: list = []
    monkeypatch.setattr(appfiles, "serve", lambda arguments: calls.append(arguments) or 0)
    return calls


def test_cli_app_passes_the_project_and_streamlit_options(served, tmp_path, capsys):
    project = tmp_path / "project"
    assert cli.main(["app", str(project), "--", "--server.port", "8598"]) == 0
    (arguments,) = served
    assert arguments[4] == str(REPO / "app.py")
    assert arguments[-5:] == ["--server.port", "8598", "--", "--project", str(project)]


def test_cli_app_without_a_project_and_with_options_only(served):
    assert cli.main(["app", "--", "--server.headless", "true"]) == 0
    assert served[0][-2:] == ["--server.headless", "true"]


def test_cli_app_refuses_a_file_with_exit_3_and_runs_nothing(served, tmp_path, capsys):
    file = tmp_path / "notes.txt"
    file.write_text("")
    assert cli.main(["app", str(file)]) == cli.EXIT_BAD_INPUT
    assert "is a file, not a folder" in capsys.readouterr().err
    assert served == []


def test_streamlit_options_without_double_dash_are_a_usage_error(served, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["app", "--server.port", "1"])
    assert exit_.value.code == 2
    assert "usage: kpcal app [-h] [PROJECT] [-- STREAMLIT_OPTION ...]" in capsys.readouterr().err


def test_the_command_line_does_not_import_streamlit():
    """``kpcal --help`` and every command but the server stay light: no Streamlit import."""
    code = (
        "import sys, kpcal_core.cli, kpcal_core.appfiles, kpcal_core.calibration; "
        "sys.exit('streamlit' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


def test_the_command_for_a_notebook_quotes_a_hostile_folder_name(tmp_path):
    project = tmp_path / "it's; rm -rf ~ $(id) `x`"
    words = shlex.split(appfiles.app_command(project))
    assert words == [sys.executable, "-m", "kpcal_core", "app", str(project)]
