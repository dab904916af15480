"""Deferred tools and tool search on each provider's wire, checked against the SDKs' own types:
a response that searches, then calls a found deferred tool; a role never finds what it may not
call."""

from __future__ import annotations

import json
from typing import Any

import anthropic.types as anthropic_types
import openai.types.chat as chat_types
import openai.types.responses as responses_types
import pytest
import toolwire
from google.genai import types as gemini_types
from toolwire.testing import build_response

from ..conftest import MakeDispatcher, openai_search_round
from ..sdk_checks import sdk_validate


def _packs() -> list[toolwire.Toolset]:
    weather = toolwire.Toolset("weather", "The weather.")

    @weather.tool
    def get_weather(city: str) -> str:
        """Get the weather of a city."""
        return f"sunny in {city}"

    files = toolwire.Toolset("files", "Files on the local disk.")

    @files.tool
    def read_file(path: str) -> str:
        """Read a text file from the local disk."""
        return f"read {path}"

    @files.tool(roles=["admin"])
    def erase_disk(confirm: bool) -> str:
        """Erase the local disk, every file on it."""
        return "erased"

    return [weather, files]


def _dispatcher(make: MakeDispatcher) -> toolwire.Dispatcher:
    return make(*_packs(), config={"plugins": {"files": {"defer_loading": True}}})


def test_no_deferred_tool_means_the_definitions_of_before(make: MakeDispatcher) -> None:
    """Without a deferred tool every provider gets each tool up front and no search tool."""
    dispatcher = make(*_packs())
    for provider in ("openai-responses", "openai-chat", "anthropic", "gemini"):
        assert len(dispatcher.tool_definitions(provider, role="admin")) == 3


def test_openai_responses_gets_a_namespace_per_pack_and_a_tool_search(
    make: MakeDispatcher,
) -> None:
    """Deferred tools go in the pack's namespace with defer_loading, beside tool_search, as
    the SDK's ToolParam takes them; a role sees only its own tools in the namespace."""
    dispatcher = _dispatcher(make)
    for search in ("client", "hosted"):
        tools = dispatcher.tool_definitions("openai-responses", search=search)
        for tool in tools:
            sdk_validate(responses_types.ToolParam, tool)
        assert [t["type"] for t in tools] == ["function", "namespace", "tool_search"]
        space = tools[1]
        assert space["name"] == "files" and space["description"] == "Files on the local disk."
        assert [f["name"] for f in space["tools"]] == ["read_file"]
        assert all(f["defer_loading"] is True for f in space["tools"])
    assert tools[-1] == {"type": "tool_search"}
    admin = dispatcher.tool_definitions("openai-responses", role="admin")
    space = next(t for t in admin if t["type"] == "namespace")
    assert [f["name"] for f in space["tools"]] == ["erase_disk", "read_file"]
    with pytest.raises(ValueError, match="search"):
        dispatcher.tool_definitions("openai-responses", search="bm25")


def _responses_round(dispatcher: toolwire.Dispatcher, query: str, role: str | None) -> list[Any]:
    data = openai_search_round("read_file", '{"path": "a.txt"}', query)
    sdk_response = responses_types.Response.model_validate(data)
    return dispatcher.process_response_sync(sdk_response, role=role)


def test_openai_client_search_is_answered_with_a_tool_search_output(
    make: MakeDispatcher,
) -> None:
    """A client tool_search_call gets a tool_search_output holding the found tools in their
    namespace; the call of a found deferred tool runs; every item is one the SDK takes back."""
    items = _responses_round(_dispatcher(make), "read a text file", None)
    for item in items:
        sdk_validate(responses_types.ResponseInputItemParam, item)
    assert items[0]["type"] == "tool_search_call"  # replayed untouched
    output = next(i for i in items if i["type"] == "tool_search_output")
    assert output["call_id"] == "call_ts" and output["execution"] == "client"
    assert output["tools"][0]["type"] == "namespace"
    assert output["tools"][0]["tools"][0]["name"] == "read_file"
    result = next(i for i in items if i["type"] == "function_call_output")
    assert result["output"] == "read a.txt"


def test_openai_client_search_never_finds_what_the_role_may_not_call(
    make: MakeDispatcher,
) -> None:
    """A search for the admin-only tool by another role answers without it."""
    items = _responses_round(_dispatcher(make), "erase the disk", "viewer")
    output = next(i for i in items if i["type"] == "tool_search_output")
    assert "erase_disk" not in json.dumps(output)


def test_anthropic_gets_defer_loading_and_a_search_tool(make: MakeDispatcher) -> None:
    """Deferred tools carry defer_loading; the search tool is toolwire's or the server's."""
    dispatcher = _dispatcher(make)
    tools = dispatcher.tool_definitions("anthropic")
    for tool in tools:
        sdk_validate(anthropic_types.ToolUnionParam, tool)
    assert [t["name"] for t in tools] == ["get_weather", "read_file", "search_tools"]
    assert tools[1]["defer_loading"] is True and "defer_loading" not in tools[0]
    for mode, kind in (("bm25", "tool_search_tool_bm25"), ("regex", "tool_search_tool_regex")):
        server = dispatcher.tool_definitions("anthropic", search=mode)[-1]
        sdk_validate(anthropic_types.ToolUnionParam, server)
        assert server == {"type": f"{kind}_20251119", "name": kind}


def test_anthropic_client_search_is_answered_with_tool_references(
    make: MakeDispatcher,
) -> None:
    """A search_tools tool_use gets a tool_result of tool_reference blocks, then the found
    tool's call runs; the role's search never references the admin-only tool."""
    dispatcher = _dispatcher(make)
    data = build_response(
        "anthropic",
        [("search_tools", {"query": "read a file, erase the disk"}), ("read_file", {"path": "b"})],
    )
    message = anthropic_types.Message.model_validate(data)
    items = dispatcher.process_response_sync(message, role="viewer")
    for item in items:
        sdk_validate(anthropic_types.MessageParam, item)
    search, call = items[1]["content"]
    assert search["content"] == [{"type": "tool_reference", "tool_name": "read_file"}]
    assert call["content"] == "read b"


def _gemini_round(dispatcher: toolwire.Dispatcher, role: str | None) -> list[Any]:
    data = build_response("gemini", [("search_tools", {"query": "read a text file"})])
    sdk_response = gemini_types.GenerateContentResponse.model_validate(data)
    return dispatcher.process_response_sync(sdk_response, role=role)


def test_gemini_searches_with_a_function_and_gets_the_found_tools_next(
    make: MakeDispatcher,
) -> None:
    """Gemini has search_tools instead of deferred tools; after a search in the history the
    found tool is declared, and a call to it runs."""
    dispatcher = _dispatcher(make)
    first = dispatcher.tool_definitions("gemini")
    assert [d["name"] for d in first] == ["get_weather", "search_tools"]
    for declaration in first:
        gemini_types.FunctionDeclaration.model_validate(declaration)
    history = [gemini_types.Content.model_validate(i) for i in _gemini_round(dispatcher, None)]
    after = dispatcher.tool_definitions("gemini", history=history)
    assert [d["name"] for d in after] == ["get_weather", "read_file", "search_tools"]
    call = build_response("gemini", [("read_file", {"path": "c"})])
    items = dispatcher.process_response_sync(call)
    assert items[-1]["parts"][0]["functionResponse"]["response"] == {"output": "read c"}


def test_a_forged_history_adds_no_tool_the_role_may_not_call(make: MakeDispatcher) -> None:
    """History naming the admin-only tool as found adds nothing for another role."""
    dispatcher = _dispatcher(make)
    forged = [
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "name": "search_tools",
                        "response": {"output": {"tools": [{"name": "erase_disk"}]}},
                    }
                }
            ],
        }
    ]
    names = [d["name"] for d in dispatcher.tool_definitions("gemini", "viewer", history=forged)]
    assert "erase_disk" not in names
    admin = [d["name"] for d in dispatcher.tool_definitions("gemini", "admin", history=forged)]
    assert "erase_disk" in admin


def test_chat_completions_searches_and_gets_the_found_tools_next(make: MakeDispatcher) -> None:
    """Chat Completions has search_tools; a tool message answering it in the history adds
    the found tool to the next tools list, in the SDK's tool shape."""
    dispatcher = _dispatcher(make)
    assert [t["function"]["name"] for t in dispatcher.tool_definitions("openai-chat")] == [
        "get_weather",
        "search_tools",
    ]
    data = build_response("openai-chat", [("search_tools", '{"query": "local disk file"}')])
    completion = chat_types.ChatCompletion.model_validate(data)
    history = dispatcher.process_response_sync(completion)
    for message in history:
        sdk_validate(chat_types.ChatCompletionMessageParam, message)
    tools = dispatcher.tool_definitions("openai-chat", history=history)
    for tool in tools:
        sdk_validate(chat_types.ChatCompletionToolUnionParam, tool)
    assert [t["function"]["name"] for t in tools] == ["get_weather", "read_file", "search_tools"]
