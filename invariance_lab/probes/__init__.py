"""Probes: what images form each set. Importing this package registers every probe module below."""

from ..synthworld import probes as _synth  # noqa: F401  (registers synth-* and mesh-*; Mitsuba loads lazily)
from . import aloi, crop, folder, got10k, manifest, pascal3d  # noqa: F401  (register aloi-*, crop, folder, got10k-*, manifest, pascal3d-*)
from ._base import (
    PROBES,
    Probe,
    ProbeItem,
    check_probe_sets,
    get_probe,
    list_probes,
    register_probe,
)

__all__ = ["PROBES", "Probe", "ProbeItem", "check_probe_sets", "get_probe", "list_probes", "register_probe"]
