"""Where data and caches live: explicit argument, then environment variable, then config file.

Nothing here runs at import time; every function reads the environment when called.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from .errors import ProbeError

ENV_DATA_ROOT = "INVARIANCE_LAB_DATA"
ENV_CACHE_DIR = "INVARIANCE_LAB_CACHE"
ENV_CONFIG = "INVARIANCE_LAB_CONFIG"


def config_path() -> Path:
    """The user config file: `$INVARIANCE_LAB_CONFIG` or `$XDG_CONFIG_HOME/invariance_lab/config.yaml`."""
    if os.environ.get(ENV_CONFIG):
        return Path(os.environ[ENV_CONFIG])
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "invariance_lab" / "config.yaml"


def read_config() -> dict:
    """The parsed config file, or `{}` if there is none."""
    path = config_path()
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ProbeError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ProbeError(f"config file {path} must hold a mapping (e.g. 'data_root: /data'), not {type(data).__name__}")
    return data


def resolve_data_root(root: str | os.PathLike | None = None, *, required_by: str = "this probe") -> Path:
    """The folder named probes read their datasets from.

    Order: the explicit `root` (`--data-root`), then `$INVARIANCE_LAB_DATA`, then `data_root` in
    the config file.

    Raises:
        ProbeError: when none is set, saying the three ways to set it.

    """
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get(ENV_DATA_ROOT):
        return Path(os.environ[ENV_DATA_ROOT]).expanduser()
    cfg = read_config()
    if cfg.get("data_root"):
        return Path(str(cfg["data_root"])).expanduser()
    raise ProbeError(
        f"{required_by} needs a data root: pass --data-root DIR (root=... in Python), "
        f"set ${ENV_DATA_ROOT}, or put 'data_root: DIR' in {config_path()}"
    )


def default_cache_dir() -> Path:
    """Feature/render cache folder, by the first rule that applies.

    `$INVARIANCE_LAB_CACHE`, else `cache_dir:` in the config file, else
    `$XDG_CACHE_HOME/invariance_lab`, else `~/.cache/invariance_lab`; empty values count as unset.
    """
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR]).expanduser()
    cfg_dir = read_config().get("cache_dir")
    if cfg_dir:
        return Path(str(cfg_dir)).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "invariance_lab"
