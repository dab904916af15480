"""``toolwire dispatch``: a provider response in, the items to append to the conversation out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _outputs(provider: str, items: list[dict]) -> list[str]:
    """The result texts among the items, whatever the provider's shape."""
    if provider == "openai-responses":
        return [i["output"] for i in items if i.get("type") == "function_call_output"]
    if provider == "openai-chat":
        return [i["content"] for i in items if i.get("role") == "tool"]
    if provider == "anthropic":
        return [b["content"] for b in items[-1]["content"] if b["type"] == "tool_result"]
    # Gemini's response carries the result's JSON data itself, not its text.
    return [json.dumps(p["functionResponse"]["response"]["output"]) for p in items[-1]["parts"]]


@pytest.mark.parametrize(
    ("file", "provider"),
    [
        ("openai-responses.json", "openai-responses"),
        ("openai-chat.json", "openai-chat"),
        ("anthropic.json", "anthropic"),
        ("gemini.json", "gemini"),
    ],
)
def test_dispatch_runs_every_call_in_the_shipped_examples(cli, demo_config, file, provider):
    """Each shipped example is detected, both calls run, and both results come back in order."""
    run = cli("--config", demo_config, "dispatch", EXAMPLES / file)
    assert run.returncode == 0, run.stderr
    outputs = [json.loads(text) for text in _outputs(provider, run.json())]
    assert outputs[0]["location"] == "Paris"
    assert len(outputs[1]) == 3
    assert outputs[1][0]["name"] == "umbrella"


def test_dispatch_keeps_every_output_item_of_a_responses_api_response(cli, demo_config):
    """Reasoning, message and function_call items come back first, then one output per call."""
    run = cli("--config", demo_config, "dispatch", EXAMPLES / "openai-responses.json")
    assert run.returncode == 0, run.stderr
    types = [item["type"] for item in run.json()]
    assert types == [
        "reasoning", "message", "function_call", "function_call",
        "function_call_output", "function_call_output",
    ]  # fmt: skip


def test_dispatch_reads_stdin_with_a_named_provider(cli, demo_config):
    """With no FILE the response is read from stdin; --provider names its API."""
    text = (EXAMPLES / "anthropic.json").read_text()
    run = cli("--config", demo_config, "dispatch", "--provider", "anthropic", stdin=text)
    assert run.returncode == 0, run.stderr
    assert run.json()[-1]["role"] == "user"


def test_dispatch_unrecognised_response_is_a_usage_error(cli, demo_config, tmp_path):
    """A response no provider recognises is exit 2, naming the file."""
    path = tmp_path / "odd.json"
    path.write_text('{"hello": "world"}')
    run = cli("--config", demo_config, "dispatch", path)
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        f"toolwire: error: {path}: no provider recognises this response "
        "(a JSON object with keys: hello)"
    ]


def test_dispatch_of_a_file_nested_too_deep_is_a_usage_error(cli, demo_config, tmp_path):
    """A response file nested 100,000 deep is exit 2 with one line saying so, no traceback."""
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    run = cli("--config", demo_config, "dispatch", path)
    assert run.returncode == 2
    assert run.stderr.splitlines() == [f"toolwire: error: {path}: JSON nested too deep to read"]
