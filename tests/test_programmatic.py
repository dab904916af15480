"""Programmatic calls: ``allowed_callers``, each call's caller, and its checks (permission
hooks, approvals, the call log), with calls as the providers' responses carry them."""

from __future__ import annotations

from typing import Any

import pytest
import toolwire
from toolwire.testing import build_response

from .conftest import MakeDispatcher

PROGRAM_OPENAI = {"type": "program", "caller_id": "call_prog_1"}
PROGRAM_ANTHROPIC = {"type": "code_execution_20260120", "tool_id": "srvtoolu_1"}


def _pack(ran: list[str]) -> toolwire.Toolset:
    pack = toolwire.Toolset("crm", "Customer records.")

    @pack.tool(allowed_callers=["direct", "program"])
    def get_customer(customer_id: str) -> dict[str, str]:
        """Get one customer record by its id."""
        ran.append(customer_id)
        return {"id": customer_id, "name": "Ada"}

    @pack.tool
    def delete_customer(customer_id: str) -> str:
        """Delete one customer record."""
        ran.append(f"deleted {customer_id}")
        return "deleted"

    @pack.tool(allowed_callers=["program"])
    def sum_orders(customer_id: str) -> int:
        """Sum a customer's orders (for code only)."""
        ran.append(f"sum {customer_id}")
        return 42

    return pack


def _openai(calls: list[tuple[str, str, dict[str, Any] | None]]) -> dict[str, Any]:
    """A Responses API response whose function calls carry the given callers."""
    data = build_response("openai-responses", [(name, args) for name, args, _ in calls])
    for item, (_, _, caller) in zip(data["output"], calls, strict=True):
        if caller is not None:
            item["caller"] = caller
    return data


def _anthropic(calls: list[tuple[str, dict[str, Any], dict[str, Any] | None]]) -> dict[str, Any]:
    data = build_response("anthropic", [(name, args) for name, args, _ in calls])
    uses = [b for b in data["content"] if b["type"] == "tool_use"]
    for block, (_, _, caller) in zip(uses, calls, strict=True):
        if caller is not None:
            block["caller"] = caller
    return data


def _outputs(items: list[Any]) -> list[str]:
    """The text of each result, in call order (Responses outputs, or Anthropic's results)."""
    if items and items[0].get("role") == "assistant":
        return [block["content"] for block in items[-1]["content"]]
    return [i["output"] for i in items if i["type"] == "function_call_output"]


def test_program_is_accepted_and_unknown_callers_still_stop_the_start() -> None:
    """``allowed_callers`` takes "direct" and "program", in code and config; anything else
    stops the start (fail closed)."""
    dispatcher = toolwire.Dispatcher().add(_pack([]))
    assert dispatcher.policy("get_customer").allowed_callers == ("direct", "program")
    assert dispatcher.policy("sum_orders").allowed_callers == ("program",)
    dispatcher.close()
    config = {"tools": {"t": {"allowed_callers": ["program"]}}}
    assert toolwire.Dispatcher(config).config.tool_settings("t") == {"allowed_callers": ["program"]}
    with pytest.raises(toolwire.ConfigError, match="allowed_callers"):
        toolwire.tool(allowed_callers=["direct", "agent"])(lambda: None)
    with pytest.raises(toolwire.ConfigError, match="allowed_callers"):
        toolwire.Dispatcher({"tools": {"t": {"allowed_callers": ["programmatic"]}}})


@pytest.mark.parametrize(
    ("provider", "caller"), [("openai-responses", PROGRAM_OPENAI), ("anthropic", PROGRAM_ANTHROPIC)]
)
def test_a_program_may_call_only_the_tools_that_allow_it(
    make: MakeDispatcher, provider: str, caller: dict[str, Any]
) -> None:
    """A program's call of a tool that allows "program" runs; of a tool that does not, it is
    permission_denied and the function never runs; a direct call of a program-only tool too."""
    ran: list[str] = []
    dispatcher = make(_pack(ran))
    if provider == "anthropic":
        response = _anthropic(
            [
                ("get_customer", {"customer_id": "c1"}, caller),
                ("delete_customer", {"customer_id": "c1"}, caller),
                ("sum_orders", {"customer_id": "c1"}, {"type": "direct"}),
            ]
        )
    else:
        response = _openai(
            [
                ("get_customer", '{"customer_id": "c1"}', caller),
                ("delete_customer", '{"customer_id": "c1"}', caller),
                ("sum_orders", '{"customer_id": "c1"}', {"type": "direct"}),
            ]
        )
    outputs = _outputs(dispatcher.process_response_sync(response))
    assert ran == ["c1"]
    assert '"name":"Ada"' in outputs[0]
    assert "permission_denied" in outputs[1] and "permission_denied" in outputs[2]
    assert "delete_customer may not be called by 'program'" in outputs[1]
    assert "sum_orders may not be called by 'direct'" in outputs[2]


def test_an_unknown_caller_is_allowed_by_no_tool(make: MakeDispatcher) -> None:
    """A caller type toolwire does not know (a new one, or junk) is denied, never taken for
    the model itself."""
    ran: list[str] = []
    dispatcher = make(_pack(ran))
    for caller in ({"type": "agent"}, "program", {"caller_id": "x"}):
        response = _openai([("get_customer", '{"customer_id": "c1"}', caller)])  # type: ignore[list-item]
        (output,) = _outputs(dispatcher.process_response_sync(response))
        assert "may not be called by 'unknown'" in output
    assert ran == []


def test_permission_hooks_see_the_caller(make: MakeDispatcher) -> None:
    """``CallContext.caller`` is "program" for a program's call, "direct" for one the API marks
    direct, ``None`` where the API says nothing; permission hooks see it and may decide by it."""
    seen: list[tuple[str, str | None]] = []

    class ByCaller:
        @toolwire.hookimpl
        def toolwire_check_permission(
            self, call: toolwire.ToolCall, context: toolwire.CallContext
        ) -> Any:
            seen.append((call.name, context.caller))
            if context.caller == "program" and call.name == "get_customer":
                return toolwire.Deny("no customer reads from code today")
            return None

    ran: list[str] = []
    dispatcher = make(_pack(ran), ByCaller())
    response = _openai(
        [
            ("get_customer", '{"customer_id": "c1"}', PROGRAM_OPENAI),
            ("get_customer", '{"customer_id": "c2"}', {"type": "direct"}),
            ("get_customer", '{"customer_id": "c3"}', None),
        ]
    )
    outputs = _outputs(dispatcher.process_response_sync(response))
    assert sorted(seen, key=str) == sorted(
        [("get_customer", "program"), ("get_customer", "direct"), ("get_customer", None)], key=str
    )
    assert "no customer reads from code today" in outputs[0]
    assert ran == ["c2", "c3"]


def test_an_approval_records_the_caller_and_the_approved_call_keeps_it(
    make: MakeDispatcher,
) -> None:
    """A program's call that waits for a person is recorded with caller "program"; the call
    that runs once approved still carries it (a hook sees it again)."""
    seen: list[str | None] = []

    class Watch:
        @toolwire.hookimpl
        def toolwire_before_call(
            self, call: toolwire.ToolCall, context: toolwire.CallContext
        ) -> None:
            seen.append(context.caller)

    ran: list[str] = []
    dispatcher = make(
        _pack(ran),
        Watch(),
        config={
            "tools": {"get_customer": {"approval": True}},
            "approvals": {"store": "memory://", "mode": "hold"},
        },
    )
    held = dispatcher.process_response_sync(
        _openai([("get_customer", '{"customer_id": "c1"}', PROGRAM_OPENAI)])
    )
    (approval,) = held.pending  # type: ignore[attr-defined]
    assert approval.caller == "program"
    assert approval.to_dict()["caller"] == "program"
    dispatcher.approve_sync(approval.id, by="alice")
    items = dispatcher.resume_sync(held.turn_id)  # type: ignore[attr-defined]
    assert ran == ["c1"] and seen == ["program"]
    assert items[-1]["caller"] == PROGRAM_OPENAI  # the output names the program, as the call did
