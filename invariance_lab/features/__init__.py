"""Features: batched, cached, resumable extraction, and reading feature files made elsewhere."""

from .cache import FeatureCacheEntry, ShardRecord, features_cache_dir
from .extract import (
    DEFAULT_SHARD_SIZE,
    FeatureSet,
    extract_features,
    resolve_device,
    resolve_workers,
)
from .files import FeatureFile, load_feature_file, numpy_safe_globals, save_feature_file

__all__ = [
    "DEFAULT_SHARD_SIZE",
    "FeatureCacheEntry",
    "FeatureFile",
    "FeatureSet",
    "ShardRecord",
    "extract_features",
    "features_cache_dir",
    "load_feature_file",
    "numpy_safe_globals",
    "resolve_device",
    "resolve_workers",
    "save_feature_file",
]
