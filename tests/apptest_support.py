"""What the AppTest page tests share: running the app, finding widgets, reading the page.

Text on the pages is Markdown in which data is escaped (:mod:`kpcal_app.text`):
:func:`unescaped` reads it as a person does, and :func:`markdown_sources` and
:func:`markup_in` find any data that would be read as markup.

Clicks on the annotate image (a custom component AppTest cannot click) are
simulated by sending the component's value, ``{x, y, width, height}`` in
display pixels, exactly as its frontend does; that runs the page's own click
handler. The real click is covered by the browser tests.
"""

from __future__ import annotations

import json
import re
import string
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from kpcal_app.click import IFRAME_TITLE
from kpcal_app.state import PROJECT
from kpcal_app.text import WORD_JOINER, code
from kpcal_core import workflows
from kpcal_core.annotations import save_annotations
from kpcal_core.demo import DEMO_BODYPARTS, load_ground_truth
from kpcal_core.project import draft_path, load_project_data
from kpcal_core.views import crop_for_sample

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
SETUP, ANNOTATE, FIT = "pages/setup.py", "pages/annotate.py", "pages/fit.py"
# The sample's lines, shown by the click view with its image (kpcal_app.click.SampleLines),
# and the count above it.
SAMPLE_CAPTION = re.compile(r"^Sample (\d+) of (\d+) · recording (.+) · keypoint frame (\d+) ")
TARGET_LINE = re.compile(r"^Target bodypart = (.+) \| confidence = [\d.]+$")
COMPLETED = re.compile(r"Completed annotations = (\d+)")


def new_app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60)


def check(at: AppTest) -> AppTest:
    """No traceback on the page."""
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_page(at: AppTest, page: str) -> AppTest:
    if PROJECT not in at.session_state:  # not run yet: switch_page needs the pages of one run
        check(at.run())
    return check(at.switch_page(page).run())


def button(at: AppTest, label: str):
    found = [b for b in at.button if b.label == label]
    assert len(found) == 1, f"{len(found)} buttons {label!r}; have {[b.label for b in at.button]}"
    return found[0]


def widget(elements, label: str):
    found = [w for w in elements if w.label == label]
    assert len(found) == 1, f"no single widget {label!r}; have {[w.label for w in elements]}"
    return found[0]


def code_span_end(markdown: str, start: int) -> tuple[int, int]:
    """At a run of backticks: ``(end of the run, end of the code span or -1)``."""
    run = len(markdown) - len(markdown[start:].lstrip("`"))
    for closing in re.finditer(r"`+", markdown[run:]):
        if len(closing.group()) == run - start:
            return run, run + closing.end()
    return run, -1


def _read_markdown(markdown: str, escaped, code, hard_break: str = "\n") -> str:
    """``markdown`` with each backslash escape replaced by ``escaped(char)``, each code
    span by ``code(span)`` and each hard break (backslash, line break) by ``hard_break``."""
    out, i = [], 0
    while i < len(markdown):
        char = markdown[i]
        if char == "\\" and i + 1 < len(markdown) and markdown[i + 1] == "\n":
            out.append(hard_break)
            i += 2
        elif char == "\\" and i + 1 < len(markdown) and markdown[i + 1] in string.punctuation:
            out.append(escaped(markdown[i + 1]))
            i += 2
        elif char == "`":
            run, end = code_span_end(markdown, i)
            out.append(markdown[i:run] if end < 0 else code(markdown[i:end]))
            i = run if end < 0 else end
        else:
            out.append(char)
            i += 1
    return "".join(out)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _visible(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


def shown_by_literal(text: str) -> str:
    """What :func:`kpcal_app.text.literal` means to show of ``text``: itself, control
    characters as ``\\xNN``, its lines (line breaks at the end and blanks starting a
    line dropped)."""
    lines = re.split(r"\r\n|\r|\n", _visible(text).rstrip("\r\n"))
    return "\n".join(line.lstrip(" \t") for line in lines)


def shown_by_code(text: str) -> str:
    """What :func:`kpcal_app.text.code` means to show of ``text`` (line breaks as ``\\n``)."""
    return _visible(text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", " "))


def unescaped(markdown: str) -> str:
    """What a person reads of Markdown built with :mod:`kpcal_app.text`: escapes and word
    joiners taken out, hard breaks as line breaks, code spans kept as written."""
    return _read_markdown(markdown, lambda c: c, lambda span: span).replace(WORD_JOINER, "")


# Markdown that data must never make: HTML, links and images, code spans (a backtick
# left over once the code spans are read), math, entities, strikethrough, emphasis with
# one * or a word-edge _, headings, line breaks, Streamlit's :directives[], :icons: and
# :emoji:, bare links (www., http://, e-mail), arrows.
_MARKUP = re.compile(
    r"[<\[\]$`~#\n]|&(?=#?\w+;)|(?<!\*)\*(?!\*)|(?<![^\W_])_|_(?![^\W_])|:(?=[\w+/-])|@(?=\w)"
    r"|(?i:www\.)|-(?=[->])|(?<=[<>~=])="
)


# The markup of ours that the check allows: the bodypart legend's coloured dots.
_OURS = re.compile(r':color\[●\]\{foreground="#[0-9a-f]{6}"\}')


def markup_in(markdown: str) -> list[str]:
    """The characters of ``markdown`` read as markup, outside its code spans and escapes.

    Markdown built as kpcal's pages build it (fixed text of ours, data through
    :mod:`kpcal_app.text`) gives ``[]`` whatever the data holds. Bold (``**``) and the
    legend's coloured dots are the markup of ours allowed.
    """
    active = _read_markdown(_OURS.sub("\0", markdown), lambda c: "\0", lambda s: "\0", "\0")
    return [repr(active[max(0, m.start() - 20) : m.end() + 20]) for m in _MARKUP.finditer(active)]


def markdown_sources(at: AppTest) -> list[tuple[str, str]]:
    """Every string the page gives Streamlit's Markdown, as ``(where, source)``.

    Bodies (markdown, captions, alerts, toasts), labels (widgets, buttons, expanders,
    tabs, page links), help texts, progress texts and radio options, in the main
    area and the sidebar. Markdown that allows HTML is ``("unsafe_allow_html", body)``;
    ``st.html`` (not Markdown) is ``("st.html", body)``.
    """
    found = []
    nodes = [*at.main, *at.sidebar, *at.toast]
    for node in nodes:
        proto = getattr(node, "proto", None)
        if proto is None or not hasattr(proto, "DESCRIPTOR"):
            continue
        fields = proto.DESCRIPTOR.fields_by_name
        kind = getattr(node, "type", type(node).__name__)
        if kind == "html":
            found.append(("st.html", proto.body))
            continue
        for name in ("body", "label", "help", "text"):
            value = getattr(proto, name, None) if name in fields else None
            if isinstance(value, str) and value:
                found.append((f"{kind}.{name}", value))
        if kind == "radio":
            found += [("radio.option", o) for o in proto.options]
        if "allow_html" in fields and proto.allow_html:
            found.append(("unsafe_allow_html", proto.body))
    return found


def page_text(at: AppTest) -> str:
    """The page's text as a person reads it: titles, Markdown texts (:func:`unescaped`),
    and the click view's lines (plain text)."""
    parts = [e.value for e in at.title]
    for kind in (at.markdown, at.caption, at.error, at.warning, at.info, at.success):
        parts += shown(kind)
    lines = sample_lines(at)
    if lines:
        parts += [lines["title"], lines["caption"]]
    return "\n".join(parts)


def shown(elements) -> list[str]:
    """The texts of Markdown elements (``at.success``, ``at.caption``, ...) as read."""
    return [unescaped(str(e.value)) for e in elements]


def errors(at: AppTest) -> list[str]:
    return shown(at.error)


def sample_lines(at: AppTest) -> dict | None:
    """The lines the click view shows with its image (``title``, ``caption``, ``legend``,
    ``target``: :class:`kpcal_app.click.SampleLines`), read from its arguments; ``None``
    when no click view is shown."""
    found = click_views(at)
    return json.loads(found[0].proto.json_args).get("sample") if len(found) == 1 else None


def current_sample(at: AppTest) -> dict:
    """What the annotate page shows: sample index (1-based), recording, frame, bodypart, count."""
    lines = sample_lines(at)
    assert lines, page_text(at)
    caption = SAMPLE_CAPTION.search(lines["caption"])
    target = TARGET_LINE.search(lines["title"])
    completed = COMPLETED.search(page_text(at))
    assert caption and target and completed, (lines, page_text(at))
    assert lines["target"] == target[1], lines
    return {
        "index": int(caption[1]),
        "n": int(caption[2]),
        "recording": caption[3],
        "frame": int(caption[4]),
        "bodypart": target[1],
        "completed": int(completed[1]),
    }


def click_views(at: AppTest) -> list:
    """The click view components on the page (AppTest's public element tree)."""
    return [
        e
        for e in at.main
        if getattr(e, "type", None) == "component_instance"
        and e.proto.component_name == IFRAME_TITLE
    ]


def image_component(at: AppTest):
    found = click_views(at)
    assert len(found) == 1, [type(e).__name__ for e in at.main]
    return found[0]


def image_view(at: AppTest) -> str:
    """The view token of the image shown (which sample and zoom it shows)."""
    return json.loads(image_component(at).proto.json_args)["view"]


def image_src(at: AppTest) -> str:
    """The image shown (its data URL): what is drawn on it, e.g. the red X of a click."""
    return json.loads(image_component(at).proto.json_args)["src"]


def click_image(
    at: AppTest,
    u: float,
    v: float,
    *,
    shown: int = 560,
    also_click: str | None = None,
    view: str | None = None,
) -> AppTest:
    """Send what the click view sends on a click at ``(u, v)`` of the 560 px image, and rerun.

    ``shown``: the width the browser drew the image at (the click view fits the window),
    so the click arrives in those pixels (to the fraction, as the click view sends it).
    ``also_click``: a button clicked before the rerun arrives (both in one rerun).
    ``view``: the view token of the image clicked (default: the one shown now).
    """
    view = view or image_view(at)
    if also_click:
        button(at, also_click).click()
    factor = shown / 560
    value = {
        "x": u * factor,
        "y": v * factor,
        "width": shown,
        "height": shown,
        "unix_time": time.time_ns(),  # each click another value, as in the browser
        "view": view,
    }
    return send_click_value(at, value)


def send_click_value(at: AppTest, value: object) -> AppTest:
    """Give the click view the value ``value`` (any JSON, as a forged message may), and rerun.

    AppTest has no public way to give a custom component a value (it shows as an
    element without ``set_value``): this is the one place that uses AppTest's
    private ``_tree``/``_run``, to send the widget state the component's frontend sends.
    """
    component = image_component(at)
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = component.proto.id
    state.json_value = json.dumps(value)  # NaN and Infinity as Python writes them
    return check(at._run(states))


def project_files(project: Path) -> dict[str, bytes]:
    """Every file of ``project`` and its content, but the frame cache (filled in the background)
    and the leases (who is on which sample now: :mod:`kpcal_core.team`)."""
    return {
        str(path.relative_to(project)): path.read_bytes()
        for path in sorted(project.rglob("*"))
        if path.is_file()
        and "frame_cache" not in path.relative_to(project).parts
        and path.name != "leases.json"
    }


def true_display_position(project: Path, sample: dict) -> tuple[float, float]:
    """Where the true position of the shown sample is in the 560 px image (zoom 1)."""
    data = load_project_data(project)
    truth = load_ground_truth(project)["true_coordinates"]
    k = DEMO_BODYPARTS.index(sample["bodypart"])
    keypoints = data.coordinates[sample["recording"]][sample["frame"]]
    view = crop_for_sample((360, 480), keypoints[k], keypoints)
    return view.to_display(*truth[sample["recording"]][sample["frame"], k])


def draw_demo_samples(project: Path, seed: int = 0) -> list[tuple[str, int, str]]:
    """What "Sample frames" stores, without decoding the frames."""
    return workflows.draw_samples(load_project_data(project), seed=seed).sample_keys


def annotate_truly(project: Path, keys) -> dict:
    """Save annotations of ``keys`` at the demo's true positions (as error_annotations.csv)."""
    truth = load_ground_truth(project)["true_coordinates"]
    data = load_project_data(project)
    annotations = {
        key: tuple(float(c) for c in truth[key[0]][key[1], DEMO_BODYPARTS.index(key[2])])
        for key in keys
    }
    save_annotations(project, annotations, data.video_frame_indexes)
    return annotations


def _histogram_table(at: AppTest, column: str):
    """The dataset holding ``column`` of the setup page's confidence histogram."""
    import pyarrow as pa

    for element in at.main:
        if getattr(element, "type", None) != "vega_lite_chart":
            continue
        for dataset in element.proto.datasets:
            table = pa.ipc.open_stream(dataset.data.data).read_all().to_pandas()
            if column in table:
                return table
    raise AssertionError(f"no histogram with {column!r} on the page")


def chart_sample_counts(at: AppTest) -> list[int]:
    """The red per-bin sample counts of the setup page's confidence histogram."""
    return [int(c) for c in _histogram_table(at, "samples")["samples"]]


def chart_bars(at: AppTest):
    """The bars of the setup page's confidence histogram: ``start, end, keypoints``."""
    return _histogram_table(at, "keypoints")


def set_up_project(at: AppTest, project: Path, keypoints: str, video_dir: str = "") -> Path:
    """On the setup page: open a new project folder (creating it as asked) and load the
    keypoint files typed, as a new user does."""
    widget(at.text_input, "Project folder").input(str(project))
    check(button(at, "Open project").click().run())
    check(button(at, "Create the folder " + code(project)).click().run())
    widget(at.text_input, "Keypoint files (file, folder or glob)").input(keypoints)
    widget(at.text_input, "Video folder").input(video_dir)
    check(button(at, "Load keypoints").click().run())
    assert not shown(at.error), page_text(at)
    return project


def draft_keys(project: Path) -> dict:
    from kpcal_core.annotations import parse_annotations

    path = draft_path(project)
    return parse_annotations(path.read_text(), str(path)) if path.exists() else {}
