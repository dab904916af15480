"""The ``openai-responses`` provider against the openai SDK's own Responses API types."""

from __future__ import annotations

import json

import pydantic
import pytest
from openai.types.responses import FunctionToolParam, Response, ResponseInputParam
from toolwire.providers import OpenAIResponsesProvider, ParsedResponse

from ..sdk_checks import answered_items, parse_sdk_response

provider = OpenAIResponsesProvider()


def _parsed(load_fixture, name: str = "openai_responses") -> ParsedResponse:
    return parse_sdk_response(provider, Response, load_fixture(name))


def test_function_calls_are_found_in_output_order(load_fixture):
    """Each function_call item becomes a call with its name, raw arguments and call_id."""
    parsed = _parsed(load_fixture)
    assert [(p.call.name, p.call.call_id, p.incomplete) for p in parsed.calls] == [
        ("get_weather", "call_Qx8bN2pLr7TzV4mWc1Hs9Kd3", None),
        ("get_weather", "call_Zm3kP8sDq2WxY6nVb5Jf1Lg7", None),
    ]
    assert json.loads(parsed.calls[0].call.arguments) == {"location": "Paris", "units": "celsius"}


def test_built_in_tool_items_are_not_dispatched(load_fixture):
    """A web_search_call item is the API's own tool: it yields no call."""
    parsed = _parsed(load_fixture)
    assert "web_search" not in {p.call.name for p in parsed.calls}
    assert len(parsed.calls) == 2


def test_conversation_items_are_valid_sdk_input(load_fixture, make_result, sdk_validate):
    """Every output item comes back untouched, then one output per call: all valid input."""
    parsed = _parsed(load_fixture)
    items = answered_items(provider, parsed, make_result)

    sdk_validate(ResponseInputParam, items)
    original_output = load_fixture("openai_responses")["output"]
    assert items[: len(original_output)] == original_output
    assert [i["type"] for i in items] == [
        "reasoning", "web_search_call", "message", "function_call", "function_call",
        "function_call_output", "function_call_output",
    ]  # fmt: skip
    assert items[-2:] == [
        {"type": "function_call_output", "call_id": "call_Qx8bN2pLr7TzV4mWc1Hs9Kd3",
         "output": '{"t":21}'},
        {"type": "function_call_output", "call_id": "call_Zm3kP8sDq2WxY6nVb5Jf1Lg7",
         "output": make_result(parsed.calls[1].call, False).output},
    ]  # fmt: skip
    assert json.loads(items[-1]["output"])["error"] == "execution_error"


def test_input_validation_refuses_a_wrong_shape(sdk_validate):
    """The SDK check is real: a misspelt key or a non-text output is refused."""
    with pytest.raises(pydantic.ValidationError):
        sdk_validate(
            ResponseInputParam, [{"type": "function_call_output", "callid": "c", "output": "x"}]
        )
    with pytest.raises(pydantic.ValidationError):
        sdk_validate(
            ResponseInputParam, [{"type": "function_call_output", "call_id": "c", "output": 3}]
        )


def test_incomplete_response_flags_every_call(load_fixture):
    """In a response cut off at max_output_tokens, every function call is incomplete."""
    parsed = _parsed(load_fixture, "openai_responses_incomplete")
    assert [p.incomplete for p in parsed.calls] == ["status incomplete: max_output_tokens"]


def test_incomplete_item_is_flagged_on_its_own():
    """A function_call item whose own status is incomplete is flagged in a completed response."""
    response = {
        "object": "response",
        "status": "completed",
        "output": [
            {"type": "function_call", "call_id": "a", "name": "f", "arguments": "{}",
             "status": "completed"},
            {"type": "function_call", "call_id": "b", "name": "f", "arguments": "{",
             "status": "incomplete"},
        ],
    }  # fmt: skip
    parsed = provider.parse_response(response)
    assert [p.incomplete for p in parsed.calls] == [None, "function_call status incomplete"]


def test_tool_definition_is_a_strict_function_tool(weather_tool, sdk_validate):
    """A tool is a strict function tool that the SDK's FunctionToolParam accepts."""
    definition = provider.tool_definition(weather_tool)
    sdk_validate(FunctionToolParam, definition.value)
    assert definition.problems == ()
    value = definition.value
    assert (value["type"], value["name"], value["strict"]) == ("function", "get_weather", True)
    assert value["description"] == "Get the current weather for a location."
    assert value["parameters"]["required"] == ["location", "units"]


def test_tool_definition_validation_refuses_a_wrong_shape(weather_tool, sdk_validate):
    """FunctionToolParam refuses a definition without ``strict`` (it is required there)."""
    value = dict(provider.tool_definition(weather_tool).value)
    del value["strict"]
    with pytest.raises(pydantic.ValidationError):
        sdk_validate(FunctionToolParam, value)


def test_unconvertible_schema_is_sent_without_strict_mode(sdk_validate):
    """An open dict parameter cannot be strict: the original schema goes, with the reason."""
    import toolwire

    @toolwire.tool
    def tag(labels: dict[str, str]) -> None:
        """Tag something."""

    definition = provider.tool_definition(tag)
    sdk_validate(FunctionToolParam, definition.value)
    assert definition.value["strict"] is False
    assert definition.value["parameters"] == tag.parameters
    assert definition.problems == (
        "not sent in strict mode: properties.labels accepts keys it does not list "
        "(additionalProperties)",
    )
