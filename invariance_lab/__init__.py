"""invariance_lab: measure what an image encoder is invariant to."""

from ._version import __version__

__all__ = ["__version__"]
