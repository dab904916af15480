"""The event loop the plugin owns: every MCP session lives and dies on it.

Sessions hold anyio task groups and cancel scopes, which must be entered and left by one task
on one loop. Calls come from anywhere (the host's loop, ``dispatch_sync``'s short-lived loops,
other threads) and hop onto this loop; the caller's cancellation follows the hop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

_T = TypeVar("_T")


class OwnLoop:
    """A daemon thread running one asyncio loop, started on first use."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop, started if needed."""
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                ready = threading.Event()
                loop = asyncio.new_event_loop()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=run, name=self._name, daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def submit(self, coroutine: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        """Start ``coroutine`` on the loop; its future, for any thread."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    async def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Await ``coroutine`` on the loop from any other loop; cancelling the caller cancels it."""
        loop = self.loop
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is loop:
            return await coroutine
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, loop))

    def wait(self, coroutine: Coroutine[Any, Any, _T], timeout: float | None = None) -> _T:
        """Run ``coroutine`` on the loop and block this thread for its result."""
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("the plugin's own loop cannot wait for itself")
        return self.submit(coroutine).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop once the work already given to it has been cancelled; join the thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None or loop.is_closed():
            return

        async def finish() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=timeout) if tasks else None
            loop.stop()

        if thread is threading.current_thread():
            loop.stop()
            return
        asyncio.run_coroutine_threadsafe(finish(), loop)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()
