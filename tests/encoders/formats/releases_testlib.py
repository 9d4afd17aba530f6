"""Fixture generators: checkpoints with each release's real key structure, from models with fixed weights.

Each `Release` builds the object the release's code would `torch.save` (containers, prefixes,
heads, momentum copies, queues, non-tensor entries) around a source backbone, and says where the
backbone sits in it so that tests can corrupt one key. Sources of each layout: the docstring of the
matching module in `invariance_lab/encoders/formats/`.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import timm
import torch
import torchvision
from torch import nn

G = torch.Generator().manual_seed(3)


def rand(*shape) -> torch.Tensor:
    return torch.randn(*shape, generator=G)


def _seeded(build):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        model = build()
        for m in model.modules():  # non-trivial BN statistics: a buffer that failed to load shows
            if isinstance(m, (nn.BatchNorm2d,)):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


@functools.cache
def resnet18() -> nn.Module:
    return _seeded(lambda: torchvision.models.resnet18(weights=None))


@functools.cache
def resnet18_cifar(padding: int = 2) -> nn.Module:
    def build():
        m = torchvision.models.resnet18(weights=None)
        m.conv1 = nn.Conv2d(3, 64, 3, 1, padding, bias=False)
        m.maxpool = nn.Identity()
        return m

    return _seeded(build)


@functools.cache
def vit(name: str = "vit_tiny_patch16_224", **kw) -> nn.Module:
    return _seeded(lambda: timm.create_model(name, pretrained=False, img_size=32, **kw))


def prefixed(state: dict, prefix: str, skip: tuple[str, ...] = ()) -> dict:
    return {prefix + k: v for k, v in state.items() if not k.startswith(skip)}


def mlp(prefix: str, dims: list[int], bn: bool = False) -> dict:
    """Linear(/BN)/ReLU/Linear head weights in nn.Sequential index naming."""
    out, i = {}, 0
    for a, b in zip(dims[:-1], dims[1:], strict=False):
        out[f"{prefix}.{i}.weight"], out[f"{prefix}.{i}.bias"] = rand(b, a), rand(b)
        i += 1
        if bn and b != dims[-1]:
            out.update({f"{prefix}.{i}.{n}": rand(b).abs() for n in ("weight", "bias", "running_mean", "running_var")})
            i += 1
        i += 1  # ReLU
    return out


def lightning(state: dict) -> dict:
    return {"epoch": 9, "global_step": 90, "pytorch-lightning_version": "2.1.0", "state_dict": state,
            "optimizer_states": [], "lr_schedulers": [], "hyper_parameters": {"backbone": {"name": "resnet18"}}}  # fmt: skip


@dataclass
class Release:
    """A release layout: `build(source_state)` → saved object; `where`: container path and prefix of the backbone."""

    format: str
    source: Callable[[], nn.Module]
    build: Callable[[dict], dict]
    where: tuple[tuple[str, ...], str]
    forced: bool = False
    target_key: str = "layer1.0.conv1.weight"

    @property
    def is_vit(self) -> bool:
        return self.target_key.startswith("blocks")


SLOW = pytest.mark.slow  # ViT variants of tests whose ResNet variants already cover the code path


def _moco(sd, head):
    q = {**prefixed(sd, "module.encoder_q.", ("fc.",)), **head}
    state = {**q, **{k.replace("encoder_q", "encoder_k"): v for k, v in q.items()},
             "module.queue": rand(128, 16), "module.queue_ptr": torch.zeros(1, dtype=torch.long)}  # fmt: skip
    return {"epoch": 200, "arch": "resnet18", "state_dict": state, "optimizer": {"state": {}, "param_groups": [{"lr": 0.03}]}}


def _mocov3(sd, arch, head_name, dim):
    base = prefixed(sd, "module.base_encoder.", ("fc.", "head."))
    proj = {f"module.base_encoder.{head_name}.0.weight": rand(32, dim),
            **{f"module.base_encoder.{head_name}.1.{n}": rand(32).abs() for n in ("weight", "bias", "running_mean", "running_var")},
            f"module.base_encoder.{head_name}.3.weight": rand(16, 32),
            **{f"module.base_encoder.{head_name}.4.{n}": rand(16).abs() for n in ("running_mean", "running_var")}}  # fmt: skip
    base.update(proj)
    state = {**base, **{k.replace("base_encoder", "momentum_encoder"): v for k, v in base.items()},
             **mlp("module.predictor", [16, 32, 16], bn=True)}  # fmt: skip
    return {"epoch": 100, "arch": arch, "state_dict": state, "optimizer": {}, "scaler": {}}


def _dino(sd, prefix, args=True):
    head = {"head.mlp.0.weight": rand(32, 512), "head.mlp.0.bias": rand(32), "head.last_layer.weight_g": rand(64, 1),
            "head.last_layer.weight_v": rand(64, 32)}  # fmt: skip
    teacher = {**prefixed(sd, prefix, ("fc.", "head.")), **{prefix.replace("backbone.", "") + k: v for k, v in head.items()}}
    out = {"teacher": teacher, "student": dict(teacher), "optimizer": {}, "epoch": 100,
           "dino_loss": {"center": rand(1, 64)}}  # fmt: skip
    if args:
        out["args"] = argparse.Namespace(arch="resnet50", patch_size=16, lr=0.0005)
    return out


def _vissl(sd):
    trunk = prefixed(sd, "_feature_blocks.", ("fc.",))
    heads = {"0.0.clf.0.weight": rand(128, 512), "0.0.clf.0.bias": rand(128), "1.0.clf.0.weight": rand(128, 512)}
    return {"phase_idx": 3, "iteration": 100, "loss": {"memory_bank": rand(50, 128)}, "iteration_num": 100,
            "train_phase_idx": 3, "classy_state_dict": {"base_model": {"model": {"trunk": trunk, "heads": heads},
                                                                       "meta": {}}}}  # fmt: skip


def _lightly_indexed(sd):
    index = {"conv1": "0", "bn1": "1", "layer1": "4", "layer2": "5", "layer3": "6", "layer4": "7"}
    bb = {f"backbone.{index[k.split('.')[0]]}.{k.split('.', 1)[1]}": v for k, v in sd.items() if not k.startswith("fc.")}
    return lightning({**bb, **{k.replace("backbone.", "key_backbone."): v for k, v in bb.items()},
                      **mlp("projection_head.layers", [512, 32, 16], bn=True)})  # fmt: skip


def vit_small_12_heads() -> nn.Module:
    return vit("vit_small_patch16_224", num_heads=12)


RELEASES: dict[str, Release] = {
    "mocov1": Release("mocov1", resnet18, lambda sd: _moco(sd, {"module.encoder_q.fc.weight": rand(128, 512),
                                                               "module.encoder_q.fc.bias": rand(128)}),
                      (("state_dict",), "module.encoder_q.")),  # fmt: skip
    "mocov2": Release("mocov2", resnet18, lambda sd: _moco(sd, mlp("module.encoder_q.fc", [512, 512, 128])),
                      (("state_dict",), "module.encoder_q.")),  # fmt: skip
    "mocov3-resnet": Release("mocov3", resnet18, lambda sd: _mocov3(sd, "resnet18", "fc", 512),
                             (("state_dict",), "module.base_encoder.")),  # fmt: skip
    "mocov3-vit": Release("mocov3", vit_small_12_heads,
                          lambda sd: _mocov3(sd, "vit_small", "head", 384), (("state_dict",), "module.base_encoder."),
                          target_key="blocks.0.attn.qkv.weight"),  # fmt: skip
    "vissl-pirl": Release("vissl", resnet18, _vissl, (("classy_state_dict", "base_model", "model", "trunk"), "_feature_blocks.")),
    "vissl-converted": Release("vissl", resnet18, lambda sd: {"model_state_dict": prefixed(sd, "_feature_blocks.", ("fc.",))},
                               (("model_state_dict",), "_feature_blocks.")),  # fmt: skip
    "pirl-demystify": Release("pirl-demystify", resnet18,
                              lambda sd: {"state_dict": {**sd, "fc.weight": rand(128, 512), "fc.bias": rand(128)}},
                              (("state_dict",), "")),  # fmt: skip
    "simclr-v1": Release("simclr-v1", resnet18, lambda sd: {"state_dict": dict(sd)}, (("state_dict",), ""), forced=True),
    "byol": Release("byol", resnet18, lambda sd: {k: v for k, v in sd.items() if "num_batches_tracked" not in k}, ((), "")),
    "swav": Release("swav", resnet18, lambda sd: {**prefixed(sd, "module.", ("fc.",)),
                                                  **mlp("module.projection_head", [512, 64, 16], bn=True),
                                                  "module.prototypes.weight": rand(30, 16)}, ((), "module.")),  # fmt: skip
    "dino-resnet": Release("dino", resnet18, lambda sd: _dino(sd, "module.backbone."), (("teacher",), "module.backbone.")),
    "dino-vit": Release("dino", vit, lambda sd: _dino(sd, "backbone.", args=False), (("teacher",), "backbone."),
                        target_key="blocks.0.attn.qkv.weight"),  # fmt: skip
    "barlowtwins": Release("barlowtwins", resnet18, lambda sd: {"epoch": 10, "model": {
        **prefixed(sd, "module.backbone.", ("fc.",)), **mlp("module.projector", [512, 64, 64], bn=True),
        "module.bn.running_mean": rand(64), "module.bn.running_var": rand(64).abs()}, "optimizer": {}},
        (("model",), "module.backbone.")),  # fmt: skip
    "infomin": Release("infomin", resnet18, lambda sd: {"model": {**prefixed(sd, "module.encoder.", ("fc.",)),
                                                                  **mlp("module.head", [512, 512, 128])},
                                                        "model_ema": {**prefixed(sd, "encoder.", ("fc.",)), **mlp("head", [512, 512, 128])},
                                                        "contrast": {"memory": rand(64, 128)}, "optimizer": {}, "epoch": 800},
                       (("model",), "module.encoder.")),  # fmt: skip
    "solo-learn-cifar": Release("solo-learn", resnet18_cifar, lambda sd: lightning({
        **prefixed(sd, "backbone.", ("fc.",)), **prefixed(sd, "momentum_backbone.", ("fc.",)),
        **mlp("projector", [512, 64, 32], bn=True), **mlp("momentum_projector", [512, 64, 32], bn=True),
        "classifier.weight": rand(10, 512), "classifier.bias": rand(10), "queue": rand(2, 32, 16),
        "queue_ptr": torch.zeros(1, dtype=torch.long)}), (("state_dict",), "backbone.")),  # fmt: skip
    "lightly-imagenet": Release("lightly", resnet18, lambda sd: lightning({
        **prefixed(sd, "backbone.", ("fc.",)), **prefixed(sd, "key_backbone.", ("fc.",)),
        **mlp("projection_head.layers", [512, 64, 16]), **mlp("key_projection_head.layers", [512, 64, 16]),
        "online_classifier.classification_head.weight": rand(10, 512)}), (("state_dict",), "backbone.")),  # fmt: skip
    "lightly-imagenette": Release("lightly", resnet18, _lightly_indexed, (("state_dict",), "backbone.4."),
                                  target_key="0.conv1.weight"),  # fmt: skip
}
