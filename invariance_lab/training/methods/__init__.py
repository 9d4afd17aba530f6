"""Training methods. Importing this package registers every method module below.

One module per method (`moco.py`: `moco`, `mocov2`; `pirl.py`: `pirl`; `temporal.py`: `temporal`;
`region_tracker.py`: `region-tracker`), each a `Method` subclass
registered with `register_method`; the CLI's sub-commands come from `METHODS`.
"""

from . import moco, pirl, region_tracker, temporal  # noqa: F401  (registers the methods)
from .base import METHODS, Method, get_method, list_methods, register_method

__all__ = ["METHODS", "Method", "get_method", "list_methods", "register_method"]
