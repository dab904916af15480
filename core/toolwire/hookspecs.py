"""The hook specifications plugins implement.

Startup hooks are called through pluggy once, when a dispatcher starts. Per-call hooks
(``toolwire_check_permission``, ``toolwire_before_call``, ``toolwire_after_call``,
``toolwire_format_result``, ``toolwire_call_finished``) are walked by the dispatcher itself,
implementation by implementation in pluggy's order, so an implementation may be ``async def``
and each one's failure is attributed to its plugin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import pluggy

if TYPE_CHECKING:
    from ._config import Config
    from ._errors import Deny, RequireApproval
    from ._values import CallContext, DispatchResult, ToolCall
    from .providers import Provider
    from .types import Command, Executor

PROJECT_NAME: Final = "toolwire"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: Hooks the dispatcher walks per call; they may be coroutines and must not be wrappers.
PER_CALL_HOOKS: Final = (
    "toolwire_check_permission",
    "toolwire_before_call",
    "toolwire_after_call",
    "toolwire_format_result",
    "toolwire_call_finished",
)


@hookspec
def toolwire_configure(config: Config) -> None:
    """Called once at start, before anything is registered.

    A plugin reads its own settings here: ``config.plugin_settings("NAME")`` is the
    ``[plugins.NAME]`` table.
    """


@hookspec
def toolwire_register_tools(register: Callable[[Any], None]) -> None:
    """Register tools: call ``register(obj)`` with a ``Tool`` or a ``Toolset``.

    Every tool is attributed to the plugin that registered it; two tools with one name stop
    the start with an error naming both sources.
    """


@hookspec
def toolwire_register_tool_updates(update: Callable[[Any], None]) -> None:
    """Keep ``update`` to change this plugin's tools while the dispatcher runs.

    Called once, when the plugin is added, last, once its registration is done (calling
    ``update`` inside this hook is refused). Later, from any
    thread, ``update(tools)`` (a ``Tool``, a ``Toolset``, or an iterable of them) replaces
    every tool this plugin registered: the next call sees the new set, a call under way
    finishes on the tool it started with. For a plugin whose tools live elsewhere (an MCP
    server that announces ``notifications/tools/list_changed``).

    A change is checked as a start is: ``update`` raises ``ConfigError`` (and the tools stay
    as they were) when a name is taken by another plugin's tool, or when the new set would
    stop the start (a ``[tools.NAME]`` table that names no tool any more, a tool option no
    loaded plugin enforces).
    """


@hookspec
def toolwire_register_middleware(register: Callable[[Any], None]) -> None:
    """Register middleware: ``async (call, context, call_next) -> result`` callables.

    Middleware wraps the execute stage, outermost first in registration order. An object
    with an ``applies_to(tool, policy) -> bool`` method is only put on the tools it accepts.
    """


@hookspec
def toolwire_register_providers(register: Callable[[Provider], None]) -> None:
    """Register ``toolwire.providers.Provider`` instances for more model APIs."""


@hookspec
def toolwire_register_executors(register: Callable[[str, Executor], None]) -> None:
    """Register executors: call ``register(name, executor)`` with a ``toolwire.types.Executor``.

    A tool runs on the executor its policy names (``executor="NAME"``, ``[tools.NAME]
    executor``, ``[defaults] executor``). A plugin that runs a kind of executor registers one
    per ``[executors.NAME]`` table of that ``kind`` (``config.executor_settings()``, read in
    ``toolwire_configure``). A name no loaded plugin registers, or one two plugins register,
    stops the start. The plugin closes its executors in ``toolwire_close``.
    """


@hookspec
def toolwire_register_tool_options(register: Callable[[str, Callable[[Any], Any]], None]) -> None:
    """Claim the tool options this plugin enforces: ``register(name, check)``.

    A tool option that is not a core policy field (``@pack.tool(rate_limit="10/minute")``,
    ``[tools.NAME] rate_limit``) reaches ``ToolPolicy.options``; the dispatcher refuses to
    start while any tool sets an option that no loaded plugin claims, so a missing plugin
    never quietly means "unlimited". ``check(value)`` returns the value to keep (it may
    normalise it) or raises ``ValueError`` saying what is wrong; it runs once per tool at start.
    """


@hookspec
def toolwire_register_plugins(register: Callable[[str, Any], None]) -> None:
    """Contribute further plugins: ``register(name, obj)``, called last at registration.

    Each is registered as a plugin of its own after this one (a ``Toolset``, a ``Tool``, or
    an object with hookimpls), with a row of its own in ``toolwire plugins`` under ``name``
    and this plugin's distribution. One that fails to register is recorded as failed and
    skipped, like an installed plugin that fails to load (fatal with ``strict = true``); a
    tool name it takes twice stops the start. The MCP plugin makes each configured server a
    plugin ``mcp.NAME`` this way.
    """


@hookspec
def toolwire_close() -> None:
    """Called once by ``Dispatcher.close()``: release what the plugin holds (processes,
    sessions, connections). An implementation that raises is logged; the others still run.
    """


@hookspec
def toolwire_register_commands(register: Callable[[Command], None]) -> None:
    """Contribute ``toolwire`` subcommands: call ``register(toolwire.types.Command(...))``.

    Called by the ``toolwire`` command line on every plugin the config enables, before the
    arguments are parsed; no dispatcher is started for it. A command's ``run`` builds what it
    needs itself (``toolwire.Dispatcher.from_config(args.config)``).
    """


@hookspec
def toolwire_check_permission(
    call: ToolCall, context: CallContext
) -> bool | Deny | RequireApproval | None:
    """Vote on a call: ``True`` allows, ``False`` or ``toolwire.Deny(reason)`` denies,
    ``toolwire.RequireApproval(reason)`` asks a person first, ``None`` abstains.

    Every implementation is asked; any deny wins, then any approval requirement (the call is
    recorded and waits), then allow; an implementation that raises (or takes longer than the
    permission timeout) counts as a deny; with no vote the configured default decides.
    """


@hookspec
def toolwire_before_call(call: ToolCall, context: CallContext) -> None:
    """Runs after permission, before execution; raise ``toolwire.Reject(reason)`` to refuse the call."""


@hookspec
def toolwire_after_call(
    call: ToolCall, result: DispatchResult, context: CallContext
) -> DispatchResult | None:
    """Sees the result of a call that ran; return a ``DispatchResult`` to replace it."""


@hookspec
def toolwire_format_result(
    call: ToolCall, result: DispatchResult, provider: str, context: CallContext
) -> Any:
    """Shape a result for a provider; return ``None`` to pass. The first non-``None`` answer wins.

    The built-in shape of the provider is used when every implementation passes.
    """


@hookspec
def toolwire_call_finished(call: ToolCall, result: DispatchResult, context: CallContext) -> None:
    """Observes every finished call, whatever its outcome (logging, audit, metrics).

    Its return value is ignored; an implementation that raises is logged and skipped.
    """
