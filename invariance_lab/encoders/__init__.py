"""Encoders: load a checkpoint or model name into an `Encoder` with preprocessing and taps.

`load_encoder(spec)` is the entry point; `FORMATS` holds the checkpoint formats, each registered
by one module of `formats/`. Importing `formats` (this package does so first) imports every
module in that folder whose name does not start with "_", so a new format is a new file there and
nothing else changes.
"""

from . import formats  # noqa: F401  (registers every checkpoint format)
from ._encoder import DEFAULT_LAYER, Encoder, state_dict_digest
from ._formats import (
    FORMATS,
    CheckpointFormat,
    detect_format,
    get_format,
    list_formats,
    register_format,
)
from ._loading import load_strict, safe_load
from ._preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from ._spec import load_encoder, parse_spec
from .formats.native import save_encoder

__all__ = [
    "DEFAULT_LAYER",
    "FORMATS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CheckpointFormat",
    "Encoder",
    "Preprocessing",
    "detect_format",
    "get_format",
    "list_formats",
    "load_encoder",
    "load_strict",
    "parse_spec",
    "register_format",
    "safe_load",
    "save_encoder",
    "state_dict_digest",
]
