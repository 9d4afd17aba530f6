"""Where data and caches live: argument, then environment variable, then config file, then the default."""

import itertools

import pytest

from invariance_lab.config import config_path, default_cache_dir, resolve_data_root
from invariance_lab.datasets._common import DatasetNotFound
from invariance_lab.errors import ProbeError
from invariance_lab.probes import get_probe

SOURCES = ("arg", "env", "config")  # resolution order of the data root, first wins


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A clean environment: none of the variables set, HOME and XDG_CONFIG_HOME in tmp_path."""
    for var in ("INVARIANCE_LAB_DATA", "INVARIANCE_LAB_CACHE", "INVARIANCE_LAB_CONFIG", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg_config"))
    return monkeypatch


def _write_config(tmp_path, text):
    path = tmp_path / "xdg_config" / "invariance_lab" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _set_sources(tmp_path, env, given):
    """Point each source in `given` at its own folder; return the explicit root (or None) and the folders."""
    dirs = {s: tmp_path / f"root_from_{s}" for s in SOURCES}
    for d in dirs.values():
        d.mkdir()
    if "env" in given:
        env.setenv("INVARIANCE_LAB_DATA", str(dirs["env"]))
    if "config" in given:
        _write_config(tmp_path, f"data_root: {dirs['config']}\n")
    return (dirs["arg"] if "arg" in given else None), dirs


ALL_SUBSETS = [c for n in range(1, 4) for c in itertools.combinations(SOURCES, n)]


def test_config_file_is_under_xdg_config_home(tmp_path, env):
    assert config_path() == tmp_path / "xdg_config" / "invariance_lab" / "config.yaml"
    env.delenv("XDG_CONFIG_HOME")
    assert config_path() == tmp_path / "home" / ".config" / "invariance_lab" / "config.yaml"
    env.setenv("INVARIANCE_LAB_CONFIG", str(tmp_path / "elsewhere.yaml"))
    assert config_path() == tmp_path / "elsewhere.yaml"


@pytest.mark.parametrize("given", ALL_SUBSETS, ids=["+".join(c) for c in ALL_SUBSETS])
def test_data_root_order(tmp_path, env, given):
    root, dirs = _set_sources(tmp_path, env, given)
    want = dirs[next(s for s in SOURCES if s in given)]
    assert resolve_data_root(root) == want


@pytest.mark.parametrize("given", ALL_SUBSETS, ids=["+".join(c) for c in ALL_SUBSETS])
def test_named_probe_reads_the_winning_root(tmp_path, env, given):
    # every root is empty, so the probe fails naming the folder it looked in
    root, dirs = _set_sources(tmp_path, env, given)
    want = dirs[next(s for s in SOURCES if s in given)]
    with pytest.raises(DatasetNotFound) as exc:
        get_probe("aloi-viewpoint", root=root)
    msg = str(exc.value)
    assert f"under {want};" in msg
    assert all(str(dirs[s]) not in msg for s in SOURCES if dirs[s] != want)


def test_no_data_root_names_all_three_ways(tmp_path, env):
    with pytest.raises(ProbeError) as exc:
        resolve_data_root(None, required_by="probe 'aloi-viewpoint'")
    msg = str(exc.value)
    assert msg.startswith("probe 'aloi-viewpoint' needs a data root")
    assert "--data-root" in msg
    assert "$INVARIANCE_LAB_DATA" in msg
    assert f"'data_root: DIR' in {tmp_path / 'xdg_config' / 'invariance_lab' / 'config.yaml'}" in msg
    # a named probe raises the same error, through the CLI's exception type
    with pytest.raises(ProbeError, match="needs a data root") as exc:
        get_probe("aloi-viewpoint")
    assert "aloi-viewpoint" in str(exc.value)


def test_empty_env_and_config_without_data_root_count_as_unset(tmp_path, env):
    env.setenv("INVARIANCE_LAB_DATA", "")
    _write_config(tmp_path, "cache_dir: /somewhere\n")
    with pytest.raises(ProbeError, match="needs a data root"):
        resolve_data_root()


def test_data_root_expands_user(tmp_path, env):
    env.setenv("INVARIANCE_LAB_DATA", "~/datasets")
    assert resolve_data_root() == tmp_path / "home" / "datasets"
    assert resolve_data_root("~/mine") == tmp_path / "home" / "mine"


def test_default_cache_dir_order(tmp_path, env):
    home = tmp_path / "home"
    # nothing set: ~/.cache/invariance_lab, with ~ from $HOME
    assert default_cache_dir() == home / ".cache" / "invariance_lab"
    # an empty XDG_CACHE_HOME counts as unset
    env.setenv("XDG_CACHE_HOME", "")
    assert default_cache_dir() == home / ".cache" / "invariance_lab"
    env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg_cache"))
    assert default_cache_dir() == tmp_path / "xdg_cache" / "invariance_lab"
    # cache_dir in the config file beats XDG_CACHE_HOME
    _write_config(tmp_path, f"cache_dir: {tmp_path / 'from_config'}\n")
    assert default_cache_dir() == tmp_path / "from_config"
    # $INVARIANCE_LAB_CACHE beats both, and is used as is (no invariance_lab/ appended), ~ expanded
    env.setenv("INVARIANCE_LAB_CACHE", str(tmp_path / "from_env"))
    assert default_cache_dir() == tmp_path / "from_env"
    env.setenv("INVARIANCE_LAB_CACHE", "~/cache_here")
    assert default_cache_dir() == home / "cache_here"
    # an empty one counts as unset
    env.setenv("INVARIANCE_LAB_CACHE", "")
    assert default_cache_dir() == tmp_path / "from_config"


def test_default_cache_dir_without_config_follows_env_then_xdg(tmp_path, env):
    env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg_cache"))
    env.setenv("INVARIANCE_LAB_CACHE", str(tmp_path / "from_env"))
    assert default_cache_dir() == tmp_path / "from_env"
    env.delenv("INVARIANCE_LAB_CACHE")
    assert default_cache_dir() == tmp_path / "xdg_cache" / "invariance_lab"
    env.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "invariance_lab"
