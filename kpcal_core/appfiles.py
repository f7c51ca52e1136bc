"""Where the Streamlit app's files are, and the command that serves them (``kpcal app``).

Owns finding ``app.py`` (with ``pages/`` and ``.streamlit/config.toml`` beside it) in
both layouts kpcal runs from, and building the ``streamlit run`` command line:

- installed from a wheel: ``kpcal_app/entry/app.py`` (``pyproject.toml`` ships the
  repository's top-level ``app.py``, ``pages/`` and ``.streamlit/config.toml`` as the
  package ``kpcal_app.entry``);
- a checkout, or an editable install of one: the ``app.py`` beside ``kpcal_app/``.

:func:`app_script` is the one place that decides; ``kpcal app`` (:func:`app_arguments`),
:func:`kpcal_core.calibration.noise_calibration` and the pages' guard
(``kpcal_app.bootstrap``) all use it. Nothing here imports Streamlit: the app runs in
a ``python -m streamlit run`` process.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

from .errors import KpcalError

#: The folder, inside the installed package ``kpcal_app``, that holds the app's files.
ENTRY_PACKAGE_FOLDER = "entry"
APP_FILE = "app.py"
PAGES_FOLDER = "pages"
CONFIG_FILE = Path(".streamlit") / "config.toml"


def _app_package_folder() -> Path:
    """The folder of the package ``kpcal_app`` (found without importing it)."""
    spec = importlib.util.find_spec("kpcal_app")
    if spec is None or not spec.origin:
        raise KpcalError("kpcal's app package (kpcal_app) is not installed: reinstall kpcal")
    return Path(spec.origin).resolve().parent


def app_script() -> Path:
    """The app's ``app.py``: the installed one, else the checkout's.

    Returns
    -------
    Path
        Absolute path of ``app.py``; a ``pages/`` folder lies beside it.

    Raises
    ------
    KpcalError
        Neither layout holds ``app.py`` with its ``pages/`` folder.
    """
    package = _app_package_folder()
    candidates = (package / ENTRY_PACKAGE_FOLDER, package.parent)
    for folder in candidates:
        script = folder / APP_FILE
        if script.is_file() and (folder / PAGES_FOLDER).is_dir():
            return script
    looked = " and ".join(str(folder / APP_FILE) for folder in candidates)
    raise KpcalError(
        f"kpcal's app files are missing (looked for {looked}, each with a pages folder beside "
        "it): reinstall kpcal"
    )


def _flag_value(value: object) -> str:
    """A config value as Streamlit's command line spells it (``true``, ``200``, ``light``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _flatten(table: dict, prefix: str = "") -> dict[str, object]:
    """``{"server": {"port": 1}}`` as ``{"server.port": 1}``."""
    flat: dict[str, object] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def app_config(script: Path) -> dict[str, object]:
    """The app's Streamlit settings: the ``.streamlit/config.toml`` beside ``script``.

    Parameters
    ----------
    script
        The app's ``app.py`` (:func:`app_script`).

    Returns
    -------
    dict[str, object]
        ``{"section.option": value}``; empty when the file is absent.

    Raises
    ------
    KpcalError
        The file exists but is not valid TOML.
    """
    path = script.parent / CONFIG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise KpcalError(f"cannot read the app's Streamlit settings {path}: {error}") from None
    try:
        return _flatten(tomllib.loads(text))
    except tomllib.TOMLDecodeError as error:
        raise KpcalError(
            f"the app's Streamlit settings {path} are not valid TOML: {error}"
        ) from None


def _options_given(options: Sequence[str]) -> set[str]:
    """The option names in Streamlit options as typed (``--server.port 1``, ``--server.port=1``)."""
    return {token[2:].split("=", 1)[0] for token in options if token.startswith("--")}


def app_arguments(
    project: str | os.PathLike | None = None, streamlit_options: Sequence[str] = ()
) -> list[str]:
    """The command line that serves the app: ``python -m streamlit run APP ...``.

    The app's settings (:func:`app_config`) are passed as Streamlit options, so they
    hold from any working folder; ``streamlit_options`` come after them and replace
    any the app sets.

    Parameters
    ----------
    project
        The project folder to open (``-- --project DIR``; made absolute here), or
        ``None`` for the app's default (``KPCAL_PROJECT``, else the demo project).
    streamlit_options
        Options for ``streamlit run`` (e.g. ``["--server.port", "8502"]``).

    Returns
    -------
    list[str]
        The program (this Python) and its arguments.

    Raises
    ------
    KpcalError
        Streamlit is not installed, the app's files are missing, or ``project`` is not
        a path.
    """
    if importlib.util.find_spec("streamlit") is None:
        raise KpcalError(
            f"Streamlit is not installed for {sys.executable}: install kpcal with its "
            "dependencies (python -m pip install kpcal)"
        )
    script = app_script()
    given = _options_given(streamlit_options)
    settings = [
        f"--{name}={_flag_value(value)}"
        for name, value in app_config(script).items()
        if name not in given
    ]
    arguments = [sys.executable, "-m", "streamlit", "run", str(script), *settings]
    arguments += list(streamlit_options)
    if project is not None:
        try:
            folder = Path(project).expanduser().resolve()
        except (OSError, RuntimeError, ValueError) as error:
            raise KpcalError(
                f"the project folder {str(project)!r} is not a path: {error}"
            ) from None
        if folder.exists() and not folder.is_dir():
            raise KpcalError(f"the project folder {folder} is a file, not a folder")
        arguments += ["--", "--project", str(folder)]
    return arguments


def app_command(project: str | os.PathLike | None = None) -> str:
    """The shell command (``python -m kpcal_core app PROJECT``) that opens the app.

    It runs ``kpcal app`` with this Python, so it works with or without the ``kpcal``
    script on the ``PATH``.
    """
    words = [sys.executable, "-m", "kpcal_core", "app"]
    if project is not None:
        words.append(str(Path(project).expanduser().resolve()))
    return shlex.join(words)


def serve(arguments: Sequence[str]) -> int:
    """Run the command of :func:`app_arguments` in place of this process.

    On POSIX this process becomes the Streamlit server (``os.execv``: same process
    id, signals reach it directly) and the call does not return; elsewhere the
    server runs as a child and its exit code is returned.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.execv(arguments[0], list(arguments))
    return subprocess.call(list(arguments))
