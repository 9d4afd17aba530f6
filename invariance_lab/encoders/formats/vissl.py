"""VISSL checkpoints (PIRL, SimCLR, SwAV, MoCo, NPID trained in VISSL) and VISSL-converted files.

Sources (facebookresearch/vissl@09270ed, TRAINERS.md §3.2):
- vissl/hooks/log_hooks.py writes `{'phase_idx', 'iteration', 'loss', 'iteration_num',
  'train_phase_idx', 'classy_state_dict'}`; the model is at
  `classy_state_dict['base_model']['model']` with `trunk` and `heads` (PIRL's heads are
  `0.0.clf.0.*`, `0.2.clf.0.*`, `1.0.clf.0.*`); PIRL's memory bank sits in `loss`, outside the model.
- extra_scripts/convert_vissl_to_torchvision.py: the trunk keys minus the `_feature_blocks.`
  prefix are torchvision's ResNet names without `fc`.
- MODEL_ZOO.md / vissl/utils/checkpoint.py: third-party models VISSL converted
  (`converted_vissl_*.torch`) are `{'model_state_dict': {'_feature_blocks.…'}}`; feature-extractor
  checkpoints may prefix `trunk.base_model._feature_blocks.` or `base_model._feature_blocks.`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._formats import CheckpointFormat, StateDict, register_format
from ._common import container, remap, tensors

MODEL = "classy_state_dict/base_model/model"
BLOCK_PREFIXES = ("trunk.base_model._feature_blocks.", "base_model._feature_blocks.", "_feature_blocks.")


def _map(obj: Any) -> StateDict:
    """Trunk keys without `_feature_blocks.`; heads under `heads.` (dropped)."""
    if isinstance(obj, Mapping) and "classy_state_dict" in obj:
        model = container(obj, MODEL, "vissl")
        state = tensors(container(model, "trunk", "vissl"))
        heads = tensors(model.get("heads", {})) if isinstance(model.get("heads"), Mapping) else {}
        state.update({f"heads.{k}": v for k, v in heads.items()})
    else:
        state = tensors(container(obj, "model_state_dict", "vissl"))
    return remap(state, [(p, "") for p in BLOCK_PREFIXES])


def _detect(keys: list[str], meta: dict[str, Any]) -> bool:
    return any(
        k.startswith(f"{MODEL}/trunk/") and "_feature_blocks." in k or k.startswith("model_state_dict/") and "_feature_blocks." in k
        for k in keys
    )


register_format(
    CheckpointFormat(
        name="vissl",
        description="classy_state_dict/base_model/model/{trunk: _feature_blocks.*, heads: *} (PIRL and other VISSL "
        "runs), or model_state_dict/_feature_blocks.* (converted_vissl_*.torch)",
        detect=_detect,
        map=_map,
        heads=("heads.*", "fc.*"),
        citation="facebookresearch/vissl@09270ed vissl/hooks/log_hooks.py, extra_scripts/convert_vissl_to_torchvision.py, "
        "vissl/utils/checkpoint.py",
        needs_pickle=True,
    )
)
