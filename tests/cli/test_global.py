"""Global options, logging, and how operator errors are reported."""

from __future__ import annotations

import json

import pytest


def test_version_shows_toolwire_version_and_plugin_count(cli):
    """--version prints toolwire's version and how many plugins are installed."""
    from importlib.metadata import entry_points, version

    run = cli("--version")
    assert run.returncode == 0
    installed = len(set(entry_points(group="toolwire").names)) + 6  # the fixture dist's six
    assert run.stdout.strip() == (
        f"toolwire {version('toolwire')} ({installed} plugin(s) installed, 5 built in)"
    )


def test_log_format_json_puts_json_logs_on_stderr(cli, demo_config):
    """--log-format json renders each log line as a JSON object on stderr; stdout stays JSON."""
    run = cli("--config", demo_config, "--log-format", "json", "--log-level", "info",
              "call", "get_weather", '{"location": "Oslo"}')  # fmt: skip
    assert run.returncode == 0
    assert run.json()["success"] is True
    events = [json.loads(line) for line in run.stderr.splitlines()]
    call = next(e for e in events if e["event"] == "toolwire.call")
    assert call["tool"] == "get_weather"
    assert call["outcome"] == "ok"
    assert call["level"] == "info"


def test_log_format_comes_from_the_config_file(cli, write_config):
    """[logging] format in the config picks the rendering when --log-format is not given."""
    config = write_config(
        """
        [plugins]
        autoload = false
        enable = ["cli-broken"]

        [logging]
        format = "json"
        """
    )
    run = cli("--config", config, "plugins")
    assert run.returncode == 0
    event = json.loads(run.stderr.splitlines()[0])
    assert event["event"] == "toolwire.plugin_failed_to_load"
    assert event["plugin"] == "cli-broken"


def test_log_level_error_hides_warnings(cli, write_config):
    """--log-level filters what reaches stderr."""
    config = write_config('[plugins]\nautoload = false\nenable = ["cli-broken"]\n')
    run = cli("--config", config, "--log-level", "error", "plugins")
    assert run.returncode == 0
    assert run.stderr == ""


def test_config_with_several_mistakes_lists_each_on_stderr(cli, write_config):
    """A command given an invalid config exits 2 and names the file and each mistake."""
    config = write_config('[defaults]\ntimeout = -1\npermission = "maybe"\n')
    run = cli("--config", config, "tools")
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.splitlines() == [
        f"toolwire: error: {config}: 2 problem(s):",
        "  - [defaults] permission: 'maybe' is not one of ['allow', 'deny']",
        "  - [defaults] timeout: -1 is less than or equal to the minimum of 0",
    ]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ("--config", "{tmp}/missing.toml", "plugins"),
            "config file not found: {tmp}/missing.toml",
        ),
        (("--config", "{tmp}/bad.toml", "tools"), "{tmp}/bad.toml: not valid TOML"),
        (("dispatch", "{tmp}/missing.json"), "{tmp}/missing.json: No such file or directory"),
        (("dispatch", "{tmp}/bad.json"), "{tmp}/bad.json: not valid JSON: Expecting property name"),
        (("call", "get_weather", "{{nope"), "ARGS_JSON: not valid JSON"),
    ],
)
def test_operator_errors_are_one_line_and_exit_2(cli, tmp_path, args, says):
    """Each mistake an operator can make is one line on stderr naming the thing; no traceback."""
    (tmp_path / "bad.toml").write_text("[plugins\n")
    (tmp_path / "bad.json").write_text("{nope}")
    config = tmp_path / "quiet.toml"
    config.write_text("[plugins]\nautoload = false\n")
    args = tuple(a.format(tmp=tmp_path) for a in args)
    if "--config" not in args:
        args = ("--config", str(config), *args)
    run = cli(*args)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("toolwire: error: " + says.format(tmp=tmp_path))


def test_a_command_is_required(cli):
    """Running toolwire without a command is a usage error (argparse's exit 2)."""
    run = cli()
    assert run.returncode == 2
    assert "the following arguments are required: COMMAND" in run.stderr
