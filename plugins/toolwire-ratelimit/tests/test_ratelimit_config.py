"""The plugin's settings, how mistakes in them are reported, and loading through the entry point."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import toolwire
import toolwire_ratelimit

MakeDispatcher = Callable[..., toolwire.Dispatcher]


def test_defaults() -> None:
    """Without a [plugins.ratelimit] table: memory storage, per role, moving window, fail closed."""
    settings = toolwire_ratelimit.Settings.from_config(toolwire.Config())
    assert settings == toolwire_ratelimit.Settings()
    assert settings.storage == "memory://" and not settings.uses_redis
    assert settings.per_role and settings.principal_key is None and not settings.fail_open
    assert settings.strategy == "moving-window" and settings.storage_timeout == 1.0


@pytest.mark.parametrize(
    ("url", "async_uri", "redis_url"),
    [
        ("redis://h:6379", "async+redis://h:6379", "redis://h:6379"),
        ("rediss://h:6380/2", "async+rediss://h:6380/2", "rediss://h:6380/2"),
        ("redis+unix:///run/r.sock", "async+redis+unix:///run/r.sock", "unix:///run/r.sock"),
        ("async+redis://h:1", "async+redis://h:1", "redis://h:1"),
    ],
)
def test_redis_uris_map_to_the_async_scheme(url: str, async_uri: str, redis_url: str) -> None:
    """A redis:// storage is spelled async+redis:// for limits.aio and plainly for redis-py."""
    settings = toolwire_ratelimit.Settings(storage=url)
    assert settings.uses_redis
    assert (settings.async_storage_uri, settings.redis_url) == (async_uri, redis_url)


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ("[plugins.ratelimit]\nstorge = 'memory://'\n", "unknown key [plugins.ratelimit] storge"),
        ("[plugins.ratelimit]\nstorage = 'memcached://x'\n", "[plugins.ratelimit] storage"),
        ("[plugins.ratelimit]\nstorage = 'redis://h:port'\n", "[plugins.ratelimit] storage"),
        ("[plugins.ratelimit]\nstrategy = 'token-bucket'\n", "[plugins.ratelimit] strategy"),
        ("[plugins.ratelimit]\nstorage_timeout = 0\n", "[plugins.ratelimit] storage_timeout"),
        ("[plugins.ratelimit]\nfail_open = 'yes'\n", "[plugins.ratelimit] fail_open"),
        ("[plugins.ratelimit]\nprincipal_key = ''\n", "[plugins.ratelimit] principal_key"),
        ("[tools.lookup]\nrate_limit = 'lots'\n", "[tools.lookup] rate_limit"),
        ("[tools.lookup]\nrate_limit = '1/second;9/minute'\n", "[tools.lookup] rate_limit"),
    ],
)
def test_mistakes_name_the_key_and_the_file(
    make: MakeDispatcher, tmp_path: Path, toml: str, problem: str
) -> None:
    """A wrong setting stops the start with a ConfigError naming the key and the config file."""
    with pytest.raises(toolwire.ConfigError) as caught:
        make(toml)
    assert problem in str(caught.value)
    assert str(tmp_path) in str(caught.value)


def test_an_integer_timeout_is_accepted(tmp_path: Path) -> None:
    """storage_timeout = 2 (a TOML integer) is read as 2.0 seconds."""
    path = tmp_path / "toolwire.toml"
    path.write_text("[plugins.ratelimit]\nstorage_timeout = 2\n")
    settings = toolwire_ratelimit.Settings.from_config(toolwire.load_config(path))
    assert settings.storage_timeout == 2.0 and isinstance(settings.storage_timeout, float)


def test_discovered_through_the_entry_point(tmp_path: Path) -> None:
    """Dispatcher.from_config finds the installed distribution's `ratelimit` entry point and enables it."""
    path = tmp_path / "toolwire.toml"
    path.write_text(
        "[plugins]\nautoload = false\nenable = ['ratelimit']\n\n"
        "[plugins.ratelimit]\nper_role = false\n\n"
        "[tools.lookup]\nrate_limit = '2/minute'\n"
    )
    pack = toolwire.Toolset("discovered")

    @pack.tool
    def lookup() -> str:
        """Look something up."""
        return "found"

    with toolwire.Dispatcher.from_config(path) as dispatcher:
        dispatcher.add(pack)
        rows = {row.name: row for row in dispatcher.plugins()}
        assert rows["ratelimit"].status == "enabled"
        assert rows["ratelimit"].distribution == "toolwire-ratelimit"
        assert "toolwire_register_middleware" in rows["ratelimit"].hooks
        results = [dispatcher.dispatch_sync("lookup", {}, role=r) for r in ("a", "b", "c")]
    assert [r.success for r in results] == [True, True, False]
    assert results[2].error is not None and results[2].error.kind == "rate_limited"


def test_version_comes_from_the_metadata() -> None:
    """__version__ is the installed distribution's version."""
    from importlib.metadata import version

    assert toolwire_ratelimit.__version__ == version("toolwire-ratelimit")


@pytest.mark.parametrize("strict", ["false", "true"])
def test_discovered_with_a_bad_setting_stops_the_start(tmp_path: Path, strict: str) -> None:
    """Under discovery a wrong setting stops the start, naming the key, strict or not."""
    path = tmp_path / "toolwire.toml"
    settings = "[plugins.ratelimit]\nstorge = 'memory://'\n"
    path.write_text(
        f"[plugins]\nautoload = false\nstrict = {strict}\nenable = ['ratelimit']\n" + settings
    )
    with pytest.raises(toolwire.PluginError, match=r"(?s)'ratelimit' refused its settings.*storge"):
        toolwire.Dispatcher.from_config(path)
