from __future__ import annotations

import shutil

import pytest
import torch
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import functional as TF

from invariance_lab.datasets import DatasetError
from invariance_lab.datasets.imagefolder import rrc_params
from invariance_lab.encoders import Preprocessing
from invariance_lab.probes import get_probe


@pytest.mark.parametrize(("w", "h", "scale", "ratio"), [(80, 60, (0.2, 1.0), (3 / 4, 4 / 3)), (300, 40, (0.08, 1.0), (3 / 4, 4 / 3)),
                                                         (17, 90, (0.9, 1.0), (1.0, 1.0))])
def test_rrc_params_match_torchvision(w, h, scale, ratio):
    img = Image.new("RGB", (w, h))
    for seed in range(40):
        torch.manual_seed(seed)
        want = T.RandomResizedCrop.get_params(img, list(scale), list(ratio))
        got = rrc_params(w, h, scale, ratio, torch.Generator().manual_seed(seed))
        assert got == want


def test_crop_probe_sets_and_boxes(data_root):
    p = get_probe("crop", root=data_root, k=4)
    assert p.params["n_sets"] == 6 and len(p) == 24 and p.params["scale"] == [0.2, 1.0]
    first = [it for it in p.items if it.set_id == p.items[0].set_id]
    assert [it.factor for it in first] == [0, 1, 2, 3]
    assert p.items[0].set_id == "n01440764/ILSVRC2012_val_00000001.JPEG" and p.items[0].class_id == "n01440764"
    for it in p.items:
        x0, y0, x1, y1 = it.box
        assert x0 == int(x0) and 0 <= x0 < x1 and 0 <= y0 < y1
    assert get_probe("crop", root=data_root, k=4).items == p.items
    assert get_probe("crop", root=data_root, k=4, seed=1).items != p.items


def test_crop_then_resize_equals_random_resized_crop(data_root):
    p = get_probe("crop", root=data_root, k=3)
    pre = Preprocessing(input_size=(64, 64))
    path = p.resolve(p.items[0])
    w, h = Image.open(path).size
    g = torch.Generator().manual_seed(int.from_bytes(__import__("hashlib").sha256(f"0:{p.items[0].path}".encode()).digest()[:8], "little") & ((1 << 63) - 1))
    for i in range(3):
        top, left, ch, cw = rrc_params(w, h, (0.2, 1.0), (3 / 4, 4 / 3), g)
        ref = TF.pil_to_tensor(TF.resized_crop(Image.open(path).convert("RGB"), top, left, ch, cw, [64, 64]))
        assert torch.equal(pre.to_uint8(p.load_image(i)), ref)


def test_crops_independent_of_other_images(data_root, tmp_path):
    src = data_root / "imagenet" / "val"
    shutil.copytree(src, tmp_path / "val")
    (tmp_path / "val" / "n01440764" / "ILSVRC2012_val_00000001.JPEG").unlink()
    a = {(i.set_id, i.factor): i.box for i in get_probe(f"crop:{src}", k=2).items}
    b = {(i.set_id, i.factor): i.box for i in get_probe(f"crop:{tmp_path / 'val'}", k=2).items}
    assert all(a[k] == v for k, v in b.items()) and len(b) == len(a) - 2


def test_flat_folder_and_options(tmp_path):
    for i in range(3):
        Image.new("RGB", (50 + i, 40)).save(tmp_path / f"img{i}.jpg")
    p = get_probe(f"crop:{tmp_path}", k=2, max_images=2)
    assert [it.set_id for it in p.items] == ["img0.jpg", "img0.jpg", "img1.jpg", "img1.jpg"]
    assert p.items[0].class_id == "img0.jpg"


def test_unreadable_image(tmp_path):
    Image.new("RGB", (50, 40)).save(tmp_path / "a.jpg")
    (tmp_path / "b.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError, match="b.jpg: cannot read the image header"):
        get_probe(f"crop:{tmp_path}")
    assert len(get_probe(f"crop:{tmp_path}", on_error="skip", k=3)) == 3
