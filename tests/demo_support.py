"""Annotations at a demo project's truth, shared by the engine tests."""

from __future__ import annotations

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
