"""The one event loop a dispatcher owns, for its sync twins.

Started on first need, on a daemon thread of its own; stopped by ``close()``. A coroutine
handed to it runs in a copy of the caller's context, so context variables the host set are
seen by tools and hooks as they would be on the host's own loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Final, TypeVar

from ._logging import log as _log
from ._tasks import CANCEL_GRACE

_T = TypeVar("_T")


class OwnedLoop:
    """A loop on a thread of its own, and a way to wait for a coroutine on it from sync code."""

    def __init__(self, name: str = "toolwire-loop") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._settled: threading.Event | None = None  # set when the loop's work is done or left

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coroutine`` on the owned loop and wait for its result in this thread.

        Called from the owned loop's own thread (a tool that calls a sync twin), it runs on
        a short-lived loop of its own in another thread instead: waiting on the owned loop
        from inside it could never end.

        Raises:
            BaseException: whatever the coroutine raised. ``KeyboardInterrupt`` while
                waiting cancels the coroutine, then propagates.
            RuntimeError: ``close()`` (from another thread) cancelled the coroutine.
        """
        if threading.current_thread() is self._thread:
            return _run_elsewhere(coroutine)
        loop = self._started()
        # run_coroutine_threadsafe schedules the task from a handle made in this thread, so
        # the task runs in a copy of this thread's context.
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            raise
        except concurrent.futures.CancelledError:
            raise RuntimeError(
                "the dispatcher was closed while this call ran on its loop; the call was "
                "cancelled (close a dispatcher once no call is under way)"
            ) from None

    def close(self) -> None:
        """Stop the loop and its thread once running work is done. A later ``run`` restarts it."""
        with self._lock:
            loop, thread, settled = self._loop, self._thread, self._settled
            self._loop = self._thread = self._settled = None
        if loop is None or thread is None or settled is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not threading.current_thread():
            # Running work gets its cancellation and a grace; a tool that ignores it is left
            # running on the thread (see _serve), and close() returns.
            settled.wait(CANCEL_GRACE + 1.0)
            if loop.is_closed():
                thread.join()  # it has returned from _serve, or is about to

    def _started(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None:
            return loop
        with self._lock:
            if self._loop is None:
                ready, settled = threading.Event(), threading.Event()
                new_loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=_serve, args=(new_loop, ready, settled), name=self._name, daemon=True
                )
                thread.start()
                ready.wait()
                self._loop, self._thread, self._settled = new_loop, thread, settled
            return self._loop


#: The event loop running in this thread, or ``None``: asyncio's own (C) function, called
#: straight on the inline path. Not get_running_loop(): where none runs (every inline call)
#: it raises, and that costs more than the rest of the check.
running_loop: Final[Callable[[], asyncio.AbstractEventLoop | None]] = asyncio._get_running_loop


def loop_running() -> bool:
    """Whether an event loop is running in this thread."""
    return running_loop() is not None


def _serve(
    loop: asyncio.AbstractEventLoop, ready: threading.Event, settled: threading.Event
) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    try:
        loop.run_forever()
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=CANCEL_GRACE))
            deaf = [task for task in pending if not task.done()]
            if deaf:
                # A tool that ignores its cancellation must not hold close(): close() stops
                # waiting now, and the loop goes on here (a daemon thread) until the tool
                # ends, or the process does.
                _log.warning("toolwire.tasks_left_running", count=len(deaf), grace_s=CANCEL_GRACE)
                settled.set()
                loop.run_until_complete(asyncio.wait(deaf))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        settled.set()


def _run_elsewhere(coroutine: Coroutine[Any, Any, _T]) -> _T:
    context = contextvars.copy_context()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="toolwire-sync") as pool:
        return pool.submit(context.run, asyncio.run, coroutine).result()
