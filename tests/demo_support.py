"""Demo projects for the tests: annotations at the truth (the engine tests), and a demo
project renamed to hostile names (markup in every name: the page and browser tests)."""

from __future__ import annotations

import math
import re

import numpy as np

from kpcal_core import Annotation, sample_error_frames


def annotate_truth(demo, n: int, seed: int = 1, offsets=None, annotator: str = "tester") -> dict:
    """``{key: Annotation}`` at the true positions of ``n`` samples, clicked one per second.

    ``offsets`` maps a bodypart to an (dx, dy) added to its clicks (a biased annotator).
    """
    keys = sample_error_frames(
        demo.confidences,
        demo.bodyparts,
        demo.bodyparts,
        10,
        n,
        1e-3,
        coordinates=demo.coordinates,
        seed=seed,
    )
    records = {}
    for i, (recording, frame, bodypart) in enumerate(keys):
        x, y = demo.true_coordinates[recording][frame, demo.bodyparts.index(bodypart)]
        dx, dy = (offsets or {}).get(bodypart, (0.0, 0.0))
        stamp = f"2025-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000000+00:00"
        records[(recording, frame, bodypart)] = Annotation(
            float(x + dx), float(y + dy), annotator, stamp
        )
    return records


def annotate_from_line(
    data,
    keys,
    slope: float,
    intercept: float,
    *,
    noise_sd: float = 0.05,
    seed: int = 0,
    annotator: str = "tester",
) -> dict:
    """``{key: Annotation}``: clicks whose error follows a known line.

    Each sampled keypoint is clicked ``10**(slope * x + intercept + e) - 1`` px from the
    network's position (``x = log10(confidence + pseudocount)``, ``e`` normal with sd
    ``noise_sd``), in a random direction, one click per second. ``data`` is a loaded
    :class:`~kpcal_core.project.ProjectData`.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    records = {}
    for i, (recording, frame, bodypart) in enumerate(keys):
        k = data.bodyparts.index(bodypart)
        x = np.log10(float(data.confidences[recording][frame, k]) + data.conf_pseudocount)
        error = 10 ** (slope * x + intercept + rng.normal(0, noise_sd)) - 1
        angle = rng.uniform(0, 2 * np.pi)
        px, py = (float(v) for v in data.coordinates[recording][frame, k])
        stamp = f"2025-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000000+00:00"
        records[(recording, int(frame), bodypart)] = Annotation(
            px + error * np.cos(angle), py + error * np.sin(angle), annotator, stamp
        )
    return records


def slp_project(folder, n_tracks: int, n_frames: int, user: dict):
    """A project on one SLEAP ``.slp`` (``flies.slp``) holding a person's labels beside the
    predictions (:func:`pose_files.write_slp` with ``user``), and its video.

    Returns
    -------
    pathlib.Path
        The project folder (``config.yml`` and the session made, no samples drawn).
    """
    from pathlib import Path

    from frame_videos import encode_coded
    from pose_files import write_slp

    from kpcal_core import workflows

    folder = Path(folder)
    (folder / "videos").mkdir(parents=True)
    video = encode_coded(folder / "videos" / "session1.mp4", n_frames, "-c:v", "mpeg4")
    write_slp(folder / "flies.slp", n_tracks, n_frames, video=str(video), user=user)
    workflows.choose_sources(folder, workflows.Sources("flies.slp", None, "videos"))
    return folder


# --------------------------------------------------------------------------- hostile names
# A project whose names hold markup (issue 19, findings 2 and 3): HTML that runs script or
# fetches from another host when rendered, <style>, Markdown links and images, code spans,
# Streamlit's :directives[], :icons: and :emoji:, math, emphasis, headings, tables, bare
# links, arrows. Each payload that runs sets window.kpcalPwned; every other host is
# evil.example. File names cannot hold "/", so recording names have "https:evil.example".

EVIL = "evil.example"
HOSTILE_BODYPARTS = [  # in the order of DEMO_BODYPARTS
    "nose<img src=x onerror=\"window.top.kpcalPwned='img'\">",
    "ear<iframe srcdoc=\"<script>window.top.kpcalPwned='iframe'</script>\"></iframe>",
    f"<style>.kpcal-evil{{}} body{{background:url(http://{EVIL}/css.png)}}</style>"
    f"[sign in](http://{EVIL}) ![x](http://{EVIL}/x.png)",
    "neck`tick` <b>bold</b> :red[red] :material/home: :smile: :streamlit: $x^2$",
    f"*em* _u_ # h | p | www.{EVIL} https://{EVIL}/a user@{EVIL} -> <= ~~s~~",
    "tail &amp; &lt;b&gt; 1. x\\ [^1] <http://" + EVIL + ">",
]
HOSTILE_VIDEOS = [  # recording = video name + DEMO_SCORER
    "mouse1 `tick` <img src=x onerror=window.kpcalPwned=1> :red[r] :material_home: $x$",
    f"mouse2 *s* _u_ #h |p| [sign in](https:{EVIL}) ![i](https:{EVIL}) www.{EVIL} a@{EVIL}",
]
#: A recording without a video (named on the setup page as one that needs attention).
HOSTILE_NO_VIDEO = f"mouse3 <b>no video<b> [link](https:{EVIL}) `x"
#: The project's folder name: a backtick would end the sidebar's `Project: ...` code span.
HOSTILE_FOLDER = f"proj `x` [sign in](https:{EVIL}) <b>b"
HOSTILE_ANNOTATOR = f"<img src=x onerror=window.kpcalPwned=2>[sign in](http://{EVIL})\n# who"


def make_hostile_project(
    parent, *, n_frames: int = 40, num_samples: int = 12, annotated: int = 12, frames: bool = True
):
    """A demo project (in ``parent/HOSTILE_FOLDER``) renamed to the hostile names above.

    The demo's keypoint files and videos are renamed (recordings from
    :data:`HOSTILE_VIDEOS`, bodyparts :data:`HOSTILE_BODYPARTS`), a third recording
    without a video is added, ``config.yml`` is made from the files, ``num_samples``
    samples are drawn (``frames``: and their frames cached), and the first
    ``annotated`` of them are saved as annotated by :data:`HOSTILE_ANNOTATOR`.

    Returns
    -------
    pathlib.Path
        The project folder.
    """
    import csv
    from pathlib import Path

    import numpy as np

    from kpcal_core import workflows
    from kpcal_core.annotations import save_annotations
    from kpcal_core.demo import DEMO_BODYPARTS, DEMO_SCORER, make_demo_project
    from kpcal_core.project import load_project_data

    folder = Path(parent) / HOSTILE_FOLDER
    make_demo_project(folder, n_frames=n_frames)
    names = dict(zip(DEMO_BODYPARTS, HOSTILE_BODYPARTS))
    for i, video in enumerate(HOSTILE_VIDEOS):
        source = folder / "keypoints" / f"mouse{i + 1}{DEMO_SCORER}.csv"
        with source.open(newline="") as handle:
            rows = list(csv.reader(handle))
        rows[1] = rows[1][:1] + [names[b] for b in rows[1][1:]]
        copies = [video] + ([HOSTILE_NO_VIDEO] if i == 0 else [])
        for name in copies:
            with (folder / "keypoints" / f"{name}{DEMO_SCORER}.csv").open("w", newline="") as f:
                csv.writer(f).writerows(rows)
        source.unlink()
        (folder / "videos" / f"mouse{i + 1}.mp4").rename(folder / "videos" / f"{video}.mp4")
    (folder / "config.yml").unlink()
    workflows.choose_sources(folder, workflows.Sources("keypoints", None, "videos"))
    data = load_project_data(folder)
    keys = workflows.draw_samples(data, num_samples=num_samples, seed=0).sample_keys
    if frames:
        workflows.fill_frame_cache(load_project_data(folder))
    rng = np.random.default_rng(0)
    records = {}
    for n, key in enumerate(keys[:annotated]):
        recording, frame, bodypart = key
        x, y = data.coordinates[recording][frame, data.bodyparts.index(bodypart)]
        error = rng.uniform(0.5, 8.0) * (1.5 - float(data.confidences[recording][frame].min()))
        records[key] = Annotation(
            float(x + error), float(y), HOSTILE_ANNOTATOR, f"2025-01-01T00:00:{n:02d}.000000+00:00"
        )
    if records:
        save_annotations(folder, records, data.video_frame_indexes)
    return folder


def simulated_clicks(data, keys, rng, start=0, slope=-0.5, intercept=0.5, noise=0.15) -> dict:
    """Clicks at a known error from each sample's predicted position, in any project.

    The error follows ``log10(error + 1) = slope * log10(confidence + pseudocount) +
    intercept`` plus normal noise (sd ``noise``), in a random direction; annotation
    times count up from ``start`` (seconds), so the annotation order is ``keys``.
    """
    records = {}
    for i, (recording, frame, bodypart) in enumerate(keys, start=start):
        k = data.bodyparts.index(bodypart)
        x = math.log10(float(data.confidences[recording][frame, k]) + data.conf_pseudocount)
        error = 10 ** (slope * x + intercept + rng.normal(0, noise)) - 1
        angle = rng.uniform(0, 2 * math.pi)
        px, py = np.asarray(data.coordinates[recording][frame, k], dtype=float)
        records[(recording, frame, bodypart)] = Annotation(
            float(px + max(error, 0) * math.cos(angle)),
            float(py + max(error, 0) * math.sin(angle)),
            "sim",
            f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}",
        )
    return records


#: The real projects of ../shared/data (issue 20):
#: name: (keypoint path in ../shared/data, video folder, samples drawn).
REAL_PROJECTS = {
    "sleap_flies_clip": ("sleap_flies_clip/clip.predictions.slp", "sleap_flies_clip", 40),
    "sleap_centered_pair": (
        "sleap_centered_pair/centered_pair_predictions.slp",
        "sleap_centered_pair",
        100,
    ),
    "dlc_tiny": ("dlc_tiny", "dlc_tiny", 100),
}


def real_project_with_samples(shared_data, folder, name: str):
    """A project in ``folder / "project"`` on the real project ``name`` of
    :data:`REAL_PROJECTS`, its samples drawn (seed 0): ``(project, data, drawn keys)``."""
    from kpcal_core import workflows

    keypoints, videos, num_samples = REAL_PROJECTS[name]
    project = folder / "project"
    workflows.choose_sources(
        project,
        workflows.Sources(str(shared_data / keypoints), video_dir=str(shared_data / videos)),
        create=True,
    )
    data = workflows.open_project(project)
    drawn = workflows.draw_samples(data, num_samples=num_samples, seed=0).sample_keys
    return project, data, drawn


def assert_followable(check, statement: str) -> None:
    """The advice is one a user can follow, and never asks for more than can exist."""
    numbers = [int(n.replace(",", "")) for n in re.findall(r"about ([\d,]+) more", statement)]
    if check.settled:
        assert statement.startswith("Settled") and "draw" not in statement.lower()
        return
    assert check.blocker in ("", "too-few-keypoints", "positive-slope", "no-line"), check
    if check.blocker == "too-few-keypoints":
        assert "cannot reach the targets (too few keypoints)" in statement
        assert "As it stands the line is" in statement
        assert "draw" not in statement.lower()
        return
    assert check.more_needed is not None and numbers == [check.more_needed], statement
    assert check.more_needed <= check.candidates
    if check.more_needed <= check.samples_left:
        assert check.draw_more == 0
        assert f"of your {check.samples_left:,} drawn sample" in statement
    else:
        assert check.draw_more == check.more_needed - check.samples_left > 0
        assert f"draw {check.draw_more:,} more sample" in statement
        assert check.draw_more <= check.candidates - check.samples_left
