"""Answers to an approvals interrupt say exactly what is decided, and a replayed call is named."""

from __future__ import annotations

import uuid
from typing import Any

import pydantic
import pytest
import toolwire
import toolwire_langchain
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage
from langchain_helpers import Ran, calls, model, tool_messages
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command


def paused_agent(dispatcher: toolwire.Dispatcher, *turns: AIMessage) -> tuple[Any, dict[str, Any]]:
    """An agent over the dispatcher's tools with approvals, and a fresh thread for it."""
    agent = create_agent(
        model(*turns),
        toolwire_langchain.tools(dispatcher),
        middleware=[toolwire_langchain.ApprovalMiddleware(dispatcher)],
        checkpointer=InMemorySaver(),
    )
    return agent, {"configurable": {"thread_id": uuid.uuid4().hex}}


def the_request(out: dict[str, Any]) -> dict[str, Any]:
    (paused,) = out["__interrupt__"]
    (request,) = paused.value["requests"]
    return dict(request)


def test_an_approval_carrying_args_is_refused(dispatcher: toolwire.Dispatcher, ran: Ran) -> None:
    """An approve answer that carries args is refused like "edit", and the interrupt can be answered again."""
    agent, config = paused_agent(
        dispatcher, calls(("delete_user", {"user_id": 2}, "call_1")), AIMessage("done")
    )
    request = the_request(agent.invoke({"messages": [HumanMessage("delete 2")]}, config))
    changed = {"type": "approve", "args": {"user_id": 99}}
    with pytest.raises(pydantic.ValidationError, match="args"):
        agent.invoke(
            Command(resume={"by": "grace", "decisions": {request["approval_id"]: changed}}),
            config,
        )
    assert ran.calls == [] and dispatcher.approvals_sync()[0].status == "pending"

    approve = {request["approval_id"]: {"type": "approve"}}
    out = agent.invoke(Command(resume={"by": "grace", "decisions": approve}), config)
    assert tool_messages(out["messages"])[0].content == "deleted user 2"
    assert [args["user_id"] for _, args in ran.calls] == [2]


def test_an_answer_naming_only_unknown_ids_is_refused(
    dispatcher: toolwire.Dispatcher, ran: Ran
) -> None:
    """An answer deciding none of the approvals asked about raises a clear error, not a new interrupt."""
    agent, config = paused_agent(
        dispatcher, calls(("delete_user", {"user_id": 3}, "call_1")), AIMessage("done")
    )
    request = the_request(agent.invoke({"messages": [HumanMessage("delete 3")]}, config))
    bogus = {"by": "grace", "decisions": {"apr_bogus": {"type": "approve"}}}
    with pytest.raises(pydantic.ValidationError, match="decides none of the approvals"):
        agent.invoke(Command(resume=bogus), config)
    assert ran.calls == [] and dispatcher.approvals_sync()[0].status == "pending"

    approve = {request["approval_id"]: {"type": "approve"}}
    out = agent.invoke(Command(resume={"by": "grace", "decisions": approve}), config)
    assert tool_messages(out["messages"])[0].content == "deleted user 3"


def test_a_replayed_call_tells_the_person_it_already_ran(
    dispatcher: toolwire.Dispatcher, ran: Ran
) -> None:
    """Replaying the checkpoint before the tools step asks again, saying the same call already ran under the first approval."""
    agent, config = paused_agent(
        dispatcher,
        calls(("delete_user", {"user_id": 2}, "call_1")),
        AIMessage("done"),
        AIMessage("done again"),
    )
    first = the_request(agent.invoke({"messages": [HumanMessage("delete 2")]}, config))
    approve = {"by": "grace", "decisions": {first["approval_id"]: {"type": "approve"}}}
    agent.invoke(Command(resume=approve), config)
    assert [args["user_id"] for _, args in ran.calls] == [2]

    (before_tools,) = [s for s in agent.get_state_history(config) if s.next == ("tools",)]
    second = the_request(agent.invoke(None, before_tools.config))

    assert second["approval_id"] != first["approval_id"]
    assert second["tool_call_id"] == "call_1"
    assert f"already ran under approval {first['approval_id']}" in second["description"]
    assert "approved by grace" in second["description"]
    assert [args["user_id"] for _, args in ran.calls] == [2]
