"""An operator's or a pack author's mistake stops the start with a message that says what to do;
it never quietly loosens a rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import toolwire
from toolwire.testing import registered_plugins

from .conftest import MakeDispatcher


def _pack() -> toolwire.Toolset:
    pack = toolwire.Toolset("db")

    @pack.tool
    def search_database(query: str) -> str:
        """Search."""
        return query

    return pack


def test_a_tools_table_naming_no_tool_stops_the_start(make: MakeDispatcher) -> None:
    """[tools.search_db] roles = ["admin"], meant for search_database, is an error naming it."""
    dispatcher = make(_pack(), config={"tools": {"search_db": {"roles": ["admin"]}}})
    with pytest.raises(toolwire.ConfigError) as raised:
        dispatcher.start()
    assert "[tools.search_db] names no tool" in str(raised.value)
    assert "did you mean search_database?" in str(raised.value)
    with pytest.raises(toolwire.ConfigError):
        dispatcher.dispatch_sync("search_database", {"query": "x"}, role="user")


def test_a_tools_table_for_a_disabled_tool_is_fine(make: MakeDispatcher) -> None:
    """A [tools.NAME] table that names a real tool, even to disable it, starts."""
    dispatcher = make(_pack(), config={"tools": {"search_database": {"enabled": False}}})
    assert dispatcher.start().tools() == []


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "toolwire.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[plugins.ratelimt]\nper_role = false\n",
            "[plugins.ratelimt] holds settings for a plugin",
        ),
        ("[plugins.ratelimt]\nper_role = false\n", "did you mean 'ratelimit'?"),
        ("[plugins]\ndisable = ['nosuch']\n", "[plugins] disable names plugin(s) that are not"),
        (
            "[plugins]\nautoload = false\nenable = ['toolwire-demo']\n",
            "name its entry point(s): demo",
        ),
        ("[plugins]\nautoload = false\nenable = ['pluggy']\n", "no 'toolwire' entry point"),
    ],
)
def test_plugin_names_that_match_nothing_stop_the_start(
    tmp_path: Path, text: str, expected: str
) -> None:
    """Settings, disable or enable naming a plugin that is not installed say what to do instead."""
    with pytest.raises(toolwire.PluginError) as raised:
        toolwire.Dispatcher.from_config(_write(tmp_path, text))
    assert expected in str(raised.value)


def test_an_error_names_the_environment_variable_that_caused_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TOOLWIRE_PLUGINS naming a missing plugin is blamed on TOOLWIRE_PLUGINS, not the defaults."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TOOLWIRE_CONFIG", raising=False)
    monkeypatch.setenv("TOOLWIRE_PLUGINS", "demo,nosuch")
    with pytest.raises(toolwire.PluginError) as raised:
        toolwire.Dispatcher.from_config()
    assert str(raised.value).startswith("TOOLWIRE_PLUGINS: [plugins] enable names")


def test_unknown_keys_get_did_you_mean(tmp_path: Path) -> None:
    """A misspelt key is named with the key it was probably meant to be."""
    with pytest.raises(toolwire.ConfigError) as raised:
        toolwire.load_config(_write(tmp_path, "[limits]\nmax_batch_call = 3\n"))
    assert "unknown key [limits] max_batch_call; did you mean 'max_batch_calls'?" in str(
        raised.value
    )


def test_an_entry_point_that_loads_nothing_is_a_failed_plugin(tmp_path: Path) -> None:
    """An entry point naming a module with no tools and no hooks fails, saying what to name."""
    path = _write(tmp_path, "[plugins]\nautoload = false\nenable = ['empty']\n")
    dispatcher = toolwire.Dispatcher.from_config(path)
    row = {p.name: p for p in dispatcher.plugins()}["empty"]
    assert row.status == "failed"
    assert "provides no tools and no hooks" in (row.error or "")
    assert "toolwire.Toolset" in (row.error or "")
    assert "empty" not in registered_plugins(dispatcher)
    strict = _write(tmp_path, "[plugins]\nautoload = false\nenable = ['empty']\nstrict = true\n")
    with pytest.raises(toolwire.PluginError, match="no tools and no hooks"):
        toolwire.Dispatcher.from_config(strict)


def test_adding_an_object_that_does_nothing_is_refused(make: MakeDispatcher) -> None:
    """Dispatcher.add of a plain object, or of a class that needs arguments, says why."""

    class NeedsArgs:
        def __init__(self, token: str) -> None:
            self.token = token

    dispatcher = make()
    with pytest.raises(toolwire.ConfigError, match="provides no tools and no hooks"):
        dispatcher.add(object(), name="nothing")
    with pytest.raises(toolwire.ConfigError, match="a plugin class takes none"):
        dispatcher.add(NeedsArgs, name="needs")
