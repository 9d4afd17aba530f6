"""Training checkpoints: one atomically written file that resumes exactly and that `evaluate` loads.

Layout (all entries readable with `torch.load(weights_only=True)`):

    {"format": "invariance-lab-train", "version": 1,
     "method": "mocov2", "arch": "tv:resnet18",
     "encoder": {key: tensor},            # the backbone, in the architecture's own key names (no fc)
     "preprocessing": {...},              # input size and normalisation used in training
     "model": {key: tensor},              # the method's whole state: online net, heads, key encoder,
                                          # queue / memory bank, NCE constant
     "optimizer": ..., "scheduler": {...}, "scaler": {...} | None,
     "position": {"epoch", "step", "global_step"},     # the sampler position to continue from
     "rng": {"torch", "python", "numpy", "method"},     # generator states
     "config": {...}}                                   # the resolved options (JSON-like)

`invariance_lab/encoders/formats/trainer.py` maps it to the backbone and ignores the rest.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import TrainingError

FORMAT = "invariance-lab-train"
VERSION = 1


def rng_state(method_generator: torch.Generator) -> dict[str, Any]:
    """Generator states as tensors and plain containers (no NumPy objects, for weights_only)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": list(random.getstate()[1]) + [random.getstate()[0], repr(random.getstate()[2])],
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "method": method_generator.get_state(),
    }


def set_rng_state(state: dict[str, Any], method_generator: torch.Generator) -> None:
    """Restore what `rng_state` recorded."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    py = state["python"]
    random.setstate((py[-2], tuple(py[:-2]), None if py[-1] == "None" else float(py[-1])))
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    )
    method_generator.set_state(state["method"])


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write `payload` to `path` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT, "version": VERSION, **payload}, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a training checkpoint with `weights_only=True`.

    Raises:
        TrainingError: the file is missing, unreadable or not an `invariance-lab-train` file.

    """
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"--resume {path}: no such checkpoint file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt or foreign file
        raise TrainingError(
            f"--resume {path}: cannot read it ({type(e).__name__}: {e}); point --resume at a checkpoint.pt written by `invariance-lab train`"
        ) from e
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise TrainingError(
            f"--resume {path}: not an {FORMAT} checkpoint (written by `invariance-lab train`)"
        )
    if obj.get("version", 0) > VERSION:
        raise TrainingError(
            f"--resume {path}: checkpoint version {obj.get('version')} is newer than this invariance_lab reads ({VERSION}); upgrade invariance_lab"
        )
    return obj
