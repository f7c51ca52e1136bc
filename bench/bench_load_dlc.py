"""Benchmark: load a 1-hour DeepLabCut .h5 with ``load_keypoints``.

Writes a synthetic DeepLabCut prediction file (30 fps x 3600 s = 108000
frames, 20 bodyparts, DeepLabCut's pandas "table" layout under the key
``df_with_missing``) to a temporary folder, loads it, and prints the load
time and the file size. Target: under 3 s.

Run: ``python bench/bench_load_dlc.py``
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kpcal_core.keypoints import load_keypoints

FPS = 30
SECONDS = 3600
N_BODYPARTS = 20
TARGET_SECONDS = 3.0


def write_dlc_h5(path: Path, n_frames: int, n_bodyparts: int, seed: int = 0) -> None:
    """A DeepLabCut-style prediction table: x, y, likelihood per bodypart."""
    rng = np.random.default_rng(seed)
    bodyparts = [f"bodypart{i}" for i in range(n_bodyparts)]
    columns = pd.MultiIndex.from_product(
        [["DLC_resnet50_benchJan1shuffle1_100000"], bodyparts, ["x", "y", "likelihood"]],
        names=["scorer", "bodyparts", "coords"],
    )
    values = rng.uniform(0, 640, size=(n_frames, n_bodyparts, 3))
    values[..., 2] = rng.uniform(0, 1, size=(n_frames, n_bodyparts))
    frame = pd.DataFrame(values.reshape(n_frames, -1), columns=columns)
    frame.to_hdf(path, key="df_with_missing", format="table", mode="w")


def main() -> None:
    n_frames = FPS * SECONDS
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "session1DLC_resnet50_benchJan1shuffle1_100000.h5"
        write_dlc_h5(path, n_frames, N_BODYPARTS)
        size_mb = path.stat().st_size / 1e6
        start = time.perf_counter()
        coordinates, confidences, bodyparts = load_keypoints(path)
        elapsed = time.perf_counter() - start
    (name,) = coordinates
    assert coordinates[name].shape == (n_frames, N_BODYPARTS, 2)
    assert confidences[name].shape == (n_frames, N_BODYPARTS)
    verdict = "OK" if elapsed < TARGET_SECONDS else "SLOW"
    print(
        f"load_keypoints DLC .h5: {n_frames} frames x {len(bodyparts)} keypoints, "
        f"{size_mb:.1f} MB, loaded in {elapsed:.2f} s (target < {TARGET_SECONDS:.0f} s) {verdict}"
    )


if __name__ == "__main__":
    main()
