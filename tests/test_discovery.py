"""Discovery against really installed distributions (the demo pack and the fixture plugins)."""

from __future__ import annotations

import sys
from pathlib import Path

import importlib_metadata
import pytest
import toolwire
from toolwire.testing import registered_plugins

INSTALLED = {ep.name for ep in importlib_metadata.entry_points(group="toolwire")}
needs_fixtures = pytest.mark.skipif(
    not {"demo", "broken", "dup", "lazy", "half", "hooks"} <= INSTALLED,
    reason="the demo pack and tests/fixture_plugins must be installed (nox -s tests does it)",
)
pytestmark = needs_fixtures


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "toolwire.toml"
    path.write_text(text)
    return path


def rows(dispatcher: toolwire.Dispatcher) -> dict[str, toolwire.PluginInfo]:
    return {p.name: p for p in dispatcher.plugins()}


def test_enabled_pack_is_discovered_and_dispatches(tmp_path: Path) -> None:
    """An installed pack enabled in config is loaded through its entry point and callable."""
    config = write_config(tmp_path, '[plugins]\nautoload = false\nenable = ["demo"]\n')
    dispatcher = toolwire.Dispatcher.from_config(config)
    demo = rows(dispatcher)["demo"]
    assert (demo.status, demo.distribution, demo.tools) == ("enabled", "toolwire-demo", 4)
    assert demo.version == importlib_metadata.version("toolwire-demo")
    result = dispatcher.dispatch_sync("get_weather", '{"location": "Paris"}')
    assert result.success and '"location":"Paris"' in result.output
    assert rows(dispatcher)["broken"].status == "disabled"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("broken", "ModuleNotFoundError: No module named 'toolwire_fixture_dependency"),
        ("syntax", "SyntaxError"),
        ("exits", "SystemExit: this plugin refuses to load"),
        ("half", "RuntimeError: failed after registering two tools"),
    ],
)
def test_failing_plugin_is_reported_and_skipped(tmp_path: Path, name: str, error: str) -> None:
    """A plugin that fails to load is recorded with its error; the host starts without it."""
    config = write_config(tmp_path, f'[plugins]\nautoload = false\nenable = ["demo", "{name}"]\n')
    dispatcher = toolwire.Dispatcher.from_config(config)
    row = rows(dispatcher)[name]
    assert row.status == "failed" and row.error is not None and error in row.error
    assert row.distribution == "toolwire-fixture-plugins" and row.version == "1.0.0"
    names = {t.name for t in dispatcher.tools()}
    assert "get_weather" in names and not {"half_one", "half_two"} & names
    assert name not in registered_plugins(dispatcher)


@pytest.mark.parametrize("name", ["broken", "syntax", "exits", "half"])
def test_strict_mode_makes_a_failing_plugin_fatal(tmp_path: Path, name: str) -> None:
    """With strict = true the dispatcher refuses to start and names the plugin and why."""
    config = write_config(
        tmp_path, f'[plugins]\nautoload = false\nenable = ["{name}"]\nstrict = true\n'
    )
    with pytest.raises(toolwire.PluginError, match=f"plugin '{name}' .*failed to load"):
        toolwire.Dispatcher.from_config(config)


def test_duplicate_tool_names_stop_the_start(tmp_path: Path) -> None:
    """Two installed packs with one tool name stop the start, naming both."""
    config = write_config(tmp_path, '[plugins]\nautoload = false\nenable = ["demo", "dup"]\n')
    with pytest.raises(toolwire.ConfigError, match="get_weather") as caught:
        toolwire.Dispatcher.from_config(config)
    assert "'demo'" in str(caught.value) and "'dup'" in str(caught.value)


def test_installed_but_disabled_plugin_is_never_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plugin that is not enabled is listed but never imported (its import side effect is absent)."""
    marker = tmp_path / "imported.txt"
    monkeypatch.setenv("TOOLWIRE_FIXTURE_IMPORT_MARKER", str(marker))
    monkeypatch.delitem(sys.modules, "toolwire_fixtures.lazy", raising=False)
    for text in (
        '[plugins]\nautoload = false\nenable = ["demo"]\n',
        '[plugins]\nautoload = true\ndisable = ["lazy", "dup", "broken", "syntax", "exits", '
        '"half", "hooks", "ratelimit", "audit"]\n',
    ):
        dispatcher = toolwire.Dispatcher.from_config(write_config(tmp_path, text))
        assert rows(dispatcher)["lazy"].status in ("disabled", "blocked")
        assert "toolwire_fixtures.lazy" not in sys.modules
        assert not marker.exists()
    enabled = write_config(tmp_path, '[plugins]\nautoload = false\nenable = ["lazy"]\n')
    toolwire.Dispatcher.from_config(enabled)
    assert marker.read_text() == "imported\n"


def test_disable_blocks_a_plugin(tmp_path: Path) -> None:
    """A plugin in [plugins] disable is shown as blocked and cannot be registered later."""
    config = write_config(
        tmp_path, '[plugins]\nautoload = false\nenable = ["demo"]\ndisable = ["hooks"]\n'
    )
    dispatcher = toolwire.Dispatcher.from_config(config)
    assert rows(dispatcher)["hooks"].status == "blocked"


def test_builtin_plugins_can_be_disabled(tmp_path: Path) -> None:
    """Built-in plugins are listed by name and blockable like any other; a tool whose roles
    nobody would enforce then stops the start instead of opening to every role."""
    config = write_config(
        tmp_path, '[plugins]\nautoload = false\nenable = ["demo"]\ndisable = ["roles"]\n'
    )
    dispatcher = toolwire.Dispatcher.from_config(config)
    assert rows(dispatcher)["roles"].status == "blocked" and rows(dispatcher)["roles"].builtin
    with pytest.raises(toolwire.ConfigError, match="'delete_user' sets roles"):
        dispatcher.dispatch_sync("delete_user", {"user_id": 1})


def test_enabled_but_not_installed_is_an_error(tmp_path: Path) -> None:
    """A plugin named in enable that is not installed is an error naming it."""
    config = write_config(tmp_path, '[plugins]\nautoload = false\nenable = ["no-such-pack"]\n')
    with pytest.raises(toolwire.PluginError, match="no-such-pack"):
        toolwire.Dispatcher.from_config(config)


def test_hook_plugin_from_an_entry_point(tmp_path: Path) -> None:
    """A module of hookimpls found by entry point takes part in every stage."""
    config = write_config(tmp_path, '[plugins]\nautoload = false\nenable = ["hooks"]\n')
    dispatcher = toolwire.Dispatcher.from_config(config)
    assert dispatcher.dispatch_sync("guarded", {"text": "hi"}).output == "HI"
    forbidden = dispatcher.dispatch_sync("guarded", {"text": "forbidden"})
    assert forbidden.error is not None and forbidden.error.message == "forbidden text"
    rejected = dispatcher.dispatch_sync("guarded", {"text": "reject me"})
    assert rejected.error is not None and rejected.error.kind == "rejected"
    row = rows(dispatcher)["hooks"]
    assert "toolwire_check_permission" in row.hooks and row.tools == 1


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TOOLWIRE_PLUGINS picks the plugins; TOOLWIRE_DISABLE_PLUGIN_AUTOLOAD turns autoload off."""
    config = write_config(tmp_path, "[plugins]\nautoload = true\n")
    monkeypatch.setenv("TOOLWIRE_PLUGINS", "demo")
    dispatcher = toolwire.Dispatcher.from_config(config)
    assert rows(dispatcher)["demo"].status == "enabled"
    assert rows(dispatcher)["dup"].status == "disabled"
    monkeypatch.delenv("TOOLWIRE_PLUGINS")
    monkeypatch.setenv("TOOLWIRE_DISABLE_PLUGIN_AUTOLOAD", "1")
    dispatcher = toolwire.Dispatcher.from_config(config)
    assert {p.status for p in dispatcher.plugins() if not p.builtin} == {"disabled"}


def _distribution(site: Path, name: str, entry_points: str, module: str, code: str) -> None:
    """A distribution as an installer leaves it: a module and its dist-info with entry points."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[toolwire]\n{entry_points}\n")
    (site / f"{module}.py").write_text(code)


PACK_CODE = """
import toolwire
pack = toolwire.Toolset("{name}")

@pack.tool
def {tool}() -> str:
    \"\"\"Answer.\"\"\"
    return "{tool}"
"""


def test_a_name_two_distributions_bring_stops_the_start_when_wanted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two installed distributions with one entry-point name: enabled, the start stops naming
    both (neither is picked in silence); not enabled, nothing happens."""
    site = tmp_path / "site"
    for dist, module, tool in (("twin-a", "twin_a", "from_a"), ("twin-b", "twin_b", "from_b")):
        code = PACK_CODE.format(name="twin", tool=tool)
        _distribution(site, dist, f"twin = {module}:pack", module, code)
    monkeypatch.syspath_prepend(str(site))
    enabled = write_config(tmp_path, '[plugins]\nautoload = false\nenable = ["twin"]\n')
    with pytest.raises(
        toolwire.PluginError, match=r"'twin' is installed twice, by twin-a 1.0 and twin-b 1.0"
    ):
        toolwire.Dispatcher.from_config(enabled)
    other = tmp_path / "other.toml"
    other.write_text('[plugins]\nautoload = false\nenable = ["demo"]\n')
    with toolwire.Dispatcher.from_config(other) as dispatcher:
        assert rows(dispatcher)["twin"].status == "disabled"
        assert "from_a" not in [t.name for t in dispatcher.tools(all_roles=True)]


def test_a_plugin_named_like_a_built_in_is_not_loaded_in_its_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry point named like a built-in: not loaded when wanted (a warning; fatal with
    strict), the built-in keeps its row; not wanted, no word about it, even with strict."""
    site = tmp_path / "site"
    code = PACK_CODE.format(name="clash", tool="clash_tool")
    _distribution(site, "clash-pack", "policy = clash_pack:pack", "clash_pack", code)
    monkeypatch.syspath_prepend(str(site))
    wanted = write_config(
        tmp_path, '[plugins]\nstrict = true\nautoload = false\nenable = ["policy"]\n'
    )
    with pytest.raises(toolwire.PluginError, match=r"'policy' .* is not loaded: a built-in plugin"):
        toolwire.Dispatcher.from_config(wanted)
    quiet = tmp_path / "quiet.toml"
    quiet.write_text('[plugins]\nstrict = true\nautoload = false\nenable = ["demo"]\n')
    with toolwire.Dispatcher.from_config(quiet) as dispatcher:
        assert rows(dispatcher)["policy"].builtin
