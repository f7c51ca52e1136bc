"""Several annotators on the app's pages (issue 23): the fit page's agreement, the annotate
page's team counts, leases and second looks."""

from __future__ import annotations

import math

from apptest_support import (
    ANNOTATE,
    FIT,
    SETUP,
    button,
    check,
    current_sample,
    draw_demo_samples,
    errors,
    new_app,
    open_page,
    page_text,
    widget,
)

from kpcal_app import state
from kpcal_core import workflows
from kpcal_core.annotations import CLEARED, Annotation, parse_annotation_rows
from kpcal_core.project import load_project_data, save_work

ANA, BEN = "ana@lab.example", "ben@lab.example"


def near(data, key, dx: float) -> tuple[float, float]:
    recording, frame, bodypart = key
    x, y = data.coordinates[recording][frame, data.bodyparts.index(bodypart)]
    return float(x) + dx, float(y)


def team_clicks(project, keys, shared: int) -> None:
    """ana clicks ``keys``; ben clicks the first ``shared`` of them too, 3 px further right."""
    data = load_project_data(project)
    stamp = "2026-12-01T10:00:{:02d}.000000+00:00"
    save_work(
        data,
        {k: Annotation(*near(data, k, 1.0), ANA, stamp.format(i)) for i, k in enumerate(keys)},
        force_export=True,
    )
    save_work(
        data,
        {
            k: Annotation(*near(data, k, 4.0), BEN, stamp.format(i))
            for i, k in enumerate(keys[:shared])
        },
    )


def session_of(name: str):
    """A new session of the annotate page whose annotator is ``name`` from its first run."""
    at = new_app()
    at.session_state[state.ANNOTATOR] = name
    return check(open_page(at, ANNOTATE))


def test_fit_page_shows_the_annotators_agreement(demo):
    """Before: the page failed with a ValueError in distances_chart (a DataFrame passed as
    the distances) as soon as two annotators shared a sample."""
    keys = draw_demo_samples(demo)
    team_clicks(demo, keys[:25], shared=6)
    at = open_page(new_app(), FIT)
    assert not at.exception and not errors(at), (at.exception, errors(at))
    text = page_text(at)
    assert "The fit uses one position per sample: the mean of its annotators' clicks" in text
    assert "2 annotators positioned 6 of the same samples" in text
    assert "3.00 px apart at the median" in text
    assert "Flag rule: an annotator is flagged when" in text
    table = next(df.value for df in at.dataframe if "bias (px)" in df.value.columns)
    assert list(table["annotator"]) == [ANA, BEN]
    assert table["bias (px)"].round(6).tolist() == [1.5, 1.5]  # each half the 3 px apart


def test_annotate_page_starts_two_annotators_on_different_samples(demo):
    draw_demo_samples(demo)
    first, second = session_of(ANA), session_of(BEN)
    assert current_sample(first)["index"] == 1
    assert current_sample(second)["index"] == 2  # before: 1, the same sample as ana
    # ben's Next unannotated skips the sample ana holds
    check(button(second, "Next unannotated").click().run())
    assert current_sample(second)["index"] == 3


def test_annotate_page_offers_a_second_look_without_the_first_click(demo):
    keys = draw_demo_samples(demo)
    data = load_project_data(demo)
    look = next(i for i, k in enumerate(keys) if k in workflows.second_look(data))
    team_clicks(demo, keys[: look + 1], shared=0)  # ana did everything up to the second look
    at = session_of(BEN)
    assert current_sample(at)["index"] == look + 2  # a session starts where nobody has been
    check(button(at, "Next unannotated").click().run())
    assert current_sample(at)["index"] == look + 1  # the second look comes first
    text = page_text(at)
    assert "Second look: click where you see it (the first click is not shown)." in text
    assert f"{ANA}: {look + 1} samples" in text or f"{ANA}: 1 sample" in text
    assert "Team: " in text


def test_typing_a_new_name_keeps_the_sample_shown(demo):
    """Before: the session was moved on from its own sample, leased under its former name."""
    draw_demo_samples(demo)
    at = check(open_page(new_app(), ANNOTATE))
    assert current_sample(at)["index"] == 1
    widget(at.sidebar.text_input, "Annotator").input("solo@lab.example")
    check(at.run())
    assert current_sample(at)["index"] == 1
    assert "is working on this sample" not in page_text(at)


def test_leaving_the_annotate_page_frees_the_sample_shown(demo):
    """Before: a lease was kept until it lapsed (10 minutes) after its annotator went to
    another page, and nobody else was given that sample meanwhile."""
    draw_demo_samples(demo)
    ana = session_of(ANA)
    assert current_sample(ana)["index"] == 1  # ana holds sample 1
    ana.switch_page(FIT)
    check(ana.run())  # ana goes to the fit page: sample 1 is free again
    assert current_sample(session_of(BEN))["index"] == 1


def test_the_setup_page_sets_the_share_seen_twice(demo):
    at = check(open_page(new_app(), SETUP))
    share = widget(at.number_input, "Seen twice (% of samples)")
    assert share.value == 10  # a new session's default
    share.set_value(25)
    check(button(at, "Sample frames").click().run())
    data = load_project_data(demo)
    assert data.session.second_look_share == 0.25
    assert len(workflows.second_look(data)) == round(0.25 * len(data.session.sample_keys))


def test_the_fit_page_downloads_the_annotations_csv_without_cleared_rows(demo, monkeypatch):
    """The page's CSV is workflows.annotations_csv of its annotations (before: its own
    filter kept the row ben cleared on a sample ana clicked;
    tests/engine/test_team.py::test_the_annotations_csv_to_hand_on_has_no_cleared_row)."""
    keys = draw_demo_samples(demo)
    team_clicks(demo, keys[:25], shared=2)
    data = load_project_data(demo)
    save_work(
        data, {keys[0]: Annotation(math.nan, math.nan, BEN, "2026-12-01T11:00:00+00:00", CLEARED)}
    )
    given: list[dict] = []
    original = workflows.annotations_csv

    def recorded(data, records):
        given.append(dict(records))
        return original(data, records)

    monkeypatch.setattr(workflows, "annotations_csv", recorded)
    at = open_page(new_app(), FIT)
    assert not at.exception and not errors(at), (at.exception, errors(at))
    assert len(given) == 1 and keys[0] in given[0]
    rows = parse_annotation_rows(original(data, given[0]))
    assert (keys[0], ANA) in rows and (keys[0], BEN) not in rows
