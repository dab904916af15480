"""Providers off the spec: every call answered, every field kept, everything sent back encodable.

OpenAI-compatible servers (and proxies in front of Anthropic or OpenAI) send tool calls with
no id or an empty one, a ``type`` of ``""``, fields of their own (``reasoning_content``,
``reasoning_details``...), and JSON that escapes half a surrogate pair. What toolwire gives back
must still be input the API takes: checked against the official SDKs' own types, and sent with
the SDKs' own clients to a local server playing the API.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest
import toolwire
from anthropic.types import MessageParam
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletionMessageParam
from openai.types.responses import ResponseInputParam
from toolwire.testing import build_response

from ..sdk_checks import sdk_validate
from .conftest import TIMEOUT, FakeModelAPI

pack = toolwire.Toolset("offspec")


@pack.tool
def get_weather(location: str) -> dict:
    """Get the weather for a location."""
    return {"location": location, "temperature": 21}


@pack.tool
def silent() -> str:
    """Do something that prints nothing."""
    return ""


@pack.tool
def blank() -> str:
    """Answer with whitespace only."""
    return " \n"


@pack.tool
def broken_text(kind: str = "value") -> Any:
    """Return text holding half a surrogate pair, in a value or in a key."""
    if kind == "key":
        return {"k\udc80": 1}
    if kind == "error":
        raise toolwire.ToolError("cannot read \ud83d")
    return "abc \ud800 def"


@pytest.fixture
def dispatcher() -> toolwire.Dispatcher:
    """A dispatcher with the off-spec test tools and the built-in plugins."""
    return toolwire.Dispatcher().add(pack)


def chat_response(tool_calls: list[Any], **message_fields: Any) -> dict[str, Any]:
    """A chat completion whose first choice makes ``tool_calls``."""
    message = {"role": "assistant", "content": None, "tool_calls": tool_calls, **message_fields}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "compatible",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": message}],
    }


def weather(call_id: Any = "call_1", kind: Any = "function", **extra: Any) -> dict[str, Any]:
    """One tool call; ``...`` for ``call_id`` or ``kind`` leaves that key out."""
    call: dict[str, Any] = {
        "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
        **extra,
    }
    if call_id is not ...:
        call["id"] = call_id
    if kind is not ...:
        call["type"] = kind
    return call


def utf8(items: Any) -> bytes:
    """The items as an SDK puts them on the wire: JSON, UTF-8 (fails on a lone surrogate)."""
    return json.dumps(items, ensure_ascii=False).encode("utf-8")


def assert_chat_answers_every_call(items: list[Any]) -> None:
    """One tool message per tool call of the assistant message, by distinct, non-empty ids."""
    assistant, *answers = items
    asked = [c["id"] for c in assistant.get("tool_calls", [])]
    assert all(isinstance(i, str) and i for i in asked) and len(set(asked)) == len(asked)
    assert [a["tool_call_id"] for a in answers] == asked
    for item in items:
        sdk_check_chat(item)


def sdk_check_chat(item: Any) -> None:
    """The SDK's message type accepts the item, once the extension fields are set aside."""
    known = {k: v for k, v in item.items() if k not in ("reasoning_content", "reasoning_details")}
    if "tool_calls" in known:
        known["tool_calls"] = [
            {k: v for k, v in c.items() if k != "extra_content"} for c in known["tool_calls"]
        ]
    sdk_validate(ChatCompletionMessageParam, known)


# -- OpenAI-compatible chat: type, ids, every call answered --------------------------------------


@pytest.mark.parametrize("kind", ["", ..., None])
async def test_a_call_typed_empty_or_untyped_with_a_function_is_a_function_call(
    dispatcher: toolwire.Dispatcher, kind: Any
) -> None:
    """``type`` "" or missing (or null) with a ``function``: dispatched, replayed as "function"."""
    items = await dispatcher.process_response(chat_response([weather(kind=kind)]))
    assert items[0]["tool_calls"][0]["type"] == "function"
    assert json.loads(items[1]["content"]) == {"location": "Paris", "temperature": 21}
    assert_chat_answers_every_call(items)


@pytest.mark.parametrize("call_id", ["", None, ...])
async def test_a_call_without_an_id_gets_one_in_both_messages(
    dispatcher: toolwire.Dispatcher, call_id: Any
) -> None:
    """An empty, null or missing id is replaced by a fresh one in the call and in its answer."""
    items = await dispatcher.process_response(chat_response([weather(call_id), weather("c2")]))
    generated = items[0]["tool_calls"][0]["id"]
    assert generated.startswith("call_") and len(generated) == len("call_") + 24
    assert items[1]["tool_call_id"] == generated
    assert items[0]["tool_calls"][1]["id"] == items[2]["tool_call_id"] == "c2"
    assert_chat_answers_every_call(items)


async def test_repeated_ids_are_made_distinct(dispatcher: toolwire.Dispatcher) -> None:
    """Servers that number every call "call_0" still get one answer per call, each its own id."""
    response = chat_response([weather("call_0"), weather("call_0"), weather("call_0")])
    items = await dispatcher.process_response(response)
    assert items[0]["tool_calls"][0]["id"] == "call_0"
    assert_chat_answers_every_call(items)


async def test_a_custom_call_is_answered_by_name(dispatcher: toolwire.Dispatcher) -> None:
    """A call of another kind (custom) gets a tool message too: here, the tool is unknown."""
    custom = {"id": "c9", "type": "custom", "custom": {"name": "grep", "input": "x"}}
    items = await dispatcher.process_response(chat_response([custom, weather("c1")]))
    assert items[0]["tool_calls"][0] == custom
    assert json.loads(items[1]["content"])["error"] == "unknown_tool"
    assert_chat_answers_every_call(items)


async def test_entries_that_are_not_objects_are_not_replayed(
    dispatcher: toolwire.Dispatcher,
) -> None:
    """A tool call that is not a JSON object holds no call: it is neither answered nor sent back."""
    items = await dispatcher.process_response(chat_response(["junk", weather("c1"), None]))
    assert [c["id"] for c in items[0]["tool_calls"]] == ["c1"]
    assert_chat_answers_every_call(items)


async def test_an_assistant_message_goes_back_as_input_the_api_takes(
    dispatcher: toolwire.Dispatcher,
) -> None:
    """No ``role`` gets one; a ``tool_calls`` list with no call in it is left out (the API
    refuses an empty one); arguments sent as an object are read, and go back as JSON text."""
    message = chat_response([None, 5])["choices"][0]["message"]
    del message["role"]
    response = chat_response([])
    response["choices"][0]["message"] = message
    items = await dispatcher.process_response(response, "openai-chat")
    assert items == [{"role": "assistant", "content": None}]
    sdk_check_chat(items[0])
    as_object = weather("c1")
    as_object["function"] = {"name": "get_weather", "arguments": {"location": "Paris"}}
    items = await dispatcher.process_response(chat_response([as_object]))
    assert json.loads(items[1]["content"]) == {"location": "Paris", "temperature": 21}
    assert json.loads(items[0]["tool_calls"][0]["function"]["arguments"]) == {"location": "Paris"}
    assert as_object["function"]["arguments"] == {"location": "Paris"}  # the response as it was
    assert_chat_answers_every_call(items)


async def test_responses_arguments_sent_as_an_object_go_back_as_json_text(
    dispatcher: toolwire.Dispatcher,
) -> None:
    """A ``function_call`` whose arguments are an object is run, and replayed as a string."""
    response = build_response("openai-responses", [("get_weather", {"location": "Paris"}, "c1")])
    call = next(i for i in response["output"] if i["type"] == "function_call")
    call["arguments"] = {"location": "Paris"}
    items = await dispatcher.process_response(response)
    replayed = next(i for i in items if i["type"] == "function_call")
    assert json.loads(replayed["arguments"]) == {"location": "Paris"}
    output = next(i for i in items if i["type"] == "function_call_output")
    assert json.loads(output["output"])["location"] == "Paris"
    sdk_validate(ResponseInputParam, items)


ID_STATES = st.sampled_from(["", None, ..., "dup", "call_a", "call_b"])
KIND_STATES = st.sampled_from(["function", "", ..., None, "custom"])


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=st.lists(st.tuples(ID_STATES, KIND_STATES), max_size=6))
async def test_every_call_in_the_message_gets_exactly_one_answer(
    dispatcher: toolwire.Dispatcher, calls: list[tuple[Any, Any]]
) -> None:
    """Whatever mix of ids and types a server sends, each call has its own answer, by id."""
    tool_calls = []
    for call_id, kind in calls:
        if kind == "custom":
            call = {"type": "custom", "custom": {"name": "grep", "input": "x"}}
            if call_id is not ...:
                call["id"] = call_id
            tool_calls.append(call)
        else:
            tool_calls.append(weather(call_id, kind))
    items = await dispatcher.process_response(chat_response(tool_calls))
    assert len(items) == 1 + len(calls)
    assert_chat_answers_every_call(items)


# -- unknown fields stay as given ---------------------------------------------------------------

REASONING_DETAILS = [
    {"type": "reasoning.text", "text": "The user wants the weather.", "signature": "sig=="},
    {"type": "reasoning.encrypted", "data": "gAAAAB...", "id": "rd_1", "format": "x-v1"},
]


async def test_fields_toolwire_does_not_know_stay_on_the_replayed_message(
    dispatcher: toolwire.Dispatcher,
) -> None:
    """``reasoning_content``, ``reasoning_details`` and a call's ``extra_content`` go back as given."""
    extra = {"google": {"thought_signature": "c2lnbmF0dXJl"}}
    response = chat_response(
        [weather("c1", extra_content=extra)],
        reasoning_content="Paris, so call get_weather.",
        reasoning_details=REASONING_DETAILS,
        refusal=None,
        annotations=[],
    )
    items = await dispatcher.process_response(response)
    assistant = items[0]
    assert assistant["reasoning_content"] == "Paris, so call get_weather."
    assert assistant["reasoning_details"] == REASONING_DETAILS
    assert assistant["tool_calls"][0]["extra_content"] == extra
    assert assistant["refusal"] is None and "annotations" not in assistant  # response-only
    assert_chat_answers_every_call(items)


def test_every_field_of_the_message_but_the_response_only_ones_is_kept() -> None:
    """Whatever a message holds, the replayed one holds it too, but for annotations and audio data."""
    from toolwire.providers import OpenAIChatProvider

    provider = OpenAIChatProvider()
    message = {"role": "assistant", "content": "hi", "x_vendor": {"a": [1]}, "annotations": [],
               "audio": {"id": "au_1", "data": "..."}, "reasoning": "r", "name": None}  # fmt: skip
    response = {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
    (assistant,) = provider.conversation_items(provider.parse_response(response), [])
    kept = {k: v for k, v in message.items() if k not in ("annotations", "audio")}
    assert assistant == {**kept, "audio": {"id": "au_1"}}


# -- Anthropic: ids, empty outputs --------------------------------------------------------------


def anthropic_response(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [{"type": "text", "text": "Let me check."}, *blocks],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }


def tool_use(name: str, call_id: Any = ..., **arguments: Any) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_use", "name": name, "input": arguments}
    if call_id is not ...:
        block["id"] = call_id
    return block


@pytest.mark.parametrize("tool", ["silent", "blank"])
async def test_anthropic_gets_a_placeholder_for_an_empty_output(
    dispatcher: toolwire.Dispatcher, tool: str
) -> None:
    """An empty (or blank) output is sent as "(no output)": the API refuses an empty result."""
    items = await dispatcher.process_response(anthropic_response([tool_use(tool, "toolu_1")]))
    (result,) = items[1]["content"]
    assert result["content"] == "(no output)" and "is_error" not in result
    for item in items:
        sdk_validate(MessageParam, item)


@pytest.mark.parametrize("call_id", ["", None, ...])
async def test_anthropic_tool_use_without_an_id_gets_one_in_both_messages(
    dispatcher: toolwire.Dispatcher, call_id: Any
) -> None:
    """A tool_use block with no id gets a fresh one, in the replayed block and in its result."""
    response = anthropic_response(
        [tool_use("get_weather", call_id, location="Paris"), tool_use("silent", "toolu_2")]
    )
    items = await dispatcher.process_response(response)
    uses = [b for b in items[0]["content"] if b["type"] == "tool_use"]
    results = items[1]["content"]
    assert uses[0]["id"].startswith("toolu_") and uses[0]["id"] != "toolu_"
    assert [r["tool_use_id"] for r in results] == [u["id"] for u in uses]
    assert uses[1] == response["content"][2]  # a block with its id is sent back untouched
    for item in items:
        sdk_validate(MessageParam, item)


# -- OpenAI Responses: ids ----------------------------------------------------------------------


@pytest.mark.parametrize("call_id", ["", None, "dup"])
async def test_responses_function_call_without_an_id_gets_one_in_both_items(
    dispatcher: toolwire.Dispatcher, call_id: Any
) -> None:
    """A function_call with an empty, null or taken call_id gets a fresh one in both items."""
    response = build_response(
        "openai-responses",
        [("get_weather", {"location": "Paris"}, "dup"), ("get_weather", {"location": "Oslo"}, "x")],
    )
    response["output"][1]["call_id"] = call_id
    items = await dispatcher.process_response(response)
    calls = [i for i in items if i["type"] == "function_call"]
    outputs = [i for i in items if i["type"] == "function_call_output"]
    assert [o["call_id"] for o in outputs] == [c["call_id"] for c in calls]
    assert calls[0]["call_id"] == "dup" and calls[1]["call_id"].startswith("call_")
    assert len({c["call_id"] for c in calls}) == 2
    sdk_validate(ResponseInputParam, items)


# -- UTF-8, always -------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai-responses", "openai-chat", "anthropic", "gemini"])
@pytest.mark.parametrize("kind", ["value", "key", "error"])
async def test_a_lone_surrogate_in_a_result_is_replaced(
    dispatcher: toolwire.Dispatcher, provider: str, kind: str
) -> None:
    """Half a surrogate pair in a result, a key or an error message goes back as U+FFFD."""
    response = build_response(provider, [("broken_text", {"kind": kind}, "c1")])
    items = await dispatcher.process_response(response)
    wire = utf8(items).decode("utf-8")
    assert "\ufffd" in wire


@pytest.mark.parametrize("provider", ["openai-responses", "openai-chat", "anthropic"])
async def test_a_lone_surrogate_in_the_models_own_items_is_replaced(
    dispatcher: toolwire.Dispatcher, provider: str
) -> None:
    """A response whose JSON escapes half a pair (its text, a call's arguments) replays as UTF-8;
    the call itself is answered invalid_arguments, naming the argument."""
    text = json.loads('"thinking \\ud83d about it"')
    arguments = json.dumps({"location": json.loads('"Par\\udc00is"')})
    response = build_response(provider, [("get_weather", arguments, "c1")], text=text)
    items = await dispatcher.process_response(response)
    wire = utf8(items).decode("utf-8")
    assert "thinking \ufffd about it" in wire
    assert "invalid_arguments" in wire and '\\"path\\":\\"location\\"' in wire


def test_a_valid_pair_split_in_two_halves_is_joined() -> None:
    """Two halves that make a pair become their one character; only lone halves are replaced."""
    from toolwire._serialize import to_text

    assert to_text("\ud83d\ude00 and \ud83d") == "\U0001f600 and \ufffd"
    assert to_text({"e": "\ud83d\ude00"}) == '{"e":"\U0001f600"}'


# -- with the SDKs' own clients, over HTTP --------------------------------------------------------


def test_an_off_spec_compatible_server_round_trips_through_the_openai_client(
    api: FakeModelAPI, dispatcher: toolwire.Dispatcher, outside_network: list[Any]
) -> None:
    """The openai client reads an off-spec reply; what toolwire returns is sent, ids paired."""
    first = chat_response(
        [weather(""), weather(..., kind=""), weather("same"), weather("same")],
        reasoning_content="Weather, four times.",
        reasoning_details=REASONING_DETAILS,
    )
    first["choices"][0]["message"]["tool_calls"].append(
        {"id": "c5", "type": "function", "function": {"name": "broken_text", "arguments": "{}"}}
    )
    answer = chat_response([])
    answer["choices"][0]["message"] = {"role": "assistant", "content": "Done."}
    answer["choices"][0]["finish_reason"] = "stop"
    api.replies += [first, answer]
    tools = dispatcher.tool_definitions("openai-chat")
    with openai.OpenAI(
        api_key="test-key", base_url=f"{api.url}/v1", max_retries=0, timeout=TIMEOUT
    ) as client:
        messages: list[Any] = [{"role": "user", "content": "Weather?"}]
        completion = client.chat.completions.create(model="m", messages=messages, tools=tools)
        messages = messages + dispatcher.process_response_sync(completion)
        final = client.chat.completions.create(model="m", messages=messages, tools=tools)

    assert final.choices[0].message.content == "Done."
    sent = api.requests[1].body["messages"]
    assistant, answers = sent[1], sent[2:]
    assert assistant["reasoning_content"] == "Weather, four times."
    assert assistant["reasoning_details"] == REASONING_DETAILS
    assert [c["type"] for c in assistant["tool_calls"]] == ["function"] * 5
    assert_chat_answers_every_call(sent[1:])
    assert "\ufffd" in answers[-1]["content"]
    assert outside_network == []


async def test_an_empty_output_reaches_anthropic_as_a_placeholder(
    api: FakeModelAPI, dispatcher: toolwire.Dispatcher, outside_network: list[Any]
) -> None:
    """Through the anthropic client: an id-less tool_use and an empty output, sent as valid input."""
    answer = anthropic_response([])
    answer["content"] = [{"type": "text", "text": "Done."}]
    answer["stop_reason"] = "end_turn"
    api.replies += [anthropic_response([tool_use("silent", "")]), answer]
    tools = dispatcher.tool_definitions("anthropic")
    async with anthropic.AsyncAnthropic(
        api_key="test-key", base_url=api.url, max_retries=0, timeout=TIMEOUT
    ) as client:
        messages: list[Any] = [{"role": "user", "content": "Go."}]
        message = await client.messages.create(
            model="claude-e2e-test", max_tokens=64, messages=messages, tools=tools
        )
        messages = messages + await dispatcher.process_response(message)
        final = await client.messages.create(
            model="claude-e2e-test", max_tokens=64, messages=messages, tools=tools
        )

    assert final.content[0].text == "Done."
    assistant, results = api.requests[1].body["messages"][1:]
    (use,) = [b for b in assistant["content"] if b["type"] == "tool_use"]
    assert use["id"].startswith("toolu_")
    assert results["content"] == [
        {"type": "tool_result", "tool_use_id": use["id"], "content": "(no output)"}
    ]
    assert outside_network == []


def _asked_and_answered(provider: str, items: list[Any]) -> tuple[list[Any], list[Any]]:
    """The ids of the calls in the replayed response, and the ids their answers carry."""
    if provider == "openai-chat":
        return [c["id"] for c in items[0].get("tool_calls", [])], [
            m["tool_call_id"] for m in items[1:]
        ]
    if provider == "anthropic":
        uses = [b["id"] for b in items[0]["content"] if b["type"] == "tool_use"]
        results = [b["tool_use_id"] for b in items[1]["content"]] if len(items) > 1 else []
        return uses, results
    calls = [i["call_id"] for i in items if i["type"] == "function_call"]
    return calls, [i["call_id"] for i in items if i["type"] == "function_call_output"]


ID_FIELD = {"openai-chat": "id", "anthropic": "id", "openai-responses": "call_id"}


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    provider=st.sampled_from(sorted(ID_FIELD)),
    states=st.lists(st.sampled_from(["", None, ..., "dup", "a", "b"]), max_size=6),
)
async def test_every_provider_pairs_each_call_with_its_answer(
    dispatcher: toolwire.Dispatcher, provider: str, states: list[Any]
) -> None:
    """For each API, whatever ids a response holds, call and answer share one id, all distinct."""
    response = build_response(
        provider, [("get_weather", {"location": "Oslo"}, f"x{i}") for i in range(len(states))]
    )
    assert len(_items(provider, response)) == len(states)
    for item, state in zip(_items(provider, response), states, strict=True):
        if state is ...:
            del item[ID_FIELD[provider]]
        else:
            item[ID_FIELD[provider]] = state
    items = await dispatcher.process_response(response)
    asked, answered = _asked_and_answered(provider, items)
    assert asked == answered and len(asked) == len(states)
    assert all(isinstance(i, str) and i for i in asked) and len(set(asked)) == len(asked)
    for given_id, sent in zip(states, asked, strict=True):
        if given_id in ("a", "b") and states.count(given_id) == 1:
            assert sent == given_id  # a usable id is never replaced


def _items(provider: str, response: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects of ``response`` that carry the calls' ids."""
    if provider == "openai-chat":
        return list(response["choices"][0]["message"]["tool_calls"])
    if provider == "anthropic":
        return [b for b in response["content"] if b["type"] == "tool_use"]
    return [i for i in response["output"] if i["type"] == "function_call"]
