"""``[plugins.NAME] prefix``, ``include`` and ``exclude``: every tool pack, as for MCP servers."""

from __future__ import annotations

from pathlib import Path

import importlib_metadata
import pytest
import toolwire

from .conftest import MakeDispatcher

INSTALLED = {ep.name for ep in importlib_metadata.entry_points(group="toolwire")}


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "toolwire.toml"
    path.write_text(text)
    return path


@pytest.mark.skipif(
    not {"demo", "dup"} <= INSTALLED, reason="needs the demo pack and tests/fixture_plugins"
)
def test_two_installed_packs_with_one_tool_name_are_both_usable_with_a_prefix(
    tmp_path: Path,
) -> None:
    """The demo pack and another with its own get_weather load side by side under a prefix."""
    config = _config(
        tmp_path,
        '[plugins]\nautoload = false\nenable = ["demo", "dup"]\n[plugins.dup]\nprefix = "dup_"\n',
    )
    with toolwire.Dispatcher.from_config(config) as dispatcher:
        names = {t.name for t in dispatcher.tools()}
        assert {"get_weather", "dup_get_weather"} <= names
        assert dispatcher.dispatch_sync("dup_get_weather", {"location": "Oslo"}).result == "Oslo"
        assert dispatcher.dispatch_sync("get_weather", {"location": "Oslo"}).success


def _pack() -> toolwire.Toolset:
    pack = toolwire.Toolset("files")

    @pack.tool
    def read_file(path: str) -> str:
        """Read a file."""
        return path

    @pack.tool
    def delete_file(path: str) -> str:
        """Delete a file."""
        return path

    return pack


def test_include_and_exclude_keep_the_named_tools(make: MakeDispatcher) -> None:
    """``include`` keeps only the named tools; ``exclude`` drops the named ones."""
    only = make(_pack(), config={"plugins": {"files": {"include": ["read_file"]}}})
    assert [t.name for t in only.tools()] == ["read_file"]
    without = make(_pack(), config={"plugins": {"files": {"exclude": ["delete_file"]}}})
    assert [t.name for t in without.tools()] == ["read_file"]
    assert without.dispatch_sync("delete_file", {"path": "x"}).error.kind == "unknown_tool"  # type: ignore[union-attr]


def test_a_prefix_renames_the_pack_and_leaves_the_pack_unchanged(make: MakeDispatcher) -> None:
    """The prefixed tool is what the model and ``[tools.NAME]`` see; the pack object is intact."""
    pack = _pack()
    dispatcher = make(
        pack,
        config={
            "plugins": {"files": {"prefix": "fs_"}},
            "tools": {"fs_delete_file": {"roles": ["admin"]}},
        },
    )
    assert [t.name for t in dispatcher.tools(all_roles=True)] == ["fs_delete_file", "fs_read_file"]
    assert [t.name for t in dispatcher.tools("user")] == ["fs_read_file"]
    assert [t.name for t in pack] == ["read_file", "delete_file"]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"exclude": ["delete_fille"]}, "exclude names 'delete_fille'.*did you mean 'delete_file'"),
        ({"include": ["nothing"]}, "include names 'nothing'"),
        ({"include": ["read_file"], "exclude": ["read_file"]}, "both included and excluded"),
        ({"prefix": "9 "}, r"\[plugins.files\] prefix: tool name '9 read_file'"),
    ],
)
def test_a_selection_that_matches_nothing_stops_the_start(
    make: MakeDispatcher, table: dict[str, object], message: str
) -> None:
    """A misspelt name fails closed: a misspelt exclude would leave offered what it meant to hide."""
    with pytest.raises(toolwire.ConfigError, match=message):
        make(_pack(), config={"plugins": {"files": table}})


def test_selection_keys_are_typed_by_the_config_schema() -> None:
    """``prefix`` is text and ``include``/``exclude`` lists of names, checked with the config."""
    with pytest.raises(toolwire.ConfigError, match=r"\[plugins.files\] include"):
        toolwire.Config(data={"plugins": {"files": {"include": "read_file"}}})


def test_the_plugin_does_not_see_the_core_keys() -> None:
    """A plugin reading its own table does not find ``prefix``, ``include`` or ``exclude``."""
    config = toolwire.Config(data={"plugins": {"x": {"prefix": "a_", "storage": "memory://"}}})
    assert config.plugin_settings("x") == {"storage": "memory://"}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"exclde": ["write_file"]},
            r"unknown key \[plugins.files\] exclde \(did you mean 'exclude'\?\)",
        ),
        ({"prefx": "f_"}, r"unknown key \[plugins.files\] prefx \(did you mean 'prefix'\?\)"),
        ({"storage": "x"}, r"unknown key \[plugins.files\] storage \(it takes prefix"),
    ],
)
def test_a_pack_that_reads_no_settings_refuses_any_other_key(
    make: MakeDispatcher, table: dict[str, object], message: str
) -> None:
    """A tool pack has no settings of its own: a misspelt selection key stops the start (with
    "did you mean"), never leaving offered the tool it meant to hide."""
    with pytest.raises(toolwire.PluginError, match=message):
        make(_pack(), config={"plugins": {"files": table}})


def test_a_plugin_that_reads_its_settings_keeps_its_own_keys(make: MakeDispatcher) -> None:
    """A plugin with ``toolwire_configure`` reads the rest of its table itself."""

    seen: list[object] = []

    class Configured:
        @toolwire.hookimpl
        def toolwire_configure(self, config: toolwire.Config) -> None:
            seen.append(config.plugin_settings("configured"))

    make(config={"plugins": {"configured": {"storage": "x"}}}).add(Configured(), name="configured")
    assert seen == [{"storage": "x"}]
