"""Checkpoint formats. Importing this package registers every format module below.

To add one (MoCo, PIRL/VISSL, SimCLR, BYOL, SwAV, DINO, ...; see TRAINERS.md §4), write a module
here that calls `register_format(CheckpointFormat(...))`. Every module of this package whose name
does not start with "_" is imported, so adding a format is adding a file.
"""

import importlib
import pkgutil

for _m in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
    importlib.import_module(f"{__name__}.{_m}")
