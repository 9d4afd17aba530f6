"""Named feature taps: one forward pass, several layers, each globally pooled to (B, C).

The default tap (`DEFAULT_LAYER`) is the input of the classification head, i.e. the globally
pooled penultimate features the paper measures. It is obtained by replacing the head with
`nn.Identity` (torchvision: the last `nn.Linear`; timm: `reset_classifier(0)`), so the model's own
pooling (average pool, class token, ...) is kept. Other layers are any node name of the model's
FX graph (`layer3`, `blocks.7`, `features.12`, ...), extracted with
`torchvision.models.feature_extraction.create_feature_extractor` (timm's FX wrapper for timm
models, which knows its untraceable modules). Models that FX cannot trace fall back to forward
hooks on module names, recorded in `Encoder.load_report["taps"]`.
"""

from __future__ import annotations

import copy
import difflib

import torch
from torch import nn

from ..errors import LayerNotFoundError
from ._encoder import DEFAULT_LAYER, Encoder


def pool(t: torch.Tensor) -> torch.Tensor:
    """Global average pooling of one tap: (B, C, H, W) → (B, C); tokens (B, T, C) → (B, C)."""
    if isinstance(t, (tuple, list)):
        t = t[0]
    if t.dim() == 4:
        return t.mean(dim=(2, 3))
    if t.dim() == 3:
        return t.mean(dim=1)
    if t.dim() == 2:
        return t
    return t.flatten(1)


def head_path(model: nn.Module, family: str) -> str:
    """Qualified name of the classification head module."""
    if family == "timm" and hasattr(model, "get_classifier"):
        clf = model.get_classifier()
        for name, mod in model.named_modules():
            if mod is clf:
                return name
    last = None
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear):
            last = name
    if last is None:
        raise LayerNotFoundError(
            f"cannot find a classification head (nn.Linear) in {type(model).__name__}; pass --layer NAME"
        )
    return last


def headless(model: nn.Module, family: str) -> tuple[nn.Module, str]:
    """A copy of `model` whose head is `nn.Identity`, and the head's qualified name."""
    path = head_path(model, family)
    m = copy.deepcopy(model)
    if family == "timm" and hasattr(m, "reset_classifier"):
        m.reset_classifier(0)
    else:
        parent_name, _, child = path.rpartition(".")
        parent = m.get_submodule(parent_name) if parent_name else m
        setattr(parent, child, nn.Identity())
    return m.eval(), path


def _graph_names(model: nn.Module, family: str) -> list[str] | None:
    try:
        if family == "timm":
            from timm.models._features_fx import get_graph_node_names
        else:
            from torchvision.models.feature_extraction import get_graph_node_names
        nodes = list(get_graph_node_names(model)[1])
    except Exception:  # untraceable model: hooks on module names instead
        return None
    # feature_extraction accepts a module name for the last node inside it ("layer3" is the
    # output of layer3's last node), so module prefixes are valid tap names too.
    names: dict[str, None] = {}
    for n in nodes:
        parts = n.split(".")
        for i in range(1, len(parts)):
            names.setdefault(".".join(parts[:i]))
        names.setdefault(n)
    return list(names)


def available_layers(encoder: Encoder) -> list[str]:
    """DEFAULT_LAYER, then the model's FX node names (or module names if it cannot be traced)."""
    names = _graph_names(encoder.model, encoder.family)
    if names is None:
        names = [n for n, _ in encoder.model.named_modules() if n]
    return [DEFAULT_LAYER] + [n for n in names if n not in ("x", "input")]


class _Taps(nn.Module):
    """Runs the extractor and pools every tap; output is {layer: (B, C)}."""

    def __init__(self, extractor: nn.Module, rename: dict[str, str], hooks: bool = False):
        super().__init__()
        self.extractor = extractor
        self.rename = rename  # extractor key -> user layer name
        self.hooks = hooks

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.extractor(x)
        if not isinstance(out, dict):
            out = {DEFAULT_LAYER: out}
        return {self.rename.get(k, k): pool(v) for k, v in out.items()}


class _HookExtractor(nn.Module):
    def __init__(self, model: nn.Module, names: list[str], head: str | None):
        super().__init__()
        self.model = model
        self.names = names
        self.head = head
        self._store: dict[str, torch.Tensor] = {}
        for n in names:
            model.get_submodule(n).register_forward_hook(self._hook(n))

    def _hook(self, name: str):
        def fn(_m, _inp, out):
            self._store[name] = out

        return fn

    def forward(self, x):
        self._store = {}
        y = self.model(x)
        out = dict(self._store)
        if self.head is not None:
            out[DEFAULT_LAYER] = y
        return out


def build_feature_module(encoder: Encoder, layers: list[str]) -> nn.Module:
    """See `Encoder.feature_module`."""
    if not layers:
        layers = [DEFAULT_LAYER]
    model, hpath = headless(encoder.model, encoder.family)
    others = [name for name in dict.fromkeys(layers) if name != DEFAULT_LAYER]
    if not others:
        return _Taps(model, {})
    valid = _graph_names(model, encoder.family)
    use_hooks = valid is None
    if use_hooks:
        valid = [n for n, _ in model.named_modules() if n]
    for name in others:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=8, cutoff=0.5)
            raise LayerNotFoundError(
                f"layer {name!r} is not in {encoder.arch} ({encoder.spec}). Nearest names: "
                f"{', '.join(close) if close else '(none)'}. List all with `invariance-lab encoders layers {encoder.spec}`"
            )
    want_default = DEFAULT_LAYER in layers
    encoder.load_report["taps"] = "forward-hooks" if use_hooks else "fx"
    if use_hooks:
        return _Taps(_HookExtractor(model, others, hpath if want_default else None), {})
    nodes = {n: n for n in others}
    if want_default:
        nodes[hpath] = DEFAULT_LAYER if hpath not in nodes else hpath
    if encoder.family == "timm":
        from timm.models._features_fx import create_feature_extractor
    else:
        from torchvision.models.feature_extraction import create_feature_extractor
    extractor = create_feature_extractor(model, return_nodes=nodes)
    rename = {v: v for v in nodes.values()}
    return _Taps(extractor.eval(), rename)
