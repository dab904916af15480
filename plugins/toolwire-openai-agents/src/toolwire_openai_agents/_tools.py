"""toolwire's tools as the Agents SDK's ``FunctionTool``s: definitions in, calls out."""

from __future__ import annotations

import copy
from typing import Any

import toolwire
from agents import AgentBase, FunctionTool, RunContextWrapper
from agents.strict_schema import ensure_strict_json_schema
from agents.tool_context import ToolContext

from ._answer import ToolOutput
from ._bridge import Bridge, RoleSource, StateSource


def function_tools(
    dispatcher: toolwire.Dispatcher,
    *,
    role: RoleSource = None,
    state: StateSource = None,
    defer_loading: bool | None = None,
    output_schemas: bool = False,
) -> list[FunctionTool]:
    """The tools ``role`` may call, as ``FunctionTool``s for ``Agent(tools=...)``.

    Each call the model makes goes through the dispatcher's whole pipeline once (arguments as
    the model sent them, validated by toolwire alone), in the SDK's task for that call, so the
    SDK's cancellation and parallel calls reach toolwire. What the model reads is toolwire's
    output, or its error object as text: an error never fails the run. A tool whose toolwire
    policy asks for approval interrupts the run (``result.interruptions``) with toolwire's
    record stored; ``RunState.approve`` and ``RunState.reject`` decide that record.

    Args:
        dispatcher: The dispatcher that runs every call.
        role: The role calls are made under. A function instead reads it from the run's
            context object (``Runner.run(..., context=...)``) for each run: every tool is then
            listed, and the SDK shows a run only those its role may call.
        state: A function of the run's context object that gives toolwire's state for each
            call (where the principal is read from). By default the context itself is the
            state; it must then be a mapping, or ``None``.
        defer_loading: Whether tools wait for the Responses API's tool search
            (``FunctionTool.defer_loading``; the agent then needs a ``ToolSearchTool``): by
            default each tool as toolwire's policy says (``defer_loading``, from code,
            ``[tools.NAME]`` or ``[plugins.NAME]``); ``True`` or ``False`` for every tool.
        output_schemas: Give a tool whose function returns an object type its JSON Schema
            (``FunctionTool.output_json_schema``). Only the Responses API takes it: the SDK's
            Chat Completions model refuses such a tool.

    Returns:
        One ``FunctionTool`` per tool, in the dispatcher's order.

    Raises:
        TypeError: ``dispatcher`` is not a ``toolwire.Dispatcher``, or ``role`` or ``state``
            has the wrong type.
    """
    if not isinstance(dispatcher, toolwire.Dispatcher):
        raise TypeError(f"function_tools takes a toolwire.Dispatcher, got {dispatcher!r}")
    if role is not None and not isinstance(role, str) and not callable(role):
        raise TypeError(f"role is a role name or a function of the run's context, got {role!r}")
    if state is not None and not callable(state):
        raise TypeError(f"state is a function of the run's context, got {state!r}")
    bridge = Bridge(dispatcher, role, state)
    listed = dispatcher.tools(all_roles=True) if callable(role) else dispatcher.tools(role)
    return [
        _function_tool(
            bridge,
            tool,
            defer_loading=bool(dispatcher.policy(tool.name).defer_loading)
            if defer_loading is None
            else defer_loading,
            output_schemas=output_schemas,
        )
        for tool in listed
    ]


class _Tool:
    """The SDK's callbacks for one tool."""

    __slots__ = ("bridge", "gated", "name", "sequential")

    def __init__(self, bridge: Bridge, name: str, *, gated: bool, sequential: bool) -> None:
        self.bridge = bridge
        self.name = name
        self.gated = gated
        self.sequential = sequential

    async def invoke(self, ctx: ToolContext[Any], arguments: str) -> ToolOutput:
        return await self.bridge.invoke(
            self.name, ctx, arguments, gated=self.gated, sequential=self.sequential
        )

    async def needs_approval(
        self, run: RunContextWrapper[Any], arguments: dict[str, Any], call_id: str
    ) -> bool:
        return await self.bridge.ask(self.name, run, arguments, call_id)

    async def is_enabled(self, run: RunContextWrapper[Any], agent: AgentBase[Any]) -> bool:
        if self.gated:
            await self.bridge.settle(run, agent)
        return not self.bridge.role_varies or self.bridge.may_see(self.name, run.context)


def _function_tool(
    bridge: Bridge, tool: toolwire.Tool, *, defer_loading: bool, output_schemas: bool
) -> FunctionTool:
    dispatcher = bridge.dispatcher
    definition = dispatcher.tool_definition(dispatcher.provider("openai-responses"), tool).value
    parameters, strict = definition["parameters"], bool(definition.get("strict"))
    if strict and not _strict_for_the_sdk(parameters):
        parameters, strict = copy.deepcopy(tool.parameters), False
    policy = dispatcher.policy(tool.name)
    calls = _Tool(
        bridge, tool.name, gated=bool(policy.approval), sequential=bool(policy.sequential)
    )
    if calls.gated:
        bridge.gated.add(tool.name)
    dynamic = calls.gated or bridge.role_varies
    return FunctionTool(
        name=tool.name,
        description=definition.get("description", tool.description),
        params_json_schema=parameters,
        on_invoke_tool=calls.invoke,
        strict_json_schema=strict,
        needs_approval=calls.needs_approval if calls.gated else False,
        is_enabled=calls.is_enabled if dynamic else True,
        defer_loading=defer_loading,
        output_json_schema=_output_schema(tool) if output_schemas else None,
    )


def _strict_for_the_sdk(parameters: dict[str, Any]) -> bool:
    """Whether the SDK takes toolwire's strict schema as strict: ``FunctionTool`` converts a
    strict schema again, and a schema it cannot convert would otherwise stop the tool's making."""
    try:
        ensure_strict_json_schema(copy.deepcopy(parameters))
    except Exception:  # noqa: BLE001 - whatever the SDK refuses, the tool goes without strict mode
        return False
    return True


def _output_schema(tool: toolwire.Tool) -> dict[str, Any] | None:
    """The tool's output schema as toolwire advertises it (``Tool.output_schema``) when it is
    an object schema the SDK takes (strict), else ``None``."""
    schema = tool.output_schema
    if schema is None or schema.get("type") != "object":
        return None
    try:
        ensure_strict_json_schema(copy.deepcopy(schema))
    except Exception:  # noqa: BLE001 - a schema the SDK refuses gives none
        return None
    return copy.deepcopy(schema)
