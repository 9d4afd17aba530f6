"""Set/class bookkeeping shared by the invariance measures.

Rows are re-ordered so that every set's rows are contiguous and sets of the same class are
adjacent; the measures then stream over chunks of whole sets (`_select.select_and_count`) instead
of looping over sets in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import MetricInputError


@dataclass
class Groups:
    """Rows grouped by set, sets grouped by class.

    Attributes:
        order: row indices, sets contiguous and ordered by (class, set label).
        set_start: start of each set within `order` (length S + 1, last = N).
        set_size: images per set (S).
        set_class: class index of each set (S), the class of the set's first row as given.
        set_labels: the set labels (S), sorted as `np.unique` sorts them.
        class_labels: the class labels (C), sorted as `np.unique` sorts them.

    """

    order: np.ndarray
    set_start: np.ndarray
    set_size: np.ndarray
    set_class: np.ndarray
    set_labels: np.ndarray
    class_labels: np.ndarray

    @property
    def n_sets(self) -> int:
        """Number of sets S."""
        return len(self.set_size)

    @property
    def n_classes(self) -> int:
        """Number of classes C."""
        return len(self.class_labels)


def _as_label_array(labels: Sequence, n: int, what: str) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1 or len(arr) != n:
        raise MetricInputError(f"{what} labels must be a 1-D sequence of length {n} (one per feature row), got shape {arr.shape}")
    if arr.dtype == object:
        arr = arr.astype(str)
    return arr


def make_groups(set_ids: Sequence, class_ids: Sequence | None, n: int) -> Groups:
    """Index rows by set and class.

    A set's class is the class of its first row, as in the paper's script; pass consistent labels
    (probes check this).

    Raises:
        MetricInputError: if the label arrays do not have one entry per row.

    """
    sets = _as_label_array(set_ids, n, "set")
    classes = sets if class_ids is None else _as_label_array(class_ids, n, "class")
    set_labels, set_idx = np.unique(sets, return_inverse=True)
    class_labels, class_idx = np.unique(classes, return_inverse=True)
    S = len(set_labels)
    # first row of each set (np.unique's return_index gives the first occurrence)
    first = np.full(S, n, dtype=np.int64)
    np.minimum.at(first, set_idx, np.arange(n))
    set_class = class_idx[first]
    # order rows by (class of their set, set index); stable keeps the given order within a set
    key = set_class[set_idx].astype(np.int64) * S + set_idx
    order = np.argsort(key, kind="stable")
    # renumber sets in (class, set) order so that `order` walks sets 0..S-1 in sequence
    set_rank = np.argsort(set_class.astype(np.int64) * S + np.arange(S), kind="stable")
    sizes = np.bincount(set_idx, minlength=S)[set_rank]
    start = np.zeros(S + 1, dtype=np.int64)
    np.cumsum(sizes, out=start[1:])
    return Groups(
        order=order,
        set_start=start,
        set_size=sizes,
        set_class=set_class[set_rank],
        set_labels=set_labels[set_rank],
        class_labels=class_labels,
    )
