"""Tiny fixtures for the trainer tests: a folder of random images and a small SynthWorld set."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


def write_images(root, n_per_class: int = 16, classes=("a", "b"), size: int = 32, seed: int = 0):
    """`root/<class>/<i>.png`: random images whose class sets the mean colour (ImageNet layout)."""
    rng = np.random.default_rng(seed)
    for ci, c in enumerate(classes):
        d = root / c
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            base = np.array([200, 60, 60]) if ci == 0 else np.array([60, 60, 200])
            img = np.clip(base + rng.normal(0, 40, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(d / f"{i}.png")
    return root


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory):
    """32 images of 32×32 px in two classes."""
    return write_images(tmp_path_factory.mktemp("imgs"))


@pytest.fixture(scope="session")
def synth_cache(tmp_path_factory):
    """A render cache shared by the synth tests of one session."""
    return str(tmp_path_factory.mktemp("synth-cache"))


def tiny(method: str, out, data, **kw):
    """A TrainConfig small enough for CPU tests (ResNet-18, 32 px, batch 8)."""
    from invariance_lab.training import TrainConfig

    base = dict(
        arch="tv:resnet18",
        data=str(data),
        image_size=32,
        batch_size=8,
        epochs=2,
        progress=False,
        out=str(out),
        knn_every=0,
        log_every=1,
    )
    if method != "pirl":
        base.update(queue_size=32, bn_mode="split:2")
    else:
        base.update(n_negatives=16)
    base.update(kw)
    return TrainConfig.for_method(method, **base)
