"""The frozen manifests in data_manifests/synthworld match what the code builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from invariance_lab.synthworld.manifest import probe_manifest
from invariance_lab.synthworld.preview import BATTERY

MANIFESTS = Path(__file__).resolve().parents[2] / "data_manifests" / "synthworld"


@pytest.mark.parametrize("name", BATTERY)
def test_manifest_is_current(name):
    frozen = json.loads((MANIFESTS / f"{name}.json").read_text())
    now = probe_manifest(name, frozen["scale"], frozen["seed"], frozen["resolution"])
    assert frozen["world_version"] == now["world_version"], "world changed: bump the manifests (see README)"
    strip = lambda items, digest: [{k: v for k, v in it.items() if digest or k != "digest"} for it in items]  # noqa: E731
    same_mitsuba = frozen["mitsuba"] == now["mitsuba"]  # digests include the Mitsuba version
    assert strip(json.loads(json.dumps(now["items"])), same_mitsuba) == strip(frozen["items"], same_mitsuba)
