"""MCP servers loaded as packs: names providers refuse offered under safe names and called
back under their own, result parts reaching the model natively, and a failure's structured
content kept."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import sys
from pathlib import Path

import jsonschema
import pytest
import toolwire
from anthropic.types import Message, MessageParam, ToolParam
from google.genai import types as genai_types
from mcp_helpers import SERVERS, MakeDispatcher, sdk_validate, toml_server
from openai.types.responses import FunctionToolParam, ResponseInputParam
from toolwire.testing import build_response, process_environment, run_toolwire, schema_keys

WILD = toml_server("wild", sys.executable, [str(SERVERS / "wild.py")], prefix="")


@pytest.mark.slow
def test_names_providers_refuse_are_offered_safely_and_called_back(make: MakeDispatcher) -> None:
    """Dotted and slashed names get safe, distinct names; a call under one reaches the server
    under its own, and every provider's SDK takes the definitions."""
    dispatcher = make(WILD)
    names = {t.name for t in dispatcher.tools()}
    assert {"calendar_listEvents", "drive_search", "media", "book", "issues_list"} <= names
    (dotted,) = [n for n in names if n.startswith("calendar_listEvents_")]
    assert len(names) == 6  # nothing dropped
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


@pytest.mark.slow
def test_odata_parameters_are_renamed_per_provider_and_reach_the_server_as_its_own(
    make: MakeDispatcher,
) -> None:
    """A server's $top, filter[status] and nested @odata.type: Anthropic's and Gemini's
    definitions hold only keys their rules take, OpenAI's keep the server's; a model's call
    with the renamed keys, read from the SDK's own Message, reaches the server under its
    names, and the result matches the server's outputSchema (aliases included)."""
    dispatcher = make(WILD)
    (anthropic,) = [
        d for d in dispatcher.tool_definitions("anthropic") if d["name"] == "issues_list"
    ]
    sdk_validate(ToolParam, anthropic)
    keys = schema_keys(anthropic["input_schema"])
    assert all(re.fullmatch(r"[a-zA-Z0-9_.-]{1,64}", k) for k in keys), keys
    assert {"top", "filter_status", "odata_type", "field_name"} <= keys
    (gemini,) = [d for d in dispatcher.tool_definitions("gemini") if d["name"] == "issues_list"]
    genai_types.FunctionDeclaration.model_validate(gemini)
    assert all(
        re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", k)
        for k in schema_keys(gemini["parametersJsonSchema"])
    )
    (openai,) = [
        d for d in dispatcher.tool_definitions("openai-responses") if d["name"] == "issues_list"
    ]
    sdk_validate(FunctionToolParam, openai)
    assert {"$top", "filter[status]", "@odata.type"} <= schema_keys(openai["parameters"])

    arguments = {
        "top": 2,
        "filter_status": "closed",
        "where": {"odata_type": "#bug", "field_name": "title"},
    }
    response = Message.model_validate(
        build_response("anthropic", [("issues_list", json.dumps(arguments))])
    )
    items = asyncio.run(dispatcher.process_response(response))
    for item in items:
        sdk_validate(MessageParam, item)
    block = items[-1]["content"][0]
    assert "is_error" not in block, block
    value = json.loads(block["content"])
    assert value == {
        "result": [
            {"issueId": 1, "@odata.type": "#bug", "status": "closed"},
            {"issueId": 2, "@odata.type": "#bug", "status": "closed"},
        ]
    }
    (tool,) = [t for t in dispatcher.tools() if t.name == "issues_list"]
    assert tool.output_schema is not None
    assert tool.output_schema["$defs"]["Issue"]["required"] == ["issueId", "@odata.type", "status"]
    jsonschema.validate(value, tool.output_schema)
    # Out of the server's bounds: refused before the server is asked, naming the bound.
    refused = dispatcher.dispatch_sync("issues_list", {"top": 99})
    assert refused.error is not None and refused.error.kind == "invalid_arguments"
    assert "$top" in refused.error.message and "50" in refused.error.message


@pytest.mark.slow
def test_toolwire_tools_shows_both_names_of_a_renamed_tool(tmp_path: Path) -> None:
    """The table `toolwire tools` prints names a renamed tool by its local name and the
    server's own; a tool keeping its name is shown once."""
    config = tmp_path / "toolwire.toml"
    config.write_text('[plugins]\nautoload = false\nenable = ["mcp"]\n' + WILD)
    done = run_toolwire("--config", str(config), "tools", env=process_environment())
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(re.match(r"drive_search \(drive/search\)\s", line) for line in lines), lines
    assert any(re.match(r"issues_list \(issues\.list\)\s", line) for line in lines), lines
    assert any(re.match(r"calendar_listEvents_[0-9a-f]{6} \(calendar\.listEvents\)", line)
               for line in lines), lines  # fmt: skip
    assert any(re.match(r"calendar_listEvents\s", line) for line in lines), lines
