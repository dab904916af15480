"""Approvals both ways: a decision in Pydantic AI decides toolwire's record, and one in toolwire
decides Pydantic AI's request; each record is decided once, bound to its stored arguments."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import toolwire
from pyai_helpers import Accounts, Script
from pydantic_ai import (
    Agent,
    DeferredToolRequests,
    DeferredToolResults,
    RunContext,
    ToolApproved,
    ToolDenied,
    UserError,
)
from pydantic_ai.agent import AgentRunResult
from pydantic_ai.capabilities import HandleDeferredToolCalls
from toolwire.testing import make_dispatcher
from toolwire_pydantic_ai import ToolwireToolset


@pytest.fixture
def store(tmp_path: Path) -> dict[str, Any]:
    """An approvals store in a SQLite file that several dispatchers (hosts) share."""
    return {"approvals": {"store": f"sqlite:///{tmp_path / 'approvals.sqlite3'}"}}


@pytest.fixture
def host(accounts: Accounts, store: dict[str, Any]) -> Iterator[toolwire.Dispatcher]:
    """The host running the agent."""
    with make_dispatcher(accounts.pack, config=store) as made:
        yield made


@pytest.fixture
def desk(accounts: Accounts, store: dict[str, Any]) -> Iterator[toolwire.Dispatcher]:
    """Another host sharing the store: where a person decides, as `toolwire approvals` does."""
    with make_dispatcher(accounts.pack, config=store) as made:
        yield made


def agent(toolset: ToolwireToolset[Any], *turns: Any) -> Agent[Any, str | DeferredToolRequests]:
    script = Script([*turns, "done", "done"])
    return Agent(script.model, toolsets=[toolset], output_type=[str, DeferredToolRequests])


def returned(result: AgentRunResult[Any], call_id: str) -> Any:
    """The tool result part the resumed run recorded for a call."""
    return next(
        p for m in result.new_messages() for p in getattr(m, "parts", [])
        if getattr(p, "tool_call_id", None) == call_id and hasattr(p, "outcome")
    )  # fmt: skip


async def held(
    run_agent: Agent[Any, str | DeferredToolRequests], deps: Any = None
) -> tuple[AgentRunResult[Any], DeferredToolRequests]:
    result = await run_agent.run("go", deps=deps)
    assert isinstance(result.output, DeferredToolRequests)
    return result, result.output


async def held_delete(
    host: toolwire.Dispatcher,
) -> tuple[
    ToolwireToolset,
    Agent[Any, str | DeferredToolRequests],
    AgentRunResult[Any],
    DeferredToolRequests,
]:
    """A run asking to delete user 2 through the host's toolset, held for approval: the
    toolset, the agent, its first run and what it asks."""
    toolset = ToolwireToolset(host)
    run_agent = agent(toolset, [("delete_user", {"user_id": 2})])
    first, requests = await held(run_agent)
    return toolset, run_agent, first, requests


async def nothing_ran(host: toolwire.Dispatcher, accounts: Accounts) -> None:
    """No tool ran, and the host's one approval record still waits."""
    assert accounts.ran == []
    assert [a.status for a in await host.approvals()] == ["pending"]


async def refused_on_resume(
    host: toolwire.Dispatcher,
    accounts: Accounts,
    run_agent: Agent[Any, str | DeferredToolRequests],
    first: AgentRunResult[Any],
    results: DeferredToolResults,
    match: str,
) -> None:
    """Resumed with these results, the run stops with a UserError matching ``match``; no tool
    ran, and the record still waits."""
    with pytest.raises(UserError, match=match):
        await run_agent.run(message_history=first.all_messages(), deferred_tool_results=results)
    await nothing_ran(host, accounts)


async def test_an_approval_given_in_toolwire_answers_the_request_with_its_stored_result(
    host: toolwire.Dispatcher, desk: toolwire.Dispatcher, accounts: Accounts
) -> None:
    """Approved from another host, the call runs there once; results() resumes the run with
    that stored result, and nothing runs again."""
    toolset, run_agent, first, requests = await held_delete(host)
    (call,) = requests.approvals
    (record,) = await desk.approvals("pending")
    assert (await desk.approve(record.id, by="grace")).output == "deleted user 2"

    results = await toolset.results(requests)
    assert list(results.approvals) == [call.tool_call_id]
    resumed = await run_agent.run(
        message_history=first.all_messages(), deferred_tool_results=results
    )
    assert returned(resumed, call.tool_call_id).content == "deleted user 2"
    assert accounts.ran == [("delete_user", 2)]
    (done,) = await host.approvals()
    assert (done.status, done.decided_by) == ("executed", "grace")


async def test_a_rejection_in_toolwire_denies_the_request(
    host: toolwire.Dispatcher, desk: toolwire.Dispatcher, accounts: Accounts
) -> None:
    """Rejected from another host, results() denies the request with toolwire's answer."""
    toolset, run_agent, first, requests = await held_delete(host)
    (call,) = requests.approvals
    (record,) = await desk.approvals("pending")
    await desk.reject(record.id, by="grace", message="user 2 has open orders")

    results = await toolset.results(requests)
    denial = results.approvals[call.tool_call_id]
    assert isinstance(denial, ToolDenied) and "user 2 has open orders" in denial.message
    resumed = await run_agent.run(
        message_history=first.all_messages(), deferred_tool_results=results
    )
    part = returned(resumed, call.tool_call_id)
    assert part.outcome == "denied" and json.loads(part.content)["error"] == "approval_denied"
    assert accounts.ran == []


async def test_an_undecided_approval_is_left_out_of_the_results(host: toolwire.Dispatcher) -> None:
    """A record nobody decided yet answers nothing: the request stays pending."""
    toolset = ToolwireToolset(host)
    _, requests = await held(agent(toolset, [("delete_user", {"user_id": 2})]))
    results = await toolset.results(requests)
    assert results.approvals == {}
    assert requests.remaining(results) is not None


async def test_the_first_decision_holds(
    host: toolwire.Dispatcher, desk: toolwire.Dispatcher, accounts: Accounts
) -> None:
    """A call rejected in toolwire stays rejected when Pydantic AI approves it later: the
    resumed run reads the rejection, and the tool never runs."""
    toolset, run_agent, first, requests = await held_delete(host)
    (call,) = requests.approvals
    (record,) = await desk.approvals("pending")
    await desk.reject(record.id, by="grace")

    results = await toolset.decide(requests, {call.tool_call_id: True}, by="alan")
    resumed = await run_agent.run(
        message_history=first.all_messages(), deferred_tool_results=results
    )
    assert json.loads(returned(resumed, call.tool_call_id).content)["error"] == "approval_denied"
    (done,) = await host.approvals()
    assert (done.status, done.decided_by) == ("rejected", "grace")
    assert accounts.ran == []


async def test_a_denial_after_toolwire_ran_the_call_keeps_its_result(
    host: toolwire.Dispatcher, desk: toolwire.Dispatcher, accounts: Accounts
) -> None:
    """A call approved and run in toolwire cannot be denied afterwards: decide() answers the
    request with the stored result."""
    toolset, run_agent, first, requests = await held_delete(host)
    (call,) = requests.approvals
    (record,) = await desk.approvals("pending")
    await desk.approve(record.id, by="grace")

    results = await toolset.decide(requests, {call.tool_call_id: False}, by="alan")
    assert isinstance(results.approvals[call.tool_call_id], ToolApproved)
    resumed = await run_agent.run(
        message_history=first.all_messages(), deferred_tool_results=results
    )
    assert returned(resumed, call.tool_call_id).content == "deleted user 2"
    assert accounts.ran == [("delete_user", 2)]


async def test_other_arguments_are_refused(host: toolwire.Dispatcher, accounts: Accounts) -> None:
    """Approving with override_args is refused, and a resumed call whose arguments differ from
    the record's never runs: toolwire runs exactly what a person approved."""
    toolset, run_agent, first, requests = await held_delete(host)
    (call,) = requests.approvals
    edited = {call.tool_call_id: ToolApproved(override_args={"user_id": 3})}
    with pytest.raises(ValueError, match="exactly the arguments a person approved"):
        await toolset.decide(requests, edited, by="grace")

    results = await toolset.decide(requests, {call.tool_call_id: True}, by="grace")
    results.approvals[call.tool_call_id] = ToolApproved(override_args={"user_id": 3})
    await refused_on_resume(
        host, accounts, run_agent, first, results, "toolwire runs exactly what a person approved"
    )


async def test_an_approval_without_an_approver_stops_the_run(
    host: toolwire.Dispatcher, accounts: Accounts
) -> None:
    """Metadata that names toolwire's approval but nobody who approved it is the host's mistake:
    the run stops, the tool does not run, the record waits."""
    _, run_agent, first, requests = await held_delete(host)
    results = requests.build_results(approve_all=True, metadata=requests.metadata)
    await refused_on_resume(
        host, accounts, run_agent, first, results, "without saying who approved it"
    )


async def test_a_bare_approval_asks_toolwire_again(
    host: toolwire.Dispatcher, accounts: Accounts
) -> None:
    """Pydantic AI's plain True, with no toolwire approval named, is a new call to toolwire: one
    that needs a person waits again, and nothing runs."""
    _, run_agent, first, requests = await held_delete(host)
    (call,) = requests.approvals
    again = await run_agent.run(
        message_history=first.all_messages(),
        deferred_tool_results=DeferredToolResults(approvals={call.tool_call_id: True}),
    )
    assert isinstance(again.output, DeferredToolRequests)
    assert accounts.ran == []
    assert [a.status for a in await host.approvals()] == ["pending", "pending"]


async def test_decide_refuses_what_is_not_a_decision(host: toolwire.Dispatcher) -> None:
    """An empty approver, an id that is no request of these, or a value that is no decision
    raise before anything is recorded."""
    toolset = ToolwireToolset(host)
    _, requests = await held(agent(toolset, [("delete_user", {"user_id": 2})]))
    (call,) = requests.approvals
    with pytest.raises(ValueError, match="by= names who decides"):
        await toolset.decide(requests, {call.tool_call_id: True}, by=" ")
    with pytest.raises(ValueError, match="no approval request"):
        await toolset.decide(requests, {"call_elsewhere": True}, by="grace")
    with pytest.raises(TypeError, match="a decision is True, False"):
        await toolset.decide(requests, {call.tool_call_id: "yes"}, by="grace")  # type: ignore[dict-item]
    assert [a.status for a in await host.approvals()] == ["pending"]


async def test_an_inline_handler_decides_within_one_run(
    host: toolwire.Dispatcher, accounts: Accounts
) -> None:
    """HandleDeferredToolCalls with decide() approves inside the run: no DeferredToolRequests
    output, the tool runs once, the record names the approver."""
    toolset = ToolwireToolset(host)

    async def ask_a_person(
        ctx: RunContext[Any], requests: DeferredToolRequests
    ) -> DeferredToolResults:
        return await toolset.decide(
            requests, {c.tool_call_id: True for c in requests.approvals}, by="on-call"
        )

    script = Script([[("delete_user", {"user_id": 2}), ("get_user", {"user_id": 1})], "done"])
    run_agent = Agent(
        script.model,
        toolsets=[toolset],
        capabilities=[HandleDeferredToolCalls(handler=ask_a_person)],
    )
    result = await run_agent.run("go")
    assert result.output == "done"
    assert sorted(p.content for p in script.seen[1].returns()) == [
        "deleted user 2",
        '{"id":1,"name":"Ada"}',
    ]
    assert sorted(accounts.ran) == [("delete_user", 2), ("get_user", 1)]
    (done,) = await host.approvals()
    assert (done.status, done.decided_by) == ("executed", "on-call")


async def test_the_principal_of_the_run_is_recorded(
    host: toolwire.Dispatcher, accounts: Accounts
) -> None:
    """The deps' principal is the approval's principal, and the approved call runs with the
    resumed run's deps as its state."""
    toolset = ToolwireToolset(host, role="support")
    run_agent = agent(toolset, [("delete_user", {"user_id": 2})])
    first, requests = await held(run_agent, deps={"principal": "ada"})
    (record,) = await host.approvals()
    assert (record.role, record.principal) == ("support", "ada")
    (call,) = requests.approvals
    results = await toolset.decide(requests, {call.tool_call_id: True}, by="grace")
    await run_agent.run(
        message_history=first.all_messages(),
        deferred_tool_results=results,
        deps={"principal": "ada"},
    )
    assert accounts.ran == [("delete_user", 2)]


async def test_an_expired_approval_never_runs(accounts: Accounts) -> None:
    """Past its expiry a record answers approval_expired: results() denies the request with it,
    and an approval given in Pydantic AI afterwards reaches the model as that failure."""
    config = {"approvals": {"store": "memory://", "ttl": 0.05}}
    with make_dispatcher(accounts.pack, config=config) as dispatcher:
        toolset = ToolwireToolset(dispatcher)
        run_agent = agent(toolset, [("delete_user", {"user_id": 2})])
        first, requests = await held(run_agent)
        (call,) = requests.approvals
        await asyncio.sleep(0.1)

        denial = (await toolset.results(requests)).approvals[call.tool_call_id]
        assert isinstance(denial, ToolDenied)
        assert json.loads(denial.message)["error"] == "approval_expired"

        results = await toolset.decide(requests, {call.tool_call_id: True}, by="grace")
        resumed = await run_agent.run(
            message_history=first.all_messages(), deferred_tool_results=results
        )
        assert json.loads(returned(resumed, call.tool_call_id).content)["error"] == (
            "approval_expired"
        )
        assert [a.status for a in await dispatcher.approvals()] == ["expired"]
    assert accounts.ran == []


async def test_the_reason_a_request_carries_hides_secrets() -> None:
    """A secret argument quoted in the approval reason is masked in the deferred request, as
    the `toolwire approvals` command masks it."""

    class AskFirst:
        @toolwire.hookimpl
        def toolwire_check_permission(self, call: Any, context: Any) -> Any:
            return toolwire.RequireApproval(f"login with {call.arguments['api_key']}")

    vault = toolwire.Toolset("vault")

    @vault.tool
    def login(user: str, api_key: str) -> str:
        """Log in."""
        return "in"

    config = {"approvals": {"store": "memory://"}}
    with make_dispatcher(vault, AskFirst(), config=config) as dispatcher:
        toolset = ToolwireToolset(dispatcher)
        _, requests = await held(agent(toolset, [("login", {"user": "ada", "api_key": "sk-123"})]))
        (call,) = requests.approvals
        reason = requests.metadata[call.tool_call_id]["toolwire"]["reason"]
        assert reason.startswith("login with ") and "sk-123" not in reason
        (record,) = await dispatcher.approvals()
        assert record.reason == "login with sk-123"  # kept whole where the call runs from
