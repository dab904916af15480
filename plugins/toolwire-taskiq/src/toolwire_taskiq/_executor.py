"""The host's side: a ``toolwire.types.Executor`` that sends calls to ``toolwire worker``s.

Its Redis connections live on an event loop of its own, on a thread of its own, because a
dispatcher serves calls from more than one loop (the host's, and the one of its sync twins)
and a connection belongs to one loop. ``close()`` stops both.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Coroutine
from typing import Any, Final

import redis.asyncio
import toolwire
from redis.exceptions import RedisError
from taskiq.exceptions import SendTaskError, TaskiqError
from taskiq.kicker import AsyncKicker
from toolwire.types import Job

from ._settings import Settings
from ._wire import TASK_NAME, Keys, make_broker

#: Past the deadline, how long the host itself waits for a reply before it answers
#: ``timeout``; the ``Timeout`` middleware normally answers at the deadline.
DEADLINE_GRACE: Final = 1.0
#: Seconds ``close()`` waits for Redis while it lets go of its connections.
CLOSE_TIMEOUT: Final = 5.0


class WorkerError(Exception):
    """A tool raised on a worker; the worker's log has the traceback."""


class TaskiqExecutor:
    """Runs each call on one ``toolwire worker NAME``, over taskiq and Redis.

    At most once: a call is taken by one worker and never delivered again. A call whose
    worker stops sending heartbeats gets ``executor_lost`` within ``heartbeat`` seconds; a
    call that cannot be queued (Redis unreachable) gets ``executor_unavailable``. A deadline
    or the caller's cancellation reaches the worker, which cancels an ``async def`` tool.

    Args:
        settings: The ``[executors.NAME]`` table, checked.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = Keys(settings)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._link: _Link | None = None

    def __repr__(self) -> str:
        return f"<toolwire-taskiq executor {self.settings.name!r} queue={self.settings.queue!r}>"

    def check(self, tool: toolwire.Tool) -> None:
        """Any tool will do: the worker checks that it has the same one."""

    def start(self) -> None:
        """Nothing to start: the connection is made on the first call."""

    async def submit(self, job: Job) -> Any:
        """Queue the call, wait for its reply, and return the decoded result."""
        future = asyncio.run_coroutine_threadsafe(self._call(job), self._running_loop())
        return await asyncio.wrap_future(future)  # cancelling it cancels the call over there

    def close(self) -> None:
        """Stop waiting, close the connections, stop the thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._disconnect(), loop).result(CLOSE_TIMEOUT * 2)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()

    # -- on the executor's own loop -------------------------------------------------------

    async def _call(self, job: Job) -> Any:
        link = await self._connected()
        call = uuid.uuid4().hex
        arrived = asyncio.Event()
        link.waiters[call] = arrived
        try:
            try:
                kicker: AsyncKicker[Any, Any] = AsyncKicker(TASK_NAME, link.broker, {})
                await kicker.with_task_id(call).kiq(_payload(job, self.settings.name))
            except (SendTaskError, RedisError, OSError) as exc:
                raise _unavailable(self.settings, exc) from None
            return await self._reply(link, call, job, arrived)
        except asyncio.CancelledError:
            link.spawn(self._cancel(link, call))
            raise
        finally:
            link.waiters.pop(call, None)

    async def _reply(self, link: _Link, call: str, job: Job, arrived: asyncio.Event) -> Any:
        """Wait for the reply, checking the worker's heartbeat meanwhile."""
        heartbeat = self.settings.heartbeat
        loop = asyncio.get_running_loop()
        contact = loop.time()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), heartbeat / 4)
            arrived.clear()
            try:
                backend = link.broker.result_backend
                if await backend.is_result_ready(call):
                    result = await backend.get_result(call)
                    return _decode(result.return_value, result.is_err)
                taken = await link.redis.get(self.keys.taken(call))
                if taken is not None and not await link.redis.exists(
                    self.keys.alive(taken.decode() if isinstance(taken, bytes) else taken)
                ):
                    raise toolwire.ToolError(
                        f"the worker running the call stopped sending heartbeats "
                        f"(executor {self.settings.name!r}); it may have run partly",
                        kind="executor_lost",
                    )
                contact = loop.time()
            except (RedisError, OSError, TaskiqError):
                if loop.time() - contact > heartbeat:
                    raise toolwire.ToolError(
                        f"lost contact with the broker of executor {self.settings.name!r} "
                        "while the call ran; it may have run",
                        kind="executor_lost",
                    ) from None
            if job.deadline is not None and time.time() > job.deadline + DEADLINE_GRACE:
                raise toolwire.ToolError(
                    f"{job.tool.name} did not finish in time on a worker", kind="timeout"
                )

    async def _cancel(self, link: _Link, call: str) -> None:
        """Tell the workers: the key for one that has not started it, a message for one that has."""
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(self.settings.connect_timeout):
                ttl = int(self.settings.result_ttl)
                await link.redis.set(self.keys.cancel(call), "1", ex=ttl)
                await link.redis.publish(self.keys.cancel_channel, call)

    async def _connected(self) -> _Link:
        if self._link is None:
            self._link = _Link(self.settings, self.keys)
            await self._link.open()
        return self._link

    async def _disconnect(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await link.close()

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(
                    target=_serve,
                    args=(loop, ready),
                    name=f"toolwire-taskiq-{self.settings.name}",
                    daemon=True,
                )
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop


class _Link:
    """One executor's connections: the broker and its result backend, a Redis client for
    heartbeats and cancellations, and a subscription to the ``done`` channel."""

    def __init__(self, settings: Settings, keys: Keys) -> None:
        self.settings = settings
        self.keys = keys
        self.broker = make_broker(settings, keep_results=False)
        timeout = max(settings.connect_timeout, settings.heartbeat)
        self.redis = redis.asyncio.Redis.from_url(
            settings.url, socket_connect_timeout=settings.connect_timeout, socket_timeout=timeout
        )
        self.listen_redis = redis.asyncio.Redis.from_url(
            settings.url, socket_connect_timeout=settings.connect_timeout
        )
        self.waiters: dict[str, asyncio.Event] = {}
        self.tasks: set[asyncio.Task[Any]] = set()

    async def open(self) -> None:
        await self.broker.startup()
        self.spawn(self._listen())

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _listen(self) -> None:
        """Wake the waiter of each call whose result arrived; reconnect after a failure."""
        while True:
            pubsub = self.listen_redis.pubsub()
            try:
                await pubsub.subscribe(self.keys.done)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        waiter = self.waiters.get(message["data"].decode())
                        if waiter is not None:
                            waiter.set()
            except (RedisError, OSError):
                pass  # each waiter's own checks notice a Redis that is gone
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(self.settings.heartbeat / 4)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.broker.shutdown()
        for client in (self.redis, self.listen_redis):
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()


def _payload(job: Job, executor: str) -> dict[str, Any]:
    return {
        "executor": executor,
        "call_id": job.call_id,
        "tool": job.tool.name,
        "arguments": dict(job.arguments),
        "plugin": job.plugin,
        "version": job.version,
        "deadline": job.deadline,
        "attempt": job.attempt,
        "role": job.role,
        "trace_context": dict(job.trace_context),
    }


def _decode(reply: Any, is_err: bool) -> Any:
    """The value of a worker's reply, or the error it carries, raised."""
    if is_err or not isinstance(reply, dict):
        raise WorkerError("the worker failed to run the call; see the worker's log")
    if "ok" in reply:
        return json.loads(reply["ok"])
    if "error" in reply:
        error = reply["error"]
        raise toolwire.ToolError(
            str(error.get("message", "")),
            kind=error.get("kind", "execution_error"),
            retryable=error.get("retryable"),
            details=error.get("details") or None,
        )
    raised = reply.get("raised", {})
    text = f"{raised.get('type', 'an exception')} raised on a worker; see the worker's log"
    if raised.get("transient"):
        raise toolwire.TransientError(text)
    raise WorkerError(text)


def _unavailable(settings: Settings, exc: BaseException) -> toolwire.ToolError:
    cause = exc.__cause__ or exc
    return toolwire.ToolError(
        f"the broker of executor {settings.name!r} cannot be reached "
        f"({type(cause).__name__}); nothing ran",
        kind="executor_unavailable",
    )


def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    try:
        loop.run_forever()
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
