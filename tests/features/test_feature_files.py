"""Feature files: the paper's alldata.pth under weights_only, .npz, and error messages."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch

from invariance_lab.errors import FeatureFileError
from invariance_lab.features import load_feature_file, save_feature_file


def paper_style(path, n=12, d=5, classes=True):
    """What the paper's extract scripts did: float64 np.zeros filled row by row, labels as lists."""
    rng = np.random.default_rng(1)
    feat = np.zeros((n, d))
    for i in range(n):
        feat[i] = rng.normal(size=d)
    data = {"feat": feat, "instance": [i // 3 for i in range(n)]}
    if classes:
        data["classes"] = [f"cls{i // 6}" for i in range(n)]
    torch.save(data, path)
    return data


def test_paper_alldata_loads_with_weights_only(tmp_path):
    path = tmp_path / "alldata.pth"
    data = paper_style(path)
    feat, instance, classes = ff = load_feature_file(path)
    assert feat.dtype == np.float64 and ff.was_float64
    assert feat.tobytes() == data["feat"].tobytes()
    assert instance.tolist() == data["instance"] and classes.tolist() == data["classes"]
    paper_style(path, classes=False)
    assert load_feature_file(path).classes is None


def test_numpy1_module_names_load(tmp_path):
    """Files written under NumPy 1.x refer to numpy.core.multiarray._reconstruct."""
    path = tmp_path / "alldata.pth"
    data = paper_style(path)
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    pkl = next(n for n in members if n.endswith("data.pkl"))
    assert b"numpy._core.multiarray" in members[pkl]
    members[pkl] = members[pkl].replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    assert load_feature_file(path).feat.tobytes() == data["feat"].tobytes()


class Exploit:
    def __reduce__(self):
        return (open, ("/tmp/invariance_lab_pwned_by_test", "w"))


class Plain:
    def __init__(self):
        self.x = 1


@pytest.mark.parametrize("payload", [Exploit(), Plain()])
def test_arbitrary_pickle_is_refused(tmp_path, payload):
    path = tmp_path / "alldata.pth"
    torch.save({"feat": np.zeros((2, 2)), "instance": [0, 1], "extra": payload}, path)
    with pytest.raises(FeatureFileError, match="refused") as info:
        load_feature_file(path)
    assert str(path) in str(info.value)


def test_npz_and_pth_round_trip(tmp_path):
    feat = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    for name in ("f.npz", "f.pth"):
        save_feature_file(tmp_path / name, feat, ["a", "a", "b", "b", "c", "c"], [0, 0, 0, 1, 1, 1])
        got = load_feature_file(tmp_path / name)
        assert (
            got.feat.dtype == np.float32 and np.array_equal(got.feat, feat) and not got.was_float64
        )
        assert got.instance.tolist() == ["a", "a", "b", "b", "c", "c"]
        assert got.classes.tolist() == [0, 0, 0, 1, 1, 1]
    save_feature_file(tmp_path / "g.npz", torch.ones(4, 2, dtype=torch.float64), torch.arange(4))
    got = load_feature_file(tmp_path / "g.npz")
    assert got.was_float64 and got.classes is None and got.instance.tolist() == [0, 1, 2, 3]


def test_torch_tensor_feat(tmp_path):
    torch.save(
        {"feat": torch.ones(3, 2, dtype=torch.bfloat16), "instance": torch.tensor([0, 0, 1])},
        tmp_path / "t.pth",
    )
    got = load_feature_file(tmp_path / "t.pth")
    assert (
        got.feat.dtype == np.float32
        and got.feat.shape == (3, 2)
        and got.instance.tolist() == [0, 0, 1]
    )


def test_non_finite_values_pass_through(tmp_path):
    np.savez(tmp_path / "n.npz", feat=np.array([[np.nan, 1.0], [np.inf, 0.0]]), instance=[0, 0])
    assert np.isnan(load_feature_file(tmp_path / "n.npz").feat[0, 0])  # the metric rejects them


@pytest.mark.parametrize(
    "data, pattern",
    [
        ({"instance": [0, 1]}, "missing key 'feat'"),
        ({"feat": np.zeros((2, 3))}, "missing key 'instance'"),
        ({"feat": np.zeros(3), "instance": [0, 1, 2]}, "'feat' must be 2-D"),
        (
            {"feat": np.zeros((3, 2)), "instance": [0, 1]},
            "'instance' has 2 labels but 'feat' has 3 rows",
        ),
        (
            {"feat": np.zeros((2, 2)), "instance": [0, 1], "classes": ["a"]},
            "'classes' has 1 labels",
        ),
    ],
)
@pytest.mark.parametrize("suffix", [".pth", ".npz"])
def test_malformed_files_name_file_and_key(tmp_path, data, pattern, suffix):
    path = tmp_path / f"bad{suffix}"
    if suffix == ".npz":
        np.savez(path, **data)
    else:
        torch.save(data, path)
    with pytest.raises(FeatureFileError, match=pattern) as info:
        load_feature_file(path)
    assert str(path) in str(info.value)


def test_unreadable_files(tmp_path):
    for name, raw in [("x.pth", b"not a torch file"), ("x.npz", b"PK\x03\x04 broken zip")]:
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(FeatureFileError, match=name):
            load_feature_file(tmp_path / name)
    with pytest.raises(FeatureFileError, match="does not exist"):
        load_feature_file(tmp_path / "missing.pth")
    buf = io.BytesIO()
    np.savez(buf, feat=np.zeros((2, 2)), instance=np.array([{"a": 1}, None], dtype=object))
    (tmp_path / "obj.npz").write_bytes(buf.getvalue())
    with pytest.raises(FeatureFileError, match="obj.npz"):
        load_feature_file(tmp_path / "obj.npz")
