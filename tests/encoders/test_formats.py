"""The checkpoint-format registry: contract over every entry, detection by structure, refusals."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from invariance_lab.encoders import (
    FORMATS,
    CheckpointFormat,
    detect_format,
    list_formats,
    load_encoder,
    register_format,
)
from invariance_lab.encoders._loading import read_checkpoint
from invariance_lab.errors import CheckpointError, RegistryError


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_format_honours_the_contract(name):
    fmt = FORMATS.get(name)
    assert fmt.name == name and fmt.description and fmt.citation
    assert fmt.detect([], {}) is False  # an empty file matches nothing
    assert isinstance(fmt.heads, tuple)


def test_list_formats_rows():
    rows = dict(list_formats())
    assert {"plain", "invariance-lab"} <= set(rows)
    assert "module." in rows["plain"]


def test_duplicate_registration_is_refused():
    with pytest.raises(RegistryError, match="twice"):
        register_format(dataclasses.replace(FORMATS.get("plain")))


def _save(path, obj):
    torch.save(obj, path)
    return read_checkpoint(path)


def test_detection_reads_structure_not_file_name(tmp_path):
    w = torch.zeros(2)
    # A plain file whose name suggests the project's own format, and the reverse.
    plain = _save(tmp_path / "model.invariance-lab.pt", {"model": {"conv1.weight": w}, "epoch": 1})
    assert detect_format(plain).name == "plain"
    own = _save(
        tmp_path / "plain.pth", {"format": "invariance-lab", "version": 1, "state_dict": {"a": w}}
    )
    assert detect_format(own).name == "invariance-lab"


def test_no_matching_format_lists_candidates_and_keys(tmp_path):
    ckpt = _save(
        tmp_path / "gan.pth",
        {"generator": {"backbone.conv1.weight": torch.zeros(1)}, "critic": {"x": torch.zeros(1)}},
    )
    with pytest.raises(CheckpointError) as err:
        detect_format(ckpt)
    msg = str(err.value)
    assert "gan.pth" in msg and "generator/backbone.conv1.weight" in msg
    assert "plain:" in msg and "invariance-lab:" in msg and "--format" in msg


def test_two_matching_formats_are_refused(tmp_path, monkeypatch):
    def always(keys, meta):
        return bool(keys)

    for name in ("test-a", "test-b"):
        fmt = CheckpointFormat(
            name=name, description="anything", detect=always, map=dict, citation="test"
        )
        monkeypatch.setitem(FORMATS._entries, name, fmt)
    ckpt = _save(tmp_path / "x.pth", {"conv1.weight": torch.zeros(1)})
    with pytest.raises(
        CheckpointError, match=r"(?s)several formats: test-a, test-b.*conv1\.weight"
    ):
        detect_format(ckpt)
    assert detect_format(ckpt, "plain").name == "plain"  # --format settles it


def test_forced_format(tmp_path, source_model):
    path = tmp_path / "r18.pth"
    torch.save(source_model.state_dict(), path)
    assert (
        load_encoder("tv:resnet18", weights=path, format="plain").load_report["format"] == "plain"
    )
    with pytest.raises(RegistryError, match="unknown checkpoint format 'plan'.*plain"):
        load_encoder("tv:resnet18", weights=path, format="plan")
    with pytest.raises(CheckpointError, match="not a plain state dict"):
        load_encoder("tv:resnet18", weights=_save_nested(tmp_path), format="plain")


def _save_nested(tmp_path):
    path = tmp_path / "nested.pth"
    torch.save({"teacher": {"a": torch.zeros(1)}}, path)
    return path
