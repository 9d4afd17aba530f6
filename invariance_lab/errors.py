"""Exceptions with messages a user can act on.

Every error the tool raises on bad input derives from `InvarianceLabError`; the CLI prints its
message (no traceback) and exits with status 2. Messages name the file, key, item or layer at fault
and say what to do.
"""


class InvarianceLabError(Exception):
    """Base class: a problem with the user's input or environment, reported without a traceback."""

    exit_code = 2


class RegistryError(InvarianceLabError, KeyError):
    """Unknown or duplicate name in a registry (probe, format, trainer)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class EncoderSpecError(InvarianceLabError):
    """An encoder spec (`tv:NAME`, `timm:NAME`, a path) that cannot be resolved."""


class CheckpointError(InvarianceLabError):
    """A checkpoint that cannot be read or does not fit the architecture (missing/unexpected keys)."""


class LayerNotFoundError(InvarianceLabError, KeyError):
    """A `--layer` name that is not a module of the encoder."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ProbeError(InvarianceLabError):
    """A probe that cannot be built: missing data root, bad layout, empty probe."""


class ImageReadError(InvarianceLabError):
    """An image file that cannot be decoded; names the file and the probe item."""


class FeatureFileError(InvarianceLabError):
    """A features file (`alldata.pth`, `.npz`) with missing or malformed keys."""


class MetricInputError(InvarianceLabError):
    """Features or set labels that the invariance measure cannot score (NaN, constant, too few sets)."""


class CacheError(InvarianceLabError):
    """A feature cache that is corrupt or does not match its index."""


class OptionError(InvarianceLabError, ValueError):
    """An option value that cannot be used (a batch size of 0, a CUDA device on a machine without one)."""
