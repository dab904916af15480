"""LangChain tools whose every call goes through a toolwire dispatcher."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any, Final

import toolwire
from langchain.tools import ToolRuntime
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel

from ._answer import MessageContent, answer, error_content

#: The parameter LangGraph's ``ToolNode`` hands the call's ``ToolRuntime`` to (found by its
#: annotation): the keyword-only parameter of ``call`` and ``acall`` in ``_tool``. Not in the
#: tool's schema: the model never sees it.
RUNTIME: Final = "_toolwire_runtime"
#: The provider whose tool definition holds toolwire's strict-mode rewrite of a schema.
_STRICT_SHAPE: Final = "openai-responses"

Answer = tuple[MessageContent, dict[str, Any]]
#: A role, or a function of the run's context that gives one.
Role = str | None | Callable[[Any], str | None]


class ToolwireTool(StructuredTool):
    """A ``StructuredTool`` that passes the model's arguments on exactly as they came.

    ``func`` and ``coroutine`` dispatch the call; ``args_schema`` is the tool's JSON Schema
    as a dict, which LangChain sends to the model and does not validate, so toolwire's
    pipeline validates each call once.
    """

    # StructuredTool's own _run and _arun take `config` and `run_manager` out of the call's
    # keyword arguments: a tool parameter of either name would never reach toolwire.
    def _run(self, /, *args: Any, **kwargs: Any) -> Any:
        assert self.func is not None  # tools() sets both
        return self.func(*args, **kwargs)

    async def _arun(self, /, *args: Any, **kwargs: Any) -> Any:
        assert self.coroutine is not None
        return await self.coroutine(*args, **kwargs)


def tools(
    dispatcher: toolwire.Dispatcher, *, role: Role = None, strict: bool = False
) -> list[BaseTool]:
    """The tools ``role`` may call, as LangChain tools: for ``create_agent``, ``bind_tools``
    and LangGraph's ``ToolNode``.

    Each call goes through the dispatcher's whole pipeline under ``role``: validation,
    permissions, approvals, hooks, middleware, the tool's executor. Both ``invoke`` and
    ``ainvoke`` work (``dispatch_sync`` and ``dispatch``). Under a ``ToolNode`` (and so
    under ``create_agent``) the call keeps the model's tool call id, and the run's context
    (``agent.invoke(..., context=...)``) is the call's ``state``: a mapping as it is, a
    dataclass or a pydantic model as a mapping of its fields; its ``principal`` (toolwire's
    ``[approvals] principal_key``) is who asked. A failed call is a ``ToolMessage`` with
    ``status="error"`` holding toolwire's error object.

    Args:
        dispatcher: The dispatcher that runs the calls.
        role: The role the calls run under; only the tools it may call are listed. Or a
            function of the run's context that gives each call's role: then every enabled
            tool is listed (``RoleMiddleware`` offers each model call only the run's role's),
            and a tool invoked outside a ``ToolNode`` (no context) raises ``TypeError``.
        strict: Describe each tool by toolwire's strict-mode rewrite of its schema (every
            property required, optional ones nullable; toolwire turns the ``null`` stand-ins
            back before it validates), for ``bind_tools(..., strict=True)``.

    Raises:
        ValueError: ``strict=True`` and a tool's schema has no strict-mode form (each is
            named, with the reason).
        toolwire.ConfigError: the dispatcher cannot start.
    """
    made: list[BaseTool] = []
    refused: list[str] = []
    listed = dispatcher.tools(all_roles=True) if callable(role) else dispatcher.tools(role)
    for tool in listed:
        schema = tool.parameters
        if strict:
            shape = dispatcher.tool_definition(dispatcher.provider(_STRICT_SHAPE), tool)
            if not shape.value["strict"]:
                refused.append(f"{tool.name} ({'; '.join(shape.problems)})")
                continue
            schema = shape.value["parameters"]
        made.append(_tool(dispatcher, tool, role, schema))
    if refused:
        raise ValueError(
            "these tools cannot be described in strict mode: "
            + ", ".join(refused)
            + "; make the tools with strict=False, or for a role that may not call these"
        )
    return made


def _tool(
    dispatcher: toolwire.Dispatcher,
    tool: toolwire.Tool,
    role: Role,
    schema: Mapping[str, Any],
) -> ToolwireTool:
    name = tool.name

    # Annotated `ToolRuntime`, not `ToolRuntime | None`: LangChain takes only the bare class
    # for an injected argument, and then leaves it out of what its callbacks and tracers
    # record (the runtime holds the whole graph state).
    def call(*, _toolwire_runtime: ToolRuntime = None, **arguments: Any) -> Answer:  # type: ignore[assignment]
        call_id, state, as_role = _facts(_toolwire_runtime, arguments, role)
        result = dispatcher.dispatch_sync(
            name, arguments, call_id=call_id, role=as_role, state=state
        )
        return answer(result)

    async def acall(*, _toolwire_runtime: ToolRuntime = None, **arguments: Any) -> Answer:  # type: ignore[assignment]
        call_id, state, as_role = _facts(_toolwire_runtime, arguments, role)
        result = await dispatcher.dispatch(
            name, arguments, call_id=call_id, role=as_role, state=state
        )
        return answer(result)

    return ToolwireTool(
        name=name,
        description=tool.description,
        # A copy: LangChain's strict conversion edits nested schemas in place.
        args_schema=json.loads(json.dumps(schema)),
        func=call,
        coroutine=acall,
        response_format="content_and_artifact",
        handle_tool_error=error_content,
        # LangChain's provider-specific fields: a tool toolwire defers waits for the model
        # provider's tool search (Anthropic's `defer_loading`).
        extras={"defer_loading": True} if dispatcher.policy(name).defer_loading else None,
    )


def _facts(
    runtime: Any, arguments: dict[str, Any], role: Role
) -> tuple[str | None, Mapping[str, Any] | None, str | None]:
    """The call id, state and role of a call: from the ``ToolRuntime`` a ``ToolNode`` gave
    it; none (the fixed role) for a tool invoked by hand.

    Called by hand, a model's argument of the runtime's name is put back among the others
    (toolwire answers it as an unknown argument).

    Raises:
        TypeError: the role is a function, and there is no context to give it (or it gave
            no role name).
    """
    if isinstance(runtime, ToolRuntime):
        return runtime.tool_call_id, state_of(runtime.context), role_of(role, runtime.context)
    if runtime is not None:
        arguments[RUNTIME] = runtime
    if callable(role):
        raise TypeError(
            "toolwire_langchain: this tool's role comes from the run's context (role= a "
            "function), and it was invoked outside a ToolNode, with no context; make the "
            "tools with a role name to invoke them by hand"
        )
    return None, None, role


def role_of(role: Role, context: Any) -> str | None:
    """The role a call runs under: ``role`` itself, or what the function gives for the context.

    Raises:
        TypeError: the function gave something other than a role name or ``None``.
    """
    if not callable(role):
        return role
    named = role(context)
    if named is not None and not isinstance(named, str):
        raise TypeError(
            f"toolwire_langchain: the role function gave a {type(named).__qualname__}; it must "
            "give a role name (or None for no role)"
        )
    return named


def state_of(context: Any) -> Mapping[str, Any] | None:
    """A run's context as toolwire's call state.

    A mapping is passed as it is (writes reach the host's own); a dataclass or a pydantic
    model becomes a new mapping of its fields.

    Raises:
        TypeError: a context of another kind (the host's to change).
    """
    if context is None or isinstance(context, Mapping):
        return context
    if isinstance(context, BaseModel):
        return dict(context)
    if dataclasses.is_dataclass(context) and not isinstance(context, type):
        return {field.name: getattr(context, field.name) for field in dataclasses.fields(context)}
    raise TypeError(
        f"toolwire_langchain: the run's context is a {type(context).__qualname__}; toolwire "
        "takes it as the call's state, so give a mapping, a dataclass or a pydantic model "
        "as context="
    )
