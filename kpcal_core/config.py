"""The project's ``config.yml``, in keypoint-MoSeq's layout.

:func:`setup_project` writes a new config with keypoint-MoSeq's keys, order,
section banners and comments, so keypoint-MoSeq loads it unchanged.
:func:`update_config` and :func:`save_params` change values in place: only
the text of each value changed is rewritten (located with PyYAML's node
marks, checked by reading the result back), so every other byte of the
file, every key, its order and every comment, stays as it was. A layout that
way cannot edit (an anchor, a comment between a key and its value, a new
nested key in a group written in flow style...) goes through a round-trip
YAML editor (ruamel.yaml), which keeps the keys and their order and most
comments. Every write is atomic; a missing or malformed config raises
:class:`KpcalError` and nothing is written. On a shared server
(``KPCAL_DATA_ROOT``) a ``config.yml`` that a link leads out of the root is
neither read nor written, and a syntax error in a ``config.yml`` that is a
link to another file names the line without quoting it.

As in keypoint-MoSeq, a key that lives inside a group (``slope`` and
``intercept`` in ``error_estimator``, ``kappa`` in ``trans_hypparams``...) is
updated by its bare name.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .atomic import atomic_write
from .config_template import TEMPLATE
from .config_text import edit_in_place, edit_round_trip, plain_python, safe_load, yaml_block
from .errors import KpcalError
from .paths import check_no_link_out, data_root
from .textio import read_user_text, read_when_changed

CONFIG_FILENAME = "config.yml"


def config_path(project_dir: str | os.PathLike) -> Path:
    """``config.yml`` of a project."""
    return Path(project_dir) / CONFIG_FILENAME


def render_config(values: Mapping[str, Any]) -> str:
    """Config text in keypoint-MoSeq's layout, with ``values`` over the defaults."""
    values = dict(values)
    parts = []
    for section, entries in TEMPLATE:
        parts.append("\n\n#" + f" {section} ".center(50, "=") + "#")
        for key, default, comment in entries:
            if isinstance(default, dict):
                value = {**default, **(values.get(key) or {})}
                value = {k: values.get(k, v) for k, v in value.items()}
            else:
                value = values.get(key, default)
            block = yaml_block(key, value)
            parts.append(f"\n# {comment}\n{block}" if comment else block)
    known = {k for _, entries in TEMPLATE for k, _, _ in entries}
    nested = {k for _, entries in TEMPLATE for _, d, _ in entries if isinstance(d, dict) for k in d}
    extra = {k: v for k, v in values.items() if k not in known and k not in nested}
    if extra:
        parts.append("\n\n#" + " KPCAL ".center(50, "=") + "#")
        parts.extend(yaml_block(k, v) for k, v in extra.items())
    return "\n".join(parts) + "\n"


def _check_config(config: Any, path: Path) -> dict:
    if not isinstance(config, dict):
        raise KpcalError(
            f"{path}: expected a YAML mapping of settings, got {type(config).__name__}"
        )
    for key in ("bodyparts", "use_bodyparts"):
        if key not in config:
            raise KpcalError(f"{path}: required key {key!r} is missing")
        value = config[key]
        if not isinstance(value, list) or not all(isinstance(b, str) for b in value):
            raise KpcalError(f"{path}: {key!r} must be a list of names, got {value!r}")
    bodyparts = config["bodyparts"]
    for b in config["use_bodyparts"]:
        if b not in bodyparts:
            raise KpcalError(
                f"{path}: use_bodyparts entry {b!r} is not one of the bodyparts {bodyparts}"
            )
    skeleton = config.get("skeleton") or []
    if not isinstance(skeleton, list) or not all(
        isinstance(e, list) and len(e) == 2 for e in skeleton
    ):
        raise KpcalError(f"{path}: skeleton must be a list of [bodypart, bodypart] pairs")
    # Skeleton names and anterior/posterior_bodyparts matter for modelling, not for
    # calibration: keypoint-MoSeq only warns about them, so they are not refused here
    # (a project set up from DeepLabCut keeps placeholder names until its user edits them).
    estimator = config.get("error_estimator", {})
    if not isinstance(estimator, dict) or not all(
        isinstance(estimator.get(k), (int, float)) for k in ("slope", "intercept")
    ):
        raise KpcalError(f"{path}: error_estimator must hold numbers 'slope' and 'intercept'")
    for key in ("conf_threshold", "conf_pseudocount"):
        if key in config and not isinstance(config[key], (int, float)):
            raise KpcalError(f"{path}: {key} must be a number, got {config[key]!r}")
    return config


def _check_anatomy(config: dict, path: Path) -> None:
    """Stricter checks for a config this package writes: skeleton and heading bodyparts."""
    bodyparts = config["bodyparts"]
    for edge in config.get("skeleton") or []:
        for b in edge:
            if b not in bodyparts:
                raise KpcalError(f"{path}: skeleton names {b!r}, which is not one of the bodyparts")
    for key in ("anterior_bodyparts", "posterior_bodyparts"):
        for b in config.get(key) or []:
            if b not in config["use_bodyparts"]:
                raise KpcalError(f"{path}: {key} entry {b!r} is not in use_bodyparts")


def _yaml_problem(error: yaml.YAMLError, text: str, *, quote: bool = True) -> str:
    """Where and what a YAML error is: line, column, the problem and (``quote``) the line."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    context = getattr(error, "context", None)
    what = f"{problem}" + (f" ({context})" if context else "")
    if mark is None:
        return what
    where = f"line {mark.line + 1}, column {mark.column + 1}: {what}"
    if not quote:
        return where
    lines = text.splitlines()
    shown = lines[mark.line] if mark.line < len(lines) else ""
    return f"{where}: {shown.strip()!r}"


def _quotable(path: Path) -> bool:
    """Whether a message may quote lines of ``path``.

    Not on a shared server when ``config.yml`` is a link to another file (a link out of
    the data root is not read at all).
    """
    return data_root() is None or not os.path.islink(path)


def _read_text(path: Path) -> str:
    """The config's text.

    A link leading out of the data root is refused, see
    :func:`kpcal_core.textio.read_user_text`.
    """
    check_no_link_out(path, what="config file")
    if not path.exists():
        raise KpcalError(f"{path}: no config.yml in this project (create one with setup_project)")
    return read_user_text(path)


def load_config(project_dir: str | os.PathLike, check_if_valid: bool = True) -> dict:
    """Read ``{project_dir}/config.yml``.

    Parameters
    ----------
    project_dir
        Project folder.
    check_if_valid
        Check the bodyparts, skeleton and calibration keys (raises :class:`KpcalError`).

    Returns
    -------
    dict
        The settings; ``skeleton`` is ``[]`` when missing or empty.
    """
    path = config_path(project_dir)
    check_no_link_out(path, what="config file")
    return read_when_changed(
        path, f"config, checked={bool(check_if_valid)}", lambda: _parse_config(path, check_if_valid)
    )


def _parse_config(path: Path, check_if_valid: bool) -> dict:
    """Read, parse and check ``config.yml`` (see :func:`load_config`)."""
    text = _read_text(path)
    try:
        config = safe_load(text)
    except RecursionError:
        raise KpcalError(f"{path}: not valid YAML (nested too deeply)") from None
    except yaml.YAMLError as error:
        problem = _yaml_problem(error, text, quote=_quotable(path))
        raise KpcalError(f"{path}: not valid YAML, {problem}") from None
    if check_if_valid:
        _check_config(config, path)
    elif not isinstance(config, dict):
        raise KpcalError(f"{path}: expected a YAML mapping of settings")
    if not config.get("skeleton"):
        config["skeleton"] = []
    return config


def setup_project(
    project_dir: str | os.PathLike,
    *,
    bodyparts: Sequence[str],
    use_bodyparts: Sequence[str] | None = None,
    skeleton: Sequence[Sequence[str]] | None = None,
    video_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    **options: Any,
) -> Path:
    """Create a project folder with a ``config.yml`` in keypoint-MoSeq's layout.

    Parameters
    ----------
    project_dir
        Folder to create (its parents too).
    bodyparts
        Every bodypart name, in the keypoint files' column order.
    use_bodyparts
        Bodyparts to model and calibrate; default all.
    skeleton
        Pairs of bodypart names, drawn in the app.
    video_dir
        Folder of the videos.
    overwrite
        Replace an existing ``config.yml`` (otherwise that is an error).
    **options
        Any other config key, nested ones (``slope``, ``kappa``...) by bare name.

    Returns
    -------
    pathlib.Path
        The config file written.
    """
    path = config_path(project_dir)
    if path.exists() and not overwrite:
        raise KpcalError(f"{path} already exists; pass overwrite=True to replace it")
    bodyparts = [str(b) for b in bodyparts]
    if not bodyparts:
        raise KpcalError("bodyparts is empty")
    use = [str(b) for b in (use_bodyparts if use_bodyparts is not None else bodyparts)]
    raw_edges = list(skeleton or [])
    try:
        edges = [list(e) for e in raw_edges if not isinstance(e, (str, bytes))]
    except TypeError:
        edges = []
    if len(edges) != len(raw_edges) or any(len(e) != 2 for e in edges):
        raise KpcalError(f"skeleton must be a list of [bodypart, bodypart] pairs, got {skeleton!r}")
    values: dict[str, Any] = {
        "bodyparts": bodyparts,
        "use_bodyparts": use,
        "skeleton": [[str(a), str(b)] for a, b in edges],
        "anterior_bodyparts": [use[0]] if use else [],
        "posterior_bodyparts": [use[-1]] if use else [],
        "video_dir": str(video_dir) if video_dir is not None else "",
    }
    values.update(options)
    text = render_config(values)
    _check_anatomy(_check_config(safe_load(text), path), path)
    Path(project_dir).mkdir(parents=True, exist_ok=True)
    return atomic_write(path, text)


# --------------------------------------------------------------------------- round-trip edits


def update_config(project_dir: str | os.PathLike, **kwargs: Any) -> dict:
    """Set config values in place, keeping every other key, the order and the comments.

    A name that is a key inside a group (``slope`` in ``error_estimator``...)
    updates that group entry; a new name is added at the end. Only the text
    of the values changed is rewritten (see the module's docstring).

    Returns
    -------
    dict
        The config as it is now on disk.
    """
    path = config_path(project_dir)
    check_no_link_out(path, what="config file")
    text = read_when_changed(path, "text", lambda: _read_text(path))
    try:
        before = safe_load(text)  # the reader keypoint-MoSeq uses must accept it
    except (yaml.YAMLError, RecursionError) as error:
        raise KpcalError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(before, dict):
        raise KpcalError(f"{path}: expected a YAML mapping of settings")
    values = {key: plain_python(value) for key, value in kwargs.items()}
    try:
        new_text = edit_in_place(path, text, before, values)
    except RecursionError:  # the reader took it, but it is nested too deep to compare
        raise KpcalError(f"{path}: not valid YAML (nested too deeply)") from None
    if new_text is None:
        new_text = edit_round_trip(path, text, values)
    try:
        # ruamel can emit text PyYAML cannot read (e.g. some nested empty keys): check it here
        checked = safe_load(new_text)
    except (yaml.YAMLError, RecursionError) as error:
        raise KpcalError(
            f"{path}: a value cannot be written to YAML ({str(error).splitlines()[0]})"
        ) from None
    _check_config(checked, path)
    atomic_write(path, new_text)
    return checked


# ":", then comment and blank lines, then the value on a line of its own


# --------------------------------------------------------------------------- round-trip edits


def save_params(project_dir: str | os.PathLike, estimator: Mapping[str, float] | Any) -> dict:
    """Save the calibration: ``error_estimator.slope``, ``.intercept`` and ``conf_threshold``.

    Only those three numbers' text changes in the file (see :func:`update_config`).

    Parameters
    ----------
    project_dir
        Project folder with a ``config.yml``.
    estimator
        Dict (or object with attributes) holding ``slope``, ``intercept`` and
        ``conf_threshold``.

    Returns
    -------
    dict
        The config as it is now on disk.
    """
    values = {}
    for name in ("slope", "intercept", "conf_threshold"):
        raw: Any = (
            estimator.get(name)
            if isinstance(estimator, Mapping)
            else getattr(estimator, name, None)
        )
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise KpcalError(f"estimator {name} must be a number, got {raw!r}") from None
        if not math.isfinite(number):
            raise KpcalError(f"estimator {name} must be finite, got {number}")
        values[name] = number
    if values["conf_threshold"] < 0:
        raise KpcalError(f"conf_threshold must be >= 0, got {values['conf_threshold']}")
    return update_config(project_dir, **values)
