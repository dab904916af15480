"""Fixtures: a tool pack, dispatchers over it, the Agents SDK's scripted model, a call log.

The SDK's tracing is switched off: its default exporter sends traces to OpenAI.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

import pytest
import toolwire
from agents import Agent, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call
from toolwire.testing import closing_all, make_dispatcher

set_tracing_disabled(True)

MakeDispatcher = Callable[..., toolwire.Dispatcher]


class CallLog:
    """What ran: each tool function's calls, and every call toolwire finished."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, Any]] = []
        self.finished: list[toolwire.DispatchResult] = []

    @toolwire.hookimpl
    def toolwire_call_finished(
        self, call: toolwire.ToolCall, result: toolwire.DispatchResult, context: Any
    ) -> None:
        self.finished.append(result)

    def runs_of(self, name: str) -> list[Any]:
        return [args for tool, args in self.ran if tool == name]


def build_pack(log: CallLog) -> toolwire.Toolset:
    """The tools the tests call: plain, gated, slow, role-bound, stateful."""
    pack = toolwire.Toolset("shop")

    @pack.tool
    def get_weather(city: str, units: Literal["celsius", "fahrenheit"] = "celsius") -> dict:
        """Get the current weather for a city."""
        log.ran.append(("get_weather", {"city": city, "units": units}))
        return {"city": city, "temperature": 21, "units": units}

    @pack.tool(approval=True)
    def delete_user(user_id: int, reason: str | None = None) -> str:
        """Delete a user account for good."""
        log.ran.append(("delete_user", {"user_id": user_id, "reason": reason}))
        return f"deleted user {user_id}"

    @pack.tool(timeout=0.05)
    async def slow_report(name: str) -> str:
        """Build a report; takes far longer than its timeout."""
        log.ran.append(("slow_report", {"name": name}))
        await asyncio.sleep(30)
        return "never"

    @pack.tool(roles=["admin"])
    def reset_password(user_id: int) -> str:
        """Reset a user's password."""
        log.ran.append(("reset_password", {"user_id": user_id}))
        return f"reset {user_id}"

    @pack.tool
    def whoami(context: toolwire.CallContext) -> dict:
        """Say who the call is made for."""
        log.ran.append(("whoami", {}))
        return {"principal": context.state.get("principal"), "role": context.role}

    return pack


@pytest.fixture
def log() -> CallLog:
    """A fresh call log."""
    return CallLog()


@pytest.fixture
def make(log: CallLog) -> Iterator[MakeDispatcher]:
    """Dispatchers over the pack (approvals kept in memory unless the config says), closed after."""

    def build(*extra: Any, config: Mapping[str, Any] | None = None) -> toolwire.Dispatcher:
        settings = {"approvals": {"store": "memory://"}, **(config or {})}
        return make_dispatcher(build_pack(log), log, *extra, config=settings)

    yield from closing_all(build)


@pytest.fixture
def dispatcher(make: MakeDispatcher) -> toolwire.Dispatcher:
    """A dispatcher over the pack."""
    return make()


def agent_with(model: ScriptedModel, tools: list[Any]) -> Agent[Any]:
    """The SDK's hello-world agent, with the scripted model and these tools."""
    return Agent(
        name="Assistant", instructions="You are a helpful assistant", model=model, tools=tools
    )


def tool_outputs(model: ScriptedModel, call: int = -1) -> dict[str, Any]:
    """The tool outputs the model was given in one of its calls, by call id (JSON decoded
    when they are JSON)."""
    recorded = model.calls[call]
    found: dict[str, Any] = {}
    for item in recorded.input if isinstance(recorded.input, list) else []:
        if isinstance(item, dict) and item.get("type") == "function_call_output":
            output = item["output"]
            try:
                found[item["call_id"]] = json.loads(output) if isinstance(output, str) else output
            except ValueError:
                found[item["call_id"]] = output
    return found


def one_call_then(
    name: str, arguments: dict[str, Any], *, call_id: str, then: str
) -> ScriptedModel:
    """A model that calls one tool, then answers ``then``."""
    return ScriptedModel(
        [[function_call(name, arguments, call_id=call_id)], [assistant_message(then)]]
    )
