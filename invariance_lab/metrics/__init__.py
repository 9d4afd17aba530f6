"""Invariance measures: firing-rate invariance (paper-compatible and strict) with bootstrap CIs."""

from .firing_rate import (
    DEFAULT_KS,
    InvarianceResult,
    paper_firing_percent,
    paper_invariance,
    score_features,
    strict_invariance,
)

__all__ = ["DEFAULT_KS", "InvarianceResult", "paper_firing_percent", "paper_invariance", "score_features", "strict_invariance"]
