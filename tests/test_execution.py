"""Execution: threads for plain functions, the event loop for async ones, the sync fast path."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import toolwire

from .conftest import MakeDispatcher

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


async def test_a_hundred_blocking_tools_run_at_once(make: MakeDispatcher) -> None:
    """100 plain functions that block run together, not in waves (a 100-party barrier passes)."""
    barrier = threading.Barrier(100, timeout=20)
    pack = toolwire.Toolset("io")

    @pack.tool
    def wait_for_all() -> int:
        """Block until 100 calls are running at the same time."""
        return barrier.wait()

    results = await make(pack).dispatch_many([{"name": "wait_for_all"}] * 100)
    assert all(r.success for r in results), results[0].output
    assert sorted(r.result for r in results) == list(range(100))


async def test_blocking_tools_never_block_the_loop(make: MakeDispatcher) -> None:
    """While plain functions block, the event loop keeps serving (a heartbeat keeps beating)."""
    pack = toolwire.Toolset("blocking")

    @pack.tool
    def block(seconds: float) -> str:
        """Block the calling thread."""
        time.sleep(seconds)
        return "done"

    beats = 0

    async def heartbeat() -> None:
        nonlocal beats
        while True:
            beats += 1
            await asyncio.sleep(0.01)

    beating = asyncio.create_task(heartbeat())
    results = await make(pack).dispatch_many([{"name": "block", "arguments": {"seconds": 0.4}}] * 4)
    beating.cancel()
    assert all(r.success for r in results)
    assert beats >= 10  # ~40 if the loop is free; 1 if anything blocked it


def test_dispatch_sync_runs_in_the_callers_thread(make: MakeDispatcher) -> None:
    """A plain function through dispatch_sync runs in the caller's own thread, no loop."""
    pack = toolwire.Toolset("inline")

    @pack.tool
    def where() -> dict[str, object]:
        """Tell which thread runs it and whether a loop is running."""
        try:
            asyncio.get_running_loop()
            loop = True
        except RuntimeError:
            loop = False
        return {"thread": threading.get_ident(), "loop": loop}

    result = make(pack).dispatch_sync("where")
    assert result.result == {"thread": threading.get_ident(), "loop": False}


async def test_plain_functions_run_on_the_dispatchers_threads(make: MakeDispatcher) -> None:
    """In an event loop a plain function runs on a toolwire thread, with the caller's context."""
    pack = toolwire.Toolset("threads")

    @pack.tool
    def where() -> dict[str, str]:
        """Tell the thread name and the context variable."""
        return {"thread": threading.current_thread().name, "request": request_id.get()}

    request_id.set("req-42")
    result = await make(pack).dispatch("where")
    assert result.result["thread"].startswith("toolwire")
    assert result.result["request"] == "req-42"


async def test_async_tools_run_on_the_loop(make: MakeDispatcher) -> None:
    """An async def tool is awaited on the caller's loop, not sent to a thread."""
    pack = toolwire.Toolset("async")

    @pack.tool
    async def where() -> bool:
        """Tell whether it runs on the main thread."""
        return threading.current_thread() is threading.main_thread()

    assert (await make(pack).dispatch("where")).result is True


def test_dispatchers_own_their_threads(make: MakeDispatcher) -> None:
    """Closing a dispatcher stops its threads; stats count what runs."""
    pack = toolwire.Toolset("stats")

    @pack.tool
    def noop() -> None:
        """Nothing."""

    dispatcher = make(pack)
    before = threading.active_count()
    dispatcher.dispatch_many_sync([{"name": "noop"}] * 3)
    assert dispatcher.stats()["running"] == 0
    assert threading.active_count() > before
    dispatcher.close()
    assert threading.active_count() == before
    assert dispatcher.dispatch_many_sync([{"name": "noop"}])[0].success  # usable again
    dispatcher.close()
