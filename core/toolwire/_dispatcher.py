"""The dispatcher: one call's whole path, top to bottom.

Every call goes through the same stages, in this order; each can end the call with a
``ToolError``, and nothing after it runs then:

1. resolve     the name must be an enabled tool
2. parse       raw arguments become a dict, within size and nesting caps
3. validate    against the tool's schema, then converted to the declared types
4. permission  every ``toolwire_check_permission`` votes; any deny wins
5. before      ``toolwire_before_call`` hooks; one may reject the call
6. execute     through the middleware onion, then the function itself
7. after       ``toolwire_after_call`` hooks may replace the result
8. format      the result becomes the text the model reads (and, in ``process_response``,
               the provider's shape)

``toolwire_call_finished`` then sees every call, whatever its outcome.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Final, NamedTuple, TypeVar, cast

from ._arguments import ArgumentsValidator, parse_arguments
from ._config import Config, load_config
from ._context import CallContext
from ._errors import ConfigError, ToolError
from ._execute import ThreadRunner
from ._hooks import INTERNAL_MESSAGE, CallHooks, belongs_to_caller
from ._logging import log as _log
from ._middleware import applies, compose
from ._output import error_text, to_text, truncate
from ._plugins import PluginInfo
from ._policy import BUILTIN_DEFAULTS, CORE_FIELDS, ToolPolicy
from ._registration import Registrar
from ._results import DispatchResult, ToolCall
from ._tools import Tool
from .providers import ParsedResponse, Provider, ToolDefinition
from .providers._json import to_plain
from .types import CallNext, ProgressCallback

_T = TypeVar("_T")

UNEXPECTED_MESSAGE: Final = "the tool failed with an unexpected error; details were logged"
_NO_STATE: Final[Mapping[str, Any]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class _Entry:
    """An enabled tool, ready to call: compiled validator, effective policy, middleware chain."""

    tool: Tool
    validator: ArgumentsValidator
    policy: ToolPolicy
    handler: CallNext | None  # None: no middleware applies, call the function directly
    max_output_chars: int


class _Done(NamedTuple):
    """One finished call: the call as the hooks saw it (arguments parsed), its result, context."""

    call: ToolCall
    result: DispatchResult
    context: CallContext


class _Runtime:
    """What a started dispatcher computes once and every call reads."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        config = dispatcher.config
        defaults = config.section("defaults")
        limits = config.section("limits")
        self.max_bytes: int = limits["max_argument_bytes"]
        self.max_depth: int = limits["max_argument_depth"]
        self.max_batch: int = limits["max_batch_calls"]
        self.max_concurrency: int = defaults["max_concurrency"]
        registrar = dispatcher._registrar
        self.hooks = CallHooks(
            registrar.pm,
            default_allow=defaults["permission"] == "allow",
            permission_timeout=float(defaults["permission_timeout"]),
        )
        base = ToolPolicy.from_mapping(
            {
                k: v
                for k, v in {**BUILTIN_DEFAULTS, **defaults, "max_concurrency": None}.items()
                if k in CORE_FIELDS
            }
        )
        middleware = registrar.registry.middleware()
        self.entries: dict[str, _Entry] = {}
        for tool in registrar.registry.tools():
            policy = base.overridden_by(tool.policy).overridden_by(
                ToolPolicy.from_mapping(config.tool_settings(tool.name))
            )
            if policy.enabled is False:
                continue
            if policy.options:
                policy = _claimed(tool, policy, registrar, config)
            layers = [m for m in middleware if applies(m, tool, policy)]
            self.entries[tool.name] = _Entry(
                tool,
                ArgumentsValidator(tool),
                policy,
                compose(layers, dispatcher._invoke) if layers else None,
                policy.max_output_chars or BUILTIN_DEFAULTS["max_output_chars"],
            )
        self.names: tuple[str, ...] = tuple(sorted(self.entries))
        self.providers: dict[str, Provider] = registrar.registry.providers()
        # get_plugin, not the name list: pluggy lists blocked names too.
        self.roles_enforced = registrar.pm.get_plugin("roles") is not None
        self.definitions: dict[tuple[str, str], ToolDefinition] = {}


class Dispatcher:
    """Finds, checks and runs the tools a model calls, and shapes the results.

    ``Dispatcher()`` starts with the built-in plugins only; add tool packs with ``add()``.
    ``Dispatcher.from_config()`` also discovers installed plugins and reads the config.
    Each dispatcher owns its plugin manager and its threads: no global state.

    Args:
        config: A validated ``Config`` (built-in defaults when omitted).
    """

    def __init__(self, config: Config | None = None) -> None:
        self.config: Config = config if config is not None else Config()
        self._registrar = Registrar(self.config)
        self._pm = self._registrar.pm
        self._runtime: _Runtime | None = None
        self._threads = ThreadRunner(self.config.section("limits")["threads"])
        self._ids = itertools.count(1)
        self._registrar.add_builtins()

    @classmethod
    def from_config(cls, path: str | os.PathLike[str] | Config | None = None) -> Dispatcher:
        """A dispatcher with the config's plugins loaded.

        The config comes from ``path``, else ``TOOLWIRE_CONFIG``, ``./toolwire.toml``,
        ``[tool.toolwire]`` in ``./pyproject.toml``, or built-in defaults.

        Raises:
            ConfigError: the config is invalid, or two tools share a name.
            PluginError: a plugin enabled in config is not installed, or (with
                ``strict = true``) a plugin failed to load.
        """
        config = path if isinstance(path, Config) else load_config(path)
        dispatcher = cls(config)
        try:
            dispatcher.load_plugins()
            dispatcher.start()
        except BaseException:
            # What the plugins loaded so far started (an MCP server's process): let it go.
            dispatcher.close()
            raise
        return dispatcher

    # -- registration -----------------------------------------------------------------------

    def add(self, obj: Any, *, name: str | None = None) -> Dispatcher:
        """Register a ``Toolset``, a ``Tool``, a module with hookimpls or a plugin object.

        Registration is all or nothing: if the plugin's hooks fail halfway, or a tool name is
        taken, nothing it brought stays registered.

        Raises:
            ConfigError: a duplicate tool name (naming both sources), or a plugin that fails.
        """
        self._registrar.add_object(obj, name)
        self._runtime = None
        return self

    def load_plugins(self) -> None:
        """Discover installed plugins and load the ones the config enables.

        Listing imports nothing; only enabled plugins are imported. A plugin that fails to
        load is recorded as failed and skipped (or, with ``strict``, stops the start).
        """
        self._registrar.load_installed()
        self._runtime = None

    def start(self) -> Dispatcher:
        """Build what every call reads (a route per tool) now, instead of on first use.

        ``from_config`` starts the dispatcher; after ``add`` it starts again on first use.

        Raises:
            ConfigError: a tool option no loaded plugin enforces, or a value its plugin
                refuses; the message names the tool, the option and where it was set.
        """
        self._ready()
        return self

    # -- what is there ----------------------------------------------------------------------

    def plugins(self) -> list[PluginInfo]:
        """One row per plugin (built-in and installed): status, and the error of a failed one."""
        return self._registrar.plugins()

    def tools(self, role: str | None = None, *, all_roles: bool = False) -> list[Tool]:
        """The enabled tools ``role`` may call, by name (every enabled tool with ``all_roles``)."""
        runtime = self._ready()
        entries = [runtime.entries[name] for name in runtime.names]
        return [e.tool for e in entries if all_roles or _role_may_call(runtime, e, role)]

    def policy(self, tool_name: str) -> ToolPolicy:
        """The effective policy of an enabled tool (code, then config, over defaults)."""
        entry = self._ready().entries.get(tool_name)
        if entry is None:
            raise KeyError(tool_name)
        return entry.policy

    def providers(self) -> dict[str, Provider]:
        """The registered providers, by name."""
        return dict(self._ready().providers)

    def provider(self, name: str) -> Provider:
        """One provider by name.

        Raises:
            ConfigError: no provider has that name (the known ones are listed).
        """
        providers = self._ready().providers
        if name not in providers:
            raise ConfigError(
                f"unknown provider {name!r}; known: {', '.join(sorted(providers)) or '(none)'}"
            )
        return providers[name]

    def tool_definitions(self, provider: str, role: str | None = None) -> list[Any]:
        """The ``tools`` list for that API: only the tools ``role`` may call."""
        shape = self.provider(provider)
        return [self.tool_definition(shape, tool).value for tool in self.tools(role)]

    def tool_definition(self, provider: Provider, tool: Tool) -> ToolDefinition:
        """One tool as that provider describes it, built once; its problems are logged once."""
        cache = self._ready().definitions
        key = (provider.name, tool.name)
        definition = cache.get(key)
        if definition is None:
            definition = cache[key] = provider.tool_definition(tool)
            for problem in definition.problems:
                _log.warning(
                    "toolwire.definition_problem",
                    provider=provider.name,
                    tool=tool.name,
                    problem=problem,
                )
        return definition

    def stats(self) -> dict[str, int]:
        """Threads of plain-function tools: the pool size, running now, abandoned by a timeout."""
        return self._threads.stats()

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
        runtime = self._ready()
        call = ToolCall(name, arguments, call_id or self._new_id())
        done = await self._run(runtime, call, role, _NO_STATE if state is None else state, progress)
        return done.result

    async def dispatch_many(
        self,
        calls: Iterable[ToolCall | Mapping[str, Any]],
        *,
        role: str | None = None,
        state: Mapping[str, Any] | None = None,
    ) -> list[DispatchResult]:
        """Run a batch concurrently: exactly one result per call, in call order."""
        runtime = self._ready()
        batch = [self._as_call(c) for c in calls]
        done = await self._run_batch(runtime, batch, role, _NO_STATE if state is None else state)
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

        Raises:
            ConfigError: an unknown provider, or a response no provider recognises.
        """
        runtime = self._ready()
        shape, parsed = self._parse_response(runtime, response, provider)
        batch = [p.call for p in parsed.calls]
        for index, found in enumerate(parsed.calls):
            if not found.call.call_id:
                batch[index] = ToolCall(found.call.name, found.call.arguments, self._new_id())
        cut_off = {i: p.incomplete for i, p in enumerate(parsed.calls) if p.incomplete}
        done = await self._run_batch(
            runtime, batch, role, _NO_STATE if state is None else state, cut_off
        )
        outputs = [
            await self._shape(runtime, shape, call, result, context)
            for call, result, context in done
        ]
        return shape.conversation_items(parsed, outputs)

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

        A plain function with no middleware and no ``async`` hooks on its path runs right in
        the caller's thread: no thread hop, no event loop.
        """
        runtime = self._ready()
        call = ToolCall(name, arguments, call_id or self._new_id())
        entry = runtime.entries.get(name) if isinstance(name, str) else None
        if (
            entry is not None
            and entry.handler is None
            and not entry.tool.is_async
            and not runtime.hooks.any_async
        ):
            return self._run_inline(
                runtime, entry, call, role, _NO_STATE if state is None else state, progress
            )
        return self._wait(
            self.dispatch(
                name, arguments, call_id=call.call_id, role=role, state=state, progress=progress
            )
        )

    def dispatch_many_sync(
        self,
        calls: Iterable[ToolCall | Mapping[str, Any]],
        *,
        role: str | None = None,
        state: Mapping[str, Any] | None = None,
    ) -> list[DispatchResult]:
        """``dispatch_many`` for hosts without an event loop."""
        return self._wait(self.dispatch_many(list(calls), role=role, state=state))

    def process_response_sync(
        self,
        response: Any,
        provider: str | None = None,
        *,
        role: str | None = None,
        state: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        """``process_response`` for hosts without an event loop."""
        return self._wait(self.process_response(response, provider, role=role, state=state))

    def close(self) -> None:
        """Tell every plugin to let go (``toolwire_close``), then stop the dispatcher's threads
        (waiting for running plain functions)."""
        for impl in self._pm.hook.toolwire_close.get_hookimpls():
            try:
                impl.function()
            except Exception as exc:  # noqa: BLE001 - one plugin's failure must not keep others open
                _log.error(
                    "toolwire.plugin_failed",
                    plugin=impl.plugin_name,
                    hook="toolwire_close",
                    exc_info=exc,
                )
        self._threads.close()

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- one call, stage by stage -----------------------------------------------------------

    async def _run(
        self,
        runtime: _Runtime,
        call: ToolCall,
        role: str | None,
        state: Mapping[str, Any],
        progress: ProgressCallback | None = None,
    ) -> _Done:
        started = time.perf_counter()
        context = CallContext(call.call_id, None, role, state, progress=progress)
        hooks = runtime.hooks
        try:
            entry = self._resolve(runtime, call, context)
            call = self._parse(runtime, call)
            context.arguments = self._validate(entry, call, context)
            # A hook stage returns something to await only when one of its hooks is async.
            if (pending := hooks.check_permission(call, context)) is not None:
                await pending
            if (pending := hooks.run_before(call, context)) is not None:
                await pending
            value = await self._execute(entry, call, context)
            result = hooks.run_after(call, _ran(call, value, context), context)
            if not isinstance(result, DispatchResult):
                result = await result
            result = self._format(entry, result, started)
        except ToolError as error:
            call = _named(call)
            result = self._failed(call, error, context, started)
        except BaseException as exc:  # N calls in, N results out, whatever failed
            if belongs_to_caller(exc):
                raise
            result = self._failed(call, _internal(call, exc), context, started)
        if (pending := hooks.run_finished(call, result, context)) is not None:
            await pending
        return _Done(call, result, context)

    def _run_inline(
        self,
        runtime: _Runtime,
        entry: _Entry,
        call: ToolCall,
        role: str | None,
        state: Mapping[str, Any],
        progress: ProgressCallback | None = None,
    ) -> DispatchResult:
        """``_run`` for a plain function whose whole path is synchronous."""
        started = time.perf_counter()
        context = CallContext(
            call.call_id, entry.tool, role, state, entry.policy, progress=progress
        )
        hooks = runtime.hooks  # every hook is a plain function here: no stage returns an awaitable
        try:
            call = self._parse(runtime, call)
            context.arguments = self._validate(entry, call, context)
            hooks.check_permission(call, context)
            hooks.run_before(call, context)
            value = self._execute_inline(entry, call, context)
            ran = hooks.run_after(call, _ran(call, value, context), context)
            result = self._format(entry, cast(DispatchResult, ran), started)
        except ToolError as error:
            result = self._failed(call, error, context, started)
        except BaseException as exc:  # one result per call, whatever failed
            if belongs_to_caller(exc):
                raise
            result = self._failed(call, _internal(call, exc), context, started)
        hooks.run_finished(call, result, context)
        return result

    # 1. resolve
    def _resolve(self, runtime: _Runtime, call: ToolCall, context: CallContext) -> _Entry:
        name = call.name
        entry = runtime.entries.get(name) if isinstance(name, str) else None
        if entry is None:
            raise _unknown_tool(runtime, name)
        context.tool = entry.tool
        context.policy = entry.policy
        context.plugin = entry.tool.plugin
        return entry

    # 2. parse
    def _parse(self, runtime: _Runtime, call: ToolCall) -> ToolCall:
        arguments = parse_arguments(
            call.arguments, max_bytes=runtime.max_bytes, max_depth=runtime.max_depth
        )
        return ToolCall(call.name, arguments, call.call_id)

    # 3. validate (and convert into the declared types)
    def _validate(self, entry: _Entry, call: ToolCall, context: CallContext) -> dict[str, Any]:
        arguments = entry.validator.validate(call.arguments)  # type: ignore[arg-type]  # parsed
        call.arguments = arguments
        return entry.validator.keyword_arguments(arguments, context)

    # 4. permission and 5. before are walked by CallHooks.

    # 6. execute
    async def _execute(self, entry: _Entry, call: ToolCall, context: CallContext) -> Any:
        try:
            if entry.handler is not None:
                return await entry.handler(call, context)
            if entry.tool.is_async:  # the common case, without the extra layer
                context.attempt += 1
                return await entry.tool.function(**context.arguments)
            return await self._invoke(call, context)
        except ToolError:
            raise
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the caller's own cancellation: always theirs to see
            raise ToolError(f"{call.name} was cancelled", kind="cancelled") from None
        except BaseException as exc:  # noqa: BLE001 - a tool must never take the host down
            raise _unexpected(call, exc) from None

    def _execute_inline(self, entry: _Entry, call: ToolCall, context: CallContext) -> Any:
        context.attempt += 1
        try:
            return entry.tool.function(**context.arguments)
        except ToolError:
            raise
        except KeyboardInterrupt:
            raise  # the host's own Ctrl-C, in the host's own thread
        except BaseException as exc:  # noqa: BLE001 - a tool must never take the host down
            raise _unexpected(call, exc) from None

    async def _invoke(self, call: ToolCall, context: CallContext) -> Any:
        """The innermost layer: start the function once."""
        context.attempt += 1
        tool = context.tool
        assert tool is not None
        if tool.is_async:
            return await tool.function(**context.arguments)
        return await self._threads.run(tool.function, context.arguments)

    # 7. after is walked by CallHooks.

    # 8. format
    def _format(self, entry: _Entry, result: DispatchResult, started: float) -> DispatchResult:
        if result.success:
            try:
                text = to_text(result.result)
            except ToolError as error:
                _log.warning(
                    "toolwire.output_error",
                    tool=result.name,
                    call_id=result.call_id,
                    result_type=type(result.result).__qualname__,
                    reason=error.message,
                )
                raise
            result.output = truncate(text, entry.max_output_chars)
        elif result.error is not None:
            result.output = error_text(result.error)
        result.elapsed_ms = (time.perf_counter() - started) * 1000.0
        return result

    def _failed(
        self, call: ToolCall, error: ToolError, context: CallContext, started: float
    ) -> DispatchResult:
        return DispatchResult(
            False,
            call.call_id,
            call.name if isinstance(call.name, str) else "",
            None,
            error,
            (time.perf_counter() - started) * 1000.0,
            context.attempt,
            error_text(error),
        )

    async def _shape(
        self,
        runtime: _Runtime,
        shape: Provider,
        call: ToolCall,
        result: DispatchResult,
        context: CallContext,
    ) -> Any:
        """Format for a provider: a plugin's shape if one gives it, else the built-in one."""
        try:
            shaped = await runtime.hooks.run_format(call, result, shape.name, context)
        except ToolError as error:  # a format hook failed (logged with its plugin)
            result = DispatchResult(
                False,
                result.call_id,
                result.name,
                None,
                error,
                result.elapsed_ms,
                result.attempts,
                error_text(error),
            )
            shaped = None
        return shaped if shaped is not None else shape.format_result(call, result)

    # -- batches ----------------------------------------------------------------------------

    async def _run_batch(
        self,
        runtime: _Runtime,
        batch: Sequence[ToolCall],
        role: str | None,
        state: Mapping[str, Any],
        cut_off: Mapping[int, str] | None = None,
    ) -> list[_Done]:
        """Run calls concurrently (bounded), sequential tools in call order; one result each."""
        done: list[_Done | None] = [None] * len(batch)
        for index in range(runtime.max_batch, len(batch)):
            error = _over_batch(runtime.max_batch)
            done[index] = await self._refused(runtime, batch[index], role, state, error)
        for index, reason in (cut_off or {}).items():
            if done[index] is None:
                error = _cut_off(reason)
                done[index] = await self._refused(runtime, batch[index], role, state, error)
        slots = asyncio.Semaphore(runtime.max_concurrency)

        async def run_one(index: int) -> None:
            async with slots:
                done[index] = await self._run(runtime, batch[index], role, state)

        async def run_lane(indexes: list[int]) -> None:
            for index in indexes:
                await run_one(index)

        lanes: dict[str, list[int]] = {}
        units: list[Callable[[], Any]] = []
        for index, call in enumerate(batch):
            if done[index] is not None:
                continue
            entry = runtime.entries.get(call.name) if isinstance(call.name, str) else None
            if entry is not None and entry.policy.sequential:
                if call.name not in lanes:
                    lanes[call.name] = []
                    units.append(_bound(run_lane, lanes[call.name]))
                lanes[call.name].append(index)
            else:
                units.append(_bound(run_one, index))
        if len(units) == 1:
            await units[0]()
        elif units:
            async with asyncio.TaskGroup() as group:
                for unit in units:
                    group.create_task(unit())
        return [item for item in done if item is not None]

    async def _refused(
        self,
        runtime: _Runtime,
        call: ToolCall,
        role: str | None,
        state: Mapping[str, Any],
        error: ToolError,
    ) -> _Done:
        """Answer a call the batch will not run; observers still see it, like every call."""
        call = _named(call)
        context = CallContext(call.call_id, None, role, state)
        result = self._failed(call, error, context, time.perf_counter())
        if (pending := runtime.hooks.run_finished(call, result, context)) is not None:
            await pending
        return _Done(call, result, context)

    # -- helpers ----------------------------------------------------------------------------

    def _ready(self) -> _Runtime:
        runtime = self._runtime
        if runtime is None:
            runtime = self._runtime = _Runtime(self)
        return runtime

    def _new_id(self) -> str:
        return f"call_tw{next(self._ids)}"

    def _as_call(self, call: ToolCall | Mapping[str, Any]) -> ToolCall:
        if isinstance(call, ToolCall):
            return call if call.call_id else ToolCall(call.name, call.arguments, self._new_id())
        if isinstance(call, Mapping):
            return ToolCall(
                call.get("name"),  # type: ignore[arg-type]  # checked by resolve
                call.get("arguments"),
                call.get("call_id") or self._new_id(),
            )
        return ToolCall(repr(type(call).__name__), None, self._new_id())

    def _parse_response(
        self, runtime: _Runtime, response: Any, provider: str | None
    ) -> tuple[Provider, ParsedResponse]:
        plain = to_plain(response)
        if provider is not None:
            shape = self.provider(provider)
        else:
            matches = [p for p in runtime.providers.values() if p.detect(plain)]
            if len(matches) != 1:
                raise ConfigError(_undetected(plain, matches))
            shape = matches[0]
        parsed = shape.parse_response(plain)
        parsed.original = response
        return shape, parsed

    def _wait(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coroutine)
        # Called from inside a running loop: run on a loop of its own in another thread.
        with ThreadPoolExecutor(1, thread_name_prefix="toolwire-sync") as pool:
            return pool.submit(asyncio.run, coroutine).result()


def _bound(function: Callable[[_T], Any], argument: _T) -> Callable[[], Any]:
    return lambda: function(argument)


def _ran(call: ToolCall, value: Any, context: CallContext) -> DispatchResult:
    return DispatchResult(True, call.call_id, call.name, value, None, 0.0, context.attempt)


def _unexpected(call: ToolCall, exc: BaseException) -> ToolError:
    _log.error("toolwire.tool_failed", tool=call.name, call_id=call.call_id, exc_info=exc)
    return ToolError(UNEXPECTED_MESSAGE, kind="execution_error")


def _named(call: ToolCall) -> ToolCall:
    """The call, its name a string for the hooks that see it (a host may pass ``None``)."""
    if isinstance(call.name, str):
        return call
    return ToolCall("", call.arguments, call.call_id)


def _internal(call: ToolCall, exc: BaseException) -> ToolError:
    """A failure no stage caught (a converter, a result's own serializer...): logged in full."""
    _log.error("toolwire.call_failed", tool=call.name, call_id=call.call_id, exc_info=exc)
    return ToolError(INTERNAL_MESSAGE, kind="internal_error")


def _unknown_tool(runtime: _Runtime, name: Any) -> ToolError:
    import difflib

    shown = name[:64] if isinstance(name, str) else ""
    close = difflib.get_close_matches(shown, runtime.names, n=3) if shown else []
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return ToolError(
        f"no tool named {shown!r}{hint}" if shown else "the call names no tool",
        kind="unknown_tool",
        details={"closest": close} if close else None,
    )


def _over_batch(limit: int) -> ToolError:
    return ToolError(
        f"more than {limit} calls in one response; this call was not run",
        kind="rejected",
        retryable=True,
        details={"max_batch_calls": limit},
    )


def _cut_off(reason: str) -> ToolError:
    return ToolError(
        f"the response was cut off ({reason}) before this call was complete; it was not run",
        kind="invalid_arguments",
        retryable=True,
    )


def _undetected(plain: Any, matches: Sequence[Provider]) -> str:
    if matches:
        return (
            "the response matches several providers "
            f"({', '.join(p.name for p in matches)}); name one with provider="
        )
    if isinstance(plain, Mapping):
        keys = ", ".join(sorted(map(str, plain))[:12]) or "(none)"
        return f"no provider recognises this response (a JSON object with keys: {keys})"
    return f"no provider recognises this response (a {type(plain).__name__})"


def _claimed(tool: Tool, policy: ToolPolicy, registrar: Registrar, config: Config) -> ToolPolicy:
    """The policy with each plugin option checked by the plugin that claims it.

    Raises:
        ConfigError: an option no loaded plugin claims (fail closed: a missing rate-limit
            plugin must not mean "unlimited"), or a value its plugin refuses.
    """
    import difflib
    from types import MappingProxyType

    claimed = registrar.registry.options()
    checked: dict[str, Any] = {}
    for option, value in policy.options.items():
        where = (
            f"[tools.{tool.name}] in {config.describe()}"
            if option in config.tool_settings(tool.name)
            else f"the code of tool {tool.name!r}"
        )
        if option not in claimed:
            known = [*CORE_FIELDS, *claimed]
            close = difflib.get_close_matches(option, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            idle = [
                f"{p.name} ({p.distribution}, {p.status})"
                for p in registrar.plugins()
                if p.status in ("disabled", "blocked", "failed")
            ]
            loaded = ", ".join(sorted(claimed)) or "none"
            shown = ", ".join(idle[:8]) + (f" and {len(idle) - 8} more" if len(idle) > 8 else "")
            advice = (
                f" Plugins installed but not loaded: {shown}; enable the one that provides it."
                if idle
                else " Install and enable the plugin that provides it, or remove the option."
            )
            raise ConfigError(
                f"{where}: {option!r} is not a tool option toolwire or any loaded plugin "
                f"enforces (options loaded plugins enforce: {loaded}){hint}.{advice}"
            )
        check, plugin = claimed[option]
        try:
            checked[option] = check(value)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"{where}: {option} = {value!r}: {exc} (checked by plugin {plugin!r})"
            ) from None
    return replace(policy, options=MappingProxyType(checked))


def _role_may_call(runtime: _Runtime, entry: _Entry, role: str | None) -> bool:
    roles = entry.policy.roles
    return roles is None or not runtime.roles_enforced or role in roles
