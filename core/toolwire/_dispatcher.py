"""The dispatcher: a façade over the plugin host, the plan and the pipeline.

It adds and loads plugins, answers queries (tools, plugins, policy, providers, definitions,
stats), and offers the async entry points and their sync twins. One call's path is in
``_pipeline``; batches are in ``_batch``; what is built once per start is in ``_plan``.
"""

from __future__ import annotations

import contextvars
import itertools
import os
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

from ._approval_entry import ApprovalEntryPoints
from ._approvals import Approvals
from ._batch import as_calls, run_batch
from ._config import Config, load_config
from ._discovery import PluginInfo
from ._executors import WorkerEntryPoint
from ._logging import log as _log
from ._loop import OwnedLoop, loop_running
from ._pipeline import run_call, run_inline, runs_inline
from ._plan import Plan, plan_for
from ._plugins import PluginHost
from ._policy import ToolPolicy
from ._responses import parse_response, provider_named
from ._tasks import TaskRunner
from ._threads import ThreadRunner
from ._tools import Tool
from ._values import DispatchResult, ToolCall
from .providers import Provider, ToolDefinition
from .types import ProgressCallback

_NO_STATE: Final[Mapping[str, Any]] = MappingProxyType({})


class Dispatcher(ApprovalEntryPoints, WorkerEntryPoint):
    """Finds, checks and runs the tools a model calls, and shapes the results.

    ``Dispatcher()`` starts with the built-in plugins only; add tool packs with ``add()``.
    ``Dispatcher.from_config()`` also discovers installed plugins and reads the config.
    Each dispatcher owns its plugin manager, its threads and the event loop of its sync
    twins: no global state. ``close()`` (or ``with``) releases them. The approval entry
    points (``approve``, ``reject``, ``approvals``, ``resume``) are in ``_approval_entry``;
    ``execute``, a remote executor's worker's entry point, is in ``_executors``.

    Args:
        config: A validated ``Config`` (built-in defaults when omitted).
    """

    def __init__(self, config: Config | None = None) -> None:
        self.config: Config = config if config is not None else Config()
        self._host = PluginHost(self.config)
        self._threads = ThreadRunner(self.config.section("limits")["threads"])
        self._tasks = TaskRunner()
        self._loop = OwnedLoop()
        self._plan: Plan | None = None
        self._closed = False
        self._ids = itertools.count(1)
        self._approvals = Approvals(self.config.section("approvals"))
        self._host.add_builtins()
        self._host.on_change = self._rebuild

    @classmethod
    def from_config(cls, path: str | os.PathLike[str] | Config | None = None) -> Dispatcher:
        """A dispatcher with the config's plugins loaded; it starts on first use (or ``start()``).

        The config comes from ``path``, else ``TOOLWIRE_CONFIG``, ``./toolwire.toml``,
        ``[tool.toolwire]`` in ``./pyproject.toml``, or built-in defaults.

        Raises:
            ConfigError: the config is invalid, or two tools share a name. What only the
                whole start can tell (a ``[tools.NAME]`` that names no tool, a tool option no
                loaded plugin enforces) is raised by ``start()``, or by the first call,
                after the host has added its own packs.
            PluginError: a plugin enabled in config is not installed, or (with
                ``strict = true``) a plugin failed to load.
        """
        config = path if isinstance(path, Config) else load_config(path)
        dispatcher = cls(config)
        try:
            dispatcher.load_plugins()
        except BaseException:
            # What the plugins loaded so far started (an MCP server's process): let it go.
            dispatcher.close()
            raise
        return dispatcher

    # -- plugins ----------------------------------------------------------------------------

    def add(self, obj: Any, *, name: str | None = None) -> Dispatcher:
        """Register a ``Toolset``, a ``Tool``, a module with hookimpls or a plugin object.

        Registration is all or nothing: if the plugin's hooks fail halfway, or a tool name is
        taken, nothing it brought stays registered. ``obj`` itself is never changed, so one
        pack may be added to several dispatchers.

        Raises:
            ConfigError: a duplicate tool name (naming both sources), or a plugin that fails.
        """
        self._host.add_object(obj, name)
        self._plan = None
        return self

    def load_plugins(self) -> None:
        """Discover installed plugins and load the ones the config enables.

        Listing imports nothing; only enabled plugins are imported. A plugin that fails to
        load is recorded as failed and skipped (or, with ``strict``, stops the start).
        """
        self._host.load_installed()
        self._plan = None

    def start(self) -> Dispatcher:
        """Build what every call reads (a route per tool) now rather than on first use.

        A dispatcher starts on first use, and again after each ``add``; call ``start()``
        once the host's own packs are added to find an operator's mistakes before any call.

        Raises:
            ConfigError: a ``[tools.NAME]`` table that names no tool, a tool option no
                loaded plugin enforces, or a value its plugin refuses; the message names
                the table or the tool, the option and where it was set.
        """
        self._ready()
        return self

    # -- queries ----------------------------------------------------------------------------

    def plugins(self) -> list[PluginInfo]:
        """One row per plugin (built-in and installed): status, and the error of a failed one."""
        return self._host.plugins()

    def tools(self, role: str | None = None, *, all_roles: bool = False) -> list[Tool]:
        """The enabled tools ``role`` may call, by name (every enabled tool with ``all_roles``)."""
        plan = self._ready()
        routes = [plan.routes[name] for name in plan.names]
        return [r.tool for r in routes if all_roles or plan.may_call(r, role)]

    def plugin_of(self, tool_name: str) -> str:
        """The plugin that registered an enabled tool.

        Raises:
            KeyError: no enabled tool has that name.
        """
        return self._ready().routes[tool_name].plugin

    def policy(self, tool_name: str) -> ToolPolicy:
        """The effective policy of an enabled tool (code, then config, over defaults).

        Raises:
            KeyError: no enabled tool has that name.
        """
        return self._ready().routes[tool_name].policy

    def providers(self) -> dict[str, Provider]:
        """The registered providers, by name (known without starting the dispatcher)."""
        return self._host.catalogue.providers()

    def provider(self, name: str) -> Provider:
        """One provider by name.

        Raises:
            ConfigError: no provider has that name (the known ones are listed).
        """
        return provider_named(self._host.catalogue.providers(), name)

    def tool_definitions(self, provider: str, role: str | None = None) -> list[Any]:
        """The ``tools`` list for that API: only the tools ``role`` may call."""
        shape = self.provider(provider)
        return [self.tool_definition(shape, tool).value for tool in self.tools(role)]

    def tool_definition(self, provider: Provider, tool: Tool) -> ToolDefinition:
        """One tool as that provider describes it, built once; its problems are logged once."""
        return self._ready().definition(provider, tool)

    def stats(self) -> dict[str, int]:
        """What runs tools here: ``threads`` (the pool size for plain functions), ``running``
        (threads running one now), ``abandoned`` (of those, threads whose call already ended
        at its deadline) and ``abandoned_tasks`` (``async def`` tools that ignored their
        call's cancellation past the grace and still run)."""
        return {**self._threads.stats(), "abandoned_tasks": self._tasks.abandoned()}

    # -- dispatching ------------------------------------------------------------------------

    async def dispatch(
        self,
        name: str,
        arguments: Any = None,
        *,
        call_id: str | None = None,
        role: str | None = None,
        state: Mapping[str, Any] | None = None,
        progress: ProgressCallback | None = None,
    ) -> DispatchResult:
        """Run one call through the whole pipeline. Never raises but for the caller's cancellation.

        ``progress`` receives the tool's ``CallContext.report_progress`` reports.
        """
        call = ToolCall(name, arguments, call_id or self._new_id())
        state = _NO_STATE if state is None else state
        finished = await run_call(self._ready(), call, role, state, progress=progress)
        return finished.result

    async def dispatch_many(
        self,
        calls: Iterable[ToolCall | Mapping[str, Any]],
        *,
        role: str | None = None,
        state: Mapping[str, Any] | None = None,
    ) -> list[DispatchResult]:
        """Run a batch concurrently: exactly one result per call, in call order."""
        batch = as_calls(list(calls), self._new_id)
        state = _NO_STATE if state is None else state
        turn = self._approvals.turn(batch)
        done = await run_batch(self._ready(), batch, role, state, turn=turn)
        return [finished.result for finished in done]

    async def process_response(
        self,
        response: Any,
        provider: str | None = None,
        *,
        role: str | None = None,
        state: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        """Dispatch every call in a model's response; return the items to append.

        ``response`` is the provider SDK's object or its plain JSON. When ``provider`` is not
        named it is detected.

        When a call needs a person's approval (``[approvals] mode = "hold"``), the turn is
        held: the other calls run now, and the list returned is a ``HeldTurn``, empty, with
        ``.pending`` (the approvals) and ``.turn_id``; ``resume(turn_id)`` returns the items.

        Raises:
            ConfigError: an unknown provider, or a response no provider recognises.
            ApprovalError: a held turn could not be stored.
        """
        plan = self._ready()
        shape, parsed = parse_response(plan.providers, response, provider)
        batch = [
            p.call if p.call.call_id else _with_id(p.call, self._new_id()) for p in parsed.calls
        ]
        cut_off = {i: p.incomplete for i, p in enumerate(parsed.calls) if p.incomplete}
        state = _NO_STATE if state is None else state
        turn = self._approvals.turn(batch, shape.name, [p.given_id for p in parsed.calls])
        done = await run_batch(plan, batch, role, state, cut_off=cut_off, provider=shape, turn=turn)
        if turn.held:
            return await self._approvals.hold_turn(turn, parsed.response, done)
        return shape.conversation_items(parsed, [finished.item for finished in done])

    def dispatch_sync(
        self,
        name: str,
        arguments: Any = None,
        *,
        call_id: str | None = None,
        role: str | None = None,
        state: Mapping[str, Any] | None = None,
        progress: ProgressCallback | None = None,
    ) -> DispatchResult:
        """``dispatch`` for hosts without an event loop.

        A plain function with no middleware and no ``async`` hook on its path runs right in
        the caller's thread, when no event loop is running there. Every other call runs on
        the dispatcher's own loop, never on a running loop's thread, in a copy of the
        caller's context.
        """
        plan = self._ready()
        if runs_inline(plan, name) and not loop_running():
            call = ToolCall(name, arguments, call_id or self._new_id())
            state = _NO_STATE if state is None else state
            coroutine = run_call(plan, call, role, state, progress=progress, inline=True)
            # In a copy of the caller's context, as on a loop: what the tool sets stays its own.
            return contextvars.copy_context().run(run_inline, coroutine).result
        return self._loop.run(
            self.dispatch(
                name, arguments, call_id=call_id, role=role, state=state, progress=progress
            )
        )

    def dispatch_many_sync(
        self,
        calls: Iterable[ToolCall | Mapping[str, Any]],
        *,
        role: str | None = None,
        state: Mapping[str, Any] | None = None,
    ) -> list[DispatchResult]:
        """``dispatch_many`` for hosts without an event loop (on the dispatcher's own loop)."""
        return self._loop.run(self.dispatch_many(list(calls), role=role, state=state))

    def process_response_sync(
        self,
        response: Any,
        provider: str | None = None,
        *,
        role: str | None = None,
        state: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        """``process_response`` for hosts without an event loop (on the dispatcher's own loop)."""
        return self._loop.run(self.process_response(response, provider, role=role, state=state))

    def close(self) -> None:
        """Let go of everything: plugins' resources (``toolwire_close``), the owned loop, and
        the threads (waiting for running plain functions, unless one was abandoned by a
        timeout). A second ``close()`` does nothing. A call still running on the owned loop
        is cancelled (its ``async def`` tool gets the grace of a cancelled call); its sync
        twin raises ``RuntimeError``.

        A closed dispatcher that is used again starts again (plugins see a new start, and
        ``toolwire_close`` again at the next ``close()``).
        """
        if self._closed:
            return
        self._closed = True
        self._plan = None
        for plugin, close in self._host.closers():
            try:
                close()
            except Exception as exc:  # noqa: BLE001 - one plugin's failure must not keep others open
                _log.error(
                    "toolwire.plugin_failed", plugin=plugin, hook="toolwire_close", exc_info=exc
                )
        self._loop.close()
        self._threads.close()
        self._approvals.close()

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- helpers ----------------------------------------------------------------------------

    def _ready(self) -> Plan:
        plan = self._plan
        if plan is None:
            with self._host.lock:
                plan = self._plan
                if plan is None:
                    plan = self._plan = plan_for(
                        self._host, self._threads, self._tasks, self._approvals
                    )
                    self._closed = False
        return plan

    def _rebuild(self) -> None:
        """A plugin changed its tools: a started dispatcher takes them up now (or refuses
        them with the ``ConfigError`` a start would raise); one not started yet, on start."""
        if self._plan is not None:
            self._plan = plan_for(self._host, self._threads, self._tasks, self._approvals)

    def _new_id(self) -> str:
        return f"call_tw{next(self._ids)}"


def _with_id(call: ToolCall, call_id: str) -> ToolCall:
    return ToolCall(call.name, call.arguments, call_id)
