"""Test videos for the frame tests: frame numbers drawn into the picture, made with ffmpeg/OpenCV.

Imported by ``test_videos.py`` and ``test_frames.py`` (not collected: no ``test_`` prefix).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np

FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
W, H = 160, 120
BITS = 10  # frame numbers up to 1023 drawn as 10 black/white blocks


def coded_frame(index: int) -> np.ndarray:
    """BGR ``(H, W, 3)`` frame showing ``index`` in binary (one 16x16 block per bit) over a gradient."""
    frame = np.zeros((H, W, 3), np.uint8)
    frame[:, :, 0] = np.linspace(0, 120, W, dtype=np.uint8)[None, :]
    frame[:, :, 1] = (index * 7) % 120
    for bit in range(BITS):
        value = 255 if (index >> bit) & 1 else 0
        frame[40:72, bit * 16 : bit * 16 + 16] = value
    return frame


def decode_number(frame_rgb: np.ndarray) -> int:
    """The number :func:`coded_frame` drew (read from the block centres)."""
    number = 0
    for bit in range(BITS):
        if frame_rgb[48:64, bit * 16 + 4 : bit * 16 + 12].mean() > 128:
            number |= 1 << bit
    return number


def write_mp4v(path: Path, frames) -> Path:
    """An MPEG-4 part 2 video written by OpenCV (25 fps) from BGR frames."""
    frames = list(frames)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (w, h))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def ffmpeg(*args: str, stdin: bytes | None = None) -> None:
    subprocess.run(
        [FFMPEG, "-loglevel", "error", "-y", *args], input=stdin, check=True, capture_output=True
    )


def encode_coded(path: Path, n_frames: int, *output_args: str) -> Path:
    """Encode :func:`coded_frame` 0..n-1 (25 fps input) with ffmpeg and ``output_args``."""
    raw = b"".join(coded_frame(i).tobytes() for i in range(n_frames))
    ffmpeg(
        "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{W}x{H}", "-r", "25", "-i", "-",
        *output_args, str(path), stdin=raw,
    )  # fmt: skip
    return path
