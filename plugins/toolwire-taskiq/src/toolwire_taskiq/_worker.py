"""The workers' side: ``toolwire worker NAME`` takes jobs from the queue and runs them.

A worker loads the same config and packs as the host (``Dispatcher.from_config``) and the same
key (``key_env``). Each message it takes goes through, in this order:

1. its signature, checked over the raw bytes before anything is parsed (``unsigned``,
   ``forged``: refused);
2. its fields (``malformed``, ``other_executor``: refused);
3. its times: past its deadline (``expired``) or its ``claim_timeout`` (``unclaimed``), it is
   refused, and its host, if it still waits, gets a reply saying so;
4. its claim: a job this worker claimed before is refused (``replayed``) from its own memory
   (``_claims``), which a Redis client cannot delete, as it can a claim in Redis; then the
   claim is taken once in Redis (``SET NX``), shared by all workers: a job claimed before
   (``replayed``), or whose host gave up on it (``abandoned``) or cancelled it
   (``cancelled``), is refused. A worker whose memory is full of jobs still within their
   claim time refuses the job (``claim_memory_full``) and tells its host;
5. the tool: only one bound to this executor, at the host's pack version, its arguments
   validated again; the function runs until the deadline or the host's cancellation. When
   the job names its host's progress channel, the tool's reports are published there,
   signed, numbered and paced (``_progress.Outbox``), all before the reply.

Refusals are logged as ``toolwire_taskiq.job_refused`` summaries (``toolwire.RefusalSummary``):
a count per reason, one line per interval at most, since whoever can write to the queue can
send junk as fast as they like; never the job's arguments. A signed job refused (late,
replayed) is also logged at debug level with its job id and tool. The worker takes a job only when it has a free slot, so jobs spread over the
workers, and it sends heartbeats while it lives.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

import redis.asyncio
import redis.exceptions
import toolwire
from redis.exceptions import RedisError
from toolwire.middleware import DEFAULT_RETRY_ON
from toolwire.propagation import attached
from toolwire.types import Redaction

from ._claims import ClaimMemory
from ._progress import Outbox
from ._settings import Settings
from ._wire import (
    ABANDONED,
    CANCELLED,
    REFUSED,
    Keys,
    Refused,
    Signer,
    claim_lifetime,
    lateness,
    make_broker,
    read_job,
)

_log: Final = toolwire.get_logger("toolwire.taskiq")

#: Seconds between attempts to reach a Redis that went away.
RECONNECT_DELAY: Final = 0.5
#: What a claim held by someone else says about a job taken again.
_HELD: Final = {ABANDONED: "abandoned", CANCELLED: "cancelled", REFUSED: "replayed"}


class Worker:
    """One worker process of a taskiq executor.

    Args:
        dispatcher: Started from the same config and packs as the host.
        settings: The executor's ``[executors.NAME]`` table.
        concurrency: Calls run at once (default: the table's ``concurrency``).
        signer: What checks the jobs and signs the replies; by default one with the key the
            variable ``settings.key_env`` holds.

    Raises:
        toolwire.ConfigError: the key is missing or weak.
    """

    def __init__(
        self,
        dispatcher: toolwire.Dispatcher,
        settings: Settings,
        concurrency: int | None = None,
        *,
        signer: Signer | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.settings = settings
        self.signer = signer if signer is not None else Signer(settings.key())
        self.keys = Keys(settings)
        self.concurrency = concurrency or settings.concurrency
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.versions = {row.name: row.version for row in dispatcher.plugins()}
        # A job's id is here from before its claim until its reply: None until its tool runs.
        self.running: dict[str, asyncio.Task[str] | None] = {}
        self.cancelled: set[str] = set()
        # Every job claimed here, until its deadline: a replay never runs twice on this worker.
        self.claims = ClaimMemory(settings.claim_memory)
        self.stopping = asyncio.Event()
        self.refusals = toolwire.RefusalSummary("toolwire.taskiq", "toolwire_taskiq.job_refused")
        # Junk on the cancel channel: counted, never a line each, and listening goes on.
        self.junk = toolwire.RefusalSummary("toolwire.taskiq", "toolwire_taskiq.message_refused")
        # The host's rule for secrets: a tool's failure is logged with them masked.
        self.redaction = Redaction.from_config(dispatcher.config)
        self.redis = redis.asyncio.Redis.from_url(
            settings.url,
            socket_connect_timeout=settings.connect_timeout,
            socket_timeout=max(settings.connect_timeout, settings.heartbeat),
        )

    async def run(self) -> None:
        """Serve until ``stop()``; then finish the calls under way and say goodbye."""
        broker = make_broker(self.settings)
        broker.is_worker_process = True
        await broker.startup()
        helpers = [
            asyncio.create_task(self._beat()),
            asyncio.create_task(self._listen_for_cancels()),
        ]
        try:
            await self._take_jobs(broker)
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            self.refusals.flush()
            self.junk.flush()
            with contextlib.suppress(RedisError, OSError):
                await self.redis.delete(self.keys.alive(self.id))
            with contextlib.suppress(RedisError, OSError):
                await broker.shutdown()
            with contextlib.suppress(RedisError, OSError):
                await self.redis.aclose()

    def stop(self) -> None:
        self.stopping.set()

    async def _take_jobs(self, broker: Any) -> None:
        slots = asyncio.Semaphore(self.concurrency)
        under_way: set[asyncio.Task[None]] = set()
        messages: AsyncIterator[Any] | None = None
        stop = asyncio.create_task(self.stopping.wait())
        try:
            while not self.stopping.is_set():
                await slots.acquire()  # take a job only with a free slot: jobs spread out
                if messages is None:
                    messages = broker.listen()
                taking = asyncio.ensure_future(anext(messages))
                await asyncio.wait({taking, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not taking.done():
                    taking.cancel()
                    slots.release()
                    break
                try:
                    message = taking.result()
                except (RedisError, OSError, StopAsyncIteration) as exc:
                    slots.release()
                    messages = None
                    if isinstance(exc, TimeoutError | redis.exceptions.TimeoutError):
                        # A blocking read that outlived the socket's timeout on an idle queue:
                        # not an outage. Listen again; a real outage fails to connect.
                        _log.debug("toolwire_taskiq.listen_timed_out", error=repr(exc))
                        continue
                    _log.warning("toolwire_taskiq.broker_unreachable", error=repr(exc))
                    await asyncio.sleep(RECONNECT_DELAY)
                    continue
                task = asyncio.create_task(self.take(bytes(message)))
                under_way.add(task)
                task.add_done_callback(under_way.discard)
                task.add_done_callback(lambda _: slots.release())
        finally:
            stop.cancel()
            if under_way:
                await asyncio.gather(*under_way, return_exceptions=True)

    async def take(self, message: bytes) -> None:
        """Check one message, claim its job, run it and reply; or refuse it. Never raises."""
        try:
            job = read_job(self.signer.open(message), self.settings.name)
        except Refused as refused:
            self.refusals.note(refused.reason)
            return
        job_id = job["job"]
        late = lateness(job)
        if late is not None:
            await self._refuse_late(job, late)
            return
        if job_id in self.running or job_id in self.claims:  # taken here before: a replay
            self._refused("replayed", job)
            return
        if not self.claims.remember(job_id, job["claim_by"], job["deadline"]):
            error = _error(
                f"the worker that took the call of {job['tool']} remembers "
                f"{self.claims.limit} claimed jobs at most ([executors.{self.settings.name}] "
                "claim_memory), all still within their claim_timeout; it did not run",
                "executor_unavailable",
                retryable=True,
            )
            await self._refuse_with_reply(job, "claim_memory_full", error)
            return
        self.running[job_id] = None  # from here a cancel for it is kept, not lost
        try:
            try:
                held = await self._claim(job)
            except (RedisError, OSError) as exc:
                # Without the claim the job could run twice: it does not run here. Its host
                # answers executor_unavailable or executor_lost.
                _log.warning("toolwire_taskiq.claim_failed", job=job_id, error=repr(exc))
                return
            if held is not None:
                self._refused(_HELD.get(held, "replayed"), job)
                return
            await self._reply(job_id, await self._call_reporting(job))
        finally:
            self.running.pop(job_id, None)
            self.cancelled.discard(job_id)

    async def _call_reporting(self, job: dict[str, Any]) -> dict[str, Any]:
        """Run the job; when its host asked for progress, send the tool's reports to the
        host's channel, all of them before the reply, which says how many there were."""
        host = job.get("progress")
        if host is None:
            return await self.call(job)
        outbox = Outbox(self.redis, self.keys.progress(host), self.signer, job["job"])
        try:
            reply = await self.call(job, progress=outbox.report)
            reply["reports"] = await outbox.finish()
        except BaseException:
            outbox.abort()
            raise
        return reply

    def _refused(self, reason: str, job: dict[str, Any]) -> None:
        """Count a signed job's refusal in the summary; its id and tool at debug level only
        (a job replayed from the queue is as cheap to send as junk)."""
        self.refusals.note(reason)
        _log.debug("toolwire_taskiq.job_refused", reason=reason, job=job["job"], tool=job["tool"])

    async def _claim(self, job: dict[str, Any]) -> str | None:
        """Claim the job for this worker: ``None``, or who holds its claim already."""
        key = self.keys.claim(job["job"])
        lifetime = claim_lifetime(job["deadline"])
        if await self.redis.set(key, self.id, nx=True, ex=lifetime):
            return None
        held = await self.redis.get(key)
        return held.decode(errors="replace") if isinstance(held, bytes) else str(held)

    async def _refuse_late(self, job: dict[str, Any], late: str) -> None:
        """Refuse a job too late to start, and tell its host (which may still wait)."""
        tool = job["tool"]
        if late == "expired":
            error = _error(
                f"{tool}'s deadline passed before a worker could start it; it did not run",
                "timeout",
            )
        else:
            error = _error(
                f"no worker claimed the call of {tool} within its claim_timeout; it did not run",
                "executor_unavailable",
                retryable=True,
            )
        await self._refuse_with_reply(job, late, error)

    async def _refuse_with_reply(
        self, job: dict[str, Any], reason: str, error: dict[str, Any]
    ) -> None:
        """Refuse a job; take its claim (no worker starts it after this) and reply ``error``
        to its host, unless someone holds its claim already (a job taken again)."""
        job_id = job["job"]
        self._refused(reason, job)
        key = self.keys.claim(job_id)
        lifetime = claim_lifetime(job["deadline"])
        try:
            if not await self.redis.set(key, REFUSED, nx=True, ex=lifetime):
                return
        except (RedisError, OSError):
            return
        await self._reply(job_id, {"error": error})

    async def _reply(self, job_id: str, reply: dict[str, Any]) -> None:
        """Store the signed reply, and tell the hosts it is there."""
        try:
            sealed = self.signer.seal_reply(job_id, reply)
        except (TypeError, ValueError):  # a tool's error details that are not JSON
            unsent = _error("the worker's reply could not be sent as JSON", "output_error")
            sealed = self.signer.seal_reply(job_id, {"error": unsent})
        try:
            await self.redis.set(self.keys.result(job_id), sealed, ex=self.settings.result_ttl)
            await self.redis.publish(self.keys.done, job_id)
        except (RedisError, OSError) as exc:
            _log.warning("toolwire_taskiq.reply_failed", job=job_id, error=repr(exc))

    async def call(
        self,
        job: dict[str, Any],
        *,
        progress: Callable[[float, float | None, str | None], None] | None = None,
    ) -> dict[str, Any]:
        """Run one claimed job, or say why not; ``progress`` receives the tool's reports.
        Never raises."""
        job_id, call, tool = job["job"], str(job.get("call_id", "")), job["tool"]
        try:
            problem = self._refusal(job)
            if problem is not None:
                return {"error": problem}
            if time.time() >= job["deadline"]:  # it passed while this worker claimed the job
                return {"error": _error(f"{tool}'s deadline passed before it started", "timeout")}
            with attached(job.get("trace_context")):  # the task keeps the call's trace
                running = asyncio.create_task(
                    self.dispatcher.execute(
                        tool,
                        job["arguments"],
                        executor=self.settings.name,
                        call_id=call,
                        role=job.get("role"),
                        attempt=int(job.get("attempt", 1)),
                        progress=progress,
                    )
                )
            self.running[job_id] = running
            if job_id in self.cancelled:
                running.cancel()  # the host cancelled it while this worker claimed it
            try:
                async with asyncio.timeout(job["deadline"] - time.time()):
                    return {"ok": await running}
            finally:
                self.running[job_id] = None
        except TimeoutError:
            return {"error": _error(f"{tool} did not finish in time on a worker", "timeout")}
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this worker is going away, not the call
            return {"error": _error(f"{tool} was cancelled by the host", "cancelled")}
        except toolwire.ToolError as error:
            return {
                "error": _error(
                    error.message, error.kind, retryable=error.retryable, details=error.details
                )
            }
        except Exception as exc:  # noqa: BLE001 - the host answers; the log here has the rest
            _log.error(
                "toolwire_taskiq.tool_failed",
                tool=tool,
                call_id=call,
                exc_info=exc,
                secrets=self.redaction.secret_values(job["arguments"]),
            )
            retry_on = DEFAULT_RETRY_ON
            with contextlib.suppress(KeyError):
                retry_on = self.dispatcher.policy(tool).retry_on or DEFAULT_RETRY_ON
            kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
            return {"raised": {"type": kind, "transient": isinstance(exc, retry_on)}}

    def _refusal(self, job: dict[str, Any]) -> dict[str, Any] | None:
        """Why this worker will not run the job's tool, or ``None``."""
        tool = job["tool"]
        try:
            plugin = self.dispatcher.plugin_of(tool)
        except KeyError:
            return None  # execute() answers a tool this worker does not have
        ours, theirs = self.versions.get(plugin, ""), job.get("version", "")
        if ours != theirs:
            return _error(
                f"this worker has {plugin} {ours or '(no version)'}, the host "
                f"{theirs or '(no version)'}; run the same version on both",
                "executor_unavailable",
                retryable=False,
                details={"plugin": plugin, "worker_version": ours, "host_version": theirs},
            )
        return None

    async def _beat(self) -> None:
        """Keep this worker's heartbeat alive; it lapses half an interval after the last one."""
        period = self.settings.heartbeat / 4
        lapse = max(int(self.settings.heartbeat * 500), 1)
        warned = False
        while True:
            try:
                await self.redis.set(self.keys.alive(self.id), "1", px=lapse)
                warned = False
            except (RedisError, OSError) as exc:
                if not warned:
                    _log.warning("toolwire_taskiq.heartbeat_failed", error=repr(exc))
                    warned = True
            await asyncio.sleep(period)

    async def _listen_for_cancels(self) -> None:
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.keys.cancel_channel)
                while True:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=self.settings.heartbeat
                    )
                    if message is not None and message.get("type") == "message":
                        try:
                            job_id = self.signer.open_cancel(message.get("data"))
                        except Refused as refused:  # only a host holding the key may cancel
                            self.junk.note(f"cancel_{refused.reason}")
                        else:
                            self._cancel(job_id)
            except (RedisError, OSError):
                pass
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
            await asyncio.sleep(RECONNECT_DELAY)

    def _cancel(self, job_id: str) -> None:
        """The host cancelled job ``job_id``: stop its tool, or note it for a tool about to
        start. An id this worker does not hold is no business of its own."""
        if job_id not in self.running:
            return
        running = self.running[job_id]
        if running is None:
            self.cancelled.add(job_id)
        else:
            running.cancel()


def _error(
    message: str, kind: str, *, retryable: bool | None = None, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"message": message, "kind": kind, "retryable": retryable, "details": details or {}}


def serve(config: str | None, name: str, concurrency: int | None) -> int:
    """Run a worker of executor ``name`` until SIGTERM or SIGINT; the exit code.

    Raises:
        toolwire.ConfigError: the config is wrong, or ``name`` is no taskiq executor in it.
    """
    from ._settings import taskiq_tables

    dispatcher = toolwire.Dispatcher.from_config(config)
    try:
        tables = taskiq_tables(dispatcher.config)
        if name not in tables:
            known = ", ".join(sorted(tables)) or "none"
            raise toolwire.ConfigError(
                f"{dispatcher.config.describe()}: no [executors.{name}] table of kind "
                f'"taskiq" (taskiq executors there: {known})'
            )
        worker = Worker(dispatcher, tables[name], concurrency)

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, worker.stop)
            await worker.run()

        asyncio.run(main())
    finally:
        dispatcher.close()
    return 0
