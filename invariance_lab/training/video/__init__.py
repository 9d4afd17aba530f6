"""Video data for the temporal trainers: frame-folder readers, frame-pair sampling, region proposals and tracks.

`readers` (TrackingNet, GOT-10k, SynthWorld clips), `sampler` (pairs (video, t, t + Δ), balanced
or proportional, resumable), `data` (the pair dataset and its `TrainingData`), `tracks`
(proposals and an unsupervised tracker), `store` (the resumable prepare step and its reader),
`views` (frame and region views for the Region Tracker).
"""

from .readers import VideoClip, VideoSet, read_got10k, read_trackingnet, read_videos
from .sampler import PairSampler, draw_pairs
from .store import TrackStore, prepare_tracks
from .tracks import TrackParams

__all__ = [
    "PairSampler",
    "TrackParams",
    "TrackStore",
    "VideoClip",
    "VideoSet",
    "draw_pairs",
    "prepare_tracks",
    "read_got10k",
    "read_trackingnet",
    "read_videos",
]
