"""PIRL as reproduced by the Demystifying paper's authors (senthilps8/demystifyssl).

Sources (senthilps8/demystifyssl@407f294, TRAINERS.md §3.3): README ("our best reproduction of
PIRL and not the official model", file `pirl.pth`); experiments/pirl.sh (`feat_dim=128`);
extract_features/feature_extractor.py builds `resnet50(num_classes=128)` and reads
`checkpoint['state_dict']`. So the file is `{'state_dict': torchvision ResNet keys}` whose `fc` is
128-d: that 128-row `fc.weight` is what tells it from a plain state dict. [Derived from the
loader; the file itself could not be retrieved.] PIRL trained in VISSL is the `vissl` format.
"""

from __future__ import annotations

from typing import Any

from .._formats import CheckpointFormat, register_format
from .plain import unwrap


def _detect(keys: list[str], meta: dict[str, Any]) -> bool:
    return bool(keys) and all(k.startswith("state_dict/") for k in keys) and any(
        k.endswith("fc.weight") and k.count("/") == 1 for k in keys
    ) and any(k.endswith("layer4.0.conv1.weight") for k in keys)


def _shapes(shapes: dict[str, tuple[int, ...]]) -> bool:
    fc = [s for k, s in shapes.items() if k.removeprefix("state_dict/").removeprefix("module.") == "fc.weight"]
    return len(fc) == 1 and fc[0][0] == 128


register_format(
    CheckpointFormat(
        name="pirl-demystify",
        description="{'state_dict': torchvision ResNet keys with a 128-d fc} (the Demystifying paper's PIRL reproduction)",
        detect=_detect,
        map=unwrap,
        heads=("fc.*",),
        match_shapes=_shapes,
        citation="senthilps8/demystifyssl@407f294 extract_features/feature_extractor.py, experiments/pirl.sh, README",
        head_tap="fc",
    )
)
