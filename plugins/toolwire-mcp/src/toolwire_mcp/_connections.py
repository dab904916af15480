"""``toolwire mcp serve --transport http``: uvicorn, with what a server facing strangers needs.

A client that connects costs a file descriptor before it has shown a token, so the
connections are governed here, below the ASGI app:

- at most ``max_connections`` at once. At the cap a new connection evicts the oldest one
  the gate has not let in: still sending its headers, waiting for its token to be checked (a
  slow authorization server must not let strangers hold connections), or kept alive after a
  request elsewhere than the endpoint; else the oldest idle kept-alive one. Only when every
  connection is busy with a request the gate let in is the newcomer refused. Slow clients
  cannot keep a fast one out;
- a request's line and headers must arrive within ``header_timeout`` of its first byte (or of
  the connection opening), its body within ``body_timeout`` of its headers: trickling bytes
  does not buy time. A kept-alive connection waits ``idle_timeout`` for its next request;
- connections are accepted a few at a time, the listen queue staying long: a burst of
  connects never takes the process past its open-file limit (where the event loop stops
  accepting for a second and logs every attempt), and the cap is checked against that limit
  at start;
- what uvicorn would log for each bad request is counted in the refusal summary instead, and
  the libraries' own log lines (the SDK's, uvicorn's, asyncio's: the SDK logs a warning for
  every malformed notification it drops) are let through a few per interval, the rest
  counted there too.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import sys
import time
from typing import Any, ClassVar, Final, cast

import h11
import toolwire
import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.h11_impl import H11Protocol

from ._http import MAX_HEADER_BYTES
from ._serve import ROLE_KEY
from ._settings import ServeSettings

#: Connections accepted in one go (uvicorn's ``backlog`` is the event loop's accept batch).
ACCEPT_BATCH: Final = 16
#: The kernel's queue of connections waiting to be accepted.
LISTEN_BACKLOG: Final = 2048
#: Files kept free for everything but client connections: the process's own, the tools'
#: (threads, pipes, an introspection request), and connections accepted but not yet evicted.
FD_RESERVE: Final = 128 + 4 * ACCEPT_BATCH
DEFAULT_MAX_CONNECTIONS: Final = 512
#: Fewer connections than this is no server.
MIN_CONNECTIONS: Final = 8
#: Seconds streams still open at shutdown get to finish.
SHUTDOWN_GRACE: Final = 5
#: Log records one library logger may write per summary interval; the rest are counted.
LIBRARY_LINES: Final = 10


def open_file_limit() -> int:
    """The number of files this process may open (its soft ``RLIMIT_NOFILE``)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def connection_cap(configured: int | None, file_limit: int) -> int:
    """How many connections to hold at once, within the open-file limit.

    Args:
        configured: ``max_connections``, or ``None`` for the default (512, or fewer when
            the limit is low).
        file_limit: The files this process may open.

    Raises:
        toolwire.ConfigError: the configured cap, or the least useful one, does not fit.
    """
    budget = file_limit - FD_RESERVE
    if configured is None:
        if budget < MIN_CONNECTIONS:
            raise toolwire.ConfigError(
                f"this process may open only {file_limit} files; serving HTTP needs at least "
                f"{MIN_CONNECTIONS + FD_RESERVE}: raise the limit (ulimit -n)"
            )
        return min(DEFAULT_MAX_CONNECTIONS, budget)
    if configured > budget:
        raise toolwire.ConfigError(
            f"[plugins.mcp.serve] max_connections = {configured} needs "
            f"{configured + FD_RESERVE} open files, but this process may open {file_limit}: "
            f"raise the limit (ulimit -n) or lower max_connections to {max(budget, 0)} or less"
        )
    return configured


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (port 0: any free one).

    Raises:
        OSError: the address cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def run(app: Starlette, sock: socket.socket, settings: ServeSettings, cap: int) -> None:
    """Serve ``app`` on the listening ``sock`` until interrupted."""
    refusals: toolwire.RefusalSummary = app.state.refusals
    guard = _Guard(cap, settings.header_timeout, settings.body_timeout, refusals)
    protocol = type("GuardedH11Protocol", (_GuardedH11Protocol,), {"guard": guard})
    config = uvicorn.Config(
        app,
        http=protocol,
        loop="asyncio",
        lifespan="on",
        log_level="warning",
        access_log=False,
        # X-Forwarded-For from a local client would pick its own address (the anonymous
        # callers' session cap goes by address): behind a proxy, callers share the proxy's.
        proxy_headers=False,
        server_header=False,
        # An upgraded connection would leave the guard's count: no WebSocket here.
        ws="none",
        backlog=ACCEPT_BATCH,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
    )
    # uvicorn takes whole seconds in its signature; the timer takes any.
    cast(Any, config).timeout_keep_alive = settings.idle_timeout
    _throttle_library_logs(refusals)
    _Server(config).run(sockets=[sock])


def _throttle_library_logs(refusals: toolwire.RefusalSummary) -> None:
    """Let each library logger write a few warnings per interval; count the rest as refusals.

    The SDK's and asyncio's loggers get a stderr handler of their own (with no handler
    configured they would reach Python's last-resort handler, unthrottled); uvicorn's handlers,
    configured by uvicorn, get the filter.
    """
    for name in ("mcp", "asyncio"):
        logger = logging.getLogger(name)
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler.addFilter(_Throttle(refusals))
        logger.addHandler(handler)
        logger.propagate = False
    for configured in logging.getLogger("uvicorn").handlers:
        configured.addFilter(_Throttle(refusals))


class _Throttle(logging.Filter):
    """Passes ``LIBRARY_LINES`` records per interval; counts the rest as ``log_flood``."""

    def __init__(self, refusals: toolwire.RefusalSummary) -> None:
        super().__init__()
        self._refusals = refusals
        self._window = time.monotonic()
        self._passed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        if now - self._window >= self._refusals.interval:
            self._window, self._passed = now, 0
        self._passed += 1
        if self._passed <= LIBRARY_LINES:
            return True
        self._refusals.note("log_flood")
        return False


class _Server(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        # Serving re-listened with the accept batch as the backlog; the queue stays long.
        for sock in sockets or ():
            sock.listen(LISTEN_BACKLOG)


class _Guard:
    """The connections of one server: how many, which to evict first, their deadlines."""

    def __init__(
        self,
        limit: int,
        header_timeout: float,
        body_timeout: float,
        refusals: toolwire.RefusalSummary,
    ) -> None:
        self.limit = limit
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.refusals = refusals
        #: Every connection, oldest first.
        self.open: dict[_GuardedH11Protocol, None] = {}
        #: Connections between two requests the gate let in, oldest first.
        self.idle: dict[_GuardedH11Protocol, None] = {}

    def admit(self, connection: _GuardedH11Protocol) -> bool:
        """Make room for a new connection (evicting one that is not working) or refuse it.

        The victim is the oldest connection the gate has not let in (still sending its
        headers, waiting for its token to be checked, or kept alive after a request elsewhere
        than the endpoint), else the oldest idle one; a connection serving a caller the gate
        let in is never evicted.
        """
        if len(self.open) >= self.limit:
            victim = next((c for c in self.open if not c.admitted()), None) or next(
                iter(self.idle), None
            )
            if victim is None:
                self.refusals.note("connection_cap")
                return False
            self.refusals.note("evicted")
            victim.cut()
        self.open[connection] = None
        return True

    def forget(self, connection: _GuardedH11Protocol) -> None:
        self.open.pop(connection, None)
        self.idle.pop(connection, None)


class _QuietLogger:
    """uvicorn's logger, for one connection: its warnings about a client (a malformed request,
    a header block over the limit, an upgrade asked for) are counted as refusals, not
    written; a request task cancelled (its connection cut, or the server stopping) is not an
    error worth a traceback."""

    def __init__(self, logger: logging.Logger, refusals: toolwire.RefusalSummary) -> None:
        self._logger = logger
        self._refusals = refusals

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        text = str(msg)
        if text.startswith("Invalid HTTP request"):
            self._refusals.note("bad_request")
        elif text.startswith("Unsupported upgrade"):
            self._refusals.note("upgrade")
        elif not text.startswith("No supported WebSocket library"):  # said with the upgrade
            self._logger.warning(msg, *args, **kwargs)

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        if not isinstance(kwargs.get("exc_info"), asyncio.CancelledError):
            self._logger.error(msg, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)


class _GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, admitted by the guard and held to its deadlines."""

    guard: ClassVar[_Guard]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = cast(logging.Logger, _QuietLogger(self.logger, self.guard.refusals))
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for: str | None = None
        self._task: asyncio.Task[Any] | None = None
        app = self.app

        async def tracked(scope: Any, receive: Any, send: Any) -> None:
            self._task = asyncio.current_task()
            try:
                await app(scope, receive, send)
            finally:
                self._task = None

        self.app = tracked

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(cast(asyncio.Transport, transport))
        if not self.guard.admit(self):
            self.transport.abort()
            return
        self._arm("header_timeout", self.guard.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.forget(self)
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow(data_came=True)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow(data_came=False)

    def admitted(self) -> bool:
        """Whether the current (or, idle, the last) request passed the gate: the gate put
        the caller's role in its scope."""
        return self.scope is not None and ROLE_KEY in self.scope

    def cut(self) -> None:
        """Close now, owing the client nothing; what its request started (a token check
        waiting on the authorization server) is cancelled."""
        self.guard.forget(self)
        self._disarm()
        self.transport.abort()
        if self._task is not None:
            self._task.cancel()

    def _follow(self, *, data_came: bool) -> None:
        """Set the deadline for what the client owes now, from the state of its request."""
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            if not data_came:  # a response went out: kept alive, uvicorn's idle timer runs
                self._disarm()
                if self in self.guard.open and self.admitted():
                    self.guard.idle[self] = None
            elif self._waiting_for != "header_timeout":  # the first bytes of a request
                self._arm("header_timeout", self.guard.header_timeout)
            return
        self.guard.idle.pop(self, None)
        if state is h11.SEND_BODY:
            if self._waiting_for != "body_timeout":
                self._arm("body_timeout", self.guard.body_timeout)
        else:
            self._disarm()

    def _arm(self, reason: str, seconds: float) -> None:
        self._disarm()
        self._waiting_for = reason
        self._deadline = self.loop.call_later(seconds, self._expire, reason)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = None
        self._waiting_for = None

    def _expire(self, reason: str) -> None:
        self._deadline = None
        self.guard.refusals.note(reason)
        self.cut()
