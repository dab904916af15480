"""One sessionless (2026-07-28) request, answered by the SDK in JSON-response mode, with what
its SSE mode gives a call kept.

The SDK answers a sessionless ``POST`` in one of two modes. In its default, SSE mode, every
request runs in an anyio task group with a memory stream, a disconnect watcher and a deferral
timer, and that machinery costs more CPU than the rest of the request (about 400 µs a
``tools/call`` against 230 µs in JSON-response mode, measured at the ASGI level). JSON-response
mode alone would drop three things SSE mode does for a call:

- a call whose client disconnects is cancelled;
- a call still running after ``sse_ping_interval`` seconds (``[plugins.mcp.serve]``, 15 by
  default, the SDK's own figure) answers as ``text/event-stream``: a ``: ping`` comment
  every ``sse_ping_interval`` seconds keeps a proxy's idle timeout from closing it, and the
  result comes as the stream's one ``message`` event;
- progress notifications reach the client before the result (the first one commits the
  stream, as in SSE mode).

``Exchange`` keeps all three around the SDK's JSON-mode handler with one timer a request; a
call still running after ``WATCH_AFTER`` (10 ms) gets one asyncio task that watches for the
client going away, so a disconnect cancels a call 10 ms late at most. An answer the SDK
streams itself (``subscriptions/listen``) passes through as it is, into the stream if this
exchange committed one first.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, Final

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Where the exchange of a request waits in its ASGI scope, for the progress relay.
EXCHANGE_KEY: Final = "toolwire_mcp.exchange"

#: The headers of a committed stream: the SDK's own for its SSE answers.
_STREAM_HEADERS: Final = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),
]
_PING: Final = b": ping\r\n\r\n"
#: Seconds a call runs before a task watches for its client going away: a call that ends
#: sooner costs no task, and one whose client left in that time is cancelled then.
WATCH_AFTER: Final = 0.01


class Exchange:
    """One request's answer: JSON when the call ends in time, else an event stream.

    Args:
        receive: The server's ASGI ``receive``.
        send: The server's ASGI ``send``.
        ping_interval: Seconds before a call still running commits the stream, and between
            its pings.
    """

    __slots__ = (
        "_answered",
        "_body",
        "_cut_off",
        "_ended",
        "_interval",
        "_keeper",
        "_lock",
        "_receive",
        "_relayed",
        "_send",
        "_streaming",
        "_task",
        "_timer",
        "_watcher",
    )

    def __init__(self, receive: Receive, send: Send, ping_interval: float) -> None:
        self._receive = receive
        self._send = send
        self._interval = ping_interval
        self._task: asyncio.Task[Any] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None  # made when the stream may commit
        self._answered = False  # the SDK began its own (JSON) response
        self._streaming = False  # this exchange committed text/event-stream
        self._ended = False  # the response's last byte is sent
        self._cut_off = False  # the client disconnected, and the call was cancelled
        self._body = bytearray()  # the SDK's JSON answer, once the stream has committed
        self._relayed = False  # the SDK streams its answer itself, into the committed stream

    async def run(self, app: ASGIApp, scope: Scope) -> None:
        """Run ``app`` (the SDK's JSON-mode app) on this request.

        Raises:
            asyncio.CancelledError: the server's own cancellation; a client that disconnects
                (before its body is in, or while its call runs) ends the request quietly.
        """
        self._task = asyncio.current_task()
        scope[EXCHANGE_KEY] = self
        try:
            await app(scope, self._received, self._sent)
        except ClientDisconnect:
            return  # gone before its body was in: nobody to answer, nothing to log
        except asyncio.CancelledError:
            task = self._task
            if not self._cut_off or task is None or task.uncancel() > 0:
                raise  # the server's, not the client's: the server is stopping
        finally:
            if self._timer is not None:
                self._timer.cancel()
            for helper in (self._watcher, self._keeper):
                if helper is not None:
                    helper.cancel()
            # The helpers' coroutines hold this exchange: no cycle is left for the collector.
            self._task = self._watcher = self._keeper = self._timer = None
            scope.pop(EXCHANGE_KEY, None)

    async def progress(self, notification: Mapping[str, Any]) -> None:
        """Send a JSON-RPC notification as an event before the result; the first commits
        the stream. Dropped once the SDK's answer has begun."""
        event = _event(json.dumps(notification, separators=(",", ":")).encode())
        async with self._locked():
            if await self._commit() and not self._ended:
                await self._send({"type": "http.response.body", "body": event, "more_body": True})

    async def _received(self) -> Message:
        message = await self._receive()
        if (
            self._timer is None
            and message["type"] == "http.request"
            and not message.get("more_body", False)
        ):
            # The whole body is in: what comes next is the client going away. Most calls
            # end sooner than WATCH_AFTER, and need no task to watch for it.
            self._timer = asyncio.get_running_loop().call_later(WATCH_AFTER, self._late)
        return message

    async def _sent(self, message: Message) -> None:
        if not self._streaming:
            if message["type"] == "http.response.start":
                self._answered = True
                if self._timer is not None:
                    self._timer.cancel()
            elif not message.get("more_body", False):
                self._ended = True  # a disconnect from now on cancels nothing
            await self._send(message)
            return
        async with self._locked():
            if message["type"] == "http.response.start":
                # The stream's status and headers went out when it committed. An answer the
                # SDK streams itself (subscriptions/listen) is events already: passed on.
                kind = response_header(message, b"content-type") or ""
                self._relayed = kind.split(";")[0].strip().lower() == "text/event-stream"
                return
            if message["type"] != "http.response.body" or self._ended:
                return
            if self._relayed:
                self._ended = not message.get("more_body", False)
                await self._send(message)
                return
            self._body += message.get("body", b"")
            if not message.get("more_body", False):
                self._ended = True
                body = _event(bytes(self._body))
                await self._send({"type": "http.response.body", "body": body, "more_body": False})

    async def _watch(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        if self._task is not None and not self._ended:
            self._cut_off = True
            self._task.cancel()

    def _late(self) -> None:
        """The call outlived ``WATCH_AFTER``: watch for the client going away, and time the
        deferral window."""
        if self._answered:
            return
        loop = asyncio.get_running_loop()
        self._watcher = loop.create_task(self._watch())
        self._timer = loop.call_later(max(0.0, self._interval - WATCH_AFTER), self._defer)

    def _defer(self) -> None:
        """The call outlived the deferral window: commit the stream, and keep it alive."""
        if not self._answered:
            self._keeper = asyncio.get_running_loop().create_task(self._keep_alive())

    async def _keep_alive(self) -> None:
        while True:
            async with self._locked():
                if not await self._commit() or self._ended:
                    return
                await self._send({"type": "http.response.body", "body": _PING, "more_body": True})
            await asyncio.sleep(self._interval)

    def _locked(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def _commit(self) -> bool:
        """Start the stream (with the lock held); ``False`` once the SDK's answer has begun."""
        if self._answered:
            return False
        if not self._streaming:
            self._streaming = True
            await self._send(
                {"type": "http.response.start", "status": 200, "headers": _STREAM_HEADERS}
            )
        return True


def exchange_of(scope: Any) -> Exchange | None:
    """The exchange a request's ASGI scope carries, if it is answered by one."""
    found = scope.get(EXCHANGE_KEY) if isinstance(scope, Mapping) else None
    return found if isinstance(found, Exchange) else None


def response_header(message: Message, name: bytes) -> str | None:
    """A header of an ``http.response.start`` message, by its lower-case name."""
    for key, value in message.get("headers", ()):
        if bytes(key).lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _event(data: bytes) -> bytes:
    """One SSE ``message`` event, as the SDK writes its own (a line each for a multi-line
    body, which compact JSON never is)."""
    lines = b"".join(b"data: " + line + b"\r\n" for line in data.splitlines() or [b""])
    return b"event: message\r\n" + lines + b"\r\n"
