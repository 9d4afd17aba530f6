"""The run log: rank-0 CSV (`OUT/log.csv`, appended on resume) and optional TensorBoard scalars."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from .errors import TrainingError


class RunLog:
    """Rank-0 CSV log (appended on resume) and optional TensorBoard writer."""

    FIELDS = ["epoch", "step", "global_step", "loss", "lr", "images_per_s", "knn_top1"]

    def __init__(self, out: Path, extra: list[str], tensorboard: bool, active: bool):
        self.active = active
        self.path = out / "log.csv"
        self.fields = self.FIELDS + extra
        self.tb = None
        if active and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as e:
                raise TrainingError(
                    "--tensorboard needs the tensorboard package: pip install tensorboard"
                ) from e
            self.tb = SummaryWriter(str(out / "tb"))

    def write(self, row: dict[str, Any]) -> None:
        """Append one row (missing columns stay empty); no-op off rank 0."""
        if not self.active:
            return
        new = not self.path.exists()
        with self.path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)
        if self.tb is not None:
            for k, v in row.items():
                if k not in ("epoch", "step", "global_step") and v is not None and v != "":
                    self.tb.add_scalar(k, float(v), row["global_step"])
