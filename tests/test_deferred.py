"""``defer_loading``: in code, per tool in config, and for a whole pack or MCP server."""

from __future__ import annotations

import pytest
import toolwire

from .conftest import MakeDispatcher


def _pack(*, defer: bool | None = None) -> toolwire.Toolset:
    pack = toolwire.Toolset("files", "Files on the local disk.")

    @pack.tool(defer_loading=defer)
    def read_file(path: str) -> str:
        """Read a text file."""
        return f"read {path}"

    @pack.tool
    def delete_file(path: str) -> str:
        """Delete a file."""
        return f"deleted {path}"

    return pack


def test_a_tool_declared_deferred_is_deferred_and_still_callable(make: MakeDispatcher) -> None:
    """``@pack.tool(defer_loading=True)`` defers that tool only, and a call to it still runs."""
    dispatcher = make(_pack(defer=True))
    assert dispatcher.policy("read_file").defer_loading is True
    assert not dispatcher.policy("delete_file").defer_loading
    assert dispatcher.dispatch_sync("read_file", {"path": "a"}).output == "read a"


def test_a_pack_table_defers_every_tool_of_the_pack(make: MakeDispatcher) -> None:
    """``[plugins.NAME] defer_loading = true`` defers each tool the pack brings."""
    dispatcher = make(_pack(), config={"plugins": {"files": {"defer_loading": True}}})
    assert dispatcher.policy("read_file").defer_loading is True
    assert dispatcher.policy("delete_file").defer_loading is True


def test_a_tool_table_has_the_last_word_over_its_pack(make: MakeDispatcher) -> None:
    """``[tools.NAME] defer_loading = false`` keeps one tool up front in a deferred pack."""
    dispatcher = make(
        _pack(),
        config={
            "plugins": {"files": {"defer_loading": True}},
            "tools": {"delete_file": {"defer_loading": False}},
        },
    )
    assert dispatcher.policy("read_file").defer_loading is True
    assert dispatcher.policy("delete_file").defer_loading is False


def test_a_pack_table_never_sets_back_a_tool_it_does_not_defer(make: MakeDispatcher) -> None:
    """``[plugins.NAME] defer_loading = false`` undoes the code's ``defer_loading=True``."""
    dispatcher = make(_pack(defer=True), config={"plugins": {"files": {"defer_loading": False}}})
    assert dispatcher.policy("read_file").defer_loading is False


@pytest.mark.parametrize("value", ["yes", 1])
def test_a_wrong_defer_loading_stops_the_start(value: object) -> None:
    """A non-boolean ``defer_loading`` in code or config is refused with its key named."""
    with pytest.raises(toolwire.ConfigError, match="defer_loading"):
        toolwire.tool(defer_loading=value)(lambda: None)  # type: ignore[arg-type]
    with pytest.raises(toolwire.ConfigError, match="defer_loading"):
        toolwire.Dispatcher({"plugins": {"files": {"defer_loading": value}}})
    with pytest.raises(toolwire.ConfigError, match="defer_loading"):
        toolwire.Dispatcher({"tools": {"read_file": {"defer_loading": value}}})


def test_the_pack_key_is_not_handed_to_the_plugin_as_its_setting() -> None:
    """``defer_loading`` in ``[plugins.NAME]`` is the core's key, not the plugin's setting."""
    config = toolwire.Dispatcher({"plugins": {"files": {"defer_loading": True, "x": 1}}}).config
    assert config.plugin_settings("files") == {"x": 1}


def test_policy_sources_names_the_pack_table_for_a_pack_wide_defer_loading() -> None:
    """``defer_loading`` set by ``[plugins.NAME]`` is reported as coming from that table; one
    a tool's ``[tools.NAME]`` sets, from that table; one in code, from code."""
    pack = toolwire.Toolset("files")

    @pack.tool
    def read_file(path: str) -> str:
        """Read a file."""
        return path

    @pack.tool(defer_loading=False)
    def list_files() -> list[str]:
        """List the files."""
        return []

    other = toolwire.Toolset("other")

    @other.tool(defer_loading=True)
    def ping() -> str:
        """Answer pong."""
        return "pong"

    config = {
        "plugins": {"files": {"defer_loading": True}},
        "tools": {"list_files": {"defer_loading": True}},
    }
    with toolwire.Dispatcher(config).add(pack).add(other) as dispatcher:
        assert dispatcher.policy_sources("read_file")["defer_loading"] == "[plugins.files]"
        assert dispatcher.policy_sources("list_files")["defer_loading"] == "[tools.list_files]"
        assert dispatcher.policy_sources("ping")["defer_loading"] == "code"
