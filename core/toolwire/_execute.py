"""Running a tool's function: awaited if ``async def``, on the dispatcher's threads if plain."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class ThreadRunner:
    """The thread pool a dispatcher owns for plain-function tools.

    Sized for I/O-bound tools (threads are made on demand, up to ``threads``). Context
    variables reach the thread. A call whose deadline passed cannot stop its thread: the
    thread is counted as ``abandoned`` until it returns, and the pool keeps serving.
    """

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._active: set[int] = set()
        self._abandoned: set[int] = set()
        self._next_token = 0

    def _get_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="toolwire")
        return self._pool

    def _tracked(self, token: int, function: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        # set.add and set.discard are atomic under the GIL: no lock on the per-call path.
        self._active.add(token)
        try:
            return function(**kwargs)
        except GeneratorExit as exc:
            # Thrown into the awaiting task, GeneratorExit would close its whole chain of
            # coroutines instead of being raised where the dispatcher catches it.
            raise RuntimeError("the tool raised GeneratorExit") from exc
        finally:
            self._active.discard(token)
            self._abandoned.discard(token)

    async def run(self, function: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """Run ``function(**kwargs)`` on a pool thread, in the caller's context, and await it."""
        loop = asyncio.get_running_loop()
        self._next_token += 1
        token = self._next_token
        future = loop.run_in_executor(
            self._get_pool(),
            contextvars.copy_context().run,
            self._tracked,
            token,
            function,
            kwargs,
        )
        try:
            return await future
        except asyncio.CancelledError:
            # Added first, then checked: a thread that ends in between has already discarded it.
            self._abandoned.add(token)
            if token not in self._active:
                self._abandoned.discard(token)
            raise

    def stats(self) -> dict[str, int]:
        """Threads running tool functions now, and how many of those were abandoned."""
        with self._lock:
            return {
                "threads": self.threads,
                "running": len(self._active),
                "abandoned": len(self._abandoned),
            }

    def close(self, wait: bool = True) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None
