"""Each built-in provider through a real ``Dispatcher``: SDK object in, valid SDK input out."""

from __future__ import annotations

import json

import anthropic.types
import openai.types.chat
import openai.types.responses
import pytest
import toolwire
from google.genai import types as genai_types


@pytest.fixture
def dispatcher(weather_tool):
    """A dispatcher with only the weather tool and the built-in plugins."""
    return toolwire.Dispatcher().add(weather_tool)


async def test_openai_responses_round_trip(dispatcher, load_fixture, sdk_validate):
    """A Responses object comes back as its output items plus one valid output per call."""
    response = openai.types.responses.Response.model_validate(load_fixture("openai_responses"))
    items = await dispatcher.process_response(response)
    sdk_validate(openai.types.responses.ResponseInputParam, items)
    assert [i["type"] for i in items[-2:]] == ["function_call_output"] * 2
    assert json.loads(items[-2]["output"])["location"] == "Paris"


async def test_openai_chat_round_trip(dispatcher, load_fixture, sdk_validate):
    """A ChatCompletion comes back as its assistant message plus one tool message per call."""
    response = openai.types.chat.ChatCompletion.model_validate(load_fixture("openai_chat"))
    items = await dispatcher.process_response(response)
    for item in items:
        sdk_validate(openai.types.chat.ChatCompletionMessageParam, item)
    assert [i["role"] for i in items] == ["assistant", "tool", "tool"]


async def test_anthropic_round_trip(dispatcher, load_fixture, sdk_validate):
    """A Message comes back as the assistant turn plus one user turn of tool results."""
    response = anthropic.types.Message.model_validate(load_fixture("anthropic"))
    items = await dispatcher.process_response(response)
    for item in items:
        sdk_validate(anthropic.types.MessageParam, item)
    results = items[1]["content"]
    assert [r["tool_use_id"] for r in results] == [
        "toolu_01A09q90qw90lq917835lq9",
        "toolu_01B18r81rx81mr826744mr8",
    ]
    assert all("is_error" not in r for r in results)


async def test_gemini_round_trip(dispatcher, load_fixture):
    """A GenerateContentResponse comes back as the model content plus one response per call."""
    response = genai_types.GenerateContentResponse.model_validate(load_fixture("gemini"))
    items = await dispatcher.process_response(response)
    contents = [genai_types.Content.model_validate(item) for item in items]
    responses = [p.function_response for p in contents[1].parts]
    assert [r.id for r in responses] == ["fc-7f3a9c1e", "fc-2b8d4e6f"]
    assert all("output" in r.response for r in responses)


async def test_gemini_cut_off_calls_answer_without_running(dispatcher, load_fixture):
    """A call cut off at MAX_TOKENS is answered with an error, with no id the API never gave."""
    response = genai_types.GenerateContentResponse.model_validate(load_fixture("gemini_max_tokens"))
    items = await dispatcher.process_response(response)
    content = genai_types.Content.model_validate(items[1])
    answer = content.parts[0].function_response
    assert answer.id is None
    assert answer.response["error"]["error"] == "invalid_arguments"


async def test_strict_mode_null_means_left_out(dispatcher, load_fixture):
    """A null strict mode sends for a left-out optional argument runs the tool with its default."""
    response = openai.types.responses.Response.model_validate(load_fixture("openai_responses"))
    items = await dispatcher.process_response(response)
    assert json.loads(items[-1]["output"]) == {"location": "Tokyo", "units": "celsius"}
