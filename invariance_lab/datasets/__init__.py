"""Readers of the real datasets the paper's probes use, their data manifests, download and prepare steps.

- `aloi`, `got10k`, `pascal3d`, `imagefolder`: find a dataset on disk and read its lists and
  annotations (never more images than a probe needs);
- `manifests`: the shipped data manifests (`data_manifests/*.yaml`) and frozen probe manifests;
- `fetch`: resumable, checksum-verified download and unpacking of public archives;
- `prepare`: decode, crop and resize a probe's images once into a memory-mapped uint8 cache.
"""

from ._common import DatasetError, DatasetNotFound, Problem

__all__ = ["DatasetError", "DatasetNotFound", "Problem"]
