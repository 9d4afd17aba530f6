"""BYOL converted from JAX/Haiku (ajtejankar/byol-convert).

Source: https://github.com/ajtejankar/byol-convert convert.py: renames haiku variables to
torchvision names by regex, skips `projector`/`predictor`, keeps BYOL's online classifier as
`fc`, and asserts the keys equal torchvision resnet50's *without* `num_batches_tracked`
(`'tracked' not in k`) before `torch.save(state_dict)`. That flat dict without any
`num_batches_tracked` is how it is recognised. resnet.py there pads like TF "SAME" (explicit
asymmetric padding), so a stock torchvision ResNet loads the weights but does not reproduce
BYOL's outputs exactly; the load report says so.
"""

from __future__ import annotations

from typing import Any

from .._formats import CheckpointFormat, register_format
from .plain import unwrap


def _detect(keys: list[str], meta: dict[str, Any]) -> bool:
    return (
        not meta
        and all("/" not in k for k in keys)
        and {"conv1.weight", "bn1.running_mean", "fc.weight"} <= set(keys)
        and not any(k.endswith("num_batches_tracked") for k in keys)
    )


register_format(
    CheckpointFormat(
        name="byol",
        description="flat torchvision ResNet keys with fc and no num_batches_tracked (byol-convert from JAX)",
        detect=_detect,
        map=unwrap,
        heads=("fc.*",),
        citation="ajtejankar/byol-convert convert.py, resnet.py, README",
        warnings=(
            "BYOL was trained with TF 'SAME' padding; a stock torchvision ResNet loads these weights but its "
            "outputs are not numerically identical to BYOL's (byol-convert's resnet.py pads asymmetrically)",
        ),
    )
)
