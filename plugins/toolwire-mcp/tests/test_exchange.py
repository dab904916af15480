"""``Exchange``, what keeps the SDK's stream behaviour around its JSON-response mode, driven at
the ASGI level where no MCP server reaches: an answer the SDK streams itself, and who
cancelled a request; and the progress relay facing a client that does not read. Served over
HTTP, the rest is tested in ``test_serve.py``."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

import pytest
from toolwire_mcp._exchange import Exchange
from toolwire_mcp._serve import MAX_WAITING_REPORTS, _ProgressRelay

BODY = {"type": "http.request", "body": b"{}", "more_body": False}


class Wire:
    """The server's side of one request: the body, then a disconnect once told to."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.gone = asyncio.Event()
        self._body = [BODY]

    async def receive(self) -> dict[str, Any]:
        if self._body:
            return self._body.pop()
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def text(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


async def test_an_answer_the_sdk_streams_itself_passes_into_the_committed_stream() -> None:
    """Once the stream has committed (the call outlived the ping interval), an answer the app
    streams itself (``subscriptions/listen``) reaches the client event by event, unwrapped."""
    wire = Wire()

    async def streaming(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await asyncio.sleep(0.1)
        start = [(b"content-type", b"text/event-stream; charset=utf-8")]
        await send({"type": "http.response.start", "status": 200, "headers": start})
        for n in range(3):
            event = f"event: message\r\ndata: {n}\r\n\r\n".encode()
            await send({"type": "http.response.body", "body": event, "more_body": n < 2})

    await Exchange(wire.receive, wire.send, 0.03).run(streaming, {})
    starts = [m for m in wire.sent if m["type"] == "http.response.start"]
    assert len(starts) == 1 and (b"content-type", b"text/event-stream") in starts[0]["headers"]
    assert wire.text().endswith(b"data: 0\r\n\r\nevent: message\r\ndata: 1\r\n\r\n"
                                b"event: message\r\ndata: 2\r\n\r\n")  # fmt: skip
    assert wire.text().startswith(b": ping")
    assert wire.sent[-1]["more_body"] is False


async def test_a_client_that_leaves_ends_the_request_quietly_and_the_server_s_cancel_passes() -> (
    None
):
    """A disconnect cancels the app and ``run`` returns; a cancel of the request's task by
    the server (it is stopping) is raised, as it must be."""
    cancelled: list[str] = []

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append("app")
            raise

    wire = Wire()
    left = asyncio.get_running_loop().call_later(0.05, wire.gone.set)
    await Exchange(wire.receive, wire.send, 15.0).run(slow, {})
    left.cancel()
    assert cancelled == ["app"] and wire.sent == []
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]

    stopping = asyncio.ensure_future(Exchange(Wire().receive, wire.send, 15.0).run(slow, {}))
    await asyncio.sleep(0.05)
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    assert cancelled == ["app", "app"]


async def test_a_quick_answer_passes_unchanged_and_leaves_no_task_behind() -> None:
    """A call answered before ``WATCH_AFTER`` passes as the app sent it, and no helper task
    outlives the request."""
    wire = Wire()
    start = {"type": "http.response.start", "status": 200, "headers": [(b"a", b"b")]}
    body = {"type": "http.response.body", "body": b'{"ok":1}'}

    async def quick(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send(start)
        await send(body)

    before = asyncio.all_tasks()
    scope: dict[str, Any] = {}
    await Exchange(wire.receive, wire.send, 15.0).run(quick, scope)
    assert wire.sent == [start, body] and scope == {}
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == before


async def test_progress_for_a_client_that_does_not_read_is_bounded_and_keeps_the_latest() -> None:
    """A session that takes no report while a tool makes thousands (from the loop and from a
    thread) holds at most ``MAX_WAITING_REPORTS``; once it reads, it gets them in order, the
    last one the tool made among them, all before ``finish`` returns."""
    sent: list[float] = []
    reading = asyncio.Event()

    async def report_progress(progress: float, total: float | None, message: str | None) -> None:
        await reading.wait()
        sent.append(progress)

    session = SimpleNamespace(report_progress=report_progress)
    relay = _ProgressRelay(SimpleNamespace(session=session, request=None))
    for n in range(5_000):
        relay.report(n, None, None)
    worker = threading.Thread(
        target=lambda: [relay.report(n, None, None) for n in range(5_000, 9_000)]
    )
    worker.start()
    await asyncio.to_thread(worker.join)
    await asyncio.sleep(0.05)
    assert len(relay._waiting) <= MAX_WAITING_REPORTS
    reading.set()
    await relay.finish()
    assert sent == sorted(sent) and sent[-1] == 8_999 and len(sent) <= MAX_WAITING_REPORTS + 1


async def test_progress_that_does_not_grow_is_not_sent() -> None:
    """MCP wants progress to grow with each notification: a report at or below the last one
    (threads reporting at once) is dropped; the others go out in order."""
    sent: list[float] = []

    async def report_progress(progress: float, total: float | None, message: str | None) -> None:
        sent.append(progress)

    relay = _ProgressRelay(
        SimpleNamespace(session=SimpleNamespace(report_progress=report_progress), request=None)
    )
    for progress in (1, 3, 2, 3, 4):
        relay.report(progress, None, None)
    await relay.finish()
    assert sent == [1, 3, 4]
