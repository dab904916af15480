"""The host's side: a ``toolwire.types.Executor`` that sends calls to ``toolwire worker``s.

Every call goes out as a job signed with the executor's key (``_wire``), with a deadline (the
tool's ``timeout``, else ``default_timeout``) and a time by which a worker must claim it
(``claim_timeout``). The host waits for the reply, checks the worker's heartbeat meanwhile,
and cancels a job nobody claimed in time for good: it takes the job's claim itself, so no
worker can start it afterwards.

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
from redis.exceptions import RedisError, ResponseError
from taskiq.exceptions import TaskiqError
from taskiq.message import BrokerMessage
from toolwire.types import Job

from ._progress import Inbox
from ._settings import Settings
from ._wire import (
    ABANDONED,
    CANCELLED,
    JOB_VERSION,
    PROGRESS_DOMAIN,
    Keys,
    Refused,
    Signer,
    claim_lifetime,
    job_id_of,
    make_broker,
    read_progress,
)

_log: Final = toolwire.get_logger("toolwire.taskiq")

#: The task name the jobs carry on the broker.
TASK_NAME: Final = "toolwire.call"
#: Past the deadline, how long the host itself waits for a reply before it answers
#: ``timeout``; the ``Timeout`` middleware answers at the deadline a tool with a ``timeout``.
DEADLINE_GRACE: Final = 1.0
#: Seconds ``close()`` waits for Redis while it lets go of its connections.
CLOSE_TIMEOUT: Final = 5.0


class WorkerError(Exception):
    """A tool raised on a worker; the worker's log has the traceback."""


class TaskiqExecutor:
    """Runs each call on one ``toolwire worker NAME``, over taskiq and Redis.

    At most once: a call is claimed by one worker and never run again. Every job is signed
    with the key ``key_env`` names, so a worker runs only what a host with the key sent, as
    it sent it, before its deadline, once. A call no worker claims within ``claim_timeout``
    gets ``executor_unavailable`` and can never run afterwards; a call whose worker stops
    sending heartbeats gets ``executor_lost`` within ``heartbeat`` seconds; a call that cannot
    be queued (Redis unreachable) gets ``executor_unavailable``. A deadline or the caller's
    cancellation reaches the worker, which cancels an ``async def`` tool.

    Args:
        settings: The ``[executors.NAME]`` table, checked.
        signer: What signs the jobs and checks the replies; by default one with the key the
            variable ``settings.key_env`` holds.

    Raises:
        toolwire.ConfigError: the key is missing or weak (fail closed: nothing is sent
            unsigned).
    """

    def __init__(self, settings: Settings, *, signer: Signer | None = None) -> None:
        self.settings = settings
        self.keys = Keys(settings)
        self.signer = signer if signer is not None else Signer(settings.key())
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
        """Queue the call, wait for its reply, and return the decoded result; the tool's
        progress reports, when the call has a consumer for them, reach it before that."""
        inbox = _inbox_of(job)
        future = asyncio.run_coroutine_threadsafe(self._call(job, inbox), self._running_loop())
        try:
            return await asyncio.wrap_future(future)  # cancelling it cancels the call over there
        finally:
            if inbox is not None:
                inbox.over = True  # on this loop: no report runs after the call is over here

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

    async def _call(self, job: Job, inbox: Inbox | None) -> Any:
        link = await self._connected()
        if inbox is not None:
            await link.listening_for_progress()
            inbox.start()
        sent = _Sent(job, self.settings, None if inbox is None else link.host)
        message = self.signer.seal(sent.job)
        arrived = asyncio.Event()
        link.waiters[sent.id] = arrived
        if inbox is not None:
            link.inboxes[sent.id] = inbox
        try:
            try:
                await link.broker.kick(
                    BrokerMessage(task_id=sent.id, task_name=TASK_NAME, message=message, labels={})
                )
            except (TaskiqError, RedisError, OSError) as exc:
                raise _unavailable(self.settings, exc) from None
            return await self._reply(link, sent, message, arrived, inbox)
        except asyncio.CancelledError:
            link.spawn(self._cancel(link, sent, message))
            raise
        finally:
            link.waiters.pop(sent.id, None)
            if inbox is not None:
                link.inboxes.pop(sent.id, None)
                inbox.close(flush=False)  # a call over without its reply: nothing more

    async def _reply(
        self,
        link: _Link,
        sent: _Sent,
        message: bytes,
        arrived: asyncio.Event,
        inbox: Inbox | None,
    ) -> Any:
        """Wait for the reply; meanwhile check that a worker claimed the job in time and that
        it still sends heartbeats."""
        heartbeat = self.settings.heartbeat
        loop = asyncio.get_running_loop()
        contact = loop.time()
        claimed = False
        while True:
            now = time.time()
            until = sent.deadline + DEADLINE_GRACE if claimed else sent.claim_by
            wait = min(heartbeat / 4, max(until - now, 0.05))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), wait)
            arrived.clear()
            try:
                stored = await link.redis.getdel(self.keys.result(sent.id))
                if stored is not None:
                    try:
                        reply = self.signer.open_reply(sent.id, _bytes(stored))
                    except Refused:
                        _log.warning(
                            "toolwire_taskiq.reply_refused",
                            reason="forged",
                            job=sent.id,
                            tool=sent.job["tool"],
                        )
                    else:
                        if inbox is not None:  # the reports the reply counts, then no more
                            await inbox.finish(
                                reply.get("reports") if isinstance(reply, dict) else None
                            )
                        return _decode(reply)
                holder = await link.redis.get(self.keys.claim(sent.id))
                if holder is None and time.time() >= sent.claim_by:
                    await self._abandon(link, sent, message)
                elif holder is not None:
                    claimed = True
                    # Whoever can write to Redis can set a claim to anything: bytes that are
                    # no worker's id read as a worker that sends no heartbeat.
                    worker = (
                        holder.decode(errors="replace")
                        if isinstance(holder, bytes)
                        else str(holder)
                    )
                    if not worker.startswith("!") and not await link.redis.exists(
                        self.keys.alive(worker)
                    ):
                        raise toolwire.ToolError(
                            f"the worker running the call stopped sending heartbeats "
                            f"(executor {self.settings.name!r}); it may have run partly",
                            kind="executor_lost",
                        )
                contact = loop.time()
            except (RedisError, OSError):
                if loop.time() - contact > heartbeat:
                    raise toolwire.ToolError(
                        f"lost contact with the broker of executor {self.settings.name!r} "
                        "while the call was under way; it may have run",
                        kind="executor_lost",
                    ) from None
            if time.time() > sent.deadline + DEADLINE_GRACE:
                raise toolwire.ToolError(
                    f"{sent.job['tool']} did not finish in time on a worker", kind="timeout"
                )

    async def _abandon(self, link: _Link, sent: _Sent, message: bytes) -> None:
        """Take the claim of a job no worker claimed in time, so that none ever starts it, and
        answer ``executor_unavailable``; return if a worker claimed it first."""
        if not await link.redis.set(
            self.keys.claim(sent.id),
            ABANDONED,
            nx=True,
            ex=claim_lifetime(sent.deadline),
        ):
            return
        link.spawn(self._withdraw(link, message))
        raise toolwire.ToolError(
            f"no worker of executor {self.settings.name!r} claimed the call within "
            f"{self.settings.claim_timeout:g} s (none running, all busy, or they refused it: "
            "see their logs for job_refused); it was withdrawn and will not run",
            kind="executor_unavailable",
            retryable=True,
        )

    async def _cancel(self, link: _Link, sent: _Sent, message: bytes) -> None:
        """Take the claim of a job no worker has yet (it will never start), else tell the
        worker that has it to stop."""
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(self.settings.connect_timeout):
                if await link.redis.set(
                    self.keys.claim(sent.id),
                    CANCELLED,
                    nx=True,
                    ex=claim_lifetime(sent.deadline),
                ):
                    await link.redis.lrem(self.settings.queue, 1, message.decode("ascii"))
                else:
                    await link.redis.publish(
                        self.keys.cancel_channel, self.signer.seal_cancel(sent.id)
                    )

    async def _withdraw(self, link: _Link, message: bytes) -> None:
        """Take a job that will never run off the queue (the claim already stops it)."""
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(self.settings.connect_timeout):
                await link.redis.lrem(self.settings.queue, 1, message.decode("ascii"))

    async def _connected(self) -> _Link:
        if self._link is None:
            self._link = _Link(self.settings, self.keys, self.signer)
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


class _Sent:
    """One job as the host sends it: its id, deadline, claim time and signed fields."""

    __slots__ = ("claim_by", "deadline", "id", "job")

    def __init__(self, job: Job, settings: Settings, progress: str | None) -> None:
        now = time.time()
        self.id = uuid.uuid4().hex
        self.deadline = job.deadline if job.deadline is not None else now + settings.default_timeout
        self.claim_by = min(now + settings.claim_timeout, self.deadline)
        self.job: dict[str, Any] = {
            "v": JOB_VERSION,
            "job": self.id,
            "executor": settings.name,
            "call_id": job.call_id,
            "tool": job.tool.name,
            "arguments": dict(job.arguments),
            "plugin": job.plugin,
            "version": job.version,
            "deadline": self.deadline,
            "claim_by": self.claim_by,
            "attempt": job.attempt,
            "role": job.role,
            "principal": job.principal,
            "approval_id": job.approval_id,
            "trace_context": dict(job.trace_context),
            "progress": progress,
        }


class _Link:
    """One executor's connections: the broker, a Redis client for replies, claims,
    heartbeats and cancellations, and a subscription to the ``done`` channel and to this
    link's own ``progress:HOST`` channel."""

    def __init__(self, settings: Settings, keys: Keys, signer: Signer) -> None:
        self.settings = settings
        self.keys = keys
        self.signer = signer
        self.host = uuid.uuid4().hex
        self.progress_channel = keys.progress(self.host)
        self.subscribed = asyncio.Event()
        self.unsubscribed = False  # the last try to subscribe failed
        self.inboxes: dict[str, Inbox] = {}
        self.broker = make_broker(settings)
        timeout = max(settings.connect_timeout, settings.heartbeat)
        self.redis = redis.asyncio.Redis.from_url(
            settings.url, socket_connect_timeout=settings.connect_timeout, socket_timeout=timeout
        )
        self.listen_redis = redis.asyncio.Redis.from_url(
            settings.url, socket_connect_timeout=settings.connect_timeout
        )
        self.waiters: dict[str, asyncio.Event] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        # Junk on the done channel: counted, never a line each, and listening goes on.
        self.junk = toolwire.RefusalSummary("toolwire.taskiq", "toolwire_taskiq.message_refused")

    async def open(self) -> None:
        await self.broker.startup()
        self.spawn(self._listen())
        self.spawn(self._listen_for_progress())

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _listen(self) -> None:
        """Wake the waiter of each call whose result arrived; reconnect after a failure.

        Anyone who can publish can send anything on the channel: what is not a job id is
        counted (``toolwire_taskiq.message_refused`` summaries) and listening goes on.
        """
        while True:
            pubsub = self.listen_redis.pubsub()
            try:
                await pubsub.subscribe(self.keys.done)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        job_id = job_id_of(message.get("data"))
                        if job_id is None:
                            self.junk.note("done_not_a_job_id")
                            continue
                        waiter = self.waiters.get(job_id)
                        if waiter is not None:
                            waiter.set()
            except (RedisError, OSError):
                pass  # each waiter's own checks notice a Redis that is gone
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
            await asyncio.sleep(self.settings.heartbeat / 4)

    async def _listen_for_progress(self) -> None:
        """Take the reports on this link's progress channel, on a subscription of its own:
        a Redis that refuses it (ACLs without the channel) costs the calls their reports,
        never their replies. Refused, it says so once, and tries again."""
        warned = False
        while True:
            pubsub = self.listen_redis.pubsub()
            try:
                await pubsub.subscribe(self.progress_channel)
                async for message in pubsub.listen():
                    kind = message.get("type")
                    if kind == "subscribe":
                        self.subscribed.set()
                        self.unsubscribed = warned = False
                    elif kind == "message":
                        self._progressed(message.get("data"))
            except (RedisError, OSError) as exc:
                self.unsubscribed = True
                if not warned and isinstance(exc, ResponseError):  # NOPERM; not a lost Redis
                    _log.warning(
                        "toolwire_taskiq.progress_unavailable",
                        channel=self.progress_channel,
                        error=repr(exc),
                    )
                    warned = True
            finally:
                self.subscribed.clear()
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
            await asyncio.sleep(self.settings.heartbeat / 4)

    async def listening_for_progress(self) -> None:
        """Wait, ``connect_timeout`` at most, until this link's progress channel is
        subscribed, so that a worker's first report finds the host listening; not at all
        once subscribing failed. Either way the call goes on: its result does not depend on
        its reports."""
        if self.unsubscribed:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), self.settings.connect_timeout)

    def _progressed(self, data: Any) -> None:
        """A message on this link's progress channel: its signature checked before it is
        parsed, then passed to its call's inbox, in order. Forged, malformed, out-of-order
        reports, and reports for a call no longer waiting (late), are counted and dropped."""
        if not isinstance(data, bytes):
            data = str(data).encode("utf-8", errors="replace")
        try:
            job_id, seq, report = read_progress(self.signer.open(data, PROGRESS_DOMAIN))
        except Refused as refused:
            self.junk.note(f"progress_{refused.reason}")
            return
        inbox = self.inboxes.get(job_id)
        if inbox is None:
            self.junk.note("progress_late")
        elif not inbox.take(seq, report):
            self.junk.note("progress_out_of_order")

    async def close(self) -> None:
        self.junk.flush()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.broker.shutdown()
        for client in (self.redis, self.listen_redis):
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()


def _inbox_of(job: Job) -> Inbox | None:
    """Where the call's progress reports go, when it has a consumer for them: the tool
    takes a ``CallContext`` whose host passed ``progress=``."""
    param = job.tool.context_param
    context = job.kwargs.get(param) if param is not None else None
    if isinstance(context, toolwire.CallContext) and context.progress is not None:
        return Inbox(asyncio.get_running_loop(), context.report_progress)
    return None


def _decode(reply: Any) -> Any:
    """The value of a worker's reply, or the error it carries, raised."""
    if not isinstance(reply, dict):
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


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


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
