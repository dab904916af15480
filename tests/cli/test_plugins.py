"""``toolwire plugins``: every plugin, built-in and installed, with its status."""

from __future__ import annotations


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
    run = cli("--config", config, "plugins", "--json")
    assert run.returncode == 0, run.stderr
    rows = {row["name"]: row for row in run.json()}
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


def test_plugins_with_a_plugin_enabled_but_not_installed_is_a_config_error(cli, write_config):
    """Enabling a plugin that is not installed ends with exit 2 and a line naming it."""
    config = write_config('[plugins]\nautoload = false\nenable = ["no-such-plugin"]\n')
    run = cli("--config", config, "plugins")
    assert run.returncode == 2
    assert "no-such-plugin" in run.stderr
    assert run.stdout == ""
