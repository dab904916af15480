"""Test helpers: a scripted model and a tool pack that records what ran.

The model is Pydantic AI's own ``FunctionModel``: the script says which calls each response
makes, and records what the model was shown (the tools offered, the parts it read).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import toolwire
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

Turn = list[tuple[str, dict[str, Any]]] | str


@dataclass
class Seen:
    """One model request: the tools it offered and the parts of the last message."""

    tools: list[str]
    parts: list[Any]

    def returns(self) -> list[ToolReturnPart]:
        """The tool results (successes, failures, retry prompts) the model read."""
        return [p for p in self.parts if isinstance(p, ToolReturnPart)]


@dataclass
class Script:
    """Answers each model request with the next turn: calls ``[(name, args)]``, or text."""

    turns: list[Turn]
    seen: list[Seen] = field(default_factory=list)

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        last = messages[-1]
        parts = list(last.parts) if isinstance(last, ModelRequest) else []
        self.seen.append(Seen([t.name for t in info.function_tools], parts))
        turn = self.turns.pop(0) if self.turns else "done"
        if isinstance(turn, str):
            return ModelResponse(parts=[TextPart(turn)])
        return ModelResponse(parts=[ToolCallPart(name, args) for name, args in turn])

    @property
    def model(self) -> FunctionModel:
        return FunctionModel(self)


@dataclass
class Accounts:
    """The pack's tools and a log of what they ran with."""

    pack: toolwire.Toolset
    ran: list[tuple[str, Any]]
    cancelled: list[str]


def accounts_pack() -> Accounts:
    """get_user, delete_user (approval), audit (admin only), slow (a 0.2 s timeout), whoami."""
    pack = toolwire.Toolset("accounts")
    ran: list[tuple[str, Any]] = []
    cancelled: list[str] = []

    @pack.tool
    def get_user(user_id: int) -> dict[str, Any]:
        """Look a user up."""
        ran.append(("get_user", user_id))
        return {"id": user_id, "name": "Ada"}

    @pack.tool(approval=True, destructive=True)
    def delete_user(user_id: int) -> str:
        """Delete a user account for good."""
        ran.append(("delete_user", user_id))
        return f"deleted user {user_id}"

    @pack.tool(roles=["admin"])
    def audit() -> str:
        """Read the audit trail."""
        ran.append(("audit", None))
        return "trail"

    @pack.tool(timeout=0.2)
    async def slow() -> str:
        """Wait for something that never comes."""
        ran.append(("slow", None))
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append("slow")
            raise
        return "never"

    @pack.tool
    def whoami(context: toolwire.CallContext) -> dict[str, Any]:
        """Say who calls."""
        ran.append(("whoami", dict(context.state)))
        return {"role": context.role, "principal": context.state.get("principal")}

    return Accounts(pack, ran, cancelled)
