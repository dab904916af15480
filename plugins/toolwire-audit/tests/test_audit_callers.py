"""The audit trail records who made a call (a program's call) and the search calls toolwire
answers, as calls like the others."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import toolwire
from toolwire.testing import build_response
from toolwire_fixtures import crm

MakeDispatcher = Callable[..., toolwire.Dispatcher]
Read = Callable[..., list[dict[str, Any]]]


def test_records_name_the_caller_and_the_search(
    make: MakeDispatcher, read: Read, trail_path: Path
) -> None:
    """A program's call is recorded with caller "program", a denied one too; a direct call of
    a response that names no caller has no caller field; a search call has its own record."""
    dispatcher = make(crm.pack)
    response = build_response(
        "openai-responses",
        [
            ("get_customer", '{"customer_id": "c1"}'),
            ("read_file", '{"path": "a"}'),
            ("get_customer", '{"customer_id": "c2"}'),
        ],
    )
    response["output"][0]["caller"] = {"type": "program", "caller_id": "call_p"}
    response["output"][1]["caller"] = {"type": "program", "caller_id": "call_p"}
    dispatcher.process_response_sync(response)
    searched = build_response("gemini", [("search_tools", {"query": "read a file"})])
    dispatcher.process_response_sync(searched)
    dispatcher.close()
    records = [r for r in read(trail_path) if r["event"] == "call"]
    by_id = {r["call_id"]: r for r in records if r["tool"] != "search_tools"}
    assert by_id["call_1"]["caller"] == "program" and by_id["call_1"]["outcome"] == "ok"
    assert by_id["call_2"]["caller"] == "program"
    assert by_id["call_2"]["error_kind"] == "permission_denied"
    assert "caller" not in by_id["call_3"]
    (search,) = [r for r in records if r["tool"] == "search_tools"]
    assert search["outcome"] == "ok"
