"""toolwire's approvals as the SDK's human in the loop: an interruption per held call, and one
decision, made on either side, deciding both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import toolwire
from agents import RunContextWrapper, Runner, RunResult, RunState
from agents.testing import ScriptedModel, assistant_message, function_call
from agents.tool_context import ToolContext
from toolwire_openai_agents import (
    DECIDED_BY,
    _bridge,
    apply_decisions,
    approval_for,
    function_tools,
)

from .conftest import CallLog, MakeDispatcher, agent_with, one_call_then, tool_outputs


def delete_script(*user_ids: int) -> ScriptedModel:
    """A model that deletes users (one call each, in one response), then says it is done."""
    calls = [
        function_call("delete_user", {"user_id": uid, "reason": None}, call_id=f"d{uid}")
        for uid in user_ids
    ]
    return ScriptedModel([calls, [assistant_message("done")]])


async def interrupted(dispatcher: toolwire.Dispatcher, model: ScriptedModel) -> RunResult:
    result = await Runner.run(agent_with(model, function_tools(dispatcher)), "Delete them")
    assert result.interruptions
    return result


async def test_a_gated_call_interrupts_the_run_with_toolwires_record(
    dispatcher: toolwire.Dispatcher, log: CallLog
) -> None:
    """A call toolwire's policy gates stops the run as an interruption; the tool has not run."""
    result = await interrupted(dispatcher, delete_script(2))

    (item,) = result.interruptions
    assert (item.tool_name, item.call_id) == ("delete_user", "d2")
    record = await approval_for(dispatcher, item)
    assert record is not None
    assert (record.status, record.tool, record.call_id) == ("pending", "delete_user", "d2")
    assert record.arguments == '{"reason":null,"user_id":2}'
    assert log.runs_of("delete_user") == []


async def test_an_approval_in_the_sdk_runs_the_stored_call_once(
    dispatcher: toolwire.Dispatcher, log: CallLog
) -> None:
    """RunState.approve runs exactly toolwire's stored arguments once and decides its record."""
    model = delete_script(2)
    result = await interrupted(dispatcher, model)
    state = result.to_state()
    state.approve(result.interruptions[0])

    resumed = await Runner.run(agent_with(model, function_tools(dispatcher)), state)

    assert resumed.final_output == "done"
    assert tool_outputs(model)["d2"] == "deleted user 2"
    assert log.runs_of("delete_user") == [{"user_id": 2, "reason": None}]
    (record,) = await dispatcher.approvals()
    assert (record.status, record.decided_by) == ("executed", DECIDED_BY)
    again = await dispatcher.approve(record.id, by="grace")  # decided once: nothing runs again
    assert again.output == "deleted user 2"
    assert len(log.runs_of("delete_user")) == 1


async def test_a_rejection_in_the_sdk_rejects_toolwires_record(
    dispatcher: toolwire.Dispatcher, log: CallLog
) -> None:
    """RunState.reject answers the model and rejects the record, so it can never run later."""
    model = delete_script(2, 3)
    result = await interrupted(dispatcher, model)
    state = result.to_state()
    first, second = result.interruptions
    state.approve(first)
    state.reject(second, rejection_message="user 3 has open orders")

    await Runner.run(agent_with(model, function_tools(dispatcher)), state)

    assert tool_outputs(model) == {"d2": "deleted user 2", "d3": "user 3 has open orders"}
    records = {r.call_id: r for r in await dispatcher.approvals()}
    assert records["d3"].status == "rejected"
    assert (records["d3"].decided_by, records["d3"].message) == (
        DECIDED_BY,
        "user 3 has open orders",
    )
    late = await dispatcher.approve(records["d3"].id, by="grace")
    assert late.error is not None and late.error.kind == "approval_denied"
    assert log.runs_of("delete_user") == [{"user_id": 2, "reason": None}]


async def test_decisions_carry_over_to_a_run_resumed_in_another_process(
    make: MakeDispatcher, log: CallLog, tmp_path: Path
) -> None:
    """A run interrupted in one host and resumed in another (one store) decides the same records."""
    config = {"approvals": {"store": f"sqlite:///{tmp_path / 'approvals.sqlite3'}"}}
    here, there = make(config=config), make(config=config)
    model = delete_script(2, 3)
    result = await interrupted(here, model)
    saved = result.to_state().to_string()

    # Another host: its own dispatcher and tools, the run state from its JSON.
    agent = agent_with(model, function_tools(there))
    state: RunState[Any, Any] = await RunState.from_string(agent, saved)
    first, second = state.get_interruptions()
    state.approve(first)
    state.reject(second)
    await Runner.run(agent, state)

    assert tool_outputs(model)["d2"] == "deleted user 2"
    records = {r.call_id: r for r in await there.approvals()}
    assert (records["d2"].status, records["d3"].status) == ("executed", "rejected")
    assert log.runs_of("delete_user") == [{"user_id": 2, "reason": None}]


async def test_a_decision_in_toolwire_decides_the_interruption(
    dispatcher: toolwire.Dispatcher, log: CallLog
) -> None:
    """Approved and rejected in toolwire, the calls resume as decided; the approved one ran once."""
    model = delete_script(2, 3)
    result = await interrupted(dispatcher, model)
    first, second = result.interruptions
    approved, rejected = (
        await approval_for(dispatcher, first),
        await approval_for(dispatcher, second),
    )
    assert approved is not None and rejected is not None
    await dispatcher.approve(approved.id, by="grace")  # runs it now, as toolwire's approve does
    await dispatcher.reject(rejected.id, by="grace", message="user 3 has open orders")

    state = result.to_state()
    assert await apply_decisions(dispatcher, state) == []
    await Runner.run(agent_with(model, function_tools(dispatcher)), state)

    outputs = tool_outputs(model)
    assert outputs["d2"] == "deleted user 2"
    assert outputs["d3"]["error"] == "approval_denied"
    assert "user 3 has open orders" in outputs["d3"]["message"]
    assert log.runs_of("delete_user") == [{"user_id": 2, "reason": None}]
    assert {r.decided_by for r in await dispatcher.approvals()} == {"grace"}


async def test_undecided_interruptions_stay_pending(dispatcher: toolwire.Dispatcher) -> None:
    """apply_decisions leaves what nobody decided yet, and returns it."""
    result = await interrupted(dispatcher, delete_script(2))
    state = result.to_state()

    waiting = await apply_decisions(dispatcher, state)

    assert [item.call_id for item in waiting] == ["d2"]
    (record,) = await dispatcher.approvals()
    assert record.status == "pending"


async def test_a_gated_call_with_invalid_arguments_is_answered_not_held(
    dispatcher: toolwire.Dispatcher, log: CallLog
) -> None:
    """A gated call toolwire refuses before any approval is answered once, without interrupting."""
    model = one_call_then("delete_user", {"user": 2}, call_id="d1", then="wrong arguments")
    result = await Runner.run(agent_with(model, function_tools(dispatcher)), "Delete 2")

    assert not result.interruptions
    assert tool_outputs(model)["d1"]["error"] == "invalid_arguments"
    assert await dispatcher.approvals() == []
    assert len(log.finished) == 1  # dispatched once, while the SDK asked


async def test_a_deny_wins_over_the_approval(make: MakeDispatcher, log: CallLog) -> None:
    """A permission hook that denies a gated call answers the model; nobody is asked."""

    class NoDeletes:
        @toolwire.hookimpl
        def toolwire_check_permission(self, call: Any, context: Any) -> Any:
            return toolwire.Deny("deletes are frozen") if call.name == "delete_user" else None

    model = delete_script(2)
    result = await Runner.run(agent_with(model, function_tools(make(NoDeletes()))), "Delete 2")

    assert not result.interruptions
    denied = tool_outputs(model)["d2"]
    assert (denied["error"], denied["message"]) == ("permission_denied", "deletes are frozen")
    assert log.runs_of("delete_user") == []


async def test_an_approval_a_hook_asks_for_is_answered(make: MakeDispatcher, log: CallLog) -> None:
    """A hook's RequireApproval on a tool whose policy does not gate it is read by the model,
    with the approval id; the call stays held in toolwire."""

    class BigWeather:
        @toolwire.hookimpl
        def toolwire_check_permission(self, call: Any, context: Any) -> Any:
            if call.name == "get_weather" and call.arguments["city"] == "Oslo":
                return toolwire.RequireApproval("Oslo needs a person")
            return None

    dispatcher = make(BigWeather())
    model = one_call_then(
        "get_weather", {"city": "Oslo"}, call_id="w1", then="waiting for a person"
    )
    result = await Runner.run(agent_with(model, function_tools(dispatcher)), "Oslo?")

    held = tool_outputs(model)["w1"]
    assert held["error"] == "approval_required"
    (record,) = await dispatcher.approvals("pending")
    assert held["details"]["approval_id"] == record.id
    assert not result.interruptions
    assert log.runs_of("get_weather") == []


async def test_approval_for_knows_only_toolwires_interruptions(
    dispatcher: toolwire.Dispatcher, make: MakeDispatcher
) -> None:
    """An interruption toolwire holds no record of has no approval."""
    result = await interrupted(dispatcher, delete_script(2))
    (item,) = result.interruptions

    assert await approval_for(make(), item) is None  # another store: no such record


async def test_always_approve_in_the_sdk_does_not_lift_toolwires_approvals(
    dispatcher: toolwire.Dispatcher, log: CallLog
) -> None:
    """After always_approve, a later call of the tool is held by toolwire and answered so."""
    model = ScriptedModel(
        [
            [function_call("delete_user", {"user_id": 2, "reason": None}, call_id="d2")],
            [function_call("delete_user", {"user_id": 5, "reason": None}, call_id="d5")],
            [assistant_message("waiting for a person")],
        ]
    )
    agent = agent_with(model, function_tools(dispatcher))
    result = await Runner.run(agent, "Delete 2, then 5")
    state = result.to_state()
    state.approve(result.interruptions[0], always_approve=True)

    resumed = await Runner.run(agent, state)

    assert not resumed.interruptions  # the SDK did not ask about the second call
    assert tool_outputs(model)["d5"]["error"] == "approval_required"
    assert log.runs_of("delete_user") == [{"user_id": 2, "reason": None}]
    assert [r.call_id for r in await dispatcher.approvals("pending")] == ["d5"]


async def test_a_record_several_runs_share_is_never_guessed(
    dispatcher: toolwire.Dispatcher, log: CallLog
) -> None:
    """Two held calls with one tool, call id and arguments: neither is taken for the other."""
    first = await interrupted(dispatcher, delete_script(2))
    await interrupted(dispatcher, delete_script(2))  # a model that reuses its call ids
    (item,) = first.interruptions

    assert await approval_for(dispatcher, item) is None
    # Resumed by tools that did not hold it (as in another process): the store alone can tell.
    agent = agent_with(delete_script(2), function_tools(dispatcher))
    state: RunState[Any, Any] = await RunState.from_string(agent, first.to_state().to_string())
    state.approve(state.get_interruptions()[0])
    await Runner.run(agent, state)

    assert log.runs_of("delete_user") == []
    assert len(await dispatcher.approvals("pending")) == 3  # held again, not guessed


async def test_answers_the_sdk_never_collects_are_let_go(
    dispatcher: toolwire.Dispatcher, log: CallLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answers kept for invocations that never come are bounded: the oldest are let go."""
    monkeypatch.setattr(_bridge, "_ANSWERED_KEPT", 2)
    (tool,) = [t for t in function_tools(dispatcher) if t.name == "delete_user"]
    assert callable(tool.needs_approval)
    run: RunContextWrapper[None] = RunContextWrapper(context=None)
    for n in range(3):  # invalid arguments: answered while the SDK asks, nothing held
        assert await tool.needs_approval(run, {"user": n}, f"x{n}") is False
    assert len(log.finished) == 3

    def invocation(n: int) -> ToolContext[None]:
        arguments = f'{{"user": {n}}}'
        return ToolContext(
            None, tool_name="delete_user", tool_call_id=f"x{n}", tool_arguments=arguments
        )

    await tool.on_invoke_tool(invocation(2), '{"user": 2}')  # kept: answered, not dispatched
    assert len(log.finished) == 3
    await tool.on_invoke_tool(invocation(0), '{"user": 0}')  # let go: dispatched again
    assert len(log.finished) == 4
