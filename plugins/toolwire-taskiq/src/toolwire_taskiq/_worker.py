"""The workers' side: ``toolwire worker NAME`` takes calls from the queue and runs them.

A worker loads the same config and packs as the host (``Dispatcher.from_config``), runs only
the tools bound to its executor, validates every call again, and refuses a call whose pack
version differs from its own. It takes a call only when it has a free slot, so calls spread
over the workers. It sends heartbeats while it lives, and cancels an ``async def`` tool when
the call's deadline passes or the host cancels it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Final

import redis.asyncio
import redis.exceptions
import toolwire
from redis.exceptions import RedisError
from taskiq import TaskiqMessage, TaskiqMiddleware, TaskiqResult
from taskiq.receiver import Receiver
from toolwire.middleware import DEFAULT_RETRY_ON
from toolwire.propagation import attached

from ._settings import Settings
from ._wire import TASK_NAME, Keys, make_broker

_log: Final = toolwire.get_logger("toolwire.taskiq")

#: Seconds between attempts to reach a Redis that went away.
RECONNECT_DELAY: Final = 0.5


class Worker:
    """One worker process of a taskiq executor.

    Args:
        dispatcher: Started from the same config and packs as the host.
        settings: The executor's ``[executors.NAME]`` table.
        concurrency: Calls run at once (default: the table's ``concurrency``).
    """

    def __init__(
        self,
        dispatcher: toolwire.Dispatcher,
        settings: Settings,
        concurrency: int | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.settings = settings
        self.keys = Keys(settings)
        self.concurrency = concurrency or settings.concurrency
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.versions = {row.name: row.version for row in dispatcher.plugins()}
        self.running: dict[str, asyncio.Task[str]] = {}
        self.stopping = asyncio.Event()
        self.redis = redis.asyncio.Redis.from_url(
            settings.url,
            socket_connect_timeout=settings.connect_timeout,
            socket_timeout=max(settings.connect_timeout, settings.heartbeat),
        )

    async def run(self) -> None:
        """Serve until ``stop()``; then finish the calls under way and say goodbye."""
        broker = make_broker(self.settings, keep_results=True)

        async def toolwire_call(payload: dict[str, Any]) -> dict[str, Any]:
            return await self.call(payload)

        broker.register_task(toolwire_call, task_name=TASK_NAME)
        broker.add_middlewares(_Announce(self))
        broker.is_worker_process = True
        await broker.startup()
        receiver = Receiver(
            broker,
            validate_params=False,
            max_async_tasks=self.concurrency,
            run_startup=False,
        )
        helpers = [
            asyncio.create_task(self._beat()),
            asyncio.create_task(self._listen_for_cancels()),
        ]
        try:
            await self._take_calls(broker, receiver)
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            with contextlib.suppress(RedisError, OSError):
                await self.redis.delete(self.keys.alive(self.id))
            with contextlib.suppress(RedisError, OSError):
                await broker.shutdown()
            with contextlib.suppress(RedisError, OSError):
                await self.redis.aclose()

    def stop(self) -> None:
        self.stopping.set()

    async def _take_calls(self, broker: Any, receiver: Receiver) -> None:
        slots = asyncio.Semaphore(self.concurrency)
        under_way: set[asyncio.Task[None]] = set()
        messages: AsyncIterator[Any] | None = None
        stop = asyncio.create_task(self.stopping.wait())
        try:
            while not self.stopping.is_set():
                await slots.acquire()  # take a call only with a free slot: calls spread out
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
                task = asyncio.create_task(receiver.callback(message, raise_err=False))
                under_way.add(task)
                task.add_done_callback(under_way.discard)
                task.add_done_callback(lambda _: slots.release())
        finally:
            stop.cancel()
            if under_way:
                await asyncio.gather(*under_way, return_exceptions=True)

    async def call(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The taskiq task: run one call, or say why not. Never raises."""
        call = str(payload.get("call_id", ""))
        task_id = str(payload.get("id", ""))
        deadline = payload.get("deadline")
        tool = payload.get("tool")
        if payload.get("skip"):
            return {"skipped": "cancelled"}  # the host cancelled it before it started
        try:
            problem = self._refusal(payload)
            if problem is not None:
                return {"error": problem}
            remaining = None if deadline is None else float(deadline) - time.time()
            if remaining is not None and remaining <= 0:
                return {"skipped": "late"}  # the host answered it already: nothing to run
            with attached(payload.get("trace_context")):  # the task keeps the call's trace
                running = asyncio.create_task(
                    self.dispatcher.execute(
                        str(tool),
                        payload.get("arguments"),
                        executor=self.settings.name,
                        call_id=call,
                        role=payload.get("role"),
                        attempt=int(payload.get("attempt", 1)),
                    )
                )
            self.running[task_id] = running
            try:
                async with asyncio.timeout(remaining):
                    return {"ok": await running}
            finally:
                self.running.pop(task_id, None)
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
            _log.error("toolwire_taskiq.tool_failed", tool=tool, call_id=call, exc_info=exc)
            retry_on = DEFAULT_RETRY_ON
            with contextlib.suppress(KeyError):
                retry_on = self.dispatcher.policy(str(tool)).retry_on or DEFAULT_RETRY_ON
            kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
            return {"raised": {"type": kind, "transient": isinstance(exc, retry_on)}}

    def _refusal(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Why this worker will not run the call, or ``None``."""
        if payload.get("executor") != self.settings.name:
            return _error(
                f"this worker serves executor {self.settings.name!r}, not "
                f"{payload.get('executor')!r}",
                "executor_unavailable",
                retryable=False,
            )
        tool = str(payload.get("tool"))
        try:
            plugin = self.dispatcher.plugin_of(tool)
        except KeyError:
            return None  # execute() answers a tool this worker does not have
        ours, theirs = self.versions.get(plugin, ""), payload.get("version", "")
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
                        running = self.running.get(message["data"].decode())
                        if running is not None:
                            running.cancel()
            except (RedisError, OSError):
                pass
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(RECONNECT_DELAY)

    async def claim(self, task_id: str) -> bool:
        """Mark the call taken by this worker, unless the host cancelled it already."""
        if await self.redis.exists(self.keys.cancel(task_id)):
            return False
        await self.redis.set(self.keys.taken(task_id), self.id, ex=self.settings.result_ttl)
        return True


class _Announce(TaskiqMiddleware):
    """Claims each call before it runs, and tells the hosts when its result is saved."""

    def __init__(self, worker: Worker) -> None:
        super().__init__()
        self.worker = worker

    async def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        message.args = [dict(message.args[0], id=message.task_id)] if message.args else []
        try:
            claimed = await self.worker.claim(message.task_id)
        except (RedisError, OSError):
            claimed = True  # run it: the reply may still reach the host
        if not claimed:
            message.args = [{"skip": True, "id": message.task_id}]
        return message

    async def post_save(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.worker.redis.publish(self.worker.keys.done, message.task_id)


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
