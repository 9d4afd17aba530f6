"""Helpers shared by the format modules: containers, prefix maps, projection heads.

Not a format itself (the leading "_" keeps it out of the auto-import in `__init__.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ...errors import CheckpointError
from .._formats import StateDict


def container(obj: Any, path: str, fmt: str) -> Mapping[str, Any]:
    """The dict at `path` ("classy_state_dict/base_model/model") inside a loaded checkpoint.

    Raises:
        CheckpointError: naming the missing part (the file is not of format `fmt`; pass --format).

    """
    cur = obj
    for part in filter(None, path.split("/")):
        if not isinstance(cur, Mapping) or part not in cur:
            raise CheckpointError(f"no {path!r} entry where format {fmt!r} expects one; pass the matching --format NAME")
        cur = cur[part]
    if not isinstance(cur, Mapping):
        raise CheckpointError(f"{path!r} is a {type(cur).__name__}, not a dict of tensors (format {fmt!r})")
    return cur


def tensors(d: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The tensor entries of a dict."""
    return {k: v for k, v in d.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}


def remap(state: Mapping[str, torch.Tensor], rules: Sequence[tuple[str, str]]) -> StateDict:
    """Rename keys by the first matching prefix rule (old, new); keys matching no rule stay as they are.

    Nothing is dropped here: keys that are not backbone keys keep a name that the format's
    `heads` patterns cover, or `load_strict` reports them as unexpected.
    """
    out: StateDict = {}
    for k, v in state.items():
        for old, new in rules:
            if k.startswith(old):
                k = new + k[len(old) :]
                break
        out[k] = v
    return out


def has(keys: list[str], *prefixes: str) -> bool:
    """Some key starts with each of `prefixes`."""
    return all(any(k.startswith(p) for k in keys) for p in prefixes)


def mlp_from_state(state: Mapping[str, torch.Tensor], prefix: str) -> nn.Module:
    """Rebuild a projection MLP from its weights: `prefix.<i>.weight` 2-D → Linear, running stats → BatchNorm1d.

    Gaps in the indices are ReLUs, as in every head these releases use (MoCo v2 `fc.0/fc.2`;
    MoCo v3 `fc.0, fc.1 (BN), fc.3, fc.4 (BN without affine)`; SwAV/solo-learn/Barlow Twins
    Linear-BN-ReLU-Linear). A single `prefix.weight` is one Linear (MoCo v1).

    Raises:
        CheckpointError: no head weights under `prefix`, or a layer that is neither Linear nor BN.

    """
    sub = {k[len(prefix) + 1 :]: v for k, v in state.items() if k.startswith(prefix + ".")}
    if not sub:
        raise CheckpointError(f"no projection head under {prefix!r} in the checkpoint; drop --head")
    if "weight" in sub and sub["weight"].dim() == 2:
        lin = nn.Linear(sub["weight"].shape[1], sub["weight"].shape[0], bias="bias" in sub)
        lin.load_state_dict({k: sub[k] for k in ("weight", "bias") if k in sub})
        return lin.eval()
    idx = sorted({int(k.split(".")[0]) for k in sub if k.split(".")[0].isdigit()})
    layers: list[nn.Module] = []
    for i in range(idx[-1] + 1):
        own = {k.split(".", 1)[1]: v for k, v in sub.items() if k.split(".")[0] == str(i)}
        if not own:
            layers.append(nn.ReLU())
        elif "running_mean" in own:
            bn = nn.BatchNorm1d(own["running_mean"].shape[0], affine="weight" in own)
            # some releases drop the step counter; everything else must be there
            own.setdefault("num_batches_tracked", torch.tensor(0, dtype=torch.long))
            bn.load_state_dict(own)
            layers.append(bn)
        elif "weight" in own and own["weight"].dim() == 2:
            lin = nn.Linear(own["weight"].shape[1], own["weight"].shape[0], bias="bias" in own)
            lin.load_state_dict(own)
            layers.append(lin)
        else:
            raise CheckpointError(f"cannot rebuild layer {prefix}.{i} ({sorted(own)}) of the projection head")
    return nn.Sequential(*layers).eval()
