"""`invariance-lab`: this project's own encoder file, written by `save_encoder`.

One `torch.save`d dict that `torch.load(weights_only=True)` reads (tensors, str, int, float,
bool, None, lists, tuples and dicts only):

    {"format": "invariance-lab", "version": 1,
     "arch": "resnet18", "family": "torchvision" | "timm",
     "preprocessing": {input_size, mean, std, resize, interpolation},   # Preprocessing.to_dict()
     "state_dict": {name: tensor},                                      # the whole model, head included
     "meta": {...}}                                                     # provenance, JSON-like

The file records its architecture and preprocessing, so `load_encoder(path)` needs no `--arch`.
Source: this module (DESIGN.md §1, "checkpoints that `evaluate` loads like any release").
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

from ..._version import __version__
from ...errors import CheckpointError
from .._encoder import Encoder
from .._formats import CheckpointFormat, StateDict, register_format
from .._preprocess import Preprocessing

FORMAT_NAME = "invariance-lab"
VERSION = 1
FAMILY_PREFIX = {"torchvision": "tv", "timm": "timm"}


def detect(keys: list[str], meta: dict[str, Any]) -> bool:
    """The `format` entry says so and the tensors sit under `state_dict`."""
    return meta.get("format") == FORMAT_NAME and any(k.startswith("state_dict/") for k in keys)


def _check_version(obj: Mapping) -> None:
    v = obj.get("version")
    if not isinstance(v, int) or v > VERSION:
        raise CheckpointError(
            f"{FORMAT_NAME} file version {v!r} is not supported by invariance_lab {__version__} "
            f"(reads versions 1..{VERSION}); upgrade invariance_lab"
        )


def to_state(obj: Any) -> StateDict:
    """The saved state dict (already in the architecture's names).

    Raises:
        CheckpointError: for a newer file version (upgrade invariance_lab).

    """
    _check_version(obj)
    return dict(obj["state_dict"])


def arch_of(obj: Any) -> str | None:
    """`tv:NAME` or `timm:NAME` from the recorded family and arch."""
    prefix = FAMILY_PREFIX.get(obj.get("family"))
    return f"{prefix}:{obj['arch']}" if prefix and isinstance(obj.get("arch"), str) else None


def preprocessing_of(obj: Any) -> Preprocessing | None:
    """The recorded `Preprocessing` (lists turned back into tuples).

    Raises:
        CheckpointError: for entries this version does not know (upgrade invariance_lab).

    """
    d = obj.get("preprocessing")
    if not isinstance(d, Mapping):
        return None
    known = {f.name for f in fields(Preprocessing)}
    extra = sorted(set(d) - known)
    if extra:
        raise CheckpointError(
            f"unknown preprocessing entries {extra} in {FORMAT_NAME} file; upgrade invariance_lab"
        )
    return Preprocessing(
        **{k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in d.items()}
    )


def _check_meta(value: Any, where: str = "meta") -> None:
    if value is None or isinstance(value, (str, int, float, bool)):
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_meta(v, f"{where}[{i}]")
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: keys must be str, got {k!r}")
            _check_meta(v, f"{where}.{k}")
        return
    raise TypeError(
        f"{where} is a {type(value).__name__}; meta may hold only str, int, float, bool, None, lists and dicts "
        "(so that the file opens with weights_only=True). Convert it, e.g. vars(args) for argparse args"
    )


def save_encoder(
    encoder: Encoder, path: str | os.PathLike, meta: Mapping[str, Any] | None = None
) -> Path:
    """Write `encoder` as an `invariance-lab` file that `load_encoder(path)` rebuilds exactly.

    The write is atomic (temporary file, then rename). Loading it back gives the same weights,
    preprocessing and `Encoder.digest`.

    Args:
        encoder: what to save (its whole model state, classification head included).
        path: destination file, conventionally `*.pt`.
        meta: JSON-like provenance (training config, epoch, data) stored under `meta`.

    Returns:
        The path written.

    Raises:
        TypeError: `meta` holds something other than str/int/float/bool/None/lists/dicts
            (convert it first, e.g. `vars(args)`).
        ValueError: the encoder's family is neither torchvision nor timm.

    Example:
        >>> enc = load_encoder("tv:resnet18")
        >>> save_encoder(enc, "runs/r18.pt", meta={"note": "random init"})
        >>> load_encoder("runs/r18.pt").digest == enc.digest
        True

    """
    if encoder.family not in FAMILY_PREFIX:
        raise ValueError(
            f"cannot save family {encoder.family!r}; {FORMAT_NAME} files hold torchvision or timm models"
        )
    user_meta = dict(meta or {})
    _check_meta(user_meta)
    state = {k: v.detach().cpu().clone() for k, v in encoder.model.state_dict().items()}
    payload = {
        "format": FORMAT_NAME,
        "version": VERSION,
        "arch": encoder.arch,
        "family": encoder.family,
        "preprocessing": encoder.preprocessing.to_dict(),
        "state_dict": state,
        "meta": {
            "source_spec": encoder.spec,
            "digest": encoder.digest,
            "invariance_lab_version": __version__,
            **user_meta,
        },
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


NATIVE = register_format(
    CheckpointFormat(
        name=FORMAT_NAME,
        description="{'format': 'invariance-lab', 'version', 'arch', 'family', 'preprocessing', 'state_dict', 'meta'}",
        detect=detect,
        map=to_state,
        heads=(),
        preprocessing=preprocessing_of,
        arch=arch_of,
        citation="invariance_lab/encoders/formats/native.py (save_encoder)",
    )
)
