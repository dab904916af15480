"""The shipped example responses are real responses, as each provider's official SDK reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text())


def test_openai_responses_example_is_a_response_object():
    """examples/openai-responses.json is an SDK Response: reasoning, message, two function calls."""
    types = pytest.importorskip("openai.types.responses")
    response = types.Response.model_validate(_load("openai-responses.json"))
    assert [item.type for item in response.output] == [
        "reasoning", "message", "function_call", "function_call",
    ]  # fmt: skip
    calls = [(item.name, json.loads(item.arguments)) for item in response.output[2:]]
    assert calls == [
        ("get_weather", {"location": "Paris"}),
        ("search_products", {"query": "umbrella", "max_results": 3}),
    ]


def test_openai_chat_example_is_a_chat_completion():
    """examples/openai-chat.json is an SDK ChatCompletion calling the same two tools."""
    types = pytest.importorskip("openai.types.chat")
    completion = types.ChatCompletion.model_validate(_load("openai-chat.json"))
    calls = completion.choices[0].message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"location": "Paris"}),
        ("search_products", {"query": "umbrella", "max_results": 3}),
    ]


def test_anthropic_example_is_a_message():
    """examples/anthropic.json is an SDK Message with thinking, text and two tool_use blocks."""
    types = pytest.importorskip("anthropic.types")
    message = types.Message.model_validate(_load("anthropic.json"))
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert [(b.name, b.input) for b in message.content if b.type == "tool_use"] == [
        ("get_weather", {"location": "Paris"}),
        ("search_products", {"query": "umbrella", "max_results": 3}),
    ]


def test_gemini_example_is_a_generate_content_response():
    """examples/gemini.json is an SDK GenerateContentResponse with two function calls."""
    types = pytest.importorskip("google.genai.types")
    response = types.GenerateContentResponse.model_validate(_load("gemini.json"))
    assert [(c.name, c.args) for c in response.function_calls or []] == [
        ("get_weather", {"location": "Paris"}),
        ("search_products", {"query": "umbrella", "max_results": 3}),
    ]
