"""``toolwire tools``: what a role may call, and what a provider's API receives."""

from __future__ import annotations


def test_tools_table_lists_the_tools_of_a_role(cli, demo_config):
    """The table lists the tools the role may call, with their descriptions."""
    run = cli("--config", demo_config, "tools")
    assert run.returncode == 0, run.stderr
    names = [line.split()[0] for line in run.stdout.splitlines()[1:]]
    assert names == ["get_weather", "search_database", "search_products"]
    assert "Get the current weather for a location." in run.stdout


def test_tools_role_admin_sees_admin_tools(cli, demo_config):
    """A tool limited to a role is listed for that role only, with its roles."""
    run = cli("--config", demo_config, "tools", "--role", "admin", "--json")
    assert run.returncode == 0, run.stderr
    rows = {row["name"]: row for row in run.json()}
    assert rows["delete_user"]["roles"] == ["admin"]
    assert rows["get_weather"]["roles"] is None
    assert rows["get_weather"]["plugin"] == "demo"
    assert rows["get_weather"]["parameters"]["required"] == ["location"]


def test_tools_json_is_the_same_before_and_after_the_command(cli, demo_config):
    """Global options work before and after the command name."""
    before = cli("--json", "--config", demo_config, "tools")
    after = cli("tools", "--config", demo_config, "--json")
    assert before.returncode == after.returncode == 0
    assert before.json() == after.json()


def test_tools_provider_prints_the_exact_tools_list(cli, demo_config):
    """--provider prints the JSON tools list that API receives: strict functions for OpenAI."""
    run = cli("--config", demo_config, "tools", "--provider", "openai-responses")
    assert run.returncode == 0, run.stderr
    tools = run.json()
    assert [t["name"] for t in tools] == ["get_weather", "search_database", "search_products"]
    assert all(t["type"] == "function" and t["strict"] is True for t in tools)


def test_tools_provider_anthropic_uses_input_schema(cli, demo_config):
    """Each provider's own shape is printed (Anthropic: name, description, input_schema)."""
    run = cli("--config", demo_config, "tools", "--provider", "anthropic", "--role", "admin")
    assert run.returncode == 0, run.stderr
    tools = {t["name"]: t for t in run.json()}
    assert "delete_user" in tools
    assert tools["get_weather"]["input_schema"]["properties"]["location"]["type"] == "string"


def test_tools_unknown_provider_is_a_usage_error(cli, demo_config):
    """An unknown provider is exit 2 with one line listing the known ones."""
    run = cli("--config", demo_config, "tools", "--provider", "openai-completions")
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        "toolwire: error: unknown provider 'openai-completions'; "
        "known: anthropic, gemini, openai-chat, openai-responses"
    ]


def test_tools_json_shows_behaviour_hints_from_code_and_config(cli, write_config):
    """read_only/destructive/idempotent/open_world come from the code, and config overrides them."""
    config = write_config(
        '[plugins]\nautoload = false\nenable = ["demo"]\n[tools.get_weather]\nopen_world = true\n',
        name="hints.toml",
    )
    rows = {
        row["name"]: row
        for row in cli("--config", config, "tools", "--json", "--role", "admin").json()
    }
    assert rows["get_weather"]["annotations"] == {"read_only": True, "open_world": True}
    assert rows["delete_user"]["annotations"] == {
        "read_only": False,
        "destructive": True,
        "idempotent": True,
    }
    assert rows["search_products"]["annotations"] == {}
