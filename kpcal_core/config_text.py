"""Editing ``config.yml``'s text: every byte not changed stays as it was.

Owns how kpcal reads and writes the YAML of a project's config:

- :func:`safe_load`: PyYAML's safe reader (keypoint-MoSeq's), libyaml when available;
- :func:`yaml_block`: a key and its value in keypoint-MoSeq's block style;
- :func:`edit_in_place`: values set by rewriting only their text, located with
  PyYAML's node marks (comments, blank lines and every other value byte for byte);
- :func:`edit_round_trip`: the fallback for layouts that cannot be edited in place
  (ruamel.yaml's round-trip editor, which keeps keys, order and most comments);
- which group a bare key such as ``slope`` belongs to
  (:data:`~kpcal_core.config_template.GROUPS`).

:mod:`kpcal_core.config` decides what to write and checks the result.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError as RuamelYAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from .config_template import GROUPS
from .errors import KpcalError

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` (keypoint-MoSeq's reader), through libyaml when PyYAML has it."""
    return yaml.load(text, Loader=_SAFE_LOADER)


def yaml_block(key: str, value: Any) -> str:
    """``key: value`` as a block-style YAML document, without the final line break."""
    return yaml.safe_dump({key: value}, default_flow_style=False, allow_unicode=True).rstrip("\n")


def _round_trip_yaml() -> YAML:
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096

    def represent_float(representer, value: float):
        return representer.represent_scalar("tag:yaml.org,2002:float", _float_text(value))

    rt.representer.add_representer(float, represent_float)
    return rt


_PYYAML_RESOLVER = yaml.resolver.Resolver()


def plain_python(value: Any) -> Any:
    """Numpy scalars, numpy arrays and tuples to plain Python values (lists, dicts, numbers)."""
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) > 0:  # numpy array
        return plain_python(value.tolist())
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        try:
            return value.item()
        except (ValueError, TypeError):
            pass
    if isinstance(value, (tuple, list)):
        return [plain_python(v) for v in value]
    if isinstance(value, dict):
        return {plain_python(k): plain_python(v) for k, v in value.items()}
    return value


def _plain(value: Any) -> Any:
    """:func:`plain_python`, with strings marked for ruamel.yaml as PyYAML must read them.

    A string that PyYAML (YAML 1.1, keypoint-MoSeq's reader) would read as
    another type (``yes``, ``no``, ``on``, ``off``...) is marked to be written
    quoted: ruamel.yaml follows YAML 1.2 and would write it bare. One holding
    a YAML 1.1 line break (NEL, U+2028, U+2029) is double-quoted, where they
    are escaped (PyYAML folds a raw one into a space).
    """
    value = plain_python(value)
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


def edit_in_place(path: Path, text: str, before: dict, values: Mapping[str, Any]) -> str | None:
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
                    yaml_block(key, value).replace("\n", "\n" + " " * indent)
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
            span_end = _span_end(mapping)
            if span_end is None:
                return None
            edits.append((span_end, span_end, "".join("\n" + " " * indent + b for b in blocks)))
    edits.sort(key=lambda e: (e[0], e[1]))
    pieces, at = [], 0
    for start, end, new in edits:
        if start < at:
            return None  # two edits of one place (e.g. a group and one of its entries)
        pieces += [text[at:start], new]
        at = end
    new_text = "".join(pieces) + text[at:]
    try:
        after = safe_load(new_text)
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
    """Where the text of ``node`` ends.

    Its last scalar or closing bracket, before any comment or blank line that follows it
    (PyYAML's end mark of a block collection includes those). ``None`` for a block scalar
    (``|``, ``>``).
    """
    if isinstance(node, yaml.ScalarNode):
        return None if node.style in ("|", ">") else node.end_mark.index
    if not isinstance(node, yaml.CollectionNode):  # PyYAML has no other kind of node
        return None
    if node.flow_style:
        return node.end_mark.index
    if not node.value:
        return None
    last = node.value[-1]
    return _span_end(last[1] if isinstance(node, yaml.MappingNode) else last)


_KEY_GAP = re.compile(r"[ \t]*:[ \t]*(?:\n[ \t]*)*")


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
    rest = yaml_block("k", value)[len("k:") :]
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


def edit_round_trip(path: Path, text: str, values: Mapping[str, Any]) -> str:
    """``text`` with ``values`` set by ruamel.yaml's round-trip editor.

    Keys, order and most comments are kept; for the layouts :func:`edit_in_place` does
    not edit.
    """
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
