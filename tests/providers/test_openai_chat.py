"""The ``openai-chat`` provider against the openai SDK's own Chat Completions types."""

from __future__ import annotations

import json

import pydantic
import pytest
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageParam,
)
from toolwire import ToolCall
from toolwire.providers import OpenAIChatProvider, ParsedResponse

from ..sdk_checks import answered_items, parse_sdk_response

provider = OpenAIChatProvider()


def _parsed(load_fixture, name: str = "openai_chat") -> ParsedResponse:
    return parse_sdk_response(provider, ChatCompletion, load_fixture(name))


def test_tool_calls_are_found_in_order(load_fixture):
    """Each function tool call of the first choice becomes a call with its id and raw arguments."""
    parsed = _parsed(load_fixture)
    assert [(p.call.name, p.call.call_id, p.incomplete) for p in parsed.calls] == [
        ("get_weather", "call_Qx8bN2pLr7TzV4mWc1Hs9Kd3", None),
        ("get_weather", "call_Zm3kP8sDq2WxY6nVb5Jf1Lg7", None),
    ]
    assert json.loads(parsed.calls[1].call.arguments) == {"location": "Tokyo", "units": None}


def test_conversation_items_are_valid_sdk_messages(load_fixture, make_result, sdk_validate):
    """The assistant message with its tool calls, then a tool message per call: valid input."""
    parsed = _parsed(load_fixture)
    items = answered_items(provider, parsed, make_result)

    for item in items:
        sdk_validate(ChatCompletionMessageParam, item)
    message = load_fixture("openai_chat")["choices"][0]["message"]
    assert items[0] == {k: v for k, v in message.items() if k != "annotations"}
    assert items[1:] == [
        {"role": "tool", "tool_call_id": "call_Qx8bN2pLr7TzV4mWc1Hs9Kd3", "content": '{"t":21}'},
        {"role": "tool", "tool_call_id": "call_Zm3kP8sDq2WxY6nVb5Jf1Lg7",
         "content": make_result(parsed.calls[1].call, False).output},
    ]  # fmt: skip


def test_response_only_fields_are_left_out():
    """``annotations`` is response-only and audio goes back by id: the message stays valid input."""
    response = {
        "object": "chat.completion",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": "hi", "annotations": [],
            "audio": {"id": "audio_1", "data": "UklGRg==", "expires_at": 1, "transcript": "hi"},
        }}],
    }  # fmt: skip
    items = provider.conversation_items(provider.parse_response(response), [])
    assert items == [{"role": "assistant", "content": "hi", "audio": {"id": "audio_1"}}]


def test_message_validation_refuses_a_wrong_shape(sdk_validate):
    """The SDK check is real: a tool message lacking tool_call_id, or with a stray key, fails."""
    with pytest.raises(pydantic.ValidationError):
        sdk_validate(ChatCompletionMessageParam, {"role": "tool", "content": "x"})
    with pytest.raises(pydantic.ValidationError):
        sdk_validate(
            ChatCompletionMessageParam,
            {"role": "tool", "tool_call_id": "c", "content": "x", "annotations": []},
        )


def test_length_cut_off_flags_every_call(load_fixture):
    """With finish_reason "length" the calls may be truncated: each is flagged incomplete."""
    parsed = _parsed(load_fixture, "openai_chat_length")
    assert [p.incomplete for p in parsed.calls] == ["finish_reason length"]


def test_custom_tool_calls_are_answered_too():
    """A free-form custom tool call is still a call: read by its name, so a tool message answers it."""
    response = {
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": None,
            "tool_calls": [{"id": "c1", "type": "custom", "custom": {"name": "x", "input": "y"}}],
        }}],
    }  # fmt: skip
    assert [p.call for p in provider.parse_response(response).calls] == [ToolCall("x", "y", "c1")]


def test_tool_definition_is_a_strict_function_tool(weather_tool, sdk_validate):
    """A tool is a strict function tool that the SDK's ChatCompletionFunctionToolParam accepts."""
    definition = provider.tool_definition(weather_tool)
    sdk_validate(ChatCompletionFunctionToolParam, definition.value)
    function = definition.value["function"]
    assert definition.value["type"] == "function"
    assert (function["name"], function["strict"]) == ("get_weather", True)
    assert function["parameters"]["required"] == ["location", "units"]


def test_tool_definition_validation_refuses_a_wrong_shape(weather_tool, sdk_validate):
    """ChatCompletionFunctionToolParam refuses the Responses API's flat shape."""
    function = provider.tool_definition(weather_tool).value["function"]
    with pytest.raises(pydantic.ValidationError):
        sdk_validate(ChatCompletionFunctionToolParam, {"type": "function", **function})
