"""Reference trainers: MoCo v1/v2, PIRL and the video methods (Frame Temporal Invariance, Region Tracker), composed from small parts, run by one shared loop.

Parts (Falcon & Cho, https://arxiv.org/abs/2009.00104): views (`augment`, `jigsaw`), encoder and
representation (`heads`), similarity and loss (`losses`), negatives (`queue`, `memory_bank`),
BatchNorm handling (`shuffle_bn`). Methods (`methods/`) wire them; `loop.train` runs any method
(optimiser, schedule, AMP, DDP, checkpoints), with `data` (datasets, seeded views, resumable
sampler), `video/` (video readers, frame-pair sampler, stored region tracks), `sources` (what
`--data` names, the kNN held-out set), `knn` (the monitor), `logger`
(CSV/TensorBoard), `checkpoint` (the file layout) and `distributed` (process-group helpers). Checkpoints load with
`invariance_lab.load_encoder(path)` (format `invariance-lab-train`).

Example:
    >>> from invariance_lab.training import TrainConfig, train
    >>> cfg = TrainConfig.for_method("mocov2", arch="tv:resnet18", data="synth", epochs=2, batch_size=32)
    >>> summary = train(cfg)  # doctest: +SKIP

"""

from .config import TrainConfig
from .errors import TrainingError
from .loop import train
from .methods import METHODS, get_method, list_methods, register_method

__all__ = [
    "METHODS",
    "TrainConfig",
    "TrainingError",
    "get_method",
    "list_methods",
    "register_method",
    "train",
]
