"""SimCLR v1 converted from TensorFlow (tonylins/simclr-converter).

Source: https://github.com/tonylins/simclr-converter convert.py: builds `resnet50x1/x2/x4`
(torchvision names), copies the TF variables in module order and saves
`torch.save({'state_dict': model.state_dict()})`; README: the models are evaluated on inputs in
[0, 1] "without normalization". Its `fc.bias` is not the TF bias (the script sets
`model.fc.weight.bias`), so the classifier is not loaded. The keys are exactly a torchvision
state dict under `state_dict`, which detection cannot tell from `plain`: choose this format with
`--format simclr-v1` to get the unnormalised preprocessing. 2x/4x files widen every layer and are
not torchvision architectures.
"""

from __future__ import annotations

from .._formats import CheckpointFormat, register_format
from .._preprocess import Preprocessing
from .plain import unwrap

UNNORMALISED = Preprocessing(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))

register_format(
    CheckpointFormat(
        name="simclr-v1",
        description="{'state_dict': torchvision resnet50 keys} from TF; inputs in [0,1], not normalised "
        "(only with --format: same keys as plain)",
        detect=lambda keys, meta: False,
        map=lambda obj: {k: v for k, v in unwrap(obj).items() if not k.startswith("fc.")} | {
            f"simclr_fc.{k[3:]}": v for k, v in unwrap(obj).items() if k.startswith("fc.")
        },
        heads=("simclr_fc.*",),
        preprocessing=lambda obj: UNNORMALISED,
        citation="tonylins/simclr-converter convert.py, README (evaluated without normalization)",
        warnings=("SimCLR v1 expects unnormalised inputs in [0, 1]; preprocessing mean 0, std 1 applied",),
    )
)
