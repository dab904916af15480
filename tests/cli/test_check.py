"""``toolwire check``: every problem in the config and its tools, all in one run."""

from __future__ import annotations


def test_check_passes_a_clean_config(cli, write_config):
    """A valid config whose tools pass every check exits 0 and says so."""
    config = write_config('[plugins]\nautoload = false\nenable = ["cli-good"]\n')
    run = cli("check", "--config", config)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [line for line in run.stdout.splitlines() if not line.startswith("path: ")]
    assert lines == [f"ok: {config}, 6 plugin(s), 1 tool(s)"]


def test_check_reports_all_three_config_mistakes(cli, write_config):
    """An unknown key, a wrong type and a plugin that is not installed are all reported."""
    config = write_config(
        """
        [plugins]
        autoload = false
        enable = ["cli-good", "cli-gooood"]

        [defaults]
        timeout = "soon"
        max_concurency = 4
        """
    )
    run = cli("--config", config, "check", "--json")
    assert run.returncode == 1
    report = run.json()
    assert report["ok"] is False
    assert report["config"] == str(config)
    messages = [p["message"] for p in report["problems"]]
    assert messages == [
        "unknown key [defaults] max_concurency; did you mean 'max_concurrency'?",
        "[defaults] timeout: 'soon' is not of type 'number'",
        "[plugins] enable names 'cli-gooood', which is not installed",
    ]
    assert report["tools"] == 1  # the valid rest of the config was still checked


def test_check_reports_every_plugin_and_tool_problem(cli, write_config):
    """A failed plugin, a shared name, a name Gemini refuses and a non-strict schema: all four."""
    config = write_config(
        """
        [plugins]
        autoload = false
        enable = ["cli-good", "cli-clash", "cli-odd", "cli-broken"]
        """
    )
    run = cli("check", "--config", config)
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    problems = [line for line in lines if line.startswith("problem: ")]
    assert len(problems) == 3, run.stdout
    assert any("plugin 'cli-broken' (toolwire-cli-fixtures 1.2.3): failed to load: ImportError"
               in p for p in problems)  # fmt: skip
    assert any("tool 'lookup': 2 tools have this name: plugin 'cli-good', plugin 'cli-clash'"
               in p for p in problems)  # fmt: skip
    assert any("tool 'count_words'" in p and "OpenAI strict mode" in p for p in problems)
    assert lines[-1].startswith("3 problem(s) in ")


def test_check_bad_toml_is_reported_as_a_problem(cli, write_config):
    """A config that is not TOML is the one problem found, with the file named."""
    config = write_config("[plugins\nautoload = false\n")
    run = cli("check", "--config", config)
    assert run.returncode == 1
    assert run.stdout.splitlines()[0].startswith(f"problem: {config}: not valid TOML")


def test_check_missing_config_file_is_a_usage_error(cli, tmp_path):
    """Checking a file that does not exist is exit 2 with one line naming it."""
    missing = tmp_path / "nope.toml"
    run = cli("check", "--config", missing)
    assert run.returncode == 2
    assert run.stderr.splitlines() == [f"toolwire: error: config file not found: {missing}"]


def test_check_names_toolwire_plugins_for_a_plugin_it_enables(cli, write_config):
    """A plugin named in TOOLWIRE_PLUGINS but not installed is blamed on the variable."""
    config = write_config("[defaults]\ntimeout = 5\n")
    run = cli("check", "--config", config, "--json", TOOLWIRE_PLUGINS="cli-good,ghost")
    assert run.returncode == 1
    assert run.json()["problems"] == [
        {"where": "TOOLWIRE_PLUGINS",
         "message": "[plugins] enable names 'ghost', which is not installed"}
    ]  # fmt: skip


def test_check_fails_a_tools_table_that_names_no_tool(cli, write_config):
    """A [tools.NAME] typo that would leave the meant tool open is a problem, with the close name."""
    config = write_config(
        '[plugins]\nautoload = false\nenable = ["demo"]\n[tools.delete_usr]\nroles = ["admin"]\n',
        name="typo.toml",
    )
    run = cli("--config", config, "check")
    assert run.returncode == 1, run.stdout
    assert "[tools.delete_usr] names no tool (did you mean delete_user?)" in run.stdout


def test_check_fails_a_rate_limit_no_loaded_plugin_enforces(cli, write_config):
    """rate_limit with the rate-limit plugin not enabled is a problem, never "unlimited"."""
    config = write_config(
        '[plugins]\nautoload = false\nenable = ["demo"]\n'
        '[tools.get_weather]\nrate_limit = "3/minute"\n',
        name="unlimited.toml",
    )
    run = cli("--config", config, "check")
    assert run.returncode == 1, run.stdout
    assert "'rate_limit' is not a tool option" in run.stdout
    assert "ratelimit (toolwire-ratelimit, disabled)" in run.stdout


def test_check_reports_a_plugin_another_plugin_brought_that_failed(cli, write_config):
    """An MCP server that does not start (its pack mcp.NAME failed) is a problem, not ok."""
    import pytest

    pytest.importorskip("toolwire_mcp")
    config = write_config(
        """
        [plugins]
        autoload = false
        enable = ["cli-good", "mcp"]

        [plugins.mcp.servers.gone]
        command = "/nonexistent/mcp-server"
        """
    )
    run = cli("check", "--config", config)
    assert run.returncode == 1, run.stdout + run.stderr
    problems = [line for line in run.stdout.splitlines() if line.startswith("problem: ")]
    assert len(problems) == 1 and "plugin 'mcp.gone' (from 'mcp'): failed" in problems[0]


def test_check_prints_each_path_as_resolved_against_the_config_file(cli, write_config, tmp_path):
    """A relative path in the file is shown resolved against the file's folder, not the cwd."""
    config = write_config(
        '[plugins]\nautoload = false\nenable = ["cli-good"]\n'
        '[approvals]\nstore = "sqlite:///state/approvals.db"\n'
    )
    run = cli("check", "--config", config)
    assert run.returncode == 0, run.stdout + run.stderr
    expected = tmp_path / "state" / "approvals.db"
    assert f"path: approvals.store = {expected}" in run.stdout.splitlines()
    assert cli("check", "--config", config, "--json").json()["paths"] == {
        "approvals.store": str(expected)
    }


def test_check_reports_settings_for_a_plugin_that_is_not_installed(cli, write_config):
    """A [plugins.NAME] table for no installed plugin fails check as it fails the start (with
    "did you mean"), and a typo in a pack's own table too."""
    config = write_config(
        '[plugins]\nautoload = false\nenable = ["cli-good"]\n'
        '[plugins.cli-goood]\nprefix = "x_"\n'
        '[plugins.cli-good]\nexclde = ["nothing"]\n'
    )
    run = cli("--config", config, "check", "--json")
    assert run.returncode == 1
    messages = "\n".join(p["message"] for p in run.json()["problems"])
    assert "[plugins.cli-goood] holds settings for a plugin that is not installed" in messages
    assert "did you mean 'cli-good'?" in messages
    assert "unknown key [plugins.cli-good] exclde (did you mean 'exclude'?)" in messages
