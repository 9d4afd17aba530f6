"""Checkpoint formats. Importing this package registers every format module below.

To add one (MoCo, PIRL/VISSL, SimCLR, BYOL, SwAV, DINO, ...; see TRAINERS.md §4), write a module
here that calls `register_format(CheckpointFormat(...))` and import it in this file.
"""

from . import native, plain  # noqa: F401  (register "invariance-lab", "plain")
