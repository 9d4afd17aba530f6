"""Cover levels: GOT-10k-like quantisation of the target's measured visible fraction.

GOT-10k's `cover.label` holds 9 levels of the *visible ratio*, 0 = fully occluded ... 8 = fully
visible (pytracking reads it as `visible_ratio = cover / 8`; the toolkit does not publish bin
edges). SynthWorld uses the same direction as the real labels, so that `synth-occlusion` and
`got10k-occlusion` factors compare directly, and bins centred on `level / 8`:

====== ========================== =============
level  visible fraction v          target v
====== ========================== =============
0      v < 0.02  (fully covered)    0
1..7   |v - level/8| <= 1/16       level / 8
8      v >= 0.98 (fully visible)    1
====== ========================== =============

i.e. `level = 0 if v < 0.02 else 8 if v >= 0.98 else clip(round(8 v), 1, 7)`. The 2 % margins
absorb pixel quantisation of the `shape_index` buffer.

The visible fraction is measured, never assumed: v = (object pixels in the id buffer with the
occluder) / (object pixels without it), same camera and sample positions (`render.render_one`).
Note: issue 11 words the scale the other way round (0 = fully visible); we follow the GOT-10k
data instead; `occlusion_amount = 8 - level` gives the issue's reading.
"""

from __future__ import annotations

import numpy as np

N_LEVELS = 9
FULLY_COVERED, FULLY_VISIBLE = 0.02, 0.98


def cover_level(visible_fraction: float) -> int:
    """GOT-10k-style cover level (0 fully occluded ... 8 fully visible) of a visible fraction."""
    v = float(visible_fraction)
    if v < FULLY_COVERED:
        return 0
    if v >= FULLY_VISIBLE:
        return 8
    return int(np.clip(np.rint(8 * v), 1, 7))


def target_fraction(level: int) -> float:
    """The visible fraction an occluder is placed to hit for a cover level."""
    if not 0 <= level < N_LEVELS:
        raise ValueError(f"cover level must be in 0..8, got {level}")
    return level / 8.0
