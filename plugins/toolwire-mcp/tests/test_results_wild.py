"""MCP servers loaded as packs: names providers refuse offered under safe names and called
back under their own, result parts reaching the model natively, and a failure's structured
content kept."""

from __future__ import annotations

import asyncio
import base64
import json
import sys

import pytest
import toolwire
from anthropic.types import MessageParam, ToolParam
from google.genai import types as genai_types
from mcp_helpers import SERVERS, MakeDispatcher, sdk_validate, toml_server
from openai.types.responses import FunctionToolParam, ResponseInputParam
from toolwire.testing import build_response

WILD = toml_server("wild", sys.executable, [str(SERVERS / "wild.py")], prefix="")


@pytest.mark.slow
def test_names_providers_refuse_are_offered_safely_and_called_back(make: MakeDispatcher) -> None:
    """Dotted and slashed names get safe, distinct names; a call under one reaches the server
    under its own, and every provider's SDK takes the definitions."""
    dispatcher = make(WILD)
    names = {t.name for t in dispatcher.tools()}
    assert {"calendar_listEvents", "drive_search", "media", "book"} <= names
    (dotted,) = [n for n in names if n.startswith("calendar_listEvents_")]
    assert len(names) == 5  # nothing dropped
    assert dispatcher.policy(dotted).options["mcp_name"] == "calendar.listEvents"
    assert dispatcher.policy("drive_search").options["mcp_name"] == "drive/search"
    assert "mcp_name" not in dispatcher.policy("calendar_listEvents").options

    def said(name: str, arguments: dict[str, str]) -> str:
        result = dispatcher.dispatch_sync(name, arguments)
        assert result.success, result.output
        return str(json.loads(result.output)["result"])  # the server's structured content

    assert said(dotted, {"day": "mon"}) == "events on mon: standup"
    assert said("calendar_listEvents", {"day": "mon"}) == "plain events on mon"
    assert said("drive_search", {"query": "q"}) == "found q.txt"
    for definition in dispatcher.tool_definitions("openai-responses"):
        sdk_validate(FunctionToolParam, definition)
    for definition in dispatcher.tool_definitions("anthropic"):
        sdk_validate(ToolParam, definition)
    for definition in dispatcher.tool_definitions("gemini"):
        genai_types.FunctionDeclaration.model_validate(definition)
    # The same server, loaded again, gives the same names.
    again = make(WILD)
    assert {t.name for t in again.tools()} == names


@pytest.mark.slow
def test_an_error_keeps_its_structured_content(make: MakeDispatcher) -> None:
    """isError with structuredContent: the model reads the text and the structured detail."""
    dispatcher = make(WILD)
    result = dispatcher.dispatch_sync("book", {"room": "A1"})
    assert result.error is not None and result.error.kind == "execution_error"
    assert json.loads(result.output) == {
        "error": "execution_error",
        "message": "A1 is taken",
        "retryable": False,
        "details": {"room": "A1", "free_from": "14:00"},
    }


@pytest.mark.slow
def test_images_links_and_embedded_files_reach_the_model_as_parts(make: MakeDispatcher) -> None:
    """The image and embedded PDF go natively, the link as a described part, never a repr."""
    dispatcher = make(WILD)
    result = dispatcher.dispatch_sync("media", {})
    assert isinstance(result.result, toolwire.Content)
    assert result.output.splitlines() == [
        "the quarter",
        "[image: image/png, 12 bytes]",
        "[resource link: q3.csv <file:///reports/q3.csv> (text/csv): every row]",
        "[file: q3.pdf, application/pdf, 13 bytes]",
    ]
    response = build_response("anthropic", [("media", "{}")])
    items = asyncio.run(dispatcher.process_response(response))
    for item in items:
        sdk_validate(MessageParam, item)
    blocks = items[-1]["content"][0]["content"]
    assert [b["type"] for b in blocks] == ["text", "image", "document"]
    assert base64.b64decode(blocks[2]["source"]["data"]) == b"%PDF-1.4 wild"
    response = build_response("openai-responses", [("media", "{}")])
    items = asyncio.run(dispatcher.process_response(response))
    sdk_validate(ResponseInputParam, items)
    assert [p["type"] for p in items[-1]["output"]] == ["input_text", "input_image", "input_file"]


def test_provider_names_are_deterministic_and_distinct() -> None:
    """Renaming keeps safe names, maps the rest once each, and never makes two names one."""
    from toolwire_mcp._pack import provider_names

    remote = dict.fromkeys(["a.b", "a_b", "a/b", "9lives", "x" * 70 + ".y", "ok-name"])
    names = provider_names(remote)
    assert names["a_b"] == "a_b" and names["ok-name"] == "ok-name"
    assert names["9lives"] == "_9lives"
    assert len(set(names.values())) == len(names)
    assert all(len(n) <= 64 for n in names.values())
    assert provider_names(dict(reversed(list(remote.items())))) == names
    assert provider_names({"a.b": None}, "srv_") == {"a.b": "srv_a_b"}
