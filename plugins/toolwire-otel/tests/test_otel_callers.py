"""Spans carry who made a call (``toolwire.caller``), and search calls toolwire answers get a
span like any call."""

from __future__ import annotations

from collections.abc import Callable

import toolwire
from toolwire.testing import build_response
from toolwire_fixtures import crm

from .conftest import Telemetry

MakeDispatcher = Callable[..., toolwire.Dispatcher]


def test_spans_name_the_caller_and_the_search(make: MakeDispatcher, telemetry: Telemetry) -> None:
    """A program's call has toolwire.caller "program"; a call the response says nothing of
    has none; an answered search_tools call has its own execute_tool span."""
    dispatcher = make(crm.pack)
    response = build_response(
        "anthropic",
        [("get_customer", {"customer_id": "c1"}), ("get_customer", {"customer_id": "c2"})],
    )
    uses = [b for b in response["content"] if b["type"] == "tool_use"]
    uses[0]["caller"] = {"type": "code_execution_20260120", "tool_id": "srvtoolu_1"}
    dispatcher.process_response_sync(response)
    dispatcher.process_response_sync(
        build_response("gemini", [("search_tools", {"query": "read a file"})])
    )
    spans = telemetry.tool_spans()
    callers = [
        s.attributes.get("toolwire.caller") for s in spans if s.name.endswith("get_customer")
    ]
    assert callers == ["program", None]
    assert [s.attributes["gen_ai.tool.name"] for s in spans].count("search_tools") == 1
