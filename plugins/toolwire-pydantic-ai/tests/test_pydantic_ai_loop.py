"""Full agent loops: Pydantic AI runs the loop with its own test models, toolwire every call."""

from __future__ import annotations

import json

import pytest
import toolwire
from pyai_helpers import Accounts, Script
from pydantic_ai import Agent, DeferredToolRequests, ToolDenied
from pydantic_ai.exceptions import UnexpectedModelBehavior
from pydantic_ai.models.test import TestModel
from toolwire_pydantic_ai import ToolwireToolset

VISIBLE = ["delete_user", "get_user", "slow", "whoami"]


def agent_for(script: Script, toolset: ToolwireToolset[None]) -> Agent[None, str]:
    return Agent(script.model, toolsets=[toolset])


async def test_a_call_succeeds_and_the_model_reads_toolwires_output(
    dispatcher: toolwire.Dispatcher, accounts: Accounts
) -> None:
    """The model is offered the role's tools; its call runs once and it reads toolwire's text."""
    script = Script([[("get_user", {"user_id": 1})], "done"])
    result = await agent_for(script, ToolwireToolset(dispatcher)).run("who is user 1?")
    assert result.output == "done"
    assert sorted(script.seen[0].tools) == VISIBLE
    (returned,) = script.seen[1].returns()
    assert returned.content == '{"id":1,"name":"Ada"}' and returned.outcome == "success"
    assert accounts.ran == [("get_user", 1)]


async def test_invalid_arguments_are_a_retry_the_model_then_corrects(
    dispatcher: toolwire.Dispatcher, accounts: Accounts
) -> None:
    """toolwire refuses bad arguments with a retry prompt; the corrected call runs, once."""
    script = Script([[("get_user", {"user_id": "one"})], [("get_user", {"user_id": 1})], "done"])
    result = await agent_for(script, ToolwireToolset(dispatcher)).run("who is user 1?")
    assert result.output == "done"
    (retry,) = script.seen[1].returns()
    assert retry.outcome == "retried"
    assert json.loads(retry.content)["error"] == "invalid_arguments"
    assert "user_id" in json.loads(retry.content)["message"]
    assert script.seen[2].returns()[0].content == '{"id":1,"name":"Ada"}'
    assert accounts.ran == [("get_user", 1)]


async def test_arguments_reach_toolwire_untouched(
    dispatcher: toolwire.Dispatcher, accounts: Accounts
) -> None:
    """An argument the schema does not declare is refused by toolwire, not dropped on the way."""
    script = Script([[("get_user", {"user_id": 1, "admin": True})], "done"])
    await agent_for(script, ToolwireToolset(dispatcher)).run("who is user 1?")
    (retry,) = script.seen[1].returns()
    assert retry.outcome == "retried" and "admin" in retry.content
    assert accounts.ran == []


async def test_the_retry_budget_is_pydantic_ais(dispatcher: toolwire.Dispatcher) -> None:
    """Retries count against the toolset's max_retries; past it Pydantic AI ends the run."""
    bad = [("get_user", {"user_id": "one"})]
    ok = Script([bad, bad, [("get_user", {"user_id": 1})], "done"])
    assert (await agent_for(ok, ToolwireToolset(dispatcher, max_retries=2)).run("go")).output
    spent = Script([bad, bad, bad, "done"])
    with pytest.raises(UnexpectedModelBehavior, match="exceeded max retries"):
        await agent_for(spent, ToolwireToolset(dispatcher, max_retries=2)).run("go")


async def test_a_role_sees_and_calls_only_its_tools(
    dispatcher: toolwire.Dispatcher, accounts: Accounts
) -> None:
    """A tool the role may not call is not offered; calling it anyway never runs it."""
    script = Script([[("audit", {})], "done"])
    await agent_for(script, ToolwireToolset(dispatcher, role="user")).run("show the trail")
    assert "audit" not in script.seen[0].tools
    (refused,) = script.seen[1].returns()
    assert refused.outcome == "retried" and "audit" in refused.content
    assert accounts.ran == []

    admin = Script([[("audit", {})], "done"])
    await agent_for(admin, ToolwireToolset(dispatcher, role="admin")).run("show the trail")
    assert "audit" in admin.seen[0].tools
    assert admin.seen[1].returns()[0].content == "trail"
    assert accounts.ran == [("audit", None)]


async def test_an_approval_approved_in_pydantic_ai_runs_the_stored_call_once(
    dispatcher: toolwire.Dispatcher, accounts: Accounts
) -> None:
    """The run ends with a deferred request naming toolwire's approval; approved, the resumed
    run executes the record once, and resuming again gets the stored result."""
    toolset = ToolwireToolset(dispatcher)
    agent = Agent(
        Script([[("delete_user", {"user_id": 2})], "done", "done"]).model,
        toolsets=[toolset],
        output_type=[str, DeferredToolRequests],
    )
    held = await agent.run("delete user 2")
    requests = held.output
    assert isinstance(requests, DeferredToolRequests)
    (call,) = requests.approvals
    (record,) = await dispatcher.approvals("pending")
    assert requests.metadata[call.tool_call_id]["toolwire"]["approval_id"] == record.id
    assert requests.metadata[call.tool_call_id]["toolwire"]["reason"] == record.reason
    assert record.call_id == call.tool_call_id and accounts.ran == []

    results = await toolset.decide(requests, {call.tool_call_id: True}, by="grace")
    for _ in range(2):  # a second host resuming the same history runs nothing
        resumed = await agent.run(
            message_history=held.all_messages(), deferred_tool_results=results
        )
        assert resumed.output == "done"
        returned = next(
            p for m in resumed.new_messages() for p in getattr(m, "parts", [])
            if getattr(p, "tool_call_id", None) == call.tool_call_id
        )  # fmt: skip
        assert returned.content == "deleted user 2"
    assert accounts.ran == [("delete_user", 2)]
    (done,) = await dispatcher.approvals()
    assert (done.id, done.status, done.decided_by) == (record.id, "executed", "grace")


async def test_an_approval_rejected_in_pydantic_ai_is_rejected_in_toolwire(
    dispatcher: toolwire.Dispatcher, accounts: Accounts
) -> None:
    """A denial records toolwire's rejection (who, why); the model reads toolwire's answer."""
    toolset = ToolwireToolset(dispatcher)
    script = Script([[("delete_user", {"user_id": 2})], "done"])
    agent = Agent(script.model, toolsets=[toolset], output_type=[str, DeferredToolRequests])
    held = await agent.run("delete user 2")
    assert isinstance(held.output, DeferredToolRequests)
    (call,) = held.output.approvals
    results = await toolset.decide(
        held.output, {call.tool_call_id: ToolDenied("user 2 has open orders")}, by="grace"
    )
    (record,) = await dispatcher.approvals()
    assert (record.status, record.decided_by, record.message) == (
        "rejected",
        "grace",
        "user 2 has open orders",
    )
    resumed = await agent.run(message_history=held.all_messages(), deferred_tool_results=results)
    assert resumed.output == "done"
    (denied,) = script.seen[-1].returns()
    assert denied.outcome == "denied"
    assert json.loads(denied.content)["error"] == "approval_denied"
    assert "a person rejected this call to delete_user: user 2 has open orders" in denied.content
    assert accounts.ran == []


async def test_a_timeout_is_a_retry_and_cancels_the_tool(
    dispatcher: toolwire.Dispatcher, accounts: Accounts
) -> None:
    """toolwire's deadline ends the call (the tool is cancelled); the model gets a retry prompt."""
    script = Script([[("slow", {})], "done"])
    result = await agent_for(script, ToolwireToolset(dispatcher)).run("wait")
    assert result.output == "done"
    (retry,) = script.seen[1].returns()
    assert retry.outcome == "retried" and json.loads(retry.content)["error"] == "timeout"
    assert accounts.cancelled == ["slow"]


async def test_testmodel_calls_toolwire_tools_from_their_schema(
    dispatcher: toolwire.Dispatcher, accounts: Accounts
) -> None:
    """Pydantic AI's TestModel builds arguments from toolwire's schema; the call runs through it."""
    agent = Agent(TestModel(call_tools=["get_user"]), toolsets=[ToolwireToolset(dispatcher)])
    result = await agent.run("look up a user")
    assert json.loads(json.loads(result.output)["get_user"]) == {"id": 0, "name": "Ada"}
    assert accounts.ran == [("get_user", 0)]
