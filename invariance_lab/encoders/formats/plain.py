"""`plain`: a state dict in the architecture's own key names (torchvision, timm, most releases).

Layouts recognised (the tensors must all sit in one place):
- a flat `{name: tensor}` dict, as `nn.Module.state_dict()` and the torchvision weight files
  (https://download.pytorch.org/models/…, loaded by `torchvision.models.WeightsEnum.get_state_dict`)
  and timm's `model.safetensors` on the Hugging Face hub;
- the same under a `state_dict` or `model` key, the containers that
  `timm.models.load_state_dict` reads after its EMA keys (timm/models/_helpers.py: `state_dict`,
  then `model`) and the torchvision reference scripts write
  (pytorch/vision references/classification/train.py: `checkpoint = {"model": ...}`).
  Training checkpoints that also hold `state_dict_ema`/`model_ema` do not match: which copy to
  measure is a choice, left to a dedicated format.

Wrapper prefixes are removed when every key has them: `module.` (a model saved from inside
`torch.nn.parallel.DistributedDataParallel` / `DataParallel`, which hold it as `.module`) and
`_orig_mod.` (a `torch.compile`d model), in either order, as timm's `clean_state_dict` does
(timm/models/_helpers.py).

This is the fallback format: a file that a specific format (MoCo, DINO, this project's own)
recognises never lands here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ...errors import CheckpointError
from .._formats import CheckpointFormat, StateDict, register_format

CONTAINERS = ("state_dict", "model")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def _tensor_dict(obj: Any) -> Mapping[str, torch.Tensor] | None:
    if (
        isinstance(obj, Mapping)
        and obj
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    ):
        return obj
    return None


def detect(keys: list[str], meta: dict[str, Any]) -> bool:
    """All tensors at the top level (and no other entries), or all directly under one container."""
    if not keys:
        return False
    if all("/" not in k for k in keys):
        return not meta
    tops = {k.split("/", 1)[0] for k in keys}
    return len(tops) == 1 and tops <= set(CONTAINERS) and all(k.count("/") == 1 for k in keys)


def strip_wrappers(state: Mapping[str, torch.Tensor]) -> StateDict:
    """Remove `module.` / `_orig_mod.` prefixes that every key carries (repeatedly, either order)."""
    state = dict(state)
    changed = True
    while changed and state:
        changed = False
        for p in WRAPPER_PREFIXES:
            if all(k.startswith(p) for k in state):
                state = {k[len(p) :]: v for k, v in state.items()}
                changed = True
    return state


def unwrap(obj: Any) -> StateDict:
    """The tensor dict of a plain checkpoint, wrapper prefixes removed.

    Raises:
        CheckpointError: no flat tensor dict at the top level or under `state_dict`/`model`
            (the file has another layout: pass the matching --format NAME).

    """
    found = _tensor_dict(obj)
    if found is None and isinstance(obj, Mapping):
        for c in CONTAINERS:
            found = _tensor_dict(obj.get(c))
            if found is not None:
                break
    if found is None:
        top = list(obj)[:10] if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(
            f"not a plain state dict: expected {{name: tensor}} at the top level or under {' / '.join(CONTAINERS)}; "
            f"found top-level entries {top}. Pass the matching --format NAME."
        )
    return strip_wrappers(found)


PLAIN = register_format(
    CheckpointFormat(
        name="plain",
        description="{name: tensor} (optionally under 'state_dict' or 'model'; 'module.'/'_orig_mod.' prefixes removed)",
        detect=detect,
        map=unwrap,
        citation="torch.nn.Module.state_dict; timm/models/_helpers.py (load_state_dict, clean_state_dict)",
        fallback=True,
    )
)
