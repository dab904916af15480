"""Each vendor SDK's real client, over HTTP, against a local server playing the model API.

The host code is what the provider docs tell a host to write: send
``dispatcher.tool_definitions(provider)`` as ``tools``, pass the SDK's response object to
``process_response``, append what comes back to the conversation and send it. The server
records every request body, so the tests read exactly what the SDK put on the wire: the
``tools`` of the first request, and every tool output of the second.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

import anthropic
import openai
import pytest
import toolwire
from google import genai
from google.genai import types as genai_types

from .conftest import TIMEOUT

ANSWER = "It is 21 °C in Paris, and 2 + 3 = 5."
QUESTION = "What is the weather in Paris, and what is two plus 3?"
# Not a real model: the Anthropic SDK warns (an error here) when a model it knows is deprecated.
ANTHROPIC_MODEL = "claude-e2e-test"


@pytest.fixture
def dispatcher() -> Iterator[toolwire.Dispatcher]:
    """A dispatcher with a weather tool and an adder, and the built-in plugins only."""
    pack = toolwire.Toolset("e2e")

    @pack.tool
    def get_weather(location: str, units: Literal["celsius", "fahrenheit"] = "celsius") -> dict:
        """Get the current weather for a location.

        Args:
            location: City name, e.g. "Paris".
            units: Temperature units.
        """
        return {"location": location, "temperature": 21, "units": units}

    @pack.tool
    def add(a: int, b: int) -> int:
        """Add two integers.

        Args:
            a: The first number.
            b: The second number.
        """
        return a + b

    with toolwire.Dispatcher().add(pack) as made:
        yield made


def _wire(value: Any) -> Any:
    """What a value looks like once sent as JSON."""
    return json.loads(json.dumps(value))


def _assert_answers(answers: list[tuple[str, Any, bool]], call_ids: list[str]) -> None:
    """The three calls answered in order, each under its call's id, the failure flagged.

    ``answers`` holds, per tool output found in the request, the id it answers, its content
    read as JSON, and whether it is marked as an error in the provider's own way.
    """
    assert [call_id for call_id, _, _ in answers] == call_ids
    (_, weather, weather_failed), (_, bad_sum, bad_failed), (_, good_sum, good_failed) = answers
    assert weather == {"location": "Paris", "temperature": 21, "units": "celsius"}
    assert not weather_failed
    assert bad_failed
    assert bad_sum["error"] == "invalid_arguments"
    assert "add" in bad_sum["message"] and bad_sum["retryable"] is False
    assert good_sum == 5
    assert not good_failed


def _openai_flagged(value: Any) -> bool:
    """OpenAI outputs carry no error flag: toolwire's error text is an ``{"error": ...}`` object."""
    return isinstance(value, dict) and "error" in value


async def test_openai_responses_over_http(api, dispatcher, load_fixture, outside_network):
    """AsyncOpenAI's responses.create sends the tools, then every function_call_output by call_id."""
    recorded = load_fixture("e2e_openai_responses")
    api.replies += [recorded["tool_calls"], recorded["answer"]]
    tools = dispatcher.tool_definitions("openai-responses")
    async with openai.AsyncOpenAI(
        api_key="test-key", base_url=f"{api.url}/v1", max_retries=0, timeout=TIMEOUT
    ) as client:
        conversation: list[Any] = [{"role": "user", "content": QUESTION}]
        response = await client.responses.create(model="gpt-5", input=conversation, tools=tools)
        assert isinstance(response, openai.types.responses.Response)
        items = await dispatcher.process_response(response)
        conversation = conversation + items
        final = await client.responses.create(model="gpt-5", input=conversation, tools=tools)

    assert final.output_text == ANSWER
    first, second = api.requests
    assert first.path == second.path == "/v1/responses"
    assert first.headers["authorization"] == "Bearer test-key"
    assert first.body["tools"] == _wire(tools)
    assert second.body["input"] == _wire(conversation)
    assert second.body["input"][1:5] == recorded["tool_calls"]["output"]
    calls = [o for o in recorded["tool_calls"]["output"] if o["type"] == "function_call"]
    outputs = [i for i in second.body["input"] if i.get("type") == "function_call_output"]
    assert all(set(o) == {"type", "call_id", "output"} for o in outputs)
    answers = [(o["call_id"], json.loads(o["output"])) for o in outputs]
    _assert_answers(
        [(call_id, value, _openai_flagged(value)) for call_id, value in answers],
        [c["call_id"] for c in calls],
    )
    assert outside_network == []


def test_openai_chat_over_http(api, dispatcher, load_fixture, outside_network):
    """OpenAI's chat.completions.create sends the tools, then one tool message per tool_call id."""
    recorded = load_fixture("e2e_openai_chat")
    api.replies += [recorded["tool_calls"], recorded["answer"]]
    tools = dispatcher.tool_definitions("openai-chat")
    with openai.OpenAI(
        api_key="test-key", base_url=f"{api.url}/v1", max_retries=0, timeout=TIMEOUT
    ) as client:
        messages: list[Any] = [{"role": "user", "content": QUESTION}]
        completion = client.chat.completions.create(model="gpt-4.1", messages=messages, tools=tools)
        assert isinstance(completion, openai.types.chat.ChatCompletion)
        messages = messages + dispatcher.process_response_sync(completion)
        final = client.chat.completions.create(model="gpt-4.1", messages=messages, tools=tools)

    assert final.choices[0].message.content == ANSWER
    first, second = api.requests
    assert first.path == second.path == "/v1/chat/completions"
    assert first.body["tools"] == _wire(tools)
    assert second.body["messages"] == _wire(messages)
    assistant = second.body["messages"][1]
    assert assistant["role"] == "assistant"
    assert assistant["tool_calls"] == recorded["tool_calls"]["choices"][0]["message"]["tool_calls"]
    tool_messages = second.body["messages"][2:]
    assert all(set(m) == {"role", "tool_call_id", "content"} for m in tool_messages)
    assert all(m["role"] == "tool" for m in tool_messages)
    answers = [(m["tool_call_id"], json.loads(m["content"])) for m in tool_messages]
    _assert_answers(
        [(call_id, value, _openai_flagged(value)) for call_id, value in answers],
        [c["id"] for c in assistant["tool_calls"]],
    )
    assert outside_network == []


async def test_anthropic_over_http(api, dispatcher, load_fixture, outside_network):
    """AsyncAnthropic's messages.create sends the tools, then tool_result blocks, errors flagged."""
    recorded = load_fixture("e2e_anthropic")
    api.replies += [recorded["tool_calls"], recorded["answer"]]
    tools = dispatcher.tool_definitions("anthropic")
    async with anthropic.AsyncAnthropic(
        api_key="test-key", base_url=api.url, max_retries=0, timeout=TIMEOUT
    ) as client:
        messages: list[Any] = [{"role": "user", "content": QUESTION}]
        message = await client.messages.create(
            model=ANTHROPIC_MODEL, max_tokens=1024, messages=messages, tools=tools
        )
        assert isinstance(message, anthropic.types.Message)
        messages = messages + await dispatcher.process_response(message)
        final = await client.messages.create(
            model=ANTHROPIC_MODEL, max_tokens=1024, messages=messages, tools=tools
        )

    assert final.content[0].text == ANSWER
    first, second = api.requests
    assert first.path == second.path == "/v1/messages"
    assert first.body["tools"] == _wire(tools)
    assert second.body["messages"] == _wire(messages)
    assistant, results = second.body["messages"][1:]
    assert assistant == {"role": "assistant", "content": recorded["tool_calls"]["content"]}
    assert results["role"] == "user"
    assert all(b["type"] == "tool_result" for b in results["content"])
    assert all(set(b) <= {"type", "tool_use_id", "content", "is_error"} for b in results["content"])
    uses = [b for b in recorded["tool_calls"]["content"] if b["type"] == "tool_use"]
    _assert_answers(
        [
            (b["tool_use_id"], json.loads(b["content"]), b.get("is_error", False))
            for b in results["content"]
        ],
        [u["id"] for u in uses],
    )
    assert results["content"][1]["is_error"] is True
    assert outside_network == []


async def test_gemini_over_http(api, dispatcher, load_fixture, outside_network):
    """google-genai's aio generate_content sends the declarations, then functionResponses by id."""
    recorded = load_fixture("e2e_gemini")
    api.replies += [recorded["tool_calls"], recorded["answer"]]
    declarations = dispatcher.tool_definitions("gemini")
    config = {"tools": [{"function_declarations": declarations}]}
    options = genai_types.HttpOptions(
        base_url=api.url,
        timeout=int(TIMEOUT * 1000),  # milliseconds
        retry_options=genai_types.HttpRetryOptions(attempts=1),
    )
    client = genai.Client(api_key="test-key", http_options=options)
    try:
        async with client.aio as aio:
            contents: list[Any] = [{"role": "user", "parts": [{"text": QUESTION}]}]
            response = await aio.models.generate_content(
                model="gemini-2.5-flash", contents=contents, config=config
            )
            assert isinstance(response, genai_types.GenerateContentResponse)
            contents = contents + await dispatcher.process_response(response)
            final = await aio.models.generate_content(
                model="gemini-2.5-flash", contents=contents, config=config
            )
    finally:
        client.close()

    assert final.text == ANSWER
    first, second = api.requests
    assert first.method == second.method == "POST"
    assert first.path == second.path
    assert first.path.endswith("/models/gemini-2.5-flash:generateContent")
    assert first.headers["x-goog-api-key"] == "test-key"
    assert "authorization" not in first.headers  # the API key, not OAuth credentials
    # google-genai sends its FunctionDeclaration by field name (parameters_json_schema): the
    # API reads proto field names and their camelCase alike, so compare what they say.
    (tool,) = first.body["tools"]
    sent = tool["functionDeclarations"]
    declared = genai_types.FunctionDeclaration.model_validate
    assert [declared(d) for d in sent] == [declared(d) for d in declarations]
    assert [d["parameters_json_schema"] for d in sent] == [
        d["parametersJsonSchema"] for d in _wire(declarations)
    ]
    assert second.body["contents"] == _wire(contents)
    model_turn, answers_turn = second.body["contents"][1:]
    assert model_turn == recorded["tool_calls"]["candidates"][0]["content"]
    assert answers_turn["role"] == "user"
    responses = [part["functionResponse"] for part in answers_turn["parts"]]
    assert all(set(part) == {"functionResponse"} for part in answers_turn["parts"])
    calls = [part["functionCall"] for part in model_turn["parts"]]
    assert [r["name"] for r in responses] == [c["name"] for c in calls]
    answers = [
        (r["id"], r["response"]["error"], True)
        if "error" in r["response"]
        else (r["id"], r["response"]["output"], False)
        for r in responses
    ]
    assert all(set(r["response"]) in ({"output"}, {"error"}) for r in responses)
    _assert_answers(answers, [c["id"] for c in calls])
    assert outside_network == []
