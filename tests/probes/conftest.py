from __future__ import annotations

import pytest

from tests.datasets.fixtures import make_aloi, make_got10k, make_imagefolder, make_pascal3d


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    """One shared root with every fixture dataset (read-only for tests)."""
    root = tmp_path_factory.mktemp("data")
    make_aloi(root, objects=(1, 2, 3, 10))
    make_got10k(root, extra=[("GOT-10k_Train_000004", [8, 8, 7, 7, 6, 6, 5, 5]), ("GOT-10k_Train_000005", [2, 6, 4, 0, 6])])
    make_pascal3d(root)
    make_imagefolder(root / "imagenet" / "val")
    return root
