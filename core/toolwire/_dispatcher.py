"""The dispatcher: a façade over the plugin host (``_plugins``), the plan (``_plan``), the
pipeline of one call (``_pipeline``) and batches and responses (``_batch``)."""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from ._approvals._entry import ApprovalEntryPoints
from ._approvals._gate import Approvals
from ._batch import as_calls, id_for, listed, run_batch, run_response
from ._config import Config, as_config, load_config
from ._deferred import (
    SearchAnswers,
    check_mode,
    definitions,
    offered,
    with_callers,
    with_program_tool,
)
from ._discovery import PluginInfo
from ._loop import OwnedLoop
from ._pipeline import run_call
from ._plan import Plan, Plans
from ._plugins import PluginHost
from ._policy import ToolPolicy
from ._provenance import policy_sources
from ._responses import provider_named
from ._search import ToolIndex, checked_limit
from ._sync import SyncEntryPoints
from ._tasks import TaskRunner
from ._threads import ThreadRunner
from ._tools import Tool
from ._values import DispatchResult, ToolCall
from ._worker import WorkerEntryPoint
from .providers import Provider, ToolDefinition
from .types import ProgressCallback


class Dispatcher(SyncEntryPoints, ApprovalEntryPoints, WorkerEntryPoint):
    """Finds, checks and runs the tools a model calls, and shapes the results.

    ``Dispatcher()`` starts with the built-in plugins only; add tool packs with ``add()``.
    ``Dispatcher.from_config()`` also discovers installed plugins and reads the config. Each
    dispatcher owns its plugin manager, its threads and the event loop of its sync twins (no
    global state); ``close()``, or ``with``, releases them. The sync twins are in ``_sync``,
    the approval entry points in ``_approvals._entry``, ``execute`` (a remote worker's entry
    point) in ``_worker``.

    Args:
        config: A ``Config``, or the config's tables as a mapping (validated as a file is,
            messages naming ``code``); built-in defaults when omitted.

    Raises:
        ConfigError: the mapping breaks the config schema.
        TypeError: ``config`` is neither a ``Config`` nor a mapping.
    """

    def __init__(self, config: Config | Mapping[str, Any] | None = None) -> None:
        self.config: Config = as_config(config)
        self._host = PluginHost(self.config)
        self._threads = ThreadRunner(self.config.section("limits")["threads"])
        self._tasks = TaskRunner()
        self._loop = OwnedLoop()
        self._ids = itertools.count(1)
        # Ids this dispatcher makes are unique across dispatchers, processes and restarts, so
        # records in a shared audit trail or approvals store never share one.
        self._id_prefix = f"call_tw{secrets.token_hex(6)}_"
        self._approvals = Approvals(self.config.section("approvals"), self.config.resolve_path)
        self._plans = Plans(self._host, self._threads, self._tasks, self._approvals)
        self._closed = False
        self._index: tuple[Plan, ToolIndex] | None = None  # tool search's, built on first use
        self._deferred: tuple[Plan, frozenset[str]] | None = None  # deferred tools, per start
        # Tools other callers than the model may call, with their allowed_callers, per start.
        self._callers: tuple[Plan, dict[str, tuple[str, ...]]] | None = None
        self._host.add_builtins()

    @classmethod
    def from_config(
        cls, path: str | os.PathLike[str] | Config | Mapping[str, Any] | None = None
    ) -> Dispatcher:
        """A dispatcher with the config's plugins loaded; it starts on first use (or ``start()``).

        The config comes from ``path`` (a file, a ``Config``, or the tables as a mapping,
        validated as a file is), else ``TOOLWIRE_CONFIG``, ``./toolwire.toml``,
        ``[tool.toolwire]`` in ``./pyproject.toml``, or built-in defaults.

        Raises:
            ConfigError: the config is invalid, or two tools share a name. What only a whole
                start can tell is raised by ``start()`` or the first call.
            PluginError: a plugin enabled in config is not installed, or (with
                ``strict = true``) a plugin failed to load.
        """
        config = as_config(path) if isinstance(path, Config | Mapping) else load_config(path)
        dispatcher = cls(config)
        try:
            dispatcher.load_plugins()
        except BaseException:
            dispatcher.close()  # what the plugins loaded so far started (an MCP server...)
            raise
        return dispatcher

    # -- plugins ----------------------------------------------------------------------------

    def add(self, obj: Any, *, name: str | None = None) -> Dispatcher:
        """Register a ``Toolset``, a ``Tool``, a module with hookimpls or a plugin object.

        All or nothing: if the plugin's hooks fail halfway, or a tool name is taken, nothing
        it brought stays. ``obj`` is never changed, so one pack may go to several dispatchers.

        Raises:
            ConfigError: a duplicate tool name (naming both sources), or a plugin that fails.
        """
        self._host.add_object(obj, name)
        self._plans.drop()
        return self

    def load_plugins(self) -> None:
        """Discover installed plugins and import and load those the config enables; one that
        fails is recorded as failed and skipped (with ``strict``, it stops the start)."""
        self._host.load_installed()
        self._plans.drop()

    def start(self) -> Dispatcher:
        """Build a route per tool now rather than on first use, to find mistakes before a call.

        Raises:
            ConfigError: a ``[tools.NAME]`` table that names no tool, a tool option no
                loaded plugin enforces, or a value its plugin refuses (the message names the
                table or tool, the option and where it was set).
        """
        self._ready()
        return self

    # -- queries ----------------------------------------------------------------------------

    def plugins(self) -> list[PluginInfo]:
        """One row per plugin (built-in, added, and installed once ``load_plugins`` ran, as
        ``from_config`` does): status, and the error of a failed one."""
        return self._host.plugins()

    def tools(self, role: str | None = None, *, all_roles: bool = False) -> list[Tool]:
        """The enabled tools ``role`` may call, by name (every enabled tool with ``all_roles``)."""
        plan = self._ready()
        routes = [plan.routes[name] for name in plan.names]
        return [r.tool for r in routes if all_roles or plan.may_call(r, role)]

    def find_tool(
        self, name: str, role: str | None = None, *, all_roles: bool = False
    ) -> Tool | None:
        """The enabled tool called ``name`` if ``role`` may call it (any enabled one with
        ``all_roles``), else ``None``: ``tools(role)`` for one name, at the cost of a lookup
        whatever the number of tools."""
        plan = self._ready()
        route = plan.routes.get(name) if isinstance(name, str) else None
        if route is None or not (all_roles or plan.may_call(route, role)):
            return None
        return route.tool

    def plugin_of(self, tool_name: str) -> str:
        """The plugin that registered an enabled tool. Raises ``KeyError`` for an unknown one."""
        return self._ready().routes[tool_name].plugin

    def policy(self, tool_name: str) -> ToolPolicy:
        """An enabled tool's effective policy (code, then config, over defaults). Raises
        ``KeyError`` for an unknown tool."""
        return self._ready().routes[tool_name].policy

    def policy_sources(self, tool_name: str) -> dict[str, str]:
        """Where each value of ``policy(tool_name)`` came from: ``[tools.NAME]``, ``code``,
        ``plugin NAME``, ``[plugins.NAME]`` (``defer_loading`` set for a whole pack),
        ``[defaults]``, ``built-in default`` or ``not set``, by field."""
        route = self._ready().routes[tool_name]
        info = next((p for p in self.plugins() if p.name == route.plugin), None)
        author = "code" if info is None or not info.version else f"plugin {route.plugin}"
        return policy_sources(self.config, tool_name, route.tool.policy, author, route.plugin)

    def providers(self) -> dict[str, Provider]:
        """The registered providers, by name (known without starting the dispatcher)."""
        return self._host.catalogue.providers()

    def provider(self, name: str) -> Provider:
        """One provider by name. Raises ``ConfigError`` (listing the known ones) for another."""
        return provider_named(self._host.catalogue.providers(), name)

    def tool_definitions(
        self,
        provider: str,
        role: str | None = None,
        *,
        history: Iterable[Any] | None = None,
        search: str = "client",
    ) -> list[Any]:
        """The ``tools`` list for that API: only the tools ``role`` may call.

        Deferred tools (``defer_loading``) are sent as the provider finds them by searching,
        with a search tool (``docs/many-tools.md``): ``search`` is ``"client"`` (toolwire's
        search answers, in ``process_response``), ``"hosted"`` for OpenAI Responses, or
        ``"bm25"`` or ``"regex"`` for Anthropic's server search. ``history``, the conversation
        the host is about to send (Gemini contents, Chat Completions messages), adds the
        deferred tools that earlier searches in it found.

        A tool whose ``allowed_callers`` names ``"program"`` is sent with the provider's
        ``allowed_callers``, and the provider's tool that runs code is added
        (``docs/programmatic-calls.md``).

        Raises:
            ValueError: a search mode the provider does not have.
        """
        shape = self.provider(provider)
        tools = self.tools(role)
        deferred = self._deferred_names()
        callers = self._caller_lists()
        if not deferred and not callers:
            return [self.tool_definition(shape, tool).value for tool in tools]
        tools = offered(shape.name, tools, callers)
        if deferred:  # no search tool for a role that can find nothing with it
            deferred = deferred.intersection(t.name for t in tools)
        if not deferred:
            values = [self._define(shape, tool) for tool in tools]
        else:
            check_mode(shape.name, search)
            values = definitions(
                shape.name,
                tools,
                deferred,
                lambda tool: self._define(shape, tool),
                search,
                history,
            )
        return with_program_tool(shape.name, tools, callers, values)

    def _define(self, shape: Provider, tool: Tool) -> Any:
        """One tool's definition as sent: with its callers, where it allows others."""
        value = self.tool_definition(shape, tool).value
        callers = self._caller_lists()
        return with_callers(shape.name, tool, callers.get(tool.name), value) if callers else value

    def _caller_lists(self) -> dict[str, tuple[str, ...]]:
        """The enabled tools that allow other callers than the model, with their callers."""
        plan = self._ready()
        known = self._callers
        if known is None or known[0] is not plan:
            lists = {
                name: route.policy.allowed_callers
                for name, route in plan.routes.items()
                if route.policy.allowed_callers not in (None, ("direct",))
            }
            known = self._callers = (plan, lists)
        return known[1]

    def _deferred_names(self) -> frozenset[str]:
        """The enabled deferred tools' names, found once per start."""
        plan = self._ready()
        known = self._deferred
        if known is None or known[0] is not plan:
            names = frozenset(n for n, r in plan.routes.items() if r.policy.defer_loading)
            known = self._deferred = (plan, names)
        return known[1]

    def tool_definition(self, provider: Provider, tool: Tool) -> ToolDefinition:
        """One tool as that provider describes it, built once; its problems are logged once."""
        return self._ready().definition(provider, tool)

    def search_tools(self, query: str, *, role: str | None = None, limit: int = 5) -> list[Tool]:
        """The enabled tools ``role`` may call that best match ``query``, best first.

        Ranked with BM25 over each tool's name, description, parameter names and
        descriptions, and its pack's description; the index is built on the first search of
        each start. A tool the role may not call is never returned. See ``docs/many-tools.md``.

        Args:
            query: Words describing the tool wanted (a model's search, or a person's).
            role: The role searching, as for ``tools(role)``.
            limit: The most tools returned (at most 50).

        Raises:
            ValueError: ``limit`` is no whole number of 1 or more.
            TypeError: ``query`` is not text, or ``role`` neither text nor ``None``.
        """
        if not isinstance(query, str):
            raise TypeError(f"a search query is text, not {type(query).__name__}")
        if role is not None and not isinstance(role, str):
            raise TypeError(f"a role is text or None, not {type(role).__name__}")
        count = checked_limit(limit)
        plan = self._ready()
        index = self._search_index(plan)
        routes = plan.routes
        return index.search(query, lambda t: plan.may_call(routes[t.name], role), count)

    def _search_index(self, plan: Plan) -> ToolIndex:
        built = self._index
        if built is None or built[0] is not plan:
            built = self._index = (plan, ToolIndex([plan.routes[n].tool for n in plan.names]))
        return built[1]

    def stats(self) -> dict[str, int]:
        """``threads`` (the pool for plain functions), ``running`` (threads running one now),
        ``abandoned`` (of those, threads whose call ended first: its deadline, a cancel),
        ``abandoned_tasks`` (``async def`` tools that ignored their call's cancellation)."""
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
        """Run one call through the whole pipeline; never raises but for the caller's
        cancellation. ``progress`` receives the tool's ``CallContext.report_progress``."""
        call = ToolCall(name, arguments, id_for(call_id, self._new_id))
        finished = await run_call(self._ready(), call, role, state, progress=progress)
        return finished.result

    async def dispatch_many(
        self,
        calls: Iterable[ToolCall | Mapping[str, Any]],
        *,
        role: str | None = None,
        state: Mapping[str, Any] | None = None,
    ) -> list[DispatchResult]:
        """Run a batch concurrently: exactly one result per call, in call order. A call is a
        ``ToolCall`` or a mapping with ``name`` (``arguments``, ``call_id`` optional); any
        other item is answered with ``rejected``. Raises ``TypeError`` for a batch that is
        no iterable of calls (one call, text)."""
        batch, refused = as_calls(listed(calls), self._new_id)
        turn = self._approvals.turn(batch)
        done = await run_batch(self._ready(), batch, role, state, refused=refused, turn=turn)
        return [finished.result for finished in done]

    async def process_response(
        self,
        response: Any,
        provider: str | None = None,
        *,
        role: str | None = None,
        state: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        """Dispatch every call in a model's response (the SDK's object or its plain JSON; the
        provider is detected when not named) and return the items to append.

        With ``[approvals] mode = "hold"``, a call that needs a person holds the turn: the
        other calls run now, and the list returned is an empty ``HeldTurn`` with ``.pending``
        and ``.turn_id``; ``resume(turn_id)`` returns the items.

        Raises:
            ConfigError: an unknown provider, or a response no provider recognises.
            ApprovalError: a held turn could not be stored.
        """
        plan, approvals = self._ready(), self._approvals
        searches = self._searches(role)
        return await run_response(
            plan, approvals, response, provider, role, state, self._new_id, searches
        )

    def _searches(self, role: str | None) -> SearchAnswers:
        """What answers a response's search calls for ``role`` (``_deferred``)."""
        return SearchAnswers(
            lambda query, limit: self.search_tools(query, role=role, limit=limit),
            self._define,
            self._caller_lists(),
        )

    def close(self) -> None:
        """Let go of the plugins' resources (``toolwire_close``), the owned loop and the threads
        (waiting for running plain functions, unless a call left one behind).

        A call still running on the owned loop (a sync twin's) is cancelled and its sync twin
        raises ``RuntimeError``: an ``async def`` tool gets the grace of a cancelled call; a
        plain function is left to finish on its thread, counted as ``abandoned``. A second
        ``close()`` does nothing; a closed dispatcher used again starts again.
        """
        if self._closed:
            return
        self._closed = True
        self._plans.drop()
        self._host.close_plugins()
        self._loop.close()
        self._threads.close()
        self._approvals.close()

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- helpers ----------------------------------------------------------------------------

    def _ready(self) -> Plan:
        self._closed = False  # a closed dispatcher used again starts again
        return self._plans.current()

    def _new_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids)}"
