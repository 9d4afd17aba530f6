"""Encoders: load a checkpoint or model name into an `Encoder` with preprocessing and taps."""

from ._encoder import DEFAULT_LAYER, Encoder, state_dict_digest
from ._preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from ._spec import load_encoder

__all__ = ["DEFAULT_LAYER", "IMAGENET_MEAN", "IMAGENET_STD", "Encoder", "Preprocessing", "load_encoder", "state_dict_digest"]
