"""Programmatic calls on each provider's wire, checked against the SDKs' own types: the
definitions with ``allowed_callers`` and the tool that runs code; a response that searches,
calls a found deferred tool, then a tool from a program; every item round-trips."""

from __future__ import annotations

import json
from typing import Any

import anthropic.types as anthropic_types
import openai.types.chat as chat_types
import openai.types.responses as responses_types
import toolwire
from google.genai import types as gemini_types
from toolwire.testing import build_response

from ..conftest import MakeDispatcher
from ..sdk_checks import sdk_validate


def _packs(ran: list[str]) -> list[toolwire.Toolset]:
    crm = toolwire.Toolset("crm", "Customer records.")

    @crm.tool(allowed_callers=["direct", "program"])
    def get_customer(customer_id: str) -> dict[str, str]:
        """Get one customer record by its id."""
        ran.append(f"get {customer_id}")
        return {"id": customer_id, "name": "Ada"}

    @crm.tool(allowed_callers=["program"], roles=["analyst"])
    def sum_orders(customer_id: str) -> int:
        """Sum a customer's orders."""
        ran.append(f"sum {customer_id}")
        return 42

    files = toolwire.Toolset("files", "Files on the local disk.")

    @files.tool(defer_loading=True)
    def read_file(path: str) -> str:
        """Read a text file from the local disk."""
        ran.append(f"read {path}")
        return f"the text of {path}"

    return [crm, files]


def test_openai_definitions_name_the_programmatic_callers(make: MakeDispatcher) -> None:
    """A tool a program may call is sent with allowed_callers and its output schema, beside
    the programmatic_tool_calling tool; a role that may call no such tool gets no such tool."""
    dispatcher = make(*_packs([]))
    tools = dispatcher.tool_definitions("openai-responses", role="analyst")
    for tool in tools:
        sdk_validate(responses_types.ToolParam, tool)
    by_name = {t.get("name"): t for t in tools}
    assert by_name["get_customer"]["allowed_callers"] == ["direct", "programmatic"]
    assert by_name["get_customer"]["output_schema"]["type"] == "object"
    assert by_name["sum_orders"]["allowed_callers"] == ["programmatic"]
    assert by_name["sum_orders"]["output_schema"] == {"type": "integer"}
    assert tools[-1] == {"type": "programmatic_tool_calling"}
    assert [t["type"] for t in tools].count("programmatic_tool_calling") == 1
    plain = make(_packs([])[1])  # no tool a program may call: nothing new is sent
    assert "programmatic_tool_calling" not in json.dumps(plain.tool_definitions("openai-responses"))


def test_anthropic_definitions_name_the_code_execution_version(make: MakeDispatcher) -> None:
    """A tool a program may call is sent with allowed_callers naming the code execution tool
    version, and that tool is added once, as the SDK's ToolUnionParam takes them."""
    tools = make(*_packs([])).tool_definitions("anthropic", role="analyst")
    for tool in tools:
        sdk_validate(anthropic_types.ToolUnionParam, tool)
    by_name = {t.get("name"): t for t in tools}
    assert by_name["get_customer"]["allowed_callers"] == ["direct", "code_execution_20260120"]
    assert by_name["sum_orders"]["allowed_callers"] == ["code_execution_20260120"]
    assert "output_schema" not in by_name["get_customer"]  # the API's tool has no such field
    assert by_name["code_execution"] == {
        "type": "code_execution_20260120",
        "name": "code_execution",
    }


def test_gemini_and_chat_never_get_a_tool_only_a_program_may_call(make: MakeDispatcher) -> None:
    """Without programmatic calls a program-only tool is left out; the others are as before."""
    dispatcher = make(*_packs([]))
    declarations = dispatcher.tool_definitions("gemini", role="analyst")
    for declaration in declarations:
        gemini_types.FunctionDeclaration.model_validate(declaration)
    assert [d["name"] for d in declarations] == ["get_customer", "search_tools"]
    chat = dispatcher.tool_definitions("openai-chat", role="analyst")
    for tool in chat:
        sdk_validate(chat_types.ChatCompletionToolUnionParam, tool)
    assert [t["function"]["name"] for t in chat] == ["get_customer", "search_tools"]
    assert "allowed_callers" not in json.dumps(chat)


def _responses_round(dispatcher: toolwire.Dispatcher, role: str | None) -> list[Any]:
    """A response that searches, calls the deferred tool found, then runs a program calling
    two tools."""
    data = build_response(
        "openai-responses",
        [
            ("read_file", '{"path": "a.txt"}'),
            ("get_customer", '{"customer_id": "c1"}'),
            ("sum_orders", '{"customer_id": "c1"}'),
        ],
    )
    read, get, total = data["output"]
    read["namespace"] = "files"
    get["caller"] = total["caller"] = {"type": "program", "caller_id": "call_prog"}
    program = {
        "type": "program",
        "id": "prog_1",
        "call_id": "call_prog",
        "code": "const c = await tools.get_customer({customer_id: 'c1'});",
        "fingerprint": "fp_opaque_1",
    }
    search = {
        "type": "tool_search_call",
        "id": "ts_1",
        "call_id": "call_ts",
        "execution": "client",
        "status": "completed",
        "arguments": {"query": "read a text file"},
    }
    data["output"] = [search, read, program, get, total]
    sdk_response = responses_types.Response.model_validate(data)
    return dispatcher.process_response_sync(sdk_response, role=role)


def test_openai_round_trip_search_deferred_call_and_program(make: MakeDispatcher) -> None:
    """The program item goes back untouched; its calls run, their outputs name the program as
    caller; every item is one the SDK takes back; the program's output then round-trips."""
    ran: list[str] = []
    dispatcher = make(*_packs(ran))
    items = _responses_round(dispatcher, "analyst")
    for item in items:
        sdk_validate(responses_types.ResponseInputItemParam, item)
    assert [i["type"] for i in items] == [
        "tool_search_call",
        "function_call",
        "program",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
        "function_call_output",
        "tool_search_output",
    ]
    assert items[2] == {
        "type": "program",
        "id": "prog_1",
        "call_id": "call_prog",
        "code": "const c = await tools.get_customer({customer_id: 'c1'});",
        "fingerprint": "fp_opaque_1",
    }
    outputs = [i for i in items if i["type"] == "function_call_output"]
    assert "caller" not in outputs[0]
    assert (
        outputs[1]["caller"]
        == outputs[2]["caller"]
        == {
            "type": "program",
            "caller_id": "call_prog",
        }
    )
    assert ran == ["read a.txt", "get c1", "sum c1"]
    done = build_response("openai-responses", [])
    done["output"] = [
        {
            "type": "program_output",
            "id": "po_1",
            "call_id": "call_prog",
            "result": '{"total": 42}',
            "status": "completed",
        }
    ]
    after = dispatcher.process_response_sync(responses_types.Response.model_validate(done))
    assert after == done["output"]


def test_openai_round_trip_a_role_without_the_tool_is_denied(make: MakeDispatcher) -> None:
    """A program's call of a tool the role may not call is permission_denied, never run."""
    ran: list[str] = []
    items = _responses_round(make(*_packs(ran)), None)
    outputs = [i["output"] for i in items if i["type"] == "function_call_output"]
    assert "permission_denied" in outputs[2]
    assert ran == ["read a.txt", "get c1"]


def test_anthropic_round_trip_search_deferred_call_and_program(make: MakeDispatcher) -> None:
    """A message with the code execution server block and tool_use blocks a program made
    (caller code_execution_20260120) round-trips untouched; the calls run; a direct call of a
    program-only tool is denied."""
    ran: list[str] = []
    dispatcher = make(*_packs(ran))
    data = build_response(
        "anthropic",
        [
            ("search_tools", {"query": "read a text file"}),
            ("read_file", {"path": "a.txt"}),
            ("get_customer", {"customer_id": "c1"}),
            ("sum_orders", {"customer_id": "c1"}),
            ("sum_orders", {"customer_id": "c2"}),
        ],
    )
    uses = [b for b in data["content"] if b["type"] == "tool_use"]
    caller = {"type": "code_execution_20260120", "tool_id": "srvtoolu_1"}
    uses[2]["caller"] = uses[3]["caller"] = caller
    uses[4]["caller"] = {"type": "direct"}
    server = {
        "type": "server_tool_use",
        "id": "srvtoolu_1",
        "name": "code_execution",
        "input": {"code": "total = await sum_orders(customer_id='c1')"},
    }
    data["content"].insert(data["content"].index(uses[2]), server)
    message = anthropic_types.Message.model_validate(data)
    items = dispatcher.process_response_sync(message, role="analyst")
    for item in items:
        sdk_validate(anthropic_types.MessageParam, item)
    assistant, results = items
    assert assistant["content"] == data["content"]
    blocks = results["content"]
    assert [b["tool_use_id"] for b in blocks] == [u["id"] for u in uses]
    assert blocks[0]["content"] == [{"type": "tool_reference", "tool_name": "read_file"}]
    assert blocks[4]["is_error"] is True and "may not be called by 'direct'" in blocks[4]["content"]
    assert ran == ["read a.txt", "get c1", "sum c1"]
