"""``toolwire plugins``: every plugin, built-in and installed, with its status."""

from __future__ import annotations

from typing import Any


def plugin_rows(cli: Any, config: str, returncode: int) -> dict[str, dict[str, Any]]:
    """``toolwire plugins --json`` on the config, which exits with ``returncode``: its rows by
    plugin name."""
    run = cli("--config", config, "plugins", "--json")
    assert run.returncode == returncode, run.stderr
    return {row["name"]: row for row in run.json()}


def test_plugins_lists_builtin_enabled_disabled_and_failed(cli, write_config):
    """--json lists each plugin with its status, version, tool count and a failed one's error."""
    config = write_config(
        """
        [plugins]
        autoload = false
        enable = ["cli-good", "cli-broken"]
        disable = ["calllog"]
        """
    )
    rows = plugin_rows(cli, config, 0)
    assert rows["cli-good"]["status"] == "enabled"
    assert rows["cli-good"]["distribution"] == "toolwire-cli-fixtures"
    assert rows["cli-good"]["version"] == "1.2.3"
    assert rows["cli-good"]["tools"] == 1
    assert rows["cli-broken"]["status"] == "failed"
    assert "ImportError: cli_fixture_dependency is not installed" in rows["cli-broken"]["error"]
    assert rows["cli-odd"]["status"] == "disabled"
    assert rows["calllog"]["status"] == "blocked"
    assert rows["roles"]["builtin"] is True
    assert "toolwire_check_permission" in rows["roles"]["hooks"]


def test_plugins_table_shows_the_failed_plugin_and_its_error(cli, write_config):
    """The default output is a table with a row per plugin and the error of a failed one."""
    config = write_config('[plugins]\nautoload = false\nenable = ["cli-broken"]\n')
    run = cli("plugins", "--config", config)
    assert run.returncode == 0, run.stderr
    header, *lines = run.stdout.splitlines()
    assert header.split()[:4] == ["NAME", "DISTRIBUTION", "VERSION", "STATUS"]
    assert "ERROR" in header
    broken = next(line for line in lines if line.startswith("cli-broken"))
    assert "failed" in broken
    assert "ImportError: cli_fixture_dependency is not installed" in broken
    assert any(line.startswith("roles (built-in)") for line in lines)
    assert "cli-broken" in run.stderr  # the load failure is logged too, on stderr


def test_plugins_with_a_plugin_enabled_but_not_installed_still_lists(cli, write_config):
    """Enabling a plugin that is not installed still lists the plugins, names it, exits 1."""
    config = write_config('[plugins]\nautoload = false\nenable = ["no-such-plugin"]\n')
    run = cli("--config", config, "plugins")
    assert run.returncode == 1
    assert "no-such-plugin" in run.stderr
    assert any(line.startswith("roles (built-in)") for line in run.stdout.splitlines())


def test_plugins_runs_when_a_plugin_refuses_its_settings(cli, write_config):
    """One plugin refusing its settings shows on its row; the others are listed; exit 1."""
    config = write_config(
        '[plugins]\nautoload = false\nenable = ["cli-good", "cli-picky"]\n'
        '[plugins.cli-picky]\nmode = "reckless"\n'
    )
    rows = plugin_rows(cli, config, 1)
    assert rows["cli-good"]["status"] == "enabled" and rows["cli-good"]["tools"] == 1
    assert rows["cli-picky"]["status"] == "failed"
    assert "mode must be 'fast' or 'safe', got 'reckless'" in rows["cli-picky"]["error"]
    # A command that dispatches still fails closed.
    call = cli("--config", config, "call", "lookup", "{}")
    assert call.returncode == 2 and "reckless" in call.stderr


def test_plugins_runs_when_two_packs_bring_one_tool_name(cli, write_config):
    """A tool name two packs bring shows on both rows, with the way out; all problems at once."""
    config = write_config(
        '[plugins]\nautoload = false\nenable = ["cli-good", "cli-clash", "cli-picky", "cli-broken"]\n'
        "[plugins.cli-picky]\nmode = 3\n"
    )
    rows = plugin_rows(cli, config, 1)
    for name, other in (("cli-good", "cli-clash"), ("cli-clash", "cli-good")):
        assert rows[name]["status"] == "failed"
        assert f"tool 'lookup' is also brought by plugin '{other}'" in rows[name]["error"]
        assert "prefix" in rows[name]["error"]
    assert "got 3" in rows["cli-picky"]["error"]
    assert "ImportError" in rows["cli-broken"]["error"]
    table = cli("--config", config, "plugins")
    assert table.returncode == 1 and "also brought by" in table.stdout
    checked = cli("--config", config, "check")
    assert checked.returncode == 1 and "got 3" in checked.stdout and "'lookup'" in checked.stdout
