"""Advice a user can follow, on the real SLEAP and DeepLabCut projects of ../shared/data.

Issue 20: on real projects the fit page said "annotate about 266 more" (flies),
"1,683 more" (a dancer) or "5,618 more" (a fly with 237 keypoints in all),
with nothing about the drawn samples, how to draw more, or whether the target
can be reached at all. Here each project gets annotations simulated from a
known line (slope -0.5, intercept 0.5, noise sd 0.15 in log10(error + 1)),
first for 30 of its drawn samples, then for all of them; the stop rule (the
fit page's and ``kpcal fit``'s) must either settle within the drawn samples,
or say how many more to annotate among them, or say exactly how many more
samples to draw, or say that the project cannot reach the targets; no
message asks for more annotations than the project's keypoints allow; and
drawing more keeps every annotation.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from demo_support import (
    REAL_PROJECTS,
    assert_followable,
    real_project_with_samples,
    simulated_clicks,
)

from kpcal_core import cli, sentences, workflows
from kpcal_core.annotations import save_annotations
from kpcal_core.project import load_working_annotations


@pytest.mark.parametrize("name", sorted(REAL_PROJECTS))
def test_real_projects_settle_or_say_how_many_more_samples_to_draw(shared_data, tmp_path, name):
    project, data, drawn = real_project_with_samples(shared_data, tmp_path, name)
    rng = np.random.default_rng(0)
    verdicts = []
    for annotated in (min(30, len(drawn)), len(drawn)):
        records = simulated_clicks(data, drawn[:annotated], rng)
        save_annotations(project, records, data.video_frame_indexes)
        data = workflows.open_project(project)
        check = workflows.stop_status(data, load_working_annotations(project))
        assert check.n == annotated and check.samples_left == len(drawn) - annotated
        statement = sentences.stop_statement(check)
        assert_followable(check, statement)
        verdicts.append((annotated, check.settled, check.more_needed, check.draw_more))

        # kpcal fit --json gives the same verdict, with the command that draws more
        out, err = io.StringIO(), io.StringIO()
        assert cli.main(["fit", str(project), "--json", "--bootstrap", "20"], out, err) == 0
        summary = json.loads(out.getvalue())
        assert summary["settled"] == check.settled
        assert summary["stop_rule"]["more_needed"] == check.more_needed
        assert summary["stop_rule"]["draw_more"] == check.draw_more
        if check.draw_more:
            total = len(drawn) + check.draw_more
            assert f"--num-samples {total}" in summary["settled_statement"]
    print(f"\n{name}: (annotated, settled, more needed, samples to draw) {verdicts}")

    # "Draw more samples" keeps every annotation, and the advice holds up again after
    if check.draw_more:
        saved = load_working_annotations(project)
        more = workflows.draw_more_samples(data, check.draw_more)
        assert set(saved) <= set(more.sample_keys)
        assert more.sample_keys[: len(drawn)] == drawn  # the annotated ones first, in order
        assert len(more.sample_keys) == len(drawn) + check.draw_more
        assert load_working_annotations(project) == saved
        data = workflows.open_project(project)
        new = more.sample_keys[len(drawn) :]
        records = {**saved, **simulated_clicks(data, new, rng, start=len(drawn))}
        save_annotations(project, records, data.video_frame_indexes)
        again = workflows.stop_status(data, load_working_annotations(project))
        assert again.n == len(more.sample_keys)
        assert_followable(again, sentences.stop_statement(again))
