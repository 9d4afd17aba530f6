"""Architectures by name: torchvision and timm models, their default preprocessing, ImageNet files.

Models are built without weights (`torchvision.models.get_model(name, weights=None)`,
`timm.create_model(name, pretrained=False)`) under a fixed seed, so that an encoder with random
weights, or a head that a checkpoint does not fill, has the same bytes (and digest) on every run.
Nothing is downloaded: ImageNet weights are read from torch hub's local cache only.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import re
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from ..errors import CheckpointError, EncoderSpecError
from ._preprocess import INPUT_NORMS, Preprocessing

INIT_SEED = 0
"""Seed under which architectures are initialised (reproducible random weights and digests)."""

FAMILIES = {"tv": "torchvision", "timm": "timm"}

INPUT_NORM_NOTES = {
    "greyworld": "grey-world input layer (input_norm=greyworld): each channel divided by its image mean, "
    "so per-channel gains (an illuminant colour change, von Kries) cancel exactly",
}
"""Architecture option `input_norm=NAME`: a hand-built, parameter-free input layer
(`Preprocessing.input_norm`) in front of any architecture, e.g. `tv:resnet18[input_norm=greyworld]`.
The weights are the architecture's own (same keys, so checkpoints load as into the plain one); the
encoder's digest differs (`Encoder.digest`), and so do its cached features (preprocessing digest).
"""

_HASH_IN_NAME = re.compile(
    r"-([a-f0-9]*)\."
)  # torch.hub.HASH_REGEX: sha256 prefix in the file name


def torchvision_names() -> list[str]:
    """Classification architectures of torchvision (`list_models(module=torchvision.models)`)."""
    import torchvision

    return torchvision.models.list_models(module=torchvision.models)


_KWARGS = re.compile(r"^([^\[\]]+)\[([^\[\]]*)\]$")


def split_arch(name: str) -> tuple[str, dict[str, int | float | str]]:
    """`vit_small_patch16_224[num_heads=12,img_size=64]` → ("vit_small_patch16_224", {...}).

    Options in brackets are constructor arguments the weights cannot name on their own
    (a ViT's input size and head count, a CIFAR stem); `_infer.py` writes them.

    Raises:
        EncoderSpecError: malformed options (write NAME[key=value,key=value]).

    """
    m = _KWARGS.match(name)
    if m is None:
        if "[" in name or "]" in name:
            raise EncoderSpecError(f"cannot read architecture {name!r}; write NAME[key=value,...]")
        return name, {}
    out: dict[str, int | float | str] = {}
    for item in filter(None, m.group(2).split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise EncoderSpecError(f"cannot read option {item!r} of architecture {name!r}; write key=value")
        for cast in (int, float):
            try:
                out[key.strip()] = cast(value)
                break
            except ValueError:
                continue
        else:
            out[key.strip()] = value.strip()
    return m.group(1), out


def join_arch(name: str, options: dict | None = None) -> str:
    """Inverse of `split_arch` (options sorted, so equal architectures have equal names)."""
    if not options:
        return name
    return f"{name}[{','.join(f'{k}={v}' for k, v in sorted(options.items()))}]"


def resolve_arch(arch: str) -> tuple[str, str]:
    """`tv:NAME` / `timm:NAME` / bare `NAME` → (prefix, name); a bare name is torchvision's if it has one.

    NAME may carry constructor options: `timm:vit_small_patch16_224[num_heads=12]`,
    `tv:resnet18[cifar_stem=1]` (see `split_arch`).

    Raises:
        EncoderSpecError: the name is in neither library (the message lists close names).

    """
    prefix, sep, name = arch.partition(":")
    if sep and prefix in FAMILIES:
        return prefix, name
    base, _ = split_arch(arch)
    if base in torchvision_names():
        return "tv", arch
    import timm

    if timm.is_model(base):
        return "timm", arch
    close = difflib.get_close_matches(
        arch, torchvision_names() + timm.list_models(), n=6, cutoff=0.6
    )
    raise EncoderSpecError(
        f"unknown architecture {arch!r}: neither torchvision nor timm has it. Close names: {', '.join(close) or '(none)'}. "
        "Write tv:NAME or timm:NAME"
    )


def build(prefix: str, name: str) -> tuple[nn.Module, Preprocessing, str]:
    """Build an architecture with seeded random weights, in eval mode.

    Args:
        prefix: "tv" or "timm".
        name: the library's model name (`resnet18`, `vit_small_patch16_224.augreg_in1k`).

    Returns:
        The model, its default preprocessing, and a sentence saying where that came from.

    Raises:
        EncoderSpecError: unknown model name (the message lists close names).

    """
    base, options = split_arch(name)
    input_norm = options.pop("input_norm", None)
    name = join_arch(base, options)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        model, pre, note = _build_torchvision(name) if prefix == "tv" else _build_timm(name)
    if input_norm is not None:
        if input_norm not in INPUT_NORMS or input_norm == "none":
            raise EncoderSpecError(
                f"{prefix}:{base}: unknown input_norm {input_norm!r}; the hand-built input layers are: "
                f"{', '.join(n for n in INPUT_NORMS if n != 'none')} (e.g. {prefix}:{base}[input_norm=greyworld])"
            )
        pre = dataclasses.replace(pre, input_norm=input_norm)
        note += f"; {INPUT_NORM_NOTES[input_norm]}"
    return model, pre, note


CIFAR_STEM_NOTE = (
    "CIFAR stem: conv1 is 3x3 stride 1 (padding {p}) and there is no max-pool, as in CIFAR trainers "
    "(solo-learn uses padding 2, the MoCo CIFAR demo and most others padding 1)"
)


def _cifar_stem(model: nn.Module, padding: int) -> None:
    """Replace a torchvision ResNet's ImageNet stem by the CIFAR one (3x3/1 conv, no max-pool)."""
    if not hasattr(model, "conv1") or not hasattr(model, "maxpool"):
        raise EncoderSpecError(f"cifar_stem applies to torchvision ResNets, not {type(model).__name__}")
    out = model.conv1.out_channels
    model.conv1 = nn.Conv2d(3, out, kernel_size=3, stride=1, padding=padding, bias=False)
    model.maxpool = nn.Identity()


def _build_torchvision(name: str) -> tuple[nn.Module, Preprocessing, str]:
    import torchvision

    name, options = split_arch(name)
    stem = options.pop("cifar_stem", None)
    names = torchvision_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=6, cutoff=0.5)
        raise EncoderSpecError(
            f"tv:{name} is not a torchvision classification model. Close names: {', '.join(close) or '(none)'}. "
            "List them with torchvision.models.list_models(module=torchvision.models)"
        )
    try:
        model = torchvision.models.get_model(name, weights=None, **options).eval()
    except TypeError as e:
        raise EncoderSpecError(f"tv:{name} does not take options {options}: {e}") from None
    if stem is not None:
        if stem not in (1, 2):
            raise EncoderSpecError(f"cifar_stem is the conv1 padding, 1 or 2; got {stem!r}")
        _cifar_stem(model, int(stem))
        return model.eval(), Preprocessing(input_size=(32, 32)), "ImageNet mean/std at 32x32; " + CIFAR_STEM_NOTE.format(p=stem)
    size = getattr(model, "image_size", None)  # torchvision ViTs only accept their training size
    if isinstance(size, int):
        return (
            model,
            Preprocessing(input_size=(size, size)),
            f"ImageNet mean/std; fixed input size {size}x{size} of the model",
        )
    return model, Preprocessing(), "ImageNet mean/std at 128x128 (paper default)"


def _build_timm(name: str) -> tuple[nn.Module, Preprocessing, str]:
    import timm

    name, options = split_arch(name)
    try:
        model = timm.create_model(name, pretrained=False, **options).eval()
    except RuntimeError as e:
        if not str(e).startswith("Unknown model"):
            raise
        close = difflib.get_close_matches(name, timm.list_models(), n=6, cutoff=0.5)
        raise EncoderSpecError(
            f"timm:{name} is not a timm model. Close names: {', '.join(close) or '(none)'}. List them with timm.list_models('PATTERN')"
        ) from None
    cfg = getattr(model, "pretrained_cfg", None) or {}
    mean = tuple(cfg.get("mean", Preprocessing.mean))
    std = tuple(cfg.get("std", Preprocessing.std))
    if cfg.get("fixed_input_size") and cfg.get("input_size"):
        h, w = cfg["input_size"][-2:]
        if "img_size" in options:
            h = w = int(options["img_size"])
        note = f"timm pretrained_cfg mean/std; fixed input size {h}x{w} from pretrained_cfg['input_size']"
        return model, Preprocessing(input_size=(h, w), mean=mean, std=std), note
    return (
        model,
        Preprocessing(mean=mean, std=std),
        "timm pretrained_cfg mean/std at 128x128 (paper default)",
    )


def imagenet_weights_file(name: str, which: str) -> tuple[str, Path]:
    """The torchvision ImageNet weights of `name` as a file in torch hub's cache; never downloads.

    Args:
        name: torchvision model name.
        which: "imagenet" (the library's DEFAULT weights) or a member name such as `IMAGENET1K_V1`.

    Returns:
        The weights' qualified name (`ResNet50_Weights.IMAGENET1K_V2`) and the verified file.

    Raises:
        EncoderSpecError: the model has no such weights (the message lists them).
        CheckpointError: the file is not in the cache (the message gives the path and URL to put
            it at), or its SHA-256 does not match the prefix in its name (download it again).

    """
    import torchvision

    enum = torchvision.models.get_model_weights(name)
    members = [m for m in enum.__members__ if m != "DEFAULT"]
    key = "DEFAULT" if which.lower() == "imagenet" else which
    if key not in enum.__members__:
        raise EncoderSpecError(
            f"tv:{name} has no weights {which!r}; use :imagenet or one of {', '.join(members)}"
        )
    weights = enum[key]
    filename = Path(urlparse(weights.url).path).name
    path = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if not path.is_file():
        raise CheckpointError(
            f"ImageNet weights for tv:{name} ({weights}) are not in the local cache; nothing is downloaded. "
            f"Put the file at {path} (download it from {weights.url} on a machine with network access), "
            "or pass --weights FILE"
        )
    m = _HASH_IN_NAME.search(filename)
    if m and m.group(1):
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        if not digest.startswith(m.group(1)):
            raise CheckpointError(
                f"{path} does not match the SHA-256 prefix {m.group(1)} in its name (got {digest[:12]}); "
                f"the file is corrupt or another version: download it again from {weights.url}"
            )
    return str(weights), path
