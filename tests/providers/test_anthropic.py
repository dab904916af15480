"""The ``anthropic`` provider against the anthropic SDK's own Messages API types."""

from __future__ import annotations

import pydantic
import pytest
from anthropic.types import Message, MessageParam, ToolParam
from toolwire.providers import AnthropicProvider, ParsedResponse

from ..sdk_checks import answered_items, parse_sdk_response

provider = AnthropicProvider()


def _parsed(load_fixture, name: str = "anthropic") -> ParsedResponse:
    return parse_sdk_response(provider, Message, load_fixture(name))


def test_tool_use_blocks_are_found_in_order(load_fixture):
    """Each tool_use block becomes a call with its id and its input object as arguments."""
    parsed = _parsed(load_fixture)
    assert [(p.call.name, p.call.call_id, p.call.arguments, p.incomplete)
            for p in parsed.calls] == [
        ("get_weather", "toolu_01A09q90qw90lq917835lq9", {"location": "Paris", "units": "celsius"},
         None),
        ("get_weather", "toolu_01B18r81rx81mr826744mr8", {"location": "Tokyo"}, None),
    ]  # fmt: skip


def test_conversation_items_are_valid_sdk_messages(load_fixture, make_result, sdk_validate):
    """The assistant content untouched, then one user message with a tool_result per call."""
    parsed = _parsed(load_fixture)
    items = answered_items(provider, parsed, make_result)

    for item in items:
        sdk_validate(MessageParam, item)
    assert items[0] == {"role": "assistant", "content": load_fixture("anthropic")["content"]}
    assert items[1] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
             "content": '{"t":21}'},
            {"type": "tool_result", "tool_use_id": "toolu_01B18r81rx81mr826744mr8",
             "content": make_result(parsed.calls[1].call, False).output, "is_error": True},
        ],
    }  # fmt: skip
    assert len(items) == 2


def test_message_validation_refuses_a_wrong_shape(sdk_validate):
    """The SDK check is real: a misspelt tool_use_id or a non-text content is refused."""
    with pytest.raises(pydantic.ValidationError):
        sdk_validate(MessageParam, {"role": "user", "content": [
            {"type": "tool_result", "tool_use": "x", "content": "hi"}]})  # fmt: skip
    with pytest.raises(pydantic.ValidationError):
        sdk_validate(MessageParam, {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "x", "content": 42}]})  # fmt: skip


def test_toolset_results_name_their_toolset(make_result, sdk_validate):
    """A result for a toolset member's call carries the call's toolset_name back."""
    response = {
        "type": "message", "role": "assistant", "stop_reason": "tool_use",
        "content": [{"type": "tool_use", "id": "t1", "name": "read", "input": {},
                     "toolset_name": "files"}],
    }  # fmt: skip
    parsed = provider.parse_response(response)
    outputs = [
        provider.format_result(parsed.calls[0].call, make_result(parsed.calls[0].call, True))
    ]
    items = provider.conversation_items(parsed, outputs)
    sdk_validate(MessageParam, items[1])
    assert items[1]["content"][0]["toolset_name"] == "files"


def test_max_tokens_flags_every_call(load_fixture):
    """With stop_reason max_tokens a tool_use may be cut off: each call is flagged incomplete."""
    parsed = _parsed(load_fixture, "anthropic_max_tokens")
    assert [p.incomplete for p in parsed.calls] == ["stop_reason max_tokens"]


def test_no_calls_means_no_user_message(load_fixture):
    """A message without tool_use blocks goes back alone: an empty user turn is invalid."""
    response = load_fixture("anthropic")
    response["content"] = [response["content"][1]]
    items = provider.conversation_items(provider.parse_response(response), [])
    assert items == [{"role": "assistant", "content": response["content"]}]


def test_tool_definition_is_a_valid_tool_param(weather_tool, sdk_validate):
    """A tool is name, description and input_schema, as the SDK's ToolParam takes it."""
    definition = provider.tool_definition(weather_tool)
    sdk_validate(ToolParam, definition.value)
    assert definition.value == {
        "name": "get_weather",
        "description": "Get the current weather for a location.",
        "input_schema": weather_tool.parameters,
    }
    assert definition.problems == ()


def test_tool_definition_validation_refuses_a_wrong_shape(weather_tool, sdk_validate):
    """ToolParam refuses OpenAI's ``parameters`` key in place of ``input_schema``."""
    value = dict(provider.tool_definition(weather_tool).value)
    value["parameters"] = value.pop("input_schema")
    with pytest.raises(pydantic.ValidationError):
        sdk_validate(ToolParam, value)
