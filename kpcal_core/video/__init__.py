"""Video frames for kpcal: one frame source, from a recording's name to the pixels shown.

A frame takes one path, a module per step:

- ``match``: which video a recording uses (keypoint-MoSeq's prefix match,
  :func:`find_matching_videos`; the named rules of :func:`resolve_videos`; the
  frame rate a new ``config.yml`` takes)
- ``index``: which packet is video frame ``i`` (:func:`~.index.frame_index`, one
  scan of the packets per video, kept on disk), PyAV opened with the size check
- ``decode``: the one exact reader (:func:`read_frames`: PyAV with the least
  work the codec allows, OpenCV where PyAV cannot be exact), :func:`video_info`
- ``cache``: the on-disk frame cache (lossless, compact, a size cap, least
  recently used evicted)
- ``source``: what the rest of kpcal asks: the frame behind each sample
  (:func:`sample_video_frames`), the one fill of the cache (:func:`fill_cache`),
  one frame (:func:`load_frame`), keypoint-MoSeq's :func:`load_sampled_frames`
- ``prefetch``: work done ahead in background threads (:class:`Prefetcher`
  for the next samples' frames, :class:`BackgroundJob` for the fill)
- ``recordings``: the recordings-vs-videos check before anything is drawn
  (:func:`check_videos`, one row per recording) and :func:`downsample`
  (keypoint frames thinned, with the video frame each came from)

Nothing else in kpcal reads a video (the demo only writes its own); the pose
format readers (:mod:`kpcal_core.formats`) import nothing from here.
"""

from .cache import DEFAULT_MAX_BYTES, CacheSize, cache_size
from .decode import VideoInfo, read_frames, video_info
from .match import (
    RULES,
    VIDEO_EXTENSIONS,
    FrameRate,
    VideoChoice,
    find_matching_videos,
    frame_rate,
    list_videos,
    resolve_videos,
)
from .prefetch import BackgroundJob, JobProgress, Prefetcher
from .recordings import check_videos, downsample
from .source import (
    FillSummary,
    fill_cache,
    index_videos,
    load_frame,
    load_sampled_frames,
    sample_frame_loader,
    sample_video_frames,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "RULES",
    "VIDEO_EXTENSIONS",
    "BackgroundJob",
    "CacheSize",
    "FillSummary",
    "FrameRate",
    "JobProgress",
    "Prefetcher",
    "VideoChoice",
    "VideoInfo",
    "cache_size",
    "check_videos",
    "downsample",
    "fill_cache",
    "find_matching_videos",
    "frame_rate",
    "index_videos",
    "list_videos",
    "load_frame",
    "load_sampled_frames",
    "read_frames",
    "resolve_videos",
    "sample_frame_loader",
    "sample_video_frames",
    "video_info",
]
