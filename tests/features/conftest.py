"""Fixtures for feature tests: a tiny folder probe of generated PNGs and a fixed random ResNet-18."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from invariance_lab.encoders import Preprocessing, load_encoder
from invariance_lab.probes import get_probe

INPUT_SIZE = (64, 64)


def write_probe_dir(
    root: Path, n_classes: int = 2, n_sets: int = 2, n_images: int = 4, seed: int = 0
) -> Path:
    """PATH/<class>/<set>/<img>.png with random pictures of varying sizes (so resizing matters)."""
    rng = np.random.default_rng(seed)
    for c in range(n_classes):
        for s in range(n_sets):
            d = root / f"class{c}" / f"set{s}"
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n_images):
                h, w = int(rng.integers(40, 90)), int(rng.integers(40, 90))
                Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
                    d / f"img{i}.png"
                )
    return root


@pytest.fixture(scope="session")
def weights_file(tmp_path_factory) -> Path:
    """Fixed random ResNet-18 weights, saved so that subprocesses load the very same network."""
    torch.manual_seed(0)
    enc = load_encoder("tv:resnet18")
    path = tmp_path_factory.mktemp("weights") / "resnet18.pt"
    torch.save(enc.model.state_dict(), path)
    return path


def make_encoder(weights: Path):
    enc = load_encoder("tv:resnet18")
    enc.model.load_state_dict(torch.load(weights, weights_only=True))
    enc.model.eval()
    enc.preprocessing = Preprocessing(input_size=INPUT_SIZE)
    return enc


@pytest.fixture
def encoder(weights_file):
    return make_encoder(weights_file)


@pytest.fixture
def probe_dir(tmp_path) -> Path:
    return write_probe_dir(tmp_path / "probe")


@pytest.fixture
def probe(probe_dir):
    return get_probe(f"folder:{probe_dir}")
