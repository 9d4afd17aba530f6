"""invariance_lab: measure what an image encoder is invariant to.

The notebook API mirrors the command line:

    >>> from invariance_lab import load_encoder, get_probe, evaluate
    >>> enc = load_encoder("tv:resnet18")
    >>> df = evaluate(enc, [get_probe("synth-viewpoint"), get_probe("folder:my_sets")], mode="strict")

Submodules load lazily, so `import invariance_lab` stays cheap.
"""

from ._version import __version__

__all__ = ["__version__", "evaluate", "extract_features", "get_probe", "list_probes", "load_encoder", "score_features"]


def __getattr__(name: str):
    if name == "evaluate":
        from .evaluate import evaluate

        return evaluate
    if name == "load_encoder":
        from .encoders import load_encoder

        return load_encoder
    if name in ("get_probe", "list_probes"):
        from . import probes

        return getattr(probes, name)
    if name == "extract_features":
        from .features import extract_features

        return extract_features
    if name == "score_features":
        from .metrics import score_features

        return score_features
    raise AttributeError(f"module 'invariance_lab' has no attribute {name!r}")
