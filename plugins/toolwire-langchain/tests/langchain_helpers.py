"""LangChain's fake chat model with tool calling, a tool pack, and a recorder of finished calls."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import toolwire
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.messages.tool import ToolCall
from langchain_core.outputs import ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field
from toolwire.testing import CallRecorder

MakeDispatcher = Callable[..., toolwire.Dispatcher]
#: Runs an agent or graph, sync or async (the ``run`` fixture).
Run = Callable[..., Any]


class FakeChatModel(GenericFakeChatModel):
    """LangChain's ``GenericFakeChatModel`` (it answers with the messages it is given, in turn),
    with the tool-calling API a real chat model has: ``bind_tools`` describes the tools the way
    ``langchain-openai`` does (``convert_to_openai_tool``), and every turn's input is kept."""

    bound: list[list[dict[str, Any]]] = Field(default_factory=list)
    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(  # type: ignore[override]
        self, tools: Sequence[Any], *, strict: bool | None = None, **kwargs: Any
    ) -> FakeChatModel:
        self.bound.append([convert_to_openai_tool(t, strict=strict) for t in tools])
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.seen.append(list(messages))
        return super()._generate(messages, stop, run_manager, **kwargs)


def model(*turns: AIMessage) -> FakeChatModel:
    """A fake model that answers with these messages, one per turn."""
    return FakeChatModel(messages=iter(turns))


def calls(*specs: tuple[str, dict[str, Any], str]) -> AIMessage:
    """A model turn that calls tools: ``(name, arguments, call id)`` each."""
    return AIMessage(
        "",
        tool_calls=[ToolCall(name=n, args=a, id=i, type="tool_call") for n, a, i in specs],
    )


def tool_messages(messages: Sequence[BaseMessage]) -> list[ToolMessage]:
    return [m for m in messages if isinstance(m, ToolMessage)]


def error_of(message: ToolMessage) -> dict[str, Any]:
    """toolwire's error object, as the model reads it in an error message."""
    assert message.status == "error", message
    error = json.loads(str(message.content))
    assert isinstance(error, dict)
    return error


class Finished(CallRecorder):
    """A plugin that records every call toolwire finished: the pipeline ran it."""

    @property
    def calls(self) -> list[tuple[str, str, str | None, Any, Any]]:
        return [
            (c.name, c.call_id, r.error.kind if r.error is not None else None, ctx.role, ctx.state)
            for c, r, ctx in self.finished
        ]


@dataclass
class Ran:
    """What the pack's functions saw, each time one ran."""

    calls: list[tuple[str, Any]] = field(default_factory=list)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def weather_pack(ran: Ran) -> toolwire.Toolset:
    """The tools of the agent tests: a plain one, a gated one, an admin's, a slow one."""
    pack = toolwire.Toolset("weather")

    @pack.tool
    def get_weather(location: str, units: str = "celsius") -> dict[str, Any]:
        """Get the current weather for a location."""
        ran.calls.append(("get_weather", {"location": location, "units": units}))
        return {"location": location, "temperature": 21, "units": units}

    @pack.tool(approval=True)
    def delete_user(user_id: int, api_token: str = "") -> str:
        """Delete a user account for good."""
        ran.calls.append(("delete_user", {"user_id": user_id, "api_token": api_token}))
        return f"deleted user {user_id}"

    @pack.tool(roles=["admin"])
    def reset_station(station: str) -> str:
        """Reset a weather station."""
        ran.calls.append(("reset_station", station))
        return f"reset {station}"

    @pack.tool(timeout=0.05)
    async def forecast(location: str) -> str:
        """A long-range forecast; slower than its deadline."""
        ran.calls.append(("forecast", location))
        await asyncio.sleep(30)
        return "sunny"

    @pack.tool
    def whoami(context: toolwire.CallContext) -> dict[str, Any]:
        """Who the host says is asking."""
        ran.calls.append(("whoami", context.state))
        return {"principal": context.state.get("principal"), "role": context.role}

    return pack
