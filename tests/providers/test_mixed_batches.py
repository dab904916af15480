"""One response mixing a success and three kinds of failure, through every built-in provider.

Each response holds a call that runs, one whose arguments fail validation, one the caller's
role may not make, and one to a tool that does not exist. Whatever fails, the model must get
back exactly one answer per call, in call order, under that call's id, and each failure must
be marked the way its API marks one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import anthropic.types
import openai.types.chat
import openai.types.responses
import pytest
import toolwire
from google.genai import types as genai_types
from toolwire.testing import build_response

PROVIDERS = ["openai-responses", "openai-chat", "anthropic", "gemini"]

# (name, arguments, call id) and the error kind expected for it (None: it runs).
MIXED = [
    (("add", {"a": 2, "b": 3}, "call_ok"), None),
    (("add", {"a": "two", "b": 3}, "call_invalid"), "invalid_arguments"),
    (("drop_table", {"table": "users"}, "call_denied"), "permission_denied"),
    (("launch_rockets", {"count": 3}, "call_unknown"), "unknown_tool"),
]
ORDERS = {"success-first": MIXED, "success-last": MIXED[::-1]}


@pytest.fixture
def ran() -> list[str]:
    """The tools that actually ran, in the order they finished."""
    return []


@pytest.fixture
def dispatcher(ran) -> Iterator[toolwire.Dispatcher]:
    """An adder anyone may call (slow, so it finishes last) and an admin-only tool."""
    pack = toolwire.Toolset("mixed")

    @pack.tool
    async def add(a: int, b: int) -> int:
        """Add two integers.

        Args:
            a: The first number.
            b: The second number.
        """
        await asyncio.sleep(0.05)  # the failures answer first; the order must not follow
        ran.append("add")
        return a + b

    @pack.tool(roles=["admin"])
    def drop_table(table: str) -> str:
        """Drop a database table.

        Args:
            table: The table to drop.
        """
        ran.append("drop_table")
        return f"dropped {table}"

    with toolwire.Dispatcher().add(pack) as made:
        yield made


def _answers(provider: str, items: list[Any], sdk_validate) -> list[tuple[str, str, Any, bool]]:
    """Validate the items as the SDK's request types; return each tool answer found in them.

    Each answer is (call id, tool name or "", content read as JSON, marked as an error).
    """
    if provider in ("openai-responses", "openai-chat"):
        # An answer is an item of its own: (its marker key and value, the call id's key, the text's).
        if provider == "openai-responses":
            sdk_validate(openai.types.responses.ResponseInputParam, items)
            marker, kind, id_key, text_key = "type", "function_call_output", "call_id", "output"
        else:
            for item in items:
                sdk_validate(openai.types.chat.ChatCompletionMessageParam, item)
            marker, kind, id_key, text_key = "role", "tool", "tool_call_id", "content"
        answers = [i for i in items if i[marker] == kind]
        assert all(set(a) == {marker, id_key, text_key} for a in answers)
        values = [json.loads(a[text_key]) for a in answers]
        return [
            (a[id_key], "", v, isinstance(v, dict) and "error" in v)
            for a, v in zip(answers, values, strict=True)
        ]
    if provider == "anthropic":
        for item in items:
            sdk_validate(anthropic.types.MessageParam, item)
        assert [i["role"] for i in items] == ["assistant", "user"]
        blocks = items[1]["content"]
        assert all(b["type"] == "tool_result" for b in blocks)
        # Anthropic's flag: is_error true on a failure, and absent (never false) otherwise.
        assert all(b.get("is_error", True) is True for b in blocks if "is_error" in b)
        return [(b["tool_use_id"], "", json.loads(b["content"]), "is_error" in b) for b in blocks]
    assert provider == "gemini"
    for item in items:
        sdk_validate(genai_types.Content, item)
    assert [i["role"] for i in items] == ["model", "user"]
    parts = items[1]["parts"]
    assert all(set(p) == {"functionResponse"} for p in parts)
    answers = []
    for part in parts:
        answer = part["functionResponse"]
        response = answer["response"]
        assert set(response) in ({"output"}, {"error"})
        if "error" in response:
            answers.append((answer["id"], answer["name"], response["error"], True))
        else:
            answers.append((answer["id"], answer["name"], response["output"], False))
    return answers


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_one_answer_per_call_in_call_order(provider, order, dispatcher, sdk_validate):
    """Success, invalid, denied and unknown calls get one answer each, in order, by call id."""
    calls = [call for call, _ in ORDERS[order]]
    response = build_response(provider, calls)
    items = await dispatcher.process_response(response, role="user")

    answers = _answers(provider, items, sdk_validate)
    assert [call_id for call_id, _, _, _ in answers] == [call_id for _, _, call_id in calls]
    if provider == "gemini":  # Gemini pairs a response with its call by name too
        assert [name for _, name, _, _ in answers] == [name for name, _, _ in calls]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_each_failure_is_marked_with_its_kind(provider, order, dispatcher, sdk_validate):
    """The success carries the tool's result unmarked; each failure is marked, with its kind."""
    mixed = ORDERS[order]
    response = build_response(provider, [call for call, _ in mixed])
    items = await dispatcher.process_response(response, role="user")

    for (_, _, value, marked), (_, kind) in zip(
        _answers(provider, items, sdk_validate), mixed, strict=True
    ):
        if kind is None:
            assert (value, marked) == (5, False)
        else:
            assert marked is True
            assert value["error"] == kind
            assert isinstance(value["retryable"], bool)
            assert isinstance(value["message"], str) and value["message"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_only_the_valid_permitted_call_runs(provider, dispatcher, ran, sdk_validate):
    """In a mixed response only the valid, permitted call runs; the denied tool never starts."""
    response = build_response(provider, [call for call, _ in MIXED])
    await dispatcher.process_response(response, role="user")
    assert ran == ["add"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_sync_host_gets_the_same_answers(provider, dispatcher, sdk_validate):
    """process_response_sync gives a mixed response the same items as the async call."""
    response = build_response(provider, [call for call, _ in MIXED])
    sync_items = dispatcher.process_response_sync(response, role="user")
    async_items = asyncio.run(dispatcher.process_response(response, role="user"))
    assert sync_items == async_items
    assert len(_answers(provider, sync_items, sdk_validate)) == len(MIXED)
