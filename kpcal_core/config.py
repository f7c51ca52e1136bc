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
from .textio import read_user_text, read_when_changed

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
    check_no_link_out(path, what="config file")
    return read_when_changed(
        path, f"config, checked={bool(check_if_valid)}", lambda: _parse_config(path, check_if_valid)
    )


def _parse_config(path: Path, check_if_valid: bool) -> dict:
    """Read, parse and check ``config.yml`` (see :func:`load_config`)."""
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


def _python(value: Any) -> Any:
    """numpy scalars, numpy arrays and tuples to plain Python values (lists, dicts, numbers)."""
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) > 0:  # numpy array
        return _python(value.tolist())
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        try:
            return value.item()
        except (ValueError, TypeError):
            pass
    if isinstance(value, (tuple, list)):
        return [_python(v) for v in value]
    if isinstance(value, dict):
        return {_python(k): _python(v) for k, v in value.items()}
    return value


def _plain(value: Any) -> Any:
    """:func:`_python`, with strings marked for ruamel.yaml as PyYAML must read them.

    A string that PyYAML (YAML 1.1, keypoint-MoSeq's reader) would read as
    another type (``yes``, ``no``, ``on``, ``off``...) is marked to be written
    quoted: ruamel.yaml follows YAML 1.2 and would write it bare. One holding
    a YAML 1.1 line break (NEL, U+2028, U+2029) is double-quoted, where they
    are escaped (PyYAML folds a raw one into a space).
    """
    value = _python(value)
    if isinstance(value, str):
        if any(c in value for c in "\x85\u2028\u2029"):  # line breaks to PyYAML: escape them
            return DoubleQuotedScalarString(value)
        tag = _PYYAML_RESOLVER.resolve(yaml.nodes.ScalarNode, value, (True, False))
        return SingleQuotedScalarString(value) if tag != "tag:yaml.org,2002:str" else value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


def _updated(config: dict, values: Mapping[str, Any]) -> dict:
    """``config`` with ``values`` set by :func:`update_config`'s rules (a new dict).

    A top-level key is set; else a key inside a group (``kappa`` in
    ``trans_hypparams``); ``slope`` and ``intercept`` go to ``error_estimator``
    (created when missing); any other new key is added at the end.
    """
    new = dict(config)  # only what changes is copied: the rest may be nested deep
    for key, value in values.items():
        group = _group_of(new, key)
        if group is None:
            new[key] = value
        else:
            new[group] = {**new[group]} if isinstance(new.get(group), dict) else {}
            new[group][key] = value
    return new


def _group_of(config: Mapping, key: str) -> str | None:
    """The group whose entry ``key`` names, or ``None`` for a top-level key."""
    if key in config:
        return None
    group = next((g for g in GROUPS if isinstance(config.get(g), dict) and key in config[g]), None)
    if group is None and key in ("slope", "intercept"):
        return "error_estimator"
    return group


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
        before = _safe_load(text)  # the reader keypoint-MoSeq uses must accept it
    except (yaml.YAMLError, RecursionError) as error:
        raise KpcalError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(before, dict):
        raise KpcalError(f"{path}: expected a YAML mapping of settings")
    values = {key: _python(value) for key, value in kwargs.items()}
    try:
        new_text = _edit_in_place(path, text, before, values)
    except RecursionError:  # the reader took it, but it is nested too deep to compare
        raise KpcalError(f"{path}: not valid YAML (nested too deeply)") from None
    if new_text is None:
        new_text = _edit_round_trip(path, text, values)
    try:
        # ruamel can emit text PyYAML cannot read (e.g. some nested empty keys): check it here
        checked = _safe_load(new_text)
    except (yaml.YAMLError, RecursionError) as error:
        raise KpcalError(
            f"{path}: a value cannot be written to YAML ({str(error).splitlines()[0]})"
        ) from None
    _check_config(checked, path)
    atomic_write(path, new_text)
    return checked


# ------------------------------------------------------------------ editing the text in place


def _edit_in_place(path: Path, text: str, before: dict, values: Mapping[str, Any]) -> str | None:
    """``text`` with ``values`` set, rewriting only the text of the values changed.

    Each value is found by PyYAML's node marks and replaced by its YAML in
    keypoint-MoSeq's style (``yaml.dump`` block style, the key's indentation);
    a key new to a group or to the file is added after the group's last entry
    or at the end of the file. Comments, blank lines and every other value
    stay byte for byte.

    Returns
    -------
    str or None
        The new text, or ``None`` when the layout cannot be edited this way
        (or the result, read back, would not be ``before`` with ``values`` set):
        then the round-trip editor does it.

    Raises
    ------
    KpcalError
        A mapping in the file names a key twice, or a value cannot be written as YAML.
    """
    # libyaml is fast; its marks are character offsets only where bytes are characters
    # (some libyaml versions count bytes): other files go through PyYAML's own reader
    try:
        root = yaml.compose(text, Loader=_SAFE_LOADER if text.isascii() else yaml.SafeLoader)
    except yaml.YAMLError:  # the two readers disagree: leave it to the round-trip editor
        return None
    _refuse_duplicate_keys(root, path)
    if not isinstance(root, yaml.MappingNode) or root.flow_style:
        return None
    expected = _updated(before, values)
    edits: list[tuple[int, int, str]] = []  # (start, end, new text), in the text's order
    appended: dict[int, list[str]] = {}  # {node id: lines} of keys new to a mapping
    targets: dict[int, tuple[yaml.MappingNode, int]] = {}
    for key, value in values.items():
        group = _group_of(before, key)
        mapping = root if group is None else _value_node(root, group)
        if not isinstance(mapping, yaml.MappingNode):
            return None  # e.g. a missing error_estimator: the round-trip editor adds it
        try:
            node_pair = _pair(mapping, key)
            if node_pair is None:
                if mapping.flow_style or not mapping.value:
                    return None
                indent = mapping.value[0][0].start_mark.column
                appended.setdefault(id(mapping), []).append(
                    _yaml_block(key, value).replace("\n", "\n" + " " * indent)
                )
                targets[id(mapping)] = (mapping, indent)
                continue
            edit = _value_edit(text, mapping, *node_pair, value)
        except yaml.YAMLError as error:
            raise KpcalError(
                f"{path}: a value cannot be written to YAML ({str(error).splitlines()[0]})"
            ) from None
        if edit is None:
            return None
        edits.append(edit)
    for node_id, blocks in appended.items():
        mapping, indent = targets[node_id]
        if mapping is root:
            end = len(text)
            lead = "" if text.endswith("\n") or not text else "\n"
            edits.append((end, end, lead + "\n".join(blocks) + "\n"))
        else:
            end = _span_end(mapping)
            if end is None:
                return None
            edits.append((end, end, "".join("\n" + " " * indent + b for b in blocks)))
    edits.sort(key=lambda e: (e[0], e[1]))
    pieces, at = [], 0
    for start, end, new in edits:
        if start < at:
            return None  # two edits of one place (e.g. a group and one of its entries)
        pieces += [text[at:start], new]
        at = end
    new_text = "".join(pieces) + text[at:]
    try:
        after = _safe_load(new_text)
    except (yaml.YAMLError, RecursionError):
        return None
    if after != expected or list(after) != list(expected):
        return None
    return new_text


def _refuse_duplicate_keys(node: yaml.Node | None, path: Path) -> None:
    """A mapping naming a key twice is refused (PyYAML silently keeps the last one)."""
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            if name is not None and name in seen:
                raise KpcalError(
                    f"{path}: line {key.start_mark.line + 1}: the key {name!r} appears twice "
                    "in one mapping; keypoint-MoSeq would use only the last one: remove the other"
                )
            seen.add(name)
            _refuse_duplicate_keys(value, path)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_duplicate_keys(item, path)


def _pair(mapping: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    """The (key node, value node) of ``key`` in ``mapping``, or ``None``."""
    for key_node, value_node in mapping.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return key_node, value_node
    return None


def _value_node(mapping: yaml.MappingNode, key: str) -> yaml.Node | None:
    pair = _pair(mapping, key)
    return None if pair is None else pair[1]


def _span_end(node: yaml.Node) -> int | None:
    """Where the text of ``node`` ends: its last scalar or closing bracket, before any
    comment or blank line that follows it (PyYAML's end mark of a block collection
    includes those). ``None`` for a block scalar (``|``, ``>``)."""
    if isinstance(node, yaml.ScalarNode):
        return None if node.style in ("|", ">") else node.end_mark.index
    if node.flow_style:
        return node.end_mark.index
    if not node.value:
        return None
    last = node.value[-1]
    return _span_end(last[1] if isinstance(node, yaml.MappingNode) else last)


_KEY_GAP = re.compile(r"[ \t]*:[ \t]*(?:\n[ \t]*)*")
# ":", then comment and blank lines, then the value on a line of its own
_KEY_GAP_WITH_COMMENTS = re.compile(r"[ \t]*:[ \t]*(?:#[^\n]*)?\n(?:[ \t]*(?:#[^\n]*)?\n)*[ \t]*")


def _value_edit(
    text: str, mapping: yaml.MappingNode, key_node: yaml.Node, value_node: yaml.Node, value: Any
) -> tuple[int, int, str] | None:
    """The edit that gives ``key_node`` the value ``value``: ``(start, end, new text)``.

    The text from the end of the key to the end of its value is replaced by
    ``": value"`` in ``yaml.dump``'s block style, indented like the key. When
    comments stand between the key and its value (on a line of its own), they
    stay and the new value takes the old one's place and indentation. ``None``
    when anything else lies between the key and its value (an alias, a tag on
    its own), or a multi-line value would go into a flow mapping.
    """
    key_end = key_node.end_mark.index
    start = value_node.start_mark.index
    end = _span_end(value_node)
    if end is None or start < key_end:
        return None
    rest = _yaml_block("k", value)[len("k:") :]
    if "\n" in rest and mapping.flow_style:
        return None
    if _KEY_GAP.fullmatch(text, key_end, start):
        indent = key_node.start_mark.column
        return key_end, max(end, start), ":" + rest.replace("\n", "\n" + " " * indent)
    if not _KEY_GAP_WITH_COMMENTS.fullmatch(text, key_end, start):
        return None
    column = value_node.start_mark.column  # the value stays where it was
    lines = rest.lstrip(" ").split("\n")
    if rest.startswith("\n"):  # a block collection: its lines, at that column
        lines = lines[1:]
        strip = min(len(line) - len(line.lstrip(" ")) for line in lines)
        lines = [line[strip:] for line in lines]
    return start, max(end, start), ("\n" + " " * column).join(lines)


# --------------------------------------------------------------------------- round-trip edits


def _edit_round_trip(path: Path, text: str, values: Mapping[str, Any]) -> str:
    """``text`` with ``values`` set by ruamel.yaml's round-trip editor (keys, order and
    most comments kept): for the layouts :func:`_edit_in_place` does not edit."""
    try:
        rt = _round_trip_yaml()
        document = rt.load(text)
    except (yaml.YAMLError, RuamelYAMLError, RecursionError) as error:
        raise KpcalError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    except (ValueError, NotImplementedError) as error:  # ruamel.yaml 0.19's own limits:
        raise KpcalError(  # its float resolver on keys like "._", comments it cannot place
            f"{path}: cannot be edited keeping its comments (ruamel.yaml: {error}); "
            "edit this value by hand, or simplify the file around it"
        ) from None
    if not isinstance(document, dict):
        raise KpcalError(f"{path}: expected a YAML mapping of settings")
    for key, value in values.items():
        value = _plain(value)
        group = _group_of(document, key)
        if group is None:
            document[key] = value
            continue
        if not isinstance(document.get(group), dict):
            document[group] = {}
        document[group][key] = value
    buffer = io.StringIO()
    try:
        rt.dump(document, buffer)
    except (
        RuamelYAMLError,
        yaml.YAMLError,
        RecursionError,
        ValueError,
        NotImplementedError,
    ) as error:
        raise KpcalError(
            f"{path}: a value cannot be written to YAML ({str(error).splitlines()[0]})"
        ) from None
    new_text = buffer.getvalue()
    # ruamel drops blank lines before the first comment (keypoint-MoSeq's file starts with two)
    lead = text[: len(text) - len(text.lstrip("\n"))]
    return lead + new_text.lstrip("\n")


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
    return update_config(project_dir, **values)


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
