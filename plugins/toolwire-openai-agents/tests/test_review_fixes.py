"""A held call's decision is made once, on either side, and runs only the arguments approved."""

from __future__ import annotations

import json
from typing import Any

import toolwire
from agents import Runner, RunState
from agents.testing import ScriptedModel, assistant_message, function_call
from toolwire_openai_agents import function_tools

from .conftest import CallLog, agent_with, tool_outputs


def delete_script(user_id: int) -> ScriptedModel:
    """A model that deletes one user, then says it is done."""
    call = function_call("delete_user", {"user_id": user_id, "reason": None}, call_id="d1")
    return ScriptedModel([[call], [assistant_message("done")]])


async def held_delete(
    dispatcher: toolwire.Dispatcher, user_id: int
) -> tuple[ScriptedModel, Any, RunState[Any], toolwire.Approval]:
    """A run that deletes a user, interrupted for approval: its model, agent, state and the
    pending record toolwire holds."""
    model = delete_script(user_id)
    agent = agent_with(model, function_tools(dispatcher))
    result = await Runner.run(agent, f"Delete user {user_id}")
    (record,) = await dispatcher.approvals("pending")
    return model, agent, result.to_state(), record


def edited(saved: str, old: str, new: str) -> str:
    """A saved RunState whose held call's arguments say ``new`` where they said ``old``, with
    the SDK's record of its invocations dropped (so the SDK itself cannot tell)."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: ({} if k == "tool_invocations" else walk(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str) and old in node:
            return node.replace(old, new)
        return node

    return json.dumps(walk(json.loads(saved)))


async def test_an_approval_of_other_arguments_runs_nothing(
    dispatcher: toolwire.Dispatcher, log: CallLog
) -> None:
    """A RunState edited to hold other arguments, then approved, runs nothing: the model reads an error."""
    model = delete_script(2)
    agent = agent_with(model, function_tools(dispatcher))
    result = await Runner.run(agent, "Delete user 2")
    saved = result.to_state().to_string()
    state = await RunState.from_string(agent, edited(saved, '"user_id":2', '"user_id":99'))
    (item,) = state.get_interruptions()
    assert json.loads(item.arguments or "{}")["user_id"] == 99
    state.approve(item)

    await Runner.run(agent, state)

    assert log.runs_of("delete_user") == []
    told = tool_outputs(model)["d1"]
    assert told["error"] == "approval_denied"
    assert "not the ones toolwire holds" in told["message"]
    (record,) = await dispatcher.approvals()
    assert (record.status, json.loads(record.arguments)["user_id"]) == ("pending", 2)


async def test_an_approval_in_toolwire_beats_a_later_rejection_in_the_sdk(
    dispatcher: toolwire.Dispatcher, log: CallLog
) -> None:
    """A call approved (and run) in toolwire first gives the model its result, not the SDK's rejection."""
    model, agent, state, record = await held_delete(dispatcher, 4)
    await dispatcher.approve(record.id, by="grace")
    (item,) = state.get_interruptions()
    state.reject(item, rejection_message="no")

    await Runner.run(agent, state)

    assert tool_outputs(model)["d1"] == "deleted user 4"
    assert log.runs_of("delete_user") == [{"user_id": 4, "reason": None}]
    (after,) = await dispatcher.approvals()
    assert (after.status, after.decided_by) == ("executed", "grace")


async def test_a_rejection_in_toolwire_beats_a_later_approval_in_the_sdk(
    dispatcher: toolwire.Dispatcher, log: CallLog
) -> None:
    """A call rejected in toolwire first gives the model approval_denied though the SDK approved it."""
    model, agent, state, record = await held_delete(dispatcher, 5)
    await dispatcher.reject(record.id, by="grace", message="nope")
    (item,) = state.get_interruptions()
    state.approve(item)

    await Runner.run(agent, state)

    assert tool_outputs(model)["d1"]["error"] == "approval_denied"
    assert log.runs_of("delete_user") == []
