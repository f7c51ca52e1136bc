"""Data shown as text in Streamlit: names, paths, values and messages, never markup.

Streamlit renders Markdown in ``st.markdown``, ``st.caption``, ``st.error`` and the
other alerts, ``st.toast``, ``st.write`` of a string, and in widget labels, help texts
and radio options. Every piece of data (a bodypart or recording name, a path, the
annotator's name, a ``?project=`` value, an error message quoting any of these) goes
into such a string through one of the two functions here:

- :func:`literal`: Markdown that shows ``text`` exactly as it is;
- :func:`code`: ``text`` in a code span (monospace), exactly as it is.

Streamlit's Markdown is CommonMark with GitHub's extensions (links, images, autolinks,
tables, strikethrough), plus its own: ``:red[...]``-style directives, ``:material/…:``
icons, ``:smile:``-style emoji shortcodes, ``$…$`` math, and arrows made of ``->``,
``<=`` and the like. Some of these (icons, emoji, arrows, and GitHub's links made of a
bare ``www.``, ``http://`` or e-mail address) are found in the text after Markdown has
been parsed, where a backslash no longer counts. So :func:`literal` backslash-escapes
every character with a meaning (HTML's ``<`` and ``&`` too) and also puts an invisible
U+2060 WORD JOINER where Streamlit would otherwise see one of those: after a ``:`` that a
letter, digit, ``_``, ``+``, ``-`` or ``/`` follows, after ``@``, between ``www`` and
``.``, and between two of ``-<>~=``. Nothing here needs ``unsafe_allow_html``.

The pages' own words and numbers are written as Markdown directly; whatever may hold
data goes through these functions at the point of display. ``unsafe_allow_html`` and
``st.html`` are used only with fixed strings of ours.
"""

from __future__ import annotations

import re

#: Invisible, zero width; keeps Streamlit's icon, emoji and arrow shortcuts apart.
WORD_JOINER = "\u2060"

# Every ASCII character that starts, ends or changes a Markdown construct in Streamlit.
# Not escaped: letters, digits, space, and " ' , ; ? / % (no meaning of their own; "/" of
# ":material/" is kept apart by the word joiner after the colon).
_SPECIAL = frozenset("\\`*_{}[]()<>#+-.!|~:$&=^@")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Control characters other than tab and line breaks (C0, DEL, C1): shown as \xNN.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Where Streamlit would see a shortcut once Markdown is parsed: ":" before a directive, icon
# or emoji name (":red[", ":smile:") or "//" ("https://"); "@" of an e-mail address; "www."
# of a bare link; two characters it makes an arrow or a sign of (->, <=, --, ~=, ...).
_SHORTCUT = re.compile(
    r"(?<=:)(?=[A-Za-z0-9_+/-])|(?<=@)|(?i:(?<=www)(?=\.))|(?<=[-<>~=])(?=[-<>~=])"
)
_BACKTICKS = re.compile(r"`+")


def _visible_controls(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _escape_line(line: str) -> str:
    line = _SHORTCUT.sub(WORD_JOINER, line)
    out = []
    for i, char in enumerate(line):
        if char in _SPECIAL and not (char == "_" and _intraword(line, i)):
            out.append("\\")
        out.append(char)
    return "".join(out)


def _intraword(line: str, i: int) -> bool:
    """``line[i]`` stands between two letters or digits (an ``_`` there never emphasises)."""
    return 0 < i < len(line) - 1 and line[i - 1].isalnum() and line[i + 1].isalnum()


def literal(text: object) -> str:
    r"""Markdown that Streamlit shows as ``text`` itself, character for character.

    Parameters
    ----------
    text
        Any value; ``str()`` of it is shown.

    Returns
    -------
    str
        ``text`` with every Markdown-special character backslash-escaped, a word
        joiner (U+2060, invisible) where Streamlit would make an icon, emoji or arrow,
        control characters other than tab shown as ``\xNN``, and each line break a
        Markdown hard line break (so the lines stay lines and never start a heading,
        list, quote, table or code block). Line breaks at the end are dropped, and
        the spaces and tabs that start a line (Markdown would read them as an indented
        code block, or drop them).
    """
    lines = _LINE_BREAK.split(_visible_controls(str(text)).rstrip("\r\n"))
    return "\\\n".join(_escape_line(line.lstrip(" \t")) for line in lines)


def code(text: object) -> str:
    r"""``text`` in a Markdown code span, shown exactly as it is, in monospace.

    Parameters
    ----------
    text
        Any value; ``str()`` of it is shown.

    Returns
    -------
    str
        A code span whose fence is one backtick longer than the longest run of
        backticks in ``text``, padded with a space on each side when ``text`` starts
        or ends with a backtick or with a space (Markdown strips one from each side).
        Line breaks and other control characters are shown as ``\n``, ``\r``,
        ``\xNN``; tabs as spaces. Empty ``text`` gives ``""``.
    """
    text = str(text)
    if not text:
        return ""
    text = (
        text.replace("\r", "\\r")
        .replace("\n", "\\n")
        .replace("\t", " ")
        # Streamlit rewrites ":material/" before parsing, even in code spans.
        .replace(":material/", ":" + WORD_JOINER + "material/")
    )
    text = _visible_controls(text)
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(text)), default=0) + 1)
    if text.strip(" ") and (text.startswith(("`", " ")) or text.endswith(("`", " "))):
        text = f" {text} "
    return f"{fence}{text}{fence}"
