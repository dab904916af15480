"""One MCP server, one long-lived session at a time, owned by one task on the plugin's loop.

The owner task opens the session, lists the tools, then waits until the session must end (the
server's stream ended, it stopped answering, or the dispatcher closes) and closes it itself:
the anyio scopes inside the SDK's session are entered and left by that one task. Calls run as
tasks of their own on the same loop and share the session.

A session that ended is reopened by a later call, after a backoff that doubles with each
failure in a row (1 s up to 60 s) and resets once a session works.

A stdio server runs in a process group of its own (the SDK starts it with a new session). The
SDK ends that group only when the server outlives the close grace; a server that exits in time
leaves its own children running. So when a session ends, whatever is left of the group gets
SIGTERM, then SIGKILL after ``GROUP_GRACE``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import math
import os
import signal
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, Final

import anyio
import mcp_types as types
import toolwire
from mcp import Client, StdioServerParameters
from mcp.client.session import ClientRequestContext
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.dispatcher import ProgressFnT
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

from . import _followed
from ._elicit import (
    Elicitation,
    ElicitationAnswer,
    ElicitationCall,
    ElicitationRequest,
    checked_answer,
)
from ._loop import OwnLoop
from ._settings import ServerSettings

_log = toolwire.get_logger("toolwire.mcp")

#: How long a server that missed a call's deadline has to answer a ``tools/list``.
PROBE_TIMEOUT: Final = 5.0
_BACKOFF_FIRST: Final = 1.0
_BACKOFF_MAX: Final = 60.0
_LIST_PAGES: Final = 100
_STDERR_LINES: Final = 20
#: Seconds what is left of a server's process group has between SIGTERM and SIGKILL.
GROUP_GRACE: Final = 2.0
_GROUPS: Final = hasattr(os, "killpg")
_EXIT_POLL: Final = 0.5

ProgressSink = Callable[[float, "float | None", "str | None"], None]


class StartError(Exception):
    """A server did not start, or did not list its tools; the message says what happened."""


@dataclasses.dataclass(eq=False)
class _Flight:
    """A call under way on the plugin's loop: whose it is and when it must end."""

    call: ElicitationCall | None
    ends_at: float


#: The call the running task serves (set in ``ServerLink._call``; a server's request for input
#: that the SDK answers inside the call's own task, as on a 2026-07-28 session, sees it).
_flight: ContextVar[_Flight | None] = ContextVar("toolwire_mcp_flight", default=None)


class ServerLink:
    """The session with one MCP server, reopened on demand.

    Args:
        settings: The server's settings.
        loop: The plugin's loop, where the session lives.
        elicitation: The host's callback for the server's requests for input; without one they
            are declined at once.
    """

    def __init__(
        self, settings: ServerSettings, loop: OwnLoop, elicitation: Elicitation | None = None
    ) -> None:
        self.settings = settings
        self._loop = loop
        self._elicitation = elicitation
        self._flights: set[_Flight] = set()
        #: The call that created each task being followed, by task id.
        self._task_calls: dict[str, _Flight] = {}
        #: The server's tools by remote name, as it last listed them.
        self.tools: dict[str, types.Tool] = {}
        self._client: Client | None = None
        self._started: asyncio.Future[None] | None = None
        self._end: asyncio.Event | None = None
        self._end_reason = ""
        self._owner: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[None] | None = None
        self._refresh: asyncio.Task[None] | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._closed = False
        self._stderr: deque[str] = deque(maxlen=_STDERR_LINES)
        self._garbage = 0
        #: How many sessions have been opened (a restart makes it grow).
        self.sessions = 0
        #: Called on the plugin's loop with the new list when the server's tools change.
        self.on_tools_changed: Callable[[dict[str, types.Tool]], None] | None = None
        self._listed = False

    # -- from any thread ----------------------------------------------------------------------

    def begin(self) -> None:
        """Start the server now, without waiting (every configured server starts at once)."""
        self._loop.submit(self._begin())

    def wait_started(self) -> dict[str, types.Tool]:
        """Block until the first session is up; its tools.

        Raises:
            StartError: the server did not start or list its tools in time.
        """
        timeout = self.settings.startup_timeout + 10.0
        return self._loop.wait(self._first_tools(), timeout)

    def close(self, timeout: float = 15.0) -> None:
        """End the session and the server process; later calls get an error."""
        with contextlib.suppress(Exception):
            self._loop.wait(self._close(), timeout)

    async def call(
        self,
        name: str,
        arguments: dict[str, Any],
        deadline: float,
        progress: ProgressSink | None,
        *,
        call: ElicitationCall | None = None,
        as_task: bool = False,
    ) -> types.CallToolResult:
        """``tools/call`` on the plugin's loop, from any loop.

        A tool whose ``execution.taskSupport`` is ``required`` (or ``optional``, with
        ``as_task``) is called as a task and followed to its end. When the caller cancels, the
        call ends once the server has been told (``tasks/cancel``, or the SDK's
        ``notifications/cancelled``), waiting at most ``CANCEL_WAIT`` for it.

        Raises:
            toolwire.ToolError: ``timeout`` past the deadline (the call is cancelled on the
                server), a retryable ``execution_error`` when the server is gone or restarting,
                ``execution_error`` when the server refuses the call or its task fails.
        """
        work = self._call(name, arguments, deadline, progress, call, as_task)
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - always called from a coroutine
            current = None
        if current is None or current is self._loop.loop:
            return await work
        finished = asyncio.Event()

        async def tracked() -> types.CallToolResult:
            try:
                return await work
            finally:
                with contextlib.suppress(RuntimeError):  # the caller's loop has closed
                    current.call_soon_threadsafe(finished.set)

        running = self._loop.submit(tracked())
        try:
            return await asyncio.shield(asyncio.wrap_future(running))
        except asyncio.CancelledError:
            running.cancel()
            # The call ends once the server has been told, not before (bounded).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_followed.CANCEL_WAIT + 1.0):
                    await finished.wait()
            raise

    # -- on the plugin's loop -----------------------------------------------------------------

    async def _begin(self) -> None:
        with contextlib.suppress(StartError, toolwire.ToolError):
            await self._connect()

    async def _first_tools(self) -> dict[str, types.Tool]:
        try:
            await self._connect()
        except toolwire.ToolError as error:
            raise StartError(error.message) from None
        return dict(self.tools)

    async def _connect(self) -> Client:
        """The live session, opened now if there is none; one start at a time."""
        if self._closed:
            raise toolwire.ToolError(
                f"the MCP server {self.settings.name!r} was closed", kind="execution_error"
            )
        client, end = self._client, self._end
        if client is not None and end is not None and not end.is_set():
            return client
        owner = self._owner
        if end is not None and end.is_set() and owner is not None and not owner.done():
            # The session is ending: let its owner finish closing it before a new one opens.
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(owner), 15.0)
        if self._started is None:
            wait = self._retry_at - time.monotonic()
            if wait > 0:
                raise toolwire.ToolError(
                    f"the MCP server {self.settings.name!r} is down ({self._end_reason}); "
                    f"it is restarted on a call after {math.ceil(wait)} s",
                    kind="execution_error",
                    retryable=True,
                    details={"retry_after": math.ceil(wait)},
                )
            loop = asyncio.get_running_loop()
            self._started = loop.create_future()
            self._owner = loop.create_task(self._own(self._started), name=self.settings.name)
        try:
            await asyncio.shield(self._started)
        except StartError as exc:
            raise toolwire.ToolError(str(exc), kind="execution_error", retryable=True) from None
        assert self._client is not None
        return self._client

    async def _own(self, started: asyncio.Future[None]) -> None:
        """The owner task: open the session, wait for its end, close it, in this one task."""
        settings = self.settings
        # This task was started by a call; the session's own tasks belong to no call.
        _flight.set(None)
        end = self._end = asyncio.Event()
        healthy = False
        try:
            async with contextlib.AsyncExitStack() as stack:
                try:
                    async with asyncio.timeout(settings.startup_timeout):
                        client = await stack.enter_async_context(self._new_client(end))
                        await self._list(client)
                except TimeoutError:
                    raise StartError(
                        f"the MCP server {settings.name!r} ({settings.describe()}) did not start "
                        f"and list its tools within {settings.startup_timeout:g} s"
                        f"{self._stderr_tail()}"
                    ) from None
                self._client = client
                self.sessions += 1
                self._failures = 0
                self._end_reason = ""
                started.set_result(None)
                async with anyio.create_task_group() as group:
                    if _listens(client):
                        group.start_soon(self._listen, client)
                    await end.wait()
                    group.cancel_scope.cancel()
                healthy = self._end_reason in ("", "closed")
        except BaseException as exc:
            if not started.done():
                started.set_exception(_start_error(settings, exc, self._stderr_tail()))
                started.exception()  # retrieved: a start nobody waits for is not an error
            if not isinstance(exc, Exception):
                raise
            _log.warning(
                "toolwire_mcp.session_failed",
                server=settings.name,
                error=f"{type(exc).__name__}: {exc}",
            )
        finally:
            self._client = None
            self._started = None
            end.set()
            if healthy or self._closed:
                self._failures = 0
                self._retry_at = 0.0
            else:
                # The first restart after a working session is immediate; each failure in a
                # row doubles the wait.
                delay = 0.0 if self._failures == 0 else _BACKOFF_FIRST * 2 ** (self._failures - 1)
                self._retry_at = time.monotonic() + min(delay, _BACKOFF_MAX)
                self._failures += 1
                if not self._end_reason:
                    self._end_reason = "it failed to start"

    def _new_client(self, end: asyncio.Event) -> Client:
        settings = self.settings
        transport: contextlib.AbstractAsyncContextManager[Any]
        if settings.command is not None:
            params = StdioServerParameters(
                command=settings.command,
                args=list(settings.args),
                # Added to the whole inherited environment: the SDK alone would pass only a
                # few safe variables, and servers run through npx or uvx need PATH and more.
                env={**os.environ, **settings.env},
                cwd=settings.cwd,
            )
            transport = self._stdio(params, end)
        else:
            import httpx2

            http = httpx2.AsyncClient(
                headers=dict(settings.headers), timeout=httpx2.Timeout(30.0, read=300.0)
            )
            transport = _HttpTransport(
                http, streamable_http_client(str(settings.url), http_client=http)
            )
        return Client(
            _watched(transport, end, self._ended),
            mode="auto",
            cache=None,
            message_handler=self._on_message,
            # Always: a request for input is answered at once, by the host's callback or
            # with a decline, never left waiting (the SDK's default is an error).
            elicitation_callback=self._on_elicit,
            client_info=types.Implementation(name="toolwire", version=_version()),
        )

    @contextlib.asynccontextmanager
    async def _stdio(self, params: StdioServerParameters, end: asyncio.Event) -> AsyncIterator[Any]:
        """The SDK's stdio transport, the server's stderr kept for messages and the log, the
        server watched, and what is left of its process group ended after it."""
        read_fd, write_fd = os.pipe()
        errlog = os.fdopen(write_fd, "w")
        reader = threading.Thread(
            target=self._read_stderr, args=(read_fd,), name=f"mcp-{params.command}", daemon=True
        )
        reader.start()
        _quiet_sdk_parse_errors()
        if _GROUPS:
            _note_spawns()
        spawned: list[int] = []
        try:
            async with contextlib.AsyncExitStack() as stack:
                noting = _spawned.set(spawned)
                try:
                    streams = await stack.enter_async_context(stdio_client(params, errlog=errlog))
                finally:
                    _spawned.reset(noting)
                errlog.close()  # the child holds its own copy; EOF comes when it exits
                if _GROUPS and not spawned:
                    raise StartError(
                        f"the MCP server {self.settings.name!r} cannot be run: the installed MCP "
                        f"SDK (mcp {_sdk_version()}) did not report the server's process id, "
                        "so its process group could not be ended with it; install an mcp "
                        "release this toolwire-mcp supports"
                    )
                if not spawned:
                    yield streams
                    return
                async with anyio.create_task_group() as group:
                    group.start_soon(self._watch_exit, spawned[0], end)
                    try:
                        yield streams
                    finally:
                        group.cancel_scope.cancel()
        finally:
            errlog.close()
            if spawned:
                await _end_group(spawned[0])

    async def _watch_exit(self, pid: int, end: asyncio.Event) -> None:
        """End the session when the server process exits. The end of its stdout says so too,
        but not while a child it started holds that pipe open."""
        while not _exited(pid):
            await anyio.sleep(_EXIT_POLL)
        self._end_session(end, "it exited")

    def _read_stderr(self, fd: int) -> None:
        with os.fdopen(fd, "r", errors="replace") as stream:
            for line in stream:
                text = line.rstrip()
                if text:
                    self._stderr.append(text)
                    _log.debug("toolwire_mcp.server_stderr", server=self.settings.name, line=text)

    def _stderr_tail(self) -> str:
        lines = list(self._stderr)[-3:]
        return f"; its last stderr: {' | '.join(lines)[-400:]}" if lines else ""

    def _ended(self, reason: str) -> None:
        if not self._end_reason:
            self._end_reason = reason

    async def _list(self, client: Client) -> None:
        tools: dict[str, types.Tool] = {}
        cursor: str | None = None
        for _ in range(_LIST_PAGES):
            page = await client.list_tools(cursor=cursor)
            tools.update((tool.name, tool) for tool in page.tools)
            cursor = page.next_cursor
            if cursor is None:
                break
        added = sorted(set(tools) - set(self.tools))
        removed = sorted(set(self.tools) - set(tools))
        changed = self._listed and bool(added or removed)
        self._listed = True
        if changed:
            _log.info(
                "toolwire_mcp.tools_changed",
                server=self.settings.name,
                added=added,
                removed=removed,
            )
        self.tools = tools
        if changed and self.on_tools_changed is not None:
            self.on_tools_changed(tools)

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._refresh_tools()
        elif isinstance(message, Exception):
            self._garbage += 1
            if self._garbage <= 3:
                _log.warning(
                    "toolwire_mcp.bad_message",
                    server=self.settings.name,
                    error=f"{type(message).__name__}: {str(message)[:200]}",
                )

    def _refresh_tools(self) -> None:
        client = self._client
        if client is None or (self._refresh is not None and not self._refresh.done()):
            return

        async def refresh() -> None:
            try:
                await self._list(client)
            except Exception as exc:  # noqa: BLE001 - a failed refresh keeps the old list
                _log.warning(
                    "toolwire_mcp.refresh_failed", server=self.settings.name, error=repr(exc)
                )

        self._refresh = asyncio.get_running_loop().create_task(refresh())

    async def _listen(self, client: Client) -> None:
        """On a 2026-07-28 session, list changes come on a ``subscriptions/listen`` stream."""
        try:
            async with client.listen(tools_list_changed=True) as subscription:
                async for _event in subscription:
                    self._refresh_tools()
        except Exception as exc:  # noqa: BLE001 - without it the tool list just stays as listed
            _log.info("toolwire_mcp.listen_ended", server=self.settings.name, error=repr(exc))

    async def _call(
        self,
        name: str,
        arguments: dict[str, Any],
        deadline: float,
        progress: ProgressSink | None,
        call: ElicitationCall | None = None,
        as_task: bool = False,
    ) -> types.CallToolResult:
        flight = _Flight(call, time.monotonic() + deadline)
        self._flights.add(flight)
        token = _flight.set(flight)
        try:
            return await self._call_in_flight(name, arguments, deadline, progress, as_task)
        finally:
            _flight.reset(token)
            self._flights.discard(flight)

    async def _call_in_flight(
        self,
        name: str,
        arguments: dict[str, Any],
        deadline: float,
        progress: ProgressSink | None,
        as_task: bool,
    ) -> types.CallToolResult:
        settings = self.settings
        client = await self._connect()
        end = self._end
        tool = self.tools.get(name)
        if tool is None:
            raise toolwire.ToolError(
                f"the MCP server {settings.name!r} no longer offers the tool {name!r}",
                kind="execution_error",
            )
        support = tool.execution.task_support if tool.execution is not None else None
        if support == "required" or (support == "optional" and as_task):
            return await self._call_as_task(client, name, arguments, deadline)
        on_progress = _progress_forwarder(progress) if progress is not None else None
        try:
            return await client.call_tool(
                name, arguments, read_timeout_seconds=deadline, progress_callback=on_progress
            )
        except MCPError as exc:
            if exc.code == REQUEST_TIMEOUT:
                self._check_alive(client)
                raise toolwire.ToolError(
                    f"the MCP server {settings.name!r} did not answer within {deadline:g} s; "
                    "the call was cancelled",
                    kind="timeout",
                ) from None
            if exc.code == CONNECTION_CLOSED:
                raise self._lost(end) from None
            raise toolwire.ToolError(
                f"the MCP server {settings.name!r} refused the call: {exc.error.message}",
                kind="execution_error",
            ) from None
        except asyncio.CancelledError:
            self._check_alive(client)
            raise
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            self._end_session(end, f"the connection failed: {type(exc).__name__}")
            raise self._lost(end) from None
        except RuntimeError as exc:
            # The SDK checks structured results against the tool's output schema.
            raise toolwire.ToolError(
                f"the MCP server {settings.name!r} sent a result the tool's output schema "
                f"does not allow: {str(exc)[:300]}",
                kind="execution_error",
            ) from None

    async def _call_as_task(
        self, client: Client, name: str, arguments: dict[str, Any], deadline: float
    ) -> types.CallToolResult:
        """A task-augmented ``tools/call``, followed until the task ends, within ``deadline``;
        cancelled on the server (``tasks/cancel``) when the call is."""
        settings = self.settings
        end = self._end
        followed = _followed.Followed(settings.name, name)
        flight = _flight.get()

        def created(task_id: str) -> None:
            if flight is not None:
                self._task_calls[task_id] = flight

        # The server keeps the task a little longer than the call may wait for it.
        ttl_ms = math.ceil((deadline + 60.0) * 1000)
        try:
            async with asyncio.timeout(deadline):
                return await _followed.call_as_task(client, followed, arguments, ttl_ms, created)
        except TimeoutError:
            sent = await _followed.cancel(client, followed)
            raise toolwire.ToolError(
                f"the MCP server {settings.name!r} did not finish the task of {name!r} within "
                f"{deadline:g} s"
                + ("; the task was cancelled" if sent else "; its result did not come in time"),
                kind="timeout",
                details={"task_id": followed.task_id} if followed.task_id else None,
            ) from None
        except asyncio.CancelledError:
            await _followed.cancel(client, followed)
            raise
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                raise self._lost(end) from None
            raise toolwire.ToolError(
                f"the MCP server {settings.name!r} refused the task of {name!r}: "
                f"{exc.error.message}",
                kind="execution_error",
                details={"task_id": followed.task_id} if followed.task_id else None,
            ) from None
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            self._end_session(end, f"the connection failed: {type(exc).__name__}")
            raise self._lost(end) from None
        except ValueError as exc:  # pydantic's ValidationError: an answer that is no task
            raise toolwire.ToolError(
                f"the MCP server {settings.name!r} answered the task of {name!r} with "
                f"something that is not MCP: {str(exc)[:300]}",
                kind="execution_error",
            ) from None
        finally:
            if followed.task_id is not None:
                self._task_calls.pop(followed.task_id, None)

    async def _on_elicit(
        self, context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        """A server's ``elicitation/create``: the host's callback answers, else a decline."""
        settings = self.settings
        flight = self._flight_of(context)
        call = flight.call if flight is not None else None
        if not isinstance(params, types.ElicitRequestFormParams):
            return self._declined(call, "URL-mode elicitation is not supported")
        if self._elicitation is None:
            return self._declined(call, "no elicitation callback was given", quiet=True)
        schema = MappingProxyType(dict(params.requested_schema))
        request = ElicitationRequest(settings.name, call, params.message, schema)
        budget = flight.ends_at - time.monotonic() if flight is not None else settings.timeout
        try:
            async with asyncio.timeout(max(budget, 0.0)):
                answer = await _ask(self._elicitation, request)
        except TimeoutError:
            return self._declined(call, "the callback did not answer before the call's deadline")
        except Exception as exc:  # noqa: BLE001 - a host's callback failing must not hang a server
            return self._declined(call, f"the callback raised {type(exc).__name__}")
        checked, problem = checked_answer(answer, schema)
        if problem is not None:
            return self._declined(call, problem)
        try:
            content = dict(checked.content) if checked.content is not None else None
            return types.ElicitResult(action=checked.action, content=content)
        except ValueError:
            return self._declined(call, "the accepted content holds values MCP does not allow")

    def _flight_of(self, context: ClientRequestContext) -> _Flight | None:
        """The call a request for input belongs to: the running call's (2026-07-28, where the
        SDK answers it inside the call), the call following the task the request names, or the
        only call under way; ``None`` when it cannot be told."""
        flight = _flight.get()
        if flight is not None:
            return flight
        related = (context.meta or {}).get("io.modelcontextprotocol/related-task")
        if isinstance(related, dict) and isinstance(related.get("taskId"), str):
            return self._task_calls.get(related["taskId"])
        if len(self._flights) == 1:
            return next(iter(self._flights))
        return None

    def _declined(
        self, call: ElicitationCall | None, reason: str, *, quiet: bool = False
    ) -> types.ElicitResult:
        (_log.debug if quiet else _log.warning)(
            "toolwire_mcp.elicitation_declined",
            server=self.settings.name,
            tool=call.tool if call is not None else None,
            call_id=call.call_id if call is not None else None,
            reason=reason,
        )
        return types.ElicitResult(action="decline")

    def _lost(self, end: asyncio.Event | None) -> toolwire.ToolError:
        self._end_session(end, "it closed the connection")
        return toolwire.ToolError(
            f"the MCP server {self.settings.name!r} went away during the call "
            f"({self._end_reason}); it is restarted on a later call{self._stderr_tail()}",
            kind="execution_error",
            retryable=True,
        )

    def _end_session(self, end: asyncio.Event | None, reason: str) -> None:
        if end is not None and not end.is_set():
            self._ended(reason)
            end.set()

    def _check_alive(self, client: Client) -> None:
        """A call missed its deadline: end the session if the server no longer answers at all."""
        if self._probe is not None and not self._probe.done():
            return
        end = self._end

        async def probe() -> None:
            try:
                async with asyncio.timeout(min(PROBE_TIMEOUT, self.settings.timeout)):
                    await client.session.list_tools()
            except Exception:  # noqa: BLE001 - whatever went wrong, the server did not answer
                _log.warning("toolwire_mcp.server_hung", server=self.settings.name)
                self._end_session(end, "it stopped answering")

        self._probe = asyncio.get_running_loop().create_task(probe())

    async def _close(self) -> None:
        self._closed = True
        self._end_session(self._end, "closed")
        owner = self._owner
        if owner is not None and not owner.done():
            try:
                async with asyncio.timeout(12.0):
                    await asyncio.shield(owner)
            except (TimeoutError, Exception):  # noqa: BLE001 - closing goes on regardless
                owner.cancel()
                with contextlib.suppress(BaseException):
                    await owner


async def _ask(callback: Elicitation, request: ElicitationRequest) -> ElicitationAnswer:
    """Run the host's callback: an async one on this loop, a plain one in a thread."""
    if inspect.iscoroutinefunction(callback) or inspect.iscoroutinefunction(
        getattr(callback, "__call__", None)  # noqa: B004 - an object with an async __call__
    ):
        answer: Any = await callback(request)  # type: ignore[misc]
    else:
        answer = await asyncio.to_thread(callback, request)
    if inspect.isawaitable(answer):
        answer = await answer
    return answer  # type: ignore[no-any-return]


def _listens(client: Client) -> bool:
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    tools = client.server_capabilities.tools
    return (
        client.protocol_version in MODERN_PROTOCOL_VERSIONS
        and tools is not None
        and bool(tools.list_changed)
    )


def _progress_forwarder(sink: ProgressSink) -> ProgressFnT:
    async def forward(progress: float, total: float | None, message: str | None) -> None:
        sink(progress, total, message)

    return forward


@contextlib.asynccontextmanager
async def _watched(
    transport: contextlib.AbstractAsyncContextManager[Any],
    end: asyncio.Event,
    ended: Callable[[str], None],
) -> AsyncIterator[Any]:
    """The transport, its read side relayed so that the end of the server's stream ends the
    session (a server that exits is noticed even when no call is waiting)."""
    async with transport as (read, write):
        send, receive = anyio.create_memory_object_stream[Any](0)

        async def relay() -> None:
            try:
                async with send:
                    async for item in read:
                        await send.send(item)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                return
            if not end.is_set():
                ended(
                    "it exited" if not isinstance(transport, _HttpTransport) else "the stream ended"
                )
                end.set()

        async with anyio.create_task_group() as group:
            group.start_soon(relay)
            try:
                yield receive, write
            finally:
                group.cancel_scope.cancel()


class _HttpTransport(contextlib.AbstractAsyncContextManager[Any]):
    """A streamable HTTP transport that closes its HTTP client after itself."""

    def __init__(self, http: Any, inner: contextlib.AbstractAsyncContextManager[Any]) -> None:
        self._http = http
        self._inner = inner

    async def __aenter__(self) -> Any:
        return await self._inner.__aenter__()

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        try:
            return await self._inner.__aexit__(*exc_info)
        finally:
            await self._http.aclose()


class _ParseErrorFilter(logging.Filter):
    """Drops the SDK's own record (with a traceback) of each line a server writes to stdout
    that is not JSON-RPC: the link reports those itself (``toolwire_mcp.bad_message``, the
    first three per session, no traceback), so a chatty server cannot flood the host's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Failed to parse JSONRPC message")


_SDK_STDIO_LOGGER: Final = "mcp.client.stdio"

#: Where the SDK's spawn, wrapped by ``_note_spawns``, puts the pid of the server it started;
#: set by ``ServerLink._stdio`` in the task that starts a server, unset everywhere else.
_spawned: ContextVar[list[int] | None] = ContextVar("toolwire_mcp_spawned", default=None)


def _quiet_sdk_parse_errors() -> None:
    """Put the filter on the SDK's stdio logger, once per process (it changes nothing else)."""
    logger = logging.getLogger(_SDK_STDIO_LOGGER)
    if not any(isinstance(f, _ParseErrorFilter) for f in logger.filters):
        logger.addFilter(_ParseErrorFilter())


def _note_spawns() -> None:
    """Wrap the SDK's spawn of a stdio server (once per process) to note the server's pid.

    ``stdio_client`` keeps the process to itself; its pid is the id of the server's process
    group. The wrapper changes nothing else, and notes nothing outside ``ServerLink._stdio``.
    """
    from mcp.client import stdio

    spawn = getattr(stdio, "_create_platform_compatible_process", None)
    if spawn is None or getattr(spawn, "_toolwire_notes", False):
        return  # missing: _stdio refuses to run the server, as it learns no pid

    async def noting_spawn(*args: Any, **kwargs: Any) -> Any:
        process = await spawn(*args, **kwargs)
        noted = _spawned.get()
        if noted is not None:
            noted.append(process.pid)
        return process

    noting_spawn._toolwire_notes = True  # type: ignore[attr-defined]
    noting_spawn.__wrapped__ = spawn  # type: ignore[attr-defined]
    stdio._create_platform_compatible_process = noting_spawn


def _signal_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to the group; False once no member is left (0 only probes)."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # members it may not signal, or zombies: the group is not gone
    return True


def _exited(pid: int) -> bool:
    """Whether the server process is gone or a zombie. While a member of its group lives (a
    child holding its stdout, say), its pid names no other process: it is the group's id."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


def _group_runs(pgid: int) -> bool:
    """Whether a member of the group still runs. Where ``/proc`` tells, zombies do not count:
    an orphan that died waits for init to reap it, which some (a container's) do late."""
    if not _signal_group(pgid, 0):
        return False
    try:
        entries = os.scandir("/proc")
    except OSError:
        return True
    with entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
                if fields[0] != b"Z" and int(fields[2]) == pgid:
                    return True
            except (OSError, IndexError, ValueError):
                continue
    return False


async def _end_group(pgid: int) -> None:
    """End what is left of a stdio server's process group: SIGTERM, SIGKILL after
    ``GROUP_GRACE``. The group's id is the server's pid (the SDK started it as a session
    leader); the SIGKILL is sent whatever interrupts the wait."""
    try:
        with anyio.CancelScope(shield=True), anyio.move_on_after(GROUP_GRACE):
            if _signal_group(pgid, signal.SIGTERM):
                while _group_runs(pgid):
                    await anyio.sleep(0.05)
    finally:
        _signal_group(pgid, signal.SIGKILL)


def _sdk_version() -> str:
    from importlib.metadata import version

    return version("mcp")


def _start_error(settings: ServerSettings, exc: BaseException, tail: str) -> StartError:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]  # the task group's wrapping says nothing; its one cause does
    if isinstance(exc, StartError):
        return exc
    if isinstance(exc, FileNotFoundError | PermissionError):
        reason = f"cannot run {settings.command!r}: {exc.strerror}"
    elif isinstance(exc, MCPError):
        reason = f"it answered the handshake with an error: {exc.error.message}"
    elif isinstance(exc, BaseExceptionGroup):
        reason = "; ".join(f"{type(e).__name__}: {e}" for e in exc.exceptions)
    elif isinstance(exc, EOFError | ConnectionError) or "closed" in str(exc).lower():
        reason = "it exited, or closed its output, before the handshake"
    else:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return StartError(
        f"the MCP server {settings.name!r} ({settings.describe()}) did not start: {reason}{tail}"
    )


def _version() -> str:
    from importlib.metadata import version

    return version("toolwire-mcp")
