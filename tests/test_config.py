"""Config: where it is read from, validation naming key and file, per-tool policy."""

from __future__ import annotations

from pathlib import Path

import pytest
import toolwire
from toolwire._config import find_config_file

from .conftest import MakeDispatcher


def test_sources_are_read_in_the_designed_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TOOLWIRE_CONFIG beats ./toolwire.toml, which beats [tool.toolwire] in ./pyproject.toml."""
    monkeypatch.delenv("TOOLWIRE_CONFIG", raising=False)
    assert find_config_file(tmp_path, {}) is None
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert find_config_file(tmp_path, {}) is None  # no [tool.toolwire] table: not a config
    (tmp_path / "pyproject.toml").write_text("[tool.toolwire.defaults]\ntimeout = 7\n")
    assert find_config_file(tmp_path, {}) == tmp_path / "pyproject.toml"
    assert toolwire.load_config(tmp_path / "pyproject.toml").section("defaults")["timeout"] == 7
    (tmp_path / "toolwire.toml").write_text("[defaults]\ntimeout = 3\n")
    assert find_config_file(tmp_path, {}) == tmp_path / "toolwire.toml"
    other = tmp_path / "other.toml"
    other.write_text("[defaults]\ntimeout = 1\n")
    assert find_config_file(tmp_path, {"TOOLWIRE_CONFIG": str(other)}) == other
    monkeypatch.chdir(tmp_path)
    assert toolwire.load_config().section("defaults")["timeout"] == 3


def test_defaults_are_filled_in() -> None:
    """Without a file, every table has its documented defaults."""
    config = toolwire.Config()
    assert config.autoload and not config.strict and config.enable == []
    assert config.section("defaults")["permission"] == "allow"
    assert config.section("limits")["max_argument_bytes"] == 1_000_000


def test_every_mistake_is_named_with_key_and_file(tmp_path: Path) -> None:
    """Unknown keys and wrong types name the key and the file, all of them at once."""
    path = tmp_path / "toolwire.toml"
    path.write_text(
        "[plugins]\nautoload = 'yes'\n"
        "[defaults]\ntiemout = 5\n"
        "[tools.delete_user]\ntimeout = 'five'\n"
    )
    with pytest.raises(toolwire.ConfigError) as caught:
        toolwire.load_config(path)
    message = str(caught.value)
    assert str(path) in message and "3 problem(s)" in message
    assert caught.value.problems == [
        "unknown key [defaults] tiemout; did you mean 'timeout'?",
        "[plugins] autoload: 'yes' is not of type 'boolean'",
        "[tools.delete_user] timeout: 'five' is not of type 'number'",
    ]


def test_bad_toml_and_missing_files_are_clear(tmp_path: Path) -> None:
    """A file that is not TOML, or not there, is one clear error naming it."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[plugins\n")
    with pytest.raises(toolwire.ConfigError, match=r"bad\.toml: not valid TOML"):
        toolwire.load_config(bad)
    with pytest.raises(toolwire.ConfigError, match="config file not found"):
        toolwire.load_config(tmp_path / "absent.toml")


def test_config_policy_overrides_code(make: MakeDispatcher) -> None:
    """[tools.NAME] overrides what the code declared; [defaults] fills what neither set."""
    pack = toolwire.Toolset("p")

    @pack.tool(timeout=10, roles=["user"])
    def act() -> str:
        """Act."""
        return "done"

    @pack.tool
    def other() -> str:
        """Other."""
        return "done"

    class Quota:
        """Claims the plugin option ``quota``, as a rate-limit plugin claims ``rate_limit``."""

        @toolwire.hookimpl
        def toolwire_register_tool_options(self, register):  # type: ignore[no-untyped-def]
            register("quota", str)

    dispatcher = make(
        pack,
        Quota(),
        config={
            "defaults": {"timeout": 30, "retries": 1},
            "tools": {"act": {"timeout": 2, "roles": ["admin"], "quota": "5/minute"}},
        },
    )
    act_policy = dispatcher.policy("act")
    assert act_policy.timeout == 2 and act_policy.roles == frozenset({"admin"})
    assert act_policy.retries == 1 and act_policy.options["quota"] == "5/minute"
    assert dispatcher.policy("other").timeout == 30
    assert not dispatcher.dispatch_sync("act", {}, role="user").success
    assert dispatcher.dispatch_sync("act", {}, role="admin").success
    assert [t.name for t in dispatcher.tools("user")] == ["other"]


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"rate_limit": "3/minute"}, "'rate_limit' is not a tool option"),
        ({"timout": 5}, "did you mean 'timeout'"),
    ],
)
def test_a_tool_option_no_loaded_plugin_enforces_stops_the_start(
    make: MakeDispatcher, table: dict[str, object], expected: str
) -> None:
    """rate_limit without its plugin (or a misspelt option) is an error at start, never "unlimited"."""
    pack = toolwire.Toolset("p")

    @pack.tool
    def act() -> str:
        """Act."""
        return "done"

    dispatcher = make(pack, config={"tools": {"act": table}})
    with pytest.raises(toolwire.ConfigError) as raised:
        dispatcher.start()
    assert expected in str(raised.value) and "[tools.act]" in str(raised.value)


def test_an_option_in_code_no_plugin_enforces_stops_the_start(make: MakeDispatcher) -> None:
    """@pack.tool(rate_limit=...) without the plugin is refused at start, naming the tool's code."""
    pack = toolwire.Toolset("p")

    @pack.tool(rate_limit="3/minute")
    def act() -> str:
        """Act."""
        return "done"

    with pytest.raises(toolwire.ConfigError, match="the code of tool 'act'"):
        make(pack).start()


def test_config_in_code_is_validated_naming_code() -> None:
    """Config built in code meets the file's schema, with its messages, naming ``code``."""
    with pytest.raises(toolwire.ConfigError) as caught:
        toolwire.Config(data={"defaults": {"tiemout": 5}, "tools": {"x": {"timeout": "five"}}})
    assert str(caught.value).startswith("code: 2 problem(s)")
    assert caught.value.problems == [
        "unknown key [defaults] tiemout; did you mean 'timeout'?",
        "[tools.x] timeout: 'five' is not of type 'number'",
    ]


def test_a_dispatcher_is_built_from_a_mapping() -> None:
    """``Dispatcher({...})`` and ``from_config({...})`` take the tables; a mistake is a ConfigError."""
    with toolwire.Dispatcher({"defaults": {"timeout": 5}}) as dispatcher:
        assert dispatcher.config.section("defaults")["timeout"] == 5
    with toolwire.Dispatcher.from_config({"plugins": {"autoload": False}}) as dispatcher:
        assert not dispatcher.config.autoload
    with pytest.raises(toolwire.ConfigError, match="code: 1 problem"):
        toolwire.Dispatcher({"defaults": {"timeout": "five"}})
    with pytest.raises(TypeError, match=r"toolwire\.Config or a mapping"):
        toolwire.Dispatcher("toolwire.toml")  # type: ignore[arg-type]


def test_relative_paths_resolve_against_the_file_that_names_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file's relative path is relative to the file; code's, to the working directory."""
    folder = tmp_path / "srv"
    folder.mkdir()
    (folder / "toolwire.toml").write_text("[approvals]\nstore = 'sqlite:///state/a.db'\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = toolwire.load_config(folder / "toolwire.toml")
    assert config.resolve_path("state/a.db", "approvals.store") == folder / "state" / "a.db"
    assert config.resolve_path("/abs/x", "k") == Path("/abs/x")
    assert config.resolved_paths["approvals.store"] == folder / "state" / "a.db"
    in_code = toolwire.Config(data={"approvals": {"store": "sqlite:///b.db"}})
    assert in_code.resolve_path("b.db", "approvals.store") == elsewhere / "b.db"
    # An environment variable's value is the caller's: relative to the working directory.
    from_env = toolwire.Config(str(folder / "toolwire.toml"), {}, {"plugins.x.path": "X_PATH"})
    assert from_env.resolve_path("c", "plugins.x.path") == elsewhere / "c"


def test_the_approvals_store_named_in_a_file_is_found_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two dispatchers on one config, started in different folders, share one approvals store."""
    folder = tmp_path / "srv"
    folder.mkdir()
    config_file = folder / "toolwire.toml"
    config_file.write_text(
        "[plugins]\nautoload = false\n[approvals]\nstore = 'sqlite:///approvals.db'\n"
        "[defaults]\napproval = true\n"
    )
    pack = toolwire.Toolset("p")

    @pack.tool
    def ping() -> str:
        """Ping."""
        return "pong"

    monkeypatch.chdir(tmp_path)
    with toolwire.Dispatcher.from_config(config_file) as first:
        first.add(pack)
        held = first.dispatch_sync("ping", {})
        assert held.error is not None and held.error.kind == "approval_required"
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    with toolwire.Dispatcher.from_config(config_file) as second:
        assert [a.tool for a in second.approvals_sync()] == ["ping"]
    assert (folder / "approvals.db").exists()
    assert not (other / "approvals.db").exists() and not (tmp_path / "approvals.db").exists()


def test_a_mistake_found_after_the_schema_names_code_as_its_source() -> None:
    """Config given as a mapping is "code" in every message, not "built-in defaults"."""
    with pytest.raises(toolwire.PluginError, match=r"^code: \[plugins.opps\] holds settings"):
        toolwire.Dispatcher.from_config({"plugins": {"opps": {}}})
    assert toolwire.Config().describe() == "built-in defaults"
