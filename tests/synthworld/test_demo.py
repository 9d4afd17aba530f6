"""The demo's trained encoder: trained once, cached by its settings, loadable like any encoder."""

from __future__ import annotations

import torch

from invariance_lab.cli import demo
from invariance_lab.encoders import load_encoder

TINY = {
    "method": "mocov2", "arch": "tv:resnet18", "data": "synth", "image_size": 32, "batch_size": 8, "epochs": 1,
    "max_steps": 2, "queue_size": 64, "moco_m": 0.99, "bn_mode": "split:2", "synth_instances": 2, "synth_views": 2,
    "synth_categories": ["mug", "car"], "seed": 0, "knn_every": 0,
}  # fmt: skip


def test_trained_encoder_is_cached_by_its_settings(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "DEMO_TRAINING", TINY)
    import invariance_lab.training as T  # trained_encoder imports `train` from here when called

    calls, orig = [], T.train

    def counting(cfg):
        calls.append(cfg.out)
        return orig(cfg)

    monkeypatch.setattr(T, "train", counting)
    path, fresh = demo.trained_encoder(tmp_path, device="cpu", render_cache=str(tmp_path / "renders"), progress=False)
    assert fresh and path.name == demo.TRAINED_NAME and len(calls) == 1
    again, fresh2 = demo.trained_encoder(tmp_path, device="cpu", render_cache=str(tmp_path / "renders"), progress=False)
    assert again == path and not fresh2 and len(calls) == 1  # reused, not retrained
    enc = load_encoder(path)
    assert enc.arch == "resnet18" and enc.name == demo.TRAINED_NAME
    random = load_encoder("tv:resnet18")
    assert enc.digest != random.digest  # trained weights, not the seeded initialisation
    assert not torch.equal(enc.model.state_dict()["conv1.weight"], random.model.state_dict()["conv1.weight"])
    # other settings -> another cache folder (and a retrain)
    monkeypatch.setattr(demo, "DEMO_TRAINING", {**TINY, "seed": 1})
    assert demo.training_key(demo.DEMO_TRAINING) != path.parent.name
