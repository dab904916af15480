"""The run context reaches toolwire: deps are the call's state, the role can come from them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import toolwire
from pyai_helpers import Accounts, Script
from pydantic_ai import Agent, DeferredToolRequests, RunContext, UserError
from toolwire_pydantic_ai import ToolwireToolset, deps_state


@dataclass
class Deps:
    """What a Pydantic AI app typically passes as deps."""

    principal: str
    role: str


@dataclass(slots=True)
class SlotDeps:
    principal: str


async def test_a_mapping_deps_is_the_calls_state(
    dispatcher: toolwire.Dispatcher, accounts: Accounts
) -> None:
    """A tool's CallContext.state is the very mapping passed as deps."""
    deps = {"principal": "ada", "tenant": "acme"}
    script = Script([[("whoami", {})], "done"])
    await Agent(script.model, toolsets=[ToolwireToolset(dispatcher)], deps_type=dict).run(
        "who?", deps=deps
    )
    assert accounts.ran == [("whoami", deps)]
    assert '"principal":"ada"' in script.seen[1].returns()[0].content


async def test_role_and_principal_come_from_the_deps(
    dispatcher: toolwire.Dispatcher, accounts: Accounts
) -> None:
    """A role function of the run context picks the tools and the call's role; an object's
    attributes are the state, its principal the one an approval records."""
    toolset = ToolwireToolset[Deps](dispatcher, role=lambda ctx: ctx.deps.role)
    admin = Script([[("whoami", {}), ("delete_user", {"user_id": 2})], "done"])
    agent = Agent(
        admin.model, toolsets=[toolset], deps_type=Deps, output_type=[str, DeferredToolRequests]
    )
    await agent.run("who?", deps=Deps(principal="ada", role="admin"))
    assert "audit" in admin.seen[0].tools
    assert accounts.ran == [("whoami", {"principal": "ada", "role": "admin"})]
    (record,) = await dispatcher.approvals()
    assert (record.role, record.principal) == ("admin", "ada")

    user = Script(["done"])
    await Agent(user.model, toolsets=[toolset], deps_type=Deps).run(
        "who?", deps=Deps(principal="bob", role="user")
    )
    assert "audit" not in user.seen[0].tools


async def test_a_state_function_says_what_toolwire_gets(
    dispatcher: toolwire.Dispatcher, accounts: Accounts
) -> None:
    """state= maps the run context to the call's state, whatever the deps are."""

    def state(ctx: RunContext[Any]) -> dict[str, Any]:
        return {"principal": f"user-{ctx.deps}"}

    script = Script([[("whoami", {})], "done"])
    await Agent(script.model, toolsets=[ToolwireToolset(dispatcher, state=state)]).run(
        "who?", deps=7
    )
    assert accounts.ran == [("whoami", {"principal": "user-7"})]


async def test_deps_toolwire_cannot_take_stop_the_run_before_the_model_is_asked(
    dispatcher: toolwire.Dispatcher,
) -> None:
    """Deps that are neither a mapping nor an object with attributes fail at the first step,
    with what to do; the model is never asked."""
    script = Script([[("whoami", {})], "done"])
    with pytest.raises(UserError, match="state=lambda ctx"):
        await Agent(script.model, toolsets=[ToolwireToolset(dispatcher)]).run("who?", deps=7)
    assert script.seen == []


def test_slotted_dataclass_deps_are_read_by_field() -> None:
    """A dataclass without __dict__ is viewed through its fields; no deps is no state."""
    assert deps_state(SlotDeps("ada")) == {"principal": "ada"}
    assert deps_state(None) is None
