"""The shared fixture data root (defined in tests/datasets/fixtures.py, also used by tests/probes)."""

from tests.datasets.fixtures import data_root  # noqa: F401  (session fixture)
