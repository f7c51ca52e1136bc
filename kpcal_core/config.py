"""The project's ``config.yml``, in keypoint-MoSeq's layout.

:func:`setup_project` writes a new config with keypoint-MoSeq's keys, order,
section banners and comments, so keypoint-MoSeq loads it unchanged.
:func:`update_config` and :func:`save_params` change values in place with a
round-trip YAML editor (ruamel.yaml): every other key, its order and every
comment stay as they were. Every write is atomic; a missing or malformed
config raises :class:`KpcalError` and nothing is written. On a shared server
(``KPCAL_DATA_ROOT``) a ``config.yml`` that a link leads out of the root is
neither read nor written, and a syntax error in a ``config.yml`` that is a
link to another file names the line without quoting it.

As in keypoint-MoSeq, a key that lives inside a group (``slope`` and
``intercept`` in ``error_estimator``, ``kappa`` in ``trans_hypparams``...) is
updated by its bare name.
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError as RuamelYAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from .atomic import atomic_write
from .errors import KpcalError
from .paths import check_no_link_out, data_root
from .textio import read_user_text

CONFIG_FILENAME = "config.yml"

# (section, [(key, default, comment or None)]) in keypoint-MoSeq's order.
_PLACEHOLDER = ["BODYPART1", "BODYPART2", "BODYPART3"]
TEMPLATE: list[tuple[str, list[tuple[str, Any, str | None]]]] = [
    (
        "ANATOMY",
        [
            ("bodyparts", _PLACEHOLDER, "used to access columns in the keypoint data"),
            (
                "use_bodyparts",
                _PLACEHOLDER,
                "determines the subset of bodyparts to use for modeling and the order in which they are represented",
            ),
            (
                "skeleton",
                [["BODYPART1", "BODYPART2"], ["BODYPART2", "BODYPART3"]],
                "used for visualization only",
            ),
            ("anterior_bodyparts", ["BODYPART1"], "used to initialize heading"),
            ("posterior_bodyparts", ["BODYPART3"], "used to initialize heading"),
        ],
    ),
    (
        "FITTING",
        [
            (
                "added_noise_level",
                0.1,
                "upper bound of uniform noise added to the data during initial AR-HMM fitting; "
                "this is used to regularize the model",
            ),
            (
                "PCA_fitting_num_frames",
                1000000,
                "number of frames used to fit the PCA model during initialization",
            ),
            (
                "conf_threshold",
                0.5,
                "used to define outliers for interpolation when the model is initialized",
            ),
        ],
    ),
    (
        "HYPER PARAMS",
        [
            (
                "error_estimator",
                {"slope": -0.5, "intercept": 0.25},
                "parameters to convert neural net likelihoods to error size priors",
            ),
            (
                "obs_hypparams",
                {"sigmasq_0": 0.1, "sigmasq_C": 0.1, "nu_sigma": 1e5, "nu_s": 5},
                "keypoint observation hyperparameters",
            ),
            (
                "ar_hypparams",
                {"latent_dim": 10, "nlags": 3, "S_0_scale": 0.01, "K_0_scale": 10.0},
                "autoregressive hyperparameters",
            ),
            (
                "trans_hypparams",
                {"num_states": 100, "gamma": 1e3, "alpha": 5.7, "kappa": 1e6},
                "transition hyperparameters",
            ),
            ("cen_hypparams", {"sigmasq_loc": 0.5}, "centroid movement hyperparameters"),
        ],
    ),
    (
        "OTHER",
        [
            (
                "recording_name_suffix",
                "",
                "suffix used to match videos to recording names; this can usually be left empty "
                "(see `util.find_matching_videos` for details)",
            ),
            ("verbose", False, "whether to print progress messages during fitting"),
            ("conf_pseudocount", 1e-3, "pseudocount used regularize neural network confidences"),
            (
                "video_dir",
                "",
                "directory with videos from which keypoints were derived (used for crowd movies)",
            ),
            (
                "keypoint_colormap",
                "autumn",
                "colormap used for visualization; see `matplotlib.cm.get_cmap` for options",
            ),
            (
                "whiten",
                True,
                "whether to whiten principal components; used to initialize the latent pose trajectory `x`",
            ),
            (
                "fix_heading",
                False,
                "whether to keep the heading angle fixed; this should only be True if the pose is constrained "
                "to a narrow range of angles, e.g. a headfixed mouse.",
            ),
            ("fps", 30, "frames per second of the video recordings"),
            ("outlier_scale_factor", 6.0, None),
        ],
    ),
]
GROUPS = [
    key for _, entries in TEMPLATE for key, default, _ in entries if isinstance(default, dict)
]


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available


def _safe_load(text: str) -> Any:
    """``yaml.safe_load`` (keypoint-MoSeq's reader), through libyaml when PyYAML has it."""
    return yaml.load(text, Loader=_SAFE_LOADER)


def config_path(project_dir: str | os.PathLike) -> Path:
    return Path(project_dir) / CONFIG_FILENAME


def _yaml_block(key: str, value: Any) -> str:
    return yaml.safe_dump({key: value}, default_flow_style=False, allow_unicode=True).rstrip("\n")


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
            block = _yaml_block(key, value)
            parts.append(f"\n# {comment}\n{block}" if comment else block)
    known = {k for _, entries in TEMPLATE for k, _, _ in entries}
    nested = {k for _, entries in TEMPLATE for _, d, _ in entries if isinstance(d, dict) for k in d}
    extra = {k: v for k, v in values.items() if k not in known and k not in nested}
    if extra:
        parts.append("\n\n#" + " KPCAL ".center(50, "=") + "#")
        parts.extend(_yaml_block(k, v) for k, v in extra.items())
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
    """Whether a message may quote lines of ``path``: not, on a shared server, when
    ``config.yml`` is a link to another file (a link out of the data root is not read at all)."""
    return data_root() is None or not os.path.islink(path)


def _read_text(path: Path) -> str:
    """The config's text (a link leading out of the data root is refused, see
    :func:`kpcal_core.textio.read_user_text`)."""
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
    text = _read_text(path)
    try:
        config = _safe_load(text)
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
    _check_anatomy(_check_config(_safe_load(text), path), path)
    Path(project_dir).mkdir(parents=True, exist_ok=True)
    return atomic_write(path, text)


# --------------------------------------------------------------------------- round-trip edits


def _round_trip_yaml() -> YAML:
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096

    def represent_float(representer, value: float):
        return representer.represent_scalar("tag:yaml.org,2002:float", _float_text(value))

    rt.representer.add_representer(float, represent_float)
    return rt


_PYYAML_RESOLVER = yaml.resolver.Resolver()


def _plain(value: Any) -> Any:
    """numpy scalars, numpy arrays and tuples to plain YAML-able Python values.

    A string that PyYAML (YAML 1.1, keypoint-MoSeq's reader) would read as
    another type (``yes``, ``no``, ``on``, ``off``...) is marked to be written
    quoted: ruamel.yaml follows YAML 1.2 and would write it bare. One holding
    a YAML 1.1 line break (NEL, U+2028, U+2029) is double-quoted, where they
    are escaped (PyYAML folds a raw one into a space).
    """
    if isinstance(value, str):
        if any(c in value for c in "\x85\u2028\u2029"):  # line breaks to PyYAML: escape them
            return DoubleQuotedScalarString(value)
        tag = _PYYAML_RESOLVER.resolve(yaml.nodes.ScalarNode, value, (True, False))
        return SingleQuotedScalarString(value) if tag != "tag:yaml.org,2002:str" else value
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) > 0:  # numpy array
        return _plain(value.tolist())
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        try:
            return value.item()
        except (ValueError, TypeError):
            pass
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


def update_config(project_dir: str | os.PathLike, **kwargs: Any) -> dict:
    """Set config values in place, keeping every other key, the order and the comments.

    A name that is a key inside a group (``slope`` in ``error_estimator``...)
    updates that group entry; a new name is added at the end.

    Returns
    -------
    dict
        The config as it is now on disk.
    """
    path = config_path(project_dir)
    text = _read_text(path)
    try:
        _safe_load(text)  # the reader keypoint-MoSeq uses must accept it too
        rt = _round_trip_yaml()
        document = rt.load(text)
    except (yaml.YAMLError, RuamelYAMLError, RecursionError) as error:
        raise KpcalError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    except ValueError as error:  # ruamel.yaml 0.19's float resolver on keys like "._"
        raise KpcalError(
            f"{path}: cannot be edited keeping its comments (ruamel.yaml: {error}); "
            "fix the odd key by hand"
        ) from None
    if not isinstance(document, dict):
        raise KpcalError(f"{path}: expected a YAML mapping of settings")
    for key, value in kwargs.items():
        value = _plain(value)
        if key in document:
            document[key] = value
            continue
        group = next(
            (g for g in GROUPS if isinstance(document.get(g), dict) and key in document[g]), None
        )
        if group is None and key in ("slope", "intercept"):
            if not isinstance(document.get("error_estimator"), dict):
                document["error_estimator"] = {}
            group = "error_estimator"
        if group is not None:
            document[group][key] = value
        else:
            document[key] = value
    buffer = io.StringIO()
    try:
        rt.dump(document, buffer)
        new_text = buffer.getvalue()
        # ruamel drops blank lines before the first comment (keypoint-MoSeq's file starts with two)
        lead = text[: len(text) - len(text.lstrip("\n"))]
        new_text = lead + new_text.lstrip("\n")
        # ruamel can emit text PyYAML cannot read (e.g. some nested empty keys): check it here
        checked = _safe_load(new_text)
    except (RuamelYAMLError, yaml.YAMLError, RecursionError, ValueError) as error:
        raise KpcalError(
            f"{path}: a value cannot be written to YAML ({str(error).splitlines()[0]})"
        ) from None
    _check_config(checked, path)
    atomic_write(path, new_text)
    return checked


def save_params(project_dir: str | os.PathLike, estimator: Mapping[str, float] | Any) -> dict:
    """Save the calibration: ``error_estimator.slope``, ``.intercept`` and ``conf_threshold``.

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
        raw = (
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
    fast = _save_params_in_place(config_path(project_dir), values)
    return fast if fast is not None else update_config(project_dir, **values)


def _float_text(value: float) -> str:
    """A float as YAML 1.1 (PyYAML, keypoint-MoSeq's reader) reads back exactly.

    PyYAML needs a dot in the mantissa (``1.0e-05``, not ``1e-05``) and the
    YAML spellings of infinity and NaN.
    """
    text = repr(float(value))
    if "e" in text and "." not in text.split("e")[0]:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent}"
    return {"inf": ".inf", "-inf": "-.inf", "nan": ".nan"}.get(text, text)


_SCALAR = r"([ \t]*)([^\s#][^#\n]*?)([ \t]+#[^\n]*)?[ \t]*$"


def _replace_scalar(text: str, pattern: str, value: float, start: int = 0, end: int | None = None):
    matches = list(
        re.compile(pattern + _SCALAR, re.M).finditer(text, start, len(text) if end is None else end)
    )
    if len(matches) != 1:
        return None
    match = matches[0]
    return text[: match.start(3)] + _float_text(value) + text[match.end(3) :]


def _save_params_in_place(path: Path, values: dict[str, float]) -> dict | None:
    """The fast path of :func:`save_params`: rewrite just the three numbers' text.

    Used only when the file has the plain layout keypoint-MoSeq writes (one
    ``conf_threshold:`` line, an indented ``error_estimator:`` block with one
    ``slope:`` and one ``intercept:`` line) and the result, read back, equals
    the old config with exactly those three values changed; otherwise ``None``
    and the round-trip editor does the work. Every other byte stays as it was.
    """
    text = _read_text(path)
    try:
        before = _safe_load(text)
    except (yaml.YAMLError, RecursionError):
        return None
    if not isinstance(before, dict) or not isinstance(before.get("error_estimator"), dict):
        return None
    new = _replace_scalar(text, r"^(conf_threshold:)", values["conf_threshold"])
    for key in ("slope", "intercept"):
        if new is None:
            return None
        block = re.search(
            r"^error_estimator:[ \t]*(#[^\n]*)?\n((?:[ \t]+\S[^\n]*\n?|[ \t]*\n)*)", new, re.M
        )
        if block is None:
            return None
        new = _replace_scalar(new, rf"^([ \t]+{key}:)", values[key], block.start(2), block.end(2))
    if new is None:
        return None
    try:
        after = _safe_load(new)
    except (yaml.YAMLError, RecursionError):
        return None
    expected = {**before, "conf_threshold": values["conf_threshold"]}
    expected["error_estimator"] = {
        **before["error_estimator"],
        "slope": values["slope"],
        "intercept": values["intercept"],
    }
    if after != expected:
        return None
    _check_config(after, path)
    atomic_write(path, new)
    return after
