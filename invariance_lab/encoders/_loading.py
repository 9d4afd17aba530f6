"""Reading checkpoint files safely and loading them strictly (DESIGN.md §3, "Loading is strict").

Two steps, kept apart so that every checkpoint format shares them:

- `read_checkpoint` / `safe_load`: open a file with `torch.load(weights_only=True)` (or
  `safetensors.torch.load_file`). A file that needs full pickle is refused unless the caller passes
  `trust_checkpoint=True` (`--trust-checkpoint`), because unpickling runs arbitrary code
  (https://pytorch.org/docs/stable/generated/torch.load.html, "weights_only").
- `load_strict`: fill every parameter and buffer of the target backbone. Known head keys are
  dropped and reported; any other missing, unexpected or mis-shaped key is an error that lists the
  keys. This is the opposite of the paper's scripts, which load with `strict=False` and print.
"""

from __future__ import annotations

import fnmatch
import pickle
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError
from ._encoder import state_dict_digest

MAX_LISTED = 20
"""How many keys an error message lists per category."""

CLASSIFIER_HEADS = ("fc.*", "classifier.*", "head.*", "heads.*", "head_dist.*", "linear.*")
"""Supervised classification heads; dropped when absent from the model or of another shape."""

SSL_HEADS = (
    "projection*",
    "projector*",
    "predictor*",
    "prototypes*",
    "queue*",
    "momentum_*",
    "*encoder_k.*",
    "key_*",
)
"""Training-only parts of self-supervised checkpoints: projection/prediction heads, prototypes,
queues and momentum (key) encoders. Never part of the encoder that is measured."""

HEAD_NOT_IN_CHECKPOINT = "not in checkpoint (unused by taps)"

_UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)|safe_globals\(\[([\w.]+)\]\)")


@dataclass
class Checkpoint:
    """A checkpoint file as read from disk, plus a structural summary for format detection.

    Attributes:
        path: the file.
        obj: what `torch.load` (or safetensors) returned.
        keys: every tensor in the file as a path, containers joined by "/"
            (`state_dict/module.encoder_q.conv1.weight`; a flat state dict gives plain keys).
        meta: scalar entries (str, int, float, bool) by the same kind of path (`arch`, `epoch`,
            `format`, `preprocessing/resize`).
        pickled: True if the file needed full pickle (`trust_checkpoint=True`).
        shapes: the shape of every tensor in `keys`.

    """

    path: Path
    obj: Any
    keys: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    pickled: bool = False
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)


def harmless_globals() -> list:
    """Types the published checkpoints pickle besides tensors, allowed under `weights_only=True`.

    - `argparse.Namespace`: DINO (`main_dino.py` saves `args`), MoCo v3 and timm training
      checkpoints store the run's arguments; rebuilding one only sets attributes.
    - NumPy scalars and dtypes (`numpy.core.multiarray.scalar`, `numpy.dtype` and its
      `numpy.dtypes.*DType` classes): epoch counters, best accuracies and losses saved as
      `np.float64`; NumPy arrays (`_reconstruct`, `ndarray`) in VISSL and detectron2-style files.
    Nothing here calls code chosen by the file: each global only rebuilds plain data.
    """
    import argparse

    import numpy as np

    allowed: list = [argparse.Namespace, np.dtype, np.ndarray]
    try:
        from numpy._core import multiarray as ma
    except ImportError:  # NumPy < 2
        from numpy.core import multiarray as ma  # type: ignore[no-redef]
    allowed += [ma.scalar, ma._reconstruct]
    allowed += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    return allowed


def safe_load(path: str | Path, trust_checkpoint: bool = False) -> tuple[Any, bool]:
    """Read a checkpoint on the CPU without running pickled code unless trusted.

    `.safetensors` files are read with `safetensors.torch.load_file`; anything else with
    `torch.load(path, map_location="cpu", weights_only=True)`.

    Args:
        path: the checkpoint file.
        trust_checkpoint: allow a second attempt with `weights_only=False` (full pickle) when the
            file holds objects other than tensors and containers (argparse args, NumPy arrays).

    Returns:
        The loaded object and whether full pickle was needed.

    Raises:
        CheckpointError: the file is missing, unreadable or corrupt (re-download or re-save it);
            or it needs pickle and `trust_checkpoint` is False (pass `--trust-checkpoint` only for
            files from a source you trust).

    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint file not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint path is not a file: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            tensors = load_file(str(path), device="cpu")
            return _with_metadata(path, tensors), False
        except Exception as e:  # SafetensorError, OSError: report as a bad file
            raise CheckpointError(
                f"cannot read safetensors file {path}: {e}. The file may be truncated; re-download it"
            ) from e
    try:
        with torch.serialization.safe_globals(harmless_globals()):
            return torch.load(path, map_location="cpu", weights_only=True), False
    except pickle.UnpicklingError as e:
        msg = str(e)
        m = _UNSAFE_GLOBAL.search(msg)
        if m is None:
            kind = (
                "a PyTorch zip checkpoint"
                if zipfile.is_zipfile(path)
                else "not a PyTorch zip checkpoint"
            )
            if not trust_checkpoint:
                raise CheckpointError(
                    f"cannot read checkpoint {path} ({kind}): it is corrupt, or a legacy/plain pickle file. "
                    "Re-download it, or, only if you trust its source, pass --trust-checkpoint "
                    "(trust_checkpoint=True) to open it with full pickle."
                ) from e
        elif not trust_checkpoint:
            name = m.group(1) or m.group(2)
            raise CheckpointError(
                f"checkpoint {path} contains Python objects other than tensors (first one: {name}), which "
                "torch.load(weights_only=True) refuses because unpickling them can run arbitrary code. "
                "If you trust the file's source, pass --trust-checkpoint (trust_checkpoint=True)."
            ) from e
    except Exception as e:  # RuntimeError from the zip reader, EOFError, OSError
        raise CheckpointError(
            f"cannot read checkpoint {path}: {type(e).__name__}: {e}. The file may be corrupt; re-download it"
        ) from e
    try:
        return torch.load(path, map_location="cpu", weights_only=False), True
    except Exception as e:  # a trusted file that still does not unpickle is corrupt
        raise CheckpointError(
            f"cannot read checkpoint {path} even with --trust-checkpoint: {type(e).__name__}: {e}"
        ) from e


SAFETENSORS_META_KEY = "invariance_lab"
"""safetensors metadata entry written by `convert`: JSON with the source format, arch, preprocessing."""


def _with_metadata(path: Path, tensors: dict) -> Any:
    """A converted `.safetensors` file as `{"state_dict": tensors, "invariance_lab": {...}}`, else the tensors."""
    import json

    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if SAFETENSORS_META_KEY not in meta:
        return tensors
    return {"state_dict": tensors, SAFETENSORS_META_KEY: json.loads(meta[SAFETENSORS_META_KEY])}


def summarize(
    obj: Any,
    prefix: str = "",
    keys: list[str] | None = None,
    meta: dict | None = None,
    depth: int = 0,
    shapes: dict | None = None,
):
    """Tensor paths and scalar entries of a nested checkpoint (see `Checkpoint.keys`/`.meta`/`.shapes`).

    Returns (keys, meta) and fills `shapes` when given.
    """
    keys = [] if keys is None else keys
    meta = {} if meta is None else meta
    if isinstance(obj, torch.Tensor):
        keys.append(prefix)
        if shapes is not None:
            shapes[prefix] = tuple(obj.shape)
    elif isinstance(obj, Mapping) and depth < 8:
        for k, v in obj.items():
            if isinstance(k, str):
                summarize(v, f"{prefix}/{k}" if prefix else k, keys, meta, depth + 1, shapes)
    elif isinstance(obj, (str, int, float, bool)) and prefix:
        meta[prefix] = obj
    return keys, meta


def read_checkpoint(path: str | Path, trust_checkpoint: bool = False) -> Checkpoint:
    """`safe_load` plus the structural summary that format detection reads.

    Raises:
        CheckpointError: as `safe_load`.

    """
    obj, pickled = safe_load(path, trust_checkpoint)
    shapes: dict[str, tuple[int, ...]] = {}
    keys, meta = summarize(obj, shapes=shapes)
    return Checkpoint(Path(path), obj, keys, meta, pickled, shapes)


def _matches(key: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(key, p) for p in patterns)


def _listing(title: str, keys: list[str]) -> str:
    shown = "\n    ".join(keys[:MAX_LISTED])
    more = f"\n    ... and {len(keys) - MAX_LISTED} more" if len(keys) > MAX_LISTED else ""
    return f"  {title} ({len(keys)}):\n    {shown}{more}"


def _prefix_hint(unexpected: list[str], wanted: set[str]) -> str:
    """Name a prefix whose removal would turn unexpected keys into wanted ones (a wrapped checkpoint)."""
    counts: dict[str, int] = {}
    for k in unexpected:
        parts = k.split(".")
        for i in range(1, min(len(parts), 4)):
            if ".".join(parts[i:]) in wanted:
                p = ".".join(parts[:i]) + "."
                counts[p] = counts.get(p, 0) + 1
                break
    if not counts:
        return ""
    p, n = max(counts.items(), key=lambda kv: kv[1])
    return f"\n  {n} unexpected keys would match after removing the prefix {p!r}: the file wraps the backbone."


def load_strict(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    source: str,
    known_heads: Iterable[str],
    head: str | None = None,
    format_name: str = "plain",
    arch: str | None = None,
) -> dict[str, Any]:
    """Copy `state_dict` into `model`, filling every backbone parameter and buffer.

    Rules: a key of the model with the same shape is loaded. A checkpoint key matching one of
    `known_heads` that is absent from the model or of another shape is dropped and reported. The
    model's own classifier (`head`, a module path such as `fc`) may stay unfilled: taps stop before
    it, and the report says `head: "not in checkpoint (unused by taps)"`. Missing
    `num_batches_tracked` counters (BatchNorm bookkeeping, unused in eval mode) are allowed and
    reported. Everything else is an error.

    Args:
        model: the target architecture (modified in place).
        state_dict: backbone keys in the model's naming (after the format's key map).
        source: the file, for messages and the report.
        known_heads: shell-style patterns of head keys that may be dropped.
        head: qualified name of the model's classification head module, or None.
        format_name: the checkpoint format, for messages and the report.
        arch: the architecture, for messages.

    Returns:
        The load report: format, file, n_loaded, n_model_keys, dropped ({key: reason}), head,
        missing_allowed, digest (of the model's state after loading).

    Raises:
        CheckpointError: listing missing backbone keys, unexpected keys and shape mismatches with
            their counts. Pass `--format NAME` if the file was detected as the wrong format, or
            `--arch NAME` if it was trained with another architecture.

    """
    known_heads = tuple(known_heads)
    target = model.state_dict()
    head_prefix = f"{head}." if head else None
    loadable: dict[str, torch.Tensor] = {}
    dropped: dict[str, str] = {}
    unexpected: list[str] = []
    mismatched: list[str] = []
    wrong_shape: set[str] = set()
    for k, v in state_dict.items():
        if not isinstance(v, torch.Tensor):
            unexpected.append(k)
            continue
        t = target.get(k)
        if t is not None and tuple(t.shape) == tuple(v.shape):
            loadable[k] = v
        elif _matches(k, known_heads) or (head_prefix and k.startswith(head_prefix)):
            dropped[k] = (
                "not in model" if t is None else f"shape {tuple(v.shape)} != model {tuple(t.shape)}"
            )
        elif t is None:
            unexpected.append(k)
        else:
            mismatched.append(f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(t.shape)}")
            wrong_shape.add(k)
    unfilled = [k for k in target if k not in loadable and k not in wrong_shape]
    head_unfilled = [k for k in unfilled if head_prefix and k.startswith(head_prefix)]
    allowed = [k for k in unfilled if k.endswith("num_batches_tracked") and k not in head_unfilled]
    missing = [k for k in unfilled if k not in head_unfilled and k not in allowed]
    if missing or unexpected or mismatched:
        parts = [
            f"checkpoint {source} does not fit {arch or type(model).__name__} (format {format_name!r}): "
            f"{len(loadable)} of {len(target)} model keys matched."
        ]
        if missing:
            parts.append(_listing("missing backbone keys", missing))
        if unexpected:
            parts.append(_listing("unexpected keys", unexpected))
        if mismatched:
            parts.append(_listing("shape mismatches", mismatched))
        parts.append(_prefix_hint(unexpected, set(target)).lstrip("\n"))
        if mismatched:
            from ._infer import suggest_arch

            fits = suggest_arch(state_dict)
            if fits and (arch is None or fits.partition(":")[2] != arch.partition(":")[2]):
                parts.append(f"  The checkpoint's shapes fit {fits}: pass --arch {fits!r}.")
        parts.append(
            "  Fix: pass --format NAME if the file comes from another trainer (list them with "
            "`invariance-lab encoders formats`), or --arch NAME if it was trained with another architecture."
        )
        raise CheckpointError("\n".join(p for p in parts if p))
    # every backbone key was checked above; only the classifier head (unused by taps) and
    # num_batches_tracked counters may stay unfilled, and the report says so
    model.load_state_dict(loadable, strict=False)
    if not head:
        head_state = "no classification head"
    elif not head_unfilled:
        head_state = "loaded from checkpoint"
    elif len(head_unfilled) < sum(k.startswith(head_prefix) for k in target):
        head_state = f"partly loaded, {len(head_unfilled)} keys not filled (unused by taps)"
    elif any(k.startswith(head_prefix) for k in dropped):
        head_state = "dropped: other shape in checkpoint (unused by taps)"
    else:
        head_state = HEAD_NOT_IN_CHECKPOINT
    return {
        "format": format_name,
        "file": str(source),
        "n_loaded": len(loadable),
        "n_model_keys": len(target),
        "dropped": dropped,
        "head": head_state,
        "missing_allowed": allowed,
        "digest": state_dict_digest(model.state_dict()),
    }
