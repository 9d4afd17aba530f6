"""Cover levels: mapping, and occluders placed so that measured visible fractions hit each level."""

from __future__ import annotations

import pytest

from invariance_lab.synthworld import _mitsuba as R
from invariance_lab.synthworld.occlusion import cover_level, target_fraction
from invariance_lab.synthworld.render import render_one
from invariance_lab.synthworld.scene import Occluder, RenderJob, View


@pytest.mark.parametrize(
    "v,level", [(0.0, 0), (0.019, 0), (0.02, 1), (0.125, 1), (0.19, 2), (0.5, 4), (0.87, 7), (0.979, 7), (0.98, 8), (1.0, 8)]
)
def test_cover_level_mapping(v, level):
    assert cover_level(v) == level


def test_target_fractions_map_back_to_their_level():
    assert [cover_level(target_fraction(k)) for k in range(9)] == list(range(9))
    with pytest.raises(ValueError):
        target_fraction(9)


@pytest.mark.parametrize("side", [1, -1])
def test_occluder_hits_each_cover_level_and_measure_is_exact(side):
    base = RenderJob("table", 0, View(), 64)
    free = R.render_ids(base) == R.LABELS["object"]
    for level in range(9):
        job = base.with_view(occluder=Occluder(target_fraction(level), side=side, seed=5))
        img, meta = render_one(job)
        # independent recount from the id buffer with the occluder at the recorded edge
        ids = R.render_ids(job, meta["occluder_edge"])
        v = (ids == R.LABELS["object"]).sum() / free.sum()
        assert meta["visible_fraction"] == pytest.approx(v)
        assert meta["cover_level"] == cover_level(v) == level
        if 0 < level < 9:
            assert (ids == R.LABELS["occluder"]).any()
    assert img.shape == (64, 64, 3)
