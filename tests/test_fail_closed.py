"""An operator's or a pack author's mistake stops the start with a message that says what to do;
it never quietly loosens a rule."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import toolwire
from toolwire.testing import registered_plugins

from .conftest import MakeDispatcher, shout_pack


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
    needs = {"did you mean 'ratelimit'?": "ratelimit", "name its entry point(s): demo": "demo"}
    if expected in needs and needs[expected] not in entry_points(group="toolwire").names:
        pytest.skip(f"the hint names the {needs[expected]} plugin, which is not installed here")
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


@pytest.mark.parametrize(
    ("disabled", "option", "expected"),
    [
        ("roles", {"roles": ["admin"]}, "sets roles = ['admin'], which the built-in 'roles'"),
        ("policy", {"timeout": 0.2}, "sets timeout = 0.2, which the built-in 'policy'"),
        ("policy", {"retries": 2}, "sets retries = 2"),
        ("policy", {"max_concurrency": 1}, "sets max_concurrency = 1"),
    ],
)
def test_a_disabled_built_in_never_drops_a_rule_a_tool_relies_on(
    make: MakeDispatcher, disabled: str, option: dict[str, object], expected: str
) -> None:
    """Disabling roles or policy while a tool sets roles, a timeout, retries or a concurrency
    limit stops the start rather than run the tool unguarded or unbounded."""
    config = {"plugins": {"disable": [disabled]}, "tools": {"search_database": option}}
    with pytest.raises(toolwire.ConfigError, match=re.escape(expected)):
        make(_pack(), config=config).start()
    make(_pack(), config={"plugins": {"disable": [disabled]}}).start()  # nothing relies on it


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"timeout": float("nan")}, "timeout must be a positive, finite number"),
        ({"timeout": float("inf")}, "timeout must be a positive, finite number"),
        ({"enabled": 0}, "enabled must be True or False"),
        ({"sequential": "yes"}, "sequential must be True or False"),
        ({"retry_on": [int]}, "retry_on takes exception classes"),
        ({"retries": 1.5}, "retries must be a whole number, 0 or more"),
        ({"retries": True}, "retries must be a whole number, 0 or more"),
        ({"retries": -1}, "retries must be a whole number, 0 or more"),
        ({"max_concurrency": 0}, "max_concurrency must be a whole number, 1 or more"),
        ({"max_output_chars": "10"}, "max_output_chars must be a whole number, 1 or more"),
    ],
)
def test_tool_options_in_code_that_cannot_mean_what_was_meant_are_refused(
    options: dict[str, object], expected: str
) -> None:
    """Values in @pack.tool(...) that would quietly mean something else stop the definition."""
    pack = toolwire.Toolset("odd")
    with pytest.raises(toolwire.ConfigError, match=re.escape(expected)):
        pack.tool(**options)(lambda: None)  # type: ignore[arg-type]


def test_non_finite_numbers_in_the_config_are_refused(tmp_path: Path) -> None:
    """timeout = nan or inf in TOML passes every schema keyword; it is refused by name."""
    with pytest.raises(toolwire.ConfigError, match=r"\[defaults\] timeout: nan is not a finite"):
        toolwire.load_config(_write(tmp_path, "[defaults]\ntimeout = nan\n"))
    with pytest.raises(toolwire.ConfigError, match=r"\[tools.x\] timeout: inf is not a finite"):
        toolwire.load_config(_write(tmp_path, "[tools.x]\ntimeout = inf\n"))


def test_retry_on_takes_one_class_too() -> None:
    """retry_on=ValueError (one class, not a list) is read as (ValueError,)."""
    pack = toolwire.Toolset("one")

    @pack.tool(retries=1, retry_on=ValueError)
    def flaky() -> str:
        """Flaky."""
        return "ok"

    assert flaky.policy.retry_on == (ValueError,)


def test_sub_plugins_can_be_disabled_by_name(make: MakeDispatcher) -> None:
    """A plugin another plugin contributes ('parent.NAME') is blocked by disable like any other;
    a contributed name without its parent's prefix fails, its row the parent's ('parent.stray'),
    so that it can never take another plugin's."""
    extra = shout_pack()

    class Parent:
        @toolwire.hookimpl
        def toolwire_register_plugins(self, register: object) -> None:
            register("parent.extra", extra)  # type: ignore[operator]
            register("stray", extra)  # type: ignore[operator]

    dispatcher = make(config={"plugins": {"disable": ["parent.extra"]}}).add(
        Parent(), name="parent"
    )
    rows = {row.name: row for row in dispatcher.plugins()}
    assert rows["parent.extra"].status == "blocked"
    assert "stray" not in rows
    failed = rows["parent.stray"]
    assert failed.status == "failed" and "'parent.NAME'" in (failed.error or "")
    assert dispatcher.tools() == []
