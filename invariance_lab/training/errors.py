"""The error the trainers raise on bad options or data (an `InvarianceLabError`, printed without traceback)."""

from ..errors import InvarianceLabError


class TrainingError(InvarianceLabError):
    """A training option, dataset or checkpoint that cannot be used; the message names it and the fix."""
