"""What keeps the app fast, guarded by behaviour (not by timings).

- The second load of the same samples decodes nothing: frames come from the frame cache.
- A click or a move on the annotate page never opens a video once its frames are cached.
- The view sent to the browser is a JPEG crop far under 300 KB for a 1280x1024 frame.
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
from apptest_support import check, new_app, open_page, sample_lines
from streamlit.testing.v1 import AppTest

from kpcal_core import workflows
from kpcal_core.demo import make_demo_project
from kpcal_core.project import load_project_data
from kpcal_core.session import frame_cache_dir, load_session
from kpcal_core.video import decode, source
from kpcal_core.views import crop_for_sample, encode_jpeg, render_view

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def sampled_project(tmp_path, monkeypatch):
    project = tmp_path / "demo"
    make_demo_project(project, n_frames=60)
    data = load_project_data(project)
    workflows.draw_samples(data, num_bins=5, num_samples=12, conf_pseudocount=1e-3, seed=1)
    session = load_session(project)
    monkeypatch.setenv("KPCAL_PROJECT", str(project))
    monkeypatch.setenv("KPCAL_STATE_DIR", str(tmp_path / "state"))
    return project, data, session


def _forbid_decoding(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a video was decoded although its frames are cached")

    monkeypatch.setattr(source, "read_frames", refuse)
    monkeypatch.setattr(decode.cv2, "VideoCapture", refuse)


def test_second_load_reads_the_frame_cache_only(sampled_project, monkeypatch):
    project, data, session = sampled_project
    first = source.load_sampled_frames(
        session.sample_keys,
        "",
        data.video_frame_indexes,
        cache_dir=frame_cache_dir(project),
        video_paths=data.video_paths,
    )
    _forbid_decoding(monkeypatch)
    second = source.load_sampled_frames(
        session.sample_keys,
        "",
        data.video_frame_indexes,
        cache_dir=frame_cache_dir(project),
        video_paths=data.video_paths,
    )
    assert set(first) == set(second)
    assert all(np.array_equal(first[k], second[k]) for k in first)


def test_annotate_page_never_decodes_video_once_frames_are_cached(sampled_project, monkeypatch):
    project, data, session = sampled_project
    source.load_sampled_frames(
        session.sample_keys,
        "",
        data.video_frame_indexes,
        cache_dir=frame_cache_dir(project),
        video_paths=data.video_paths,
    )
    _forbid_decoding(monkeypatch)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/annotate.py")
    at.run()
    assert not at.exception, at.exception
    seen = set()
    for _ in range(len(session.sample_keys) - 1):
        seen.add(sample_lines(at)["caption"])
        next(b for b in at.button if b.label == "Next").click()
        at.run()
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]
    assert len(seen) == len(session.sample_keys) - 1  # it really moved through the samples


def test_view_of_a_large_frame_is_a_small_jpeg():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, size=(1024, 1280, 3), dtype=np.uint8)  # worst case: pure noise
    keypoints = np.array([[640.0, 512.0], [700.0, 560.0], [580.0, 470.0]])
    view = crop_for_sample(frame.shape, keypoints[0], keypoints)
    jpeg = encode_jpeg(render_view(frame, view, target_xy=keypoints[0], keypoints_xy=keypoints))
    assert jpeg[:2] == b"\xff\xd8"  # JPEG, not PNG
    assert len(base64.b64encode(jpeg)) <= 300_000


def test_one_frame_fill_per_project_goes_on_after_the_page_and_restarts_for_new_samples(
    sampled_project,
):
    from kpcal_app import cache

    project, data, _ = sampled_project
    job = cache.frame_fill(data, start=True)
    assert cache.frame_fill(data) is job  # every session on the project sees this one
    assert job.wait(60)  # it finished with nobody following it
    cached = frame_cache_dir(project)
    keys = set(data.session.sample_keys)
    assert job.progress().ready == keys and job.progress().error is None
    assert cache.frame_fill(data) is job  # finished: still the project's latest
    again = cache.frame_fill(data, start=True)  # "Sample frames" again: checks, decodes nothing
    assert again is not job and again.wait(60) and again.progress().result == len(keys)

    workflows.draw_samples(data, num_bins=5, num_samples=20, conf_pseudocount=1e-3, seed=2)
    assert cache.frame_fill(data) is None  # not for these samples
    other = cache.frame_fill(data, start=True)
    assert other.wait(60) and other.progress().ready == set(data.session.sample_keys)
    assert any(cached.iterdir())


@pytest.fixture()
def indexing_started(monkeypatch) -> list:
    """The projects whose video indexing was started (the real job still runs)."""
    started: list = []
    real = workflows.start_video_indexing

    def recorded(data):
        started.append(str(data.project_dir))
        return real(data)

    monkeypatch.setattr(workflows, "start_video_indexing", recorded)
    return started


def test_loading_a_project_starts_no_thread_and_the_indexing_starts_once(
    sampled_project, indexing_started
):
    """Issue 22: the cached keypoint loader started the video indexing (a thread) as a side
    effect of being called; now the page that wants it starts it, once per project files."""
    from kpcal_app import cache

    project = str(sampled_project[0])
    data = cache.project_data(project)
    assert indexing_started == []  # loading is only loading
    cache.start_video_indexing(data)
    cache.start_video_indexing(cache.project_data(project))  # the next run: same files
    assert indexing_started == [project]


def test_only_the_setup_page_starts_the_video_indexing(sampled_project, indexing_started):
    project = str(sampled_project[0])
    at = check(open_page(new_app(), "pages/annotate.py"))
    assert [t.value for t in at.title] == ["Annotate"]
    check(open_page(new_app(), "pages/fit.py"))
    assert indexing_started == []
    at = check(open_page(new_app(), "pages/setup.py"))
    assert [t.value for t in at.title] == ["Set up & sample"]
    assert indexing_started == [project]
