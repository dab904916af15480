"""Tools offered per run: those the role of the run's context may call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import toolwire
from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse

from ._tools import Role, role_of, tools


class RoleMiddleware(AgentMiddleware[AgentState[Any], Any, Any]):
    """Gives the agent the dispatcher's tools, and each model call only those of the run's role.

    Add it to ``create_agent(..., middleware=[...])`` instead of ``tools=``. With ``role`` a
    function of the run's context (``agent.invoke(..., context=...)``), each run is offered
    the tools its role may call, and each call is dispatched under that role, so toolwire
    checks it again (a call to a tool the run was not offered ends in ``permission_denied``).
    Other tools the agent has (not this middleware's) are offered as they are.

    Args:
        dispatcher: The dispatcher that runs the calls.
        role: A function of the run's context that gives the role (a name, or ``None`` for
            no role); or a role name, the same for every run.
        strict: As for ``tools()``.

    Raises:
        ValueError: as ``tools(strict=True)``.
    """

    def __init__(
        self, dispatcher: toolwire.Dispatcher, *, role: Role, strict: bool = False
    ) -> None:
        super().__init__()
        self.dispatcher = dispatcher
        self.role = role
        self.tools = tools(dispatcher, role=role, strict=strict)
        self._mine = {id(tool) for tool in self.tools}

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelResponse[Any]:
        """Call the model with the tools of the run's role."""
        return handler(self._offer(request))

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        """``wrap_model_call`` for an async run."""
        return await handler(self._offer(request))

    def _offer(self, request: ModelRequest[Any]) -> ModelRequest[Any]:
        allowed = {
            tool.name for tool in self.dispatcher.tools(role_of(self.role, _context(request)))
        }
        offered = [
            tool
            for tool in request.tools
            if isinstance(tool, dict) or id(tool) not in self._mine or tool.name in allowed
        ]
        return request.override(tools=offered)


def _context(request: ModelRequest[Any]) -> Any:
    runtime = request.runtime
    return runtime.context if runtime is not None else None
