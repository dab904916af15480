"""Pydantic AI's instrumentation, with each toolwire call's span left to toolwire."""

from __future__ import annotations

from typing import Any

from pydantic_ai import RunContext
from pydantic_ai.capabilities import Instrumentation, WrapToolExecuteHandler
from pydantic_ai.messages import ToolCallPart
from pydantic_ai.tools import ToolDefinition

from ._answer import METADATA_KEY


class ToolwireInstrumentation(Instrumentation):
    """``pydantic_ai.capabilities.Instrumentation`` for an agent whose toolwire calls
    ``toolwire-otel`` traces: one ``execute_tool`` span per call, toolwire's.

    Pydantic AI opens an ``execute_tool {name}`` span around every tool it runs, and
    ``toolwire-otel`` opens one around every call toolwire dispatches: the same call twice.
    This capability opens the agent's, model requests' and its other tools' spans as
    ``Instrumentation`` does, and none around a ``ToolwireToolset`` tool, whose span
    (``toolwire.role``, ``toolwire.approval.id``, ``error.type``...) is then a child of the
    agent's span. Give it in ``capabilities=[...]`` in place of ``Instrumentation`` (and leave
    ``Agent.instrument_all()`` off for the agent: it adds ``Instrumentation`` again); with no
    ``toolwire-otel`` tracing the dispatcher, keep Pydantic AI's own.
    """

    @classmethod
    def get_serialization_name(cls) -> str | None:
        return None  # built in code, with the settings object; not from an agent spec

    async def wrap_tool_execute(
        self,
        ctx: RunContext[Any],
        *,
        call: ToolCallPart,
        tool_def: ToolDefinition,
        args: dict[str, Any],
        handler: WrapToolExecuteHandler,
    ) -> Any:
        if tool_def.metadata is not None and METADATA_KEY in tool_def.metadata:
            return await handler(args)
        return await super().wrap_tool_execute(
            ctx, call=call, tool_def=tool_def, args=args, handler=handler
        )
