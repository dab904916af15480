"""Held turns: a response with a gated call waits whole, and resumes whole, in call order."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic.types
import openai.types.chat
import openai.types.responses
import pytest
import toolwire
from google.genai import types as genai_types
from toolwire import ApprovalError, HeldTurn
from toolwire.testing import build_response

from ..sdk_checks import sdk_validate

PROVIDERS = ["openai-responses", "openai-chat", "anthropic", "gemini"]
SDK_RESPONSES = {
    "openai-responses": openai.types.responses.Response,
    "openai-chat": openai.types.chat.ChatCompletion,
    "anthropic": anthropic.types.Message,
    "gemini": genai_types.GenerateContentResponse,
}
THREE = [
    ("read_record", {"record": "a"}, "call_1"),
    ("delete_record", {"record": "b"}, "call_2"),
    ("read_record", {"record": "c"}, "call_3"),
]


def sdk_response(provider: str, calls: list[tuple[str, Any, str]]) -> Any:
    """The SDK's own response object for a model that makes ``calls``."""
    return SDK_RESPONSES[provider].model_validate(build_response(provider, calls))


def check_items(provider: str, items: list[Any]) -> list[tuple[str, str]]:
    """Validate items with the SDK's own param types; return (call id, answer text) per call."""
    if provider == "openai-responses":
        sdk_validate(openai.types.responses.ResponseInputParam, items)
        return [(i["call_id"], i["output"]) for i in items if i["type"] == "function_call_output"]
    if provider == "openai-chat":
        for item in items:
            sdk_validate(openai.types.chat.ChatCompletionMessageParam, item)
        return [(i["tool_call_id"], i["content"]) for i in items if i["role"] == "tool"]
    if provider == "anthropic":
        for item in items:
            sdk_validate(anthropic.types.MessageParam, item)
        assert [i["role"] for i in items] == ["assistant", "user"]
        return [(b["tool_use_id"], b["content"]) for b in items[1]["content"]]
    for item in items:
        sdk_validate(genai_types.Content, item)
    answers = []
    for part in items[1]["parts"]:
        response = part["functionResponse"]
        body = response["response"]
        text = body["output"] if "output" in body else json.dumps(body["error"])
        answers.append((response.get("id", ""), text))
    return answers


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_turn_with_a_gated_call_is_held_and_resumed(provider, make, pack, ledger):
    """Three calls, one gated: the others run now, nothing is returned yet; after approval,
    resume gives every item in call order, exactly as an ungated turn would, valid for the SDK."""
    dispatcher = make(pack)
    response = sdk_response(provider, THREE)
    held = await dispatcher.process_response(response)
    assert isinstance(held, HeldTurn)
    assert list(held) == []
    (pending,) = held.pending
    assert (pending.tool, pending.call_id, pending.turn_id) == (
        "delete_record",
        "call_2",
        held.turn_id,
    )
    assert pending.provider == provider
    assert ledger.entries == ["read a", "read c"]

    with pytest.raises(ApprovalError, match=pending.id) as waiting:
        await dispatcher.resume(held.turn_id)
    assert waiting.value.pending == (pending,)

    assert (await dispatcher.approve(pending.id, by="bob")).success
    items = await dispatcher.resume(held.turn_id)
    assert check_items(provider, items) == [
        ("call_1", "contents of a"),
        ("call_2", "deleted b"),
        ("call_3", "contents of c"),
    ]
    ungated = make(pack, config={"tools": {"delete_record": {"approval": False}}})
    assert items == await ungated.process_response(response)
    assert await dispatcher.resume(held.turn_id) == items  # resuming again changes nothing
    assert ledger.entries[:3] == ["read a", "read c", "delete b hard=False"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_rejection_keeps_the_approved_calls(provider, make, pack, ledger):
    """Two gated calls, one approved and one rejected: both are answered, with the calls that
    ran at once, in call order; the rejected one as an error."""
    dispatcher = make(pack)
    calls = [
        ("delete_record", {"record": "x"}, "call_x"),
        ("read_record", {"record": "y"}, "call_y"),
        ("delete_record", {"record": "z"}, "call_z"),
    ]
    held = await dispatcher.process_response(sdk_response(provider, calls))
    first, second = held.pending
    assert (first.call_id, second.call_id) == ("call_x", "call_z")
    await dispatcher.reject(second.id, by="bob", message="z stays")
    with pytest.raises(ApprovalError, match=first.id):
        await dispatcher.resume(held.turn_id)
    await dispatcher.approve(first.id, by="bob")
    answers = check_items(provider, await dispatcher.resume(held.turn_id))
    assert [call_id for call_id, _ in answers] == ["call_x", "call_y", "call_z"]
    assert answers[0][1] == "deleted x" and answers[1][1] == "contents of y"
    assert json.loads(answers[2][1])["error"] == "approval_denied"
    assert "z stays" in answers[2][1]
    assert ledger.entries == ["read y", "delete x hard=False"]


async def test_an_expired_approval_is_answered_on_resume(make, pack):
    """resume ends an overdue approval with approval_expired and returns the whole turn."""
    dispatcher = make(pack, config={"approvals": {"store": "memory://", "ttl": 0.01}})
    held = await dispatcher.process_response(build_response("openai-chat", THREE))
    await asyncio.sleep(0.05)
    items = await dispatcher.resume(held.turn_id)
    answers = check_items("openai-chat", items)
    assert json.loads(answers[1][1])["error"] == "approval_expired"


async def test_a_turn_resumes_from_another_dispatcher(make, pack, ledger, tmp_path):
    """A host restarted on the same SQLite store finds the turn, approves and resumes it."""
    config = {"approvals": {"store": f"sqlite:///{tmp_path / 'a.sqlite3'}"}}
    first = make(pack, config=config)
    held = await first.process_response(build_response("anthropic", THREE))
    first.close()
    second = make(pack, config=config)
    (pending,) = await second.approvals("pending")
    assert pending.turn_id == held.turn_id
    await second.approve(pending.id, by="bob")
    answers = check_items("anthropic", await second.resume(held.turn_id))
    assert [text for _, text in answers] == ["contents of a", "deleted b", "contents of c"]
    # The first dispatcher, closed, starts again on use and sees the same.
    assert check_items("anthropic", await first.resume(held.turn_id)) == answers


async def test_gemini_calls_without_ids_resume_without_ids(make, pack):
    """Gemini calls the API gave no id come back without one, paired by name and order."""
    dispatcher = make(pack)
    data = build_response("gemini", THREE)
    for part in data["candidates"][0]["content"]["parts"]:
        del part["functionCall"]["id"]
    held = await dispatcher.process_response(
        genai_types.GenerateContentResponse.model_validate(data)
    )
    await dispatcher.approve(held.pending[0].id, by="bob")
    items = await dispatcher.resume(held.turn_id)
    parts = [genai_types.Content.model_validate(item) for item in items][1].parts
    assert [p.function_response.id for p in parts] == [None, None, None]
    assert [p.function_response.name for p in parts] == [
        "read_record",
        "delete_record",
        "read_record",
    ]


def test_sync_hosts_hold_and_resume(make, pack):
    """process_response_sync holds the turn; resume_sync returns it once decided."""
    dispatcher = make(pack)
    held = dispatcher.process_response_sync(build_response("openai-responses", THREE))
    with pytest.raises(ApprovalError, match="still waits"):
        dispatcher.resume_sync(held.turn_id)
    dispatcher.approve_sync(held.pending[0].id, by="bob")
    outputs = [i["output"] for i in dispatcher.resume_sync(held.turn_id) if "output" in i]
    assert outputs == ["contents of a", "deleted b", "contents of c"]


async def test_an_unknown_turn_is_the_hosts_error(make, pack):
    """resume of a turn the store does not hold raises ApprovalError naming it."""
    with pytest.raises(ApprovalError, match="no held turn 'turn_nope'"):
        await make(pack).resume("turn_nope")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_duplicate_call_ids_are_refused_for_approval(provider, make, pack, ledger):
    """A gated call whose id repeats in the response is refused (no record, not held); the
    other call with that id runs."""
    dispatcher = make(pack)
    calls = [("delete_record", {"record": "b"}, "dup"), ("read_record", {"record": "a"}, "dup")]
    items = await dispatcher.process_response(sdk_response(provider, calls))
    assert not isinstance(items, HeldTurn)
    refused = json.loads(check_items(provider, items)[0][1])
    assert refused["error"] == "permission_denied"
    assert "'dup' appears 2 times" in refused["message"]
    assert await dispatcher.approvals() == []
    assert ledger.entries == ["read a"]
    # Second, the gated call may get a fresh id from its provider: the id named is the given one.
    items = await dispatcher.process_response(sdk_response(provider, calls[::-1]))
    refused = json.loads(check_items(provider, items)[1][1])
    assert "'dup' appears 2 times" in refused["message"]


async def test_duplicate_ids_in_a_batch_are_refused_for_approval(make, pack, ledger):
    """dispatch_many refuses for approval the gated calls whose id repeats; unique ones wait."""
    dispatcher = make(pack)
    results = await dispatcher.dispatch_many(
        [
            toolwire.ToolCall("delete_record", {"record": "a"}, "same"),
            toolwire.ToolCall("delete_record", {"record": "b"}, "same"),
            toolwire.ToolCall("delete_record", {"record": "c"}, "own"),
        ]
    )
    assert [r.error.kind for r in results] == [
        "permission_denied",
        "permission_denied",
        "approval_required",
    ]
    assert [a.call_id for a in await dispatcher.approvals()] == ["own"]
    assert ledger.entries == []


async def test_a_turn_without_gated_calls_is_not_held(make, pack, ledger):
    """A response whose calls need no approval is answered at once, as always."""
    dispatcher = make(pack)
    items = await dispatcher.process_response(build_response("openai-chat", [THREE[0]]))
    assert type(items) is list
    assert ledger.entries == ["read a"]
