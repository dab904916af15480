"""``toolwire call``: one call through the full pipeline, its exit code telling the outcome."""

from __future__ import annotations

import json


def test_call_prints_the_result_and_exits_0(cli, demo_config):
    """A successful call prints its DispatchResult as JSON, and nothing else, on stdout."""
    run = cli("--config", demo_config, "call", "get_weather", '{"location": "Paris"}')
    assert run.returncode == 0, run.stderr
    result = run.json()
    assert result["success"] is True
    assert result["name"] == "get_weather"
    assert result["error"] is None
    assert json.loads(result["output"])["location"] == "Paris"
    assert run.stderr == ""  # warnings and up only, by default


def test_call_unknown_tool_is_a_tool_error_exit_1(cli, demo_config):
    """An unknown tool is the model-side error: exit 1 with the structured error printed."""
    run = cli("--config", demo_config, "call", "get_wether", '{"location": "Paris"}')
    assert run.returncode == 1
    error = run.json()["error"]
    assert error["error"] == "unknown_tool"
    assert error["details"]["closest"] == ["get_weather"]


def test_call_invalid_arguments_exit_1(cli, demo_config):
    """Arguments the schema refuses end the call with invalid_arguments and exit 1."""
    run = cli("--config", demo_config, "call", "get_weather", '{"city": "Paris"}')
    assert run.returncode == 1
    assert run.json()["error"]["error"] == "invalid_arguments"


def test_call_role_decides_permission(cli, demo_config):
    """--role is the caller's role: admin may delete a user, no role may not."""
    denied = cli("--config", demo_config, "call", "delete_user", '{"user_id": 7}')
    allowed = cli(
        "--config", demo_config, "call", "delete_user", '{"user_id": 7}', "--role", "admin"
    )
    assert denied.returncode == 1
    assert denied.json()["error"]["error"] == "permission_denied"
    assert allowed.returncode == 0, allowed.stdout


def test_call_reads_arguments_from_stdin(cli, demo_config):
    """ARGS_JSON '-' reads the arguments from stdin."""
    run = cli(
        "--config", demo_config, "call", "search_products", "-",
        stdin='{"query": "umbrella", "max_results": 1}',
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert json.loads(run.json()["output"]) == [{"name": "umbrella", "price": 12.5}]


def test_call_bad_json_arguments_are_a_usage_error(cli, demo_config):
    """ARGS_JSON that is not JSON is the operator's mistake: one line and exit 2."""
    run = cli("--config", demo_config, "call", "get_weather", '{"location": ')
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.splitlines() == [
        "toolwire: error: ARGS_JSON: not valid JSON: Expecting value (line 1, column 14)"
    ]


def test_call_arguments_must_be_an_object(cli, demo_config):
    """ARGS_JSON that is JSON but not an object is refused before any call is made."""
    run = cli("--config", demo_config, "call", "get_weather", '["Paris"]')
    assert run.returncode == 2
    assert "ARGS_JSON: expected a JSON object, got an array" in run.stderr


def test_call_state_must_be_an_object(cli, demo_config):
    """--state is parsed as a JSON object; anything else is exit 2 naming the option."""
    run = cli("--config", demo_config, "call", "get_weather", "{}", "--state", "42")
    assert run.returncode == 2
    assert "--state: expected a JSON object, got a number" in run.stderr


def test_what_a_tool_prints_goes_to_stderr_and_stdout_stays_json(cli, write_config, tmp_path):
    """A tool that prints: `toolwire call` and `toolwire approvals approve` keep stdout to
    their JSON (a pipe to jq reads it), and the tool's words reach stderr."""
    store = tmp_path / "approvals.sqlite3"
    config = write_config(
        f"""
        [plugins]
        autoload = false
        enable = ["cli-noisy"]

        [approvals]
        store = "sqlite:///{store}"
        """
    )
    held = cli("--config", config, "call", "chatty", '{"word": "hi"}')
    approval_id = held.json()["approval"]["id"]
    done = cli("--config", config, "approvals", "approve", approval_id, "--by", "ada")
    assert done.returncode == 0, done.stderr
    assert done.json()["output"] == "hi"  # stdout is the JSON alone
    assert "chatty says hi" in done.stderr
