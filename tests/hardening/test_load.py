"""A thousand concurrent dispatches with faults injected, and nothing left behind afterwards."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
import tracemalloc
from collections import Counter
from typing import Any

import pytest
import structlog
import toolwire
from toolwire.testing import make_dispatcher

pack = toolwire.Toolset("load")


@pack.tool
async def fast(n: int) -> int:
    """Answer at once.

    Args:
        n: A number.
    """
    await asyncio.sleep(0)
    return n


@pack.tool
def blocking(n: int) -> int:
    """Block a pool thread briefly."""
    time.sleep(0.001)
    return n


@pack.tool(timeout=0.02)
async def hangs(n: int) -> int:
    """Never answer in time (cancelled at the deadline)."""
    await asyncio.sleep(60)
    return n


@pack.tool(timeout=0.02)
def overruns(n: int) -> int:
    """Block its thread past the deadline (abandoned, finishes on its own)."""
    time.sleep(0.1)
    return n


@pack.tool
def crashes(n: int) -> int:
    """Raise an unexpected error."""
    raise RuntimeError(f"crash {n}")


@pack.tool
async def refuses(n: int) -> int:
    """Raise an error meant for the model."""
    raise toolwire.ToolError(f"no {n}")


class Faults:
    """Denies some calls, hangs on others' permission, and raises in before_call for more."""

    @toolwire.hookimpl
    async def toolwire_check_permission(self, call: toolwire.ToolCall, context: Any) -> Any:
        n = call.arguments["n"]  # type: ignore[index]
        if n % 10 == 1:
            return toolwire.Deny("not this one")
        if n % 10 == 2:
            await asyncio.sleep(60)  # cut off by permission_timeout: deny
        return None

    @toolwire.hookimpl
    def toolwire_before_call(self, call: toolwire.ToolCall, context: Any) -> None:
        if call.arguments["n"] % 10 == 3:  # type: ignore[index]
            raise RuntimeError("plugin bug")


TOOLS = ("fast", "blocking", "hangs", "overruns", "crashes", "refuses")
EXPECTED = {
    "fast": "ok",
    "blocking": "ok",
    "hangs": "timeout",
    "overruns": "timeout",
    "crashes": "execution_error",
    "refuses": "execution_error",
}


def _expected(name: str, n: int) -> str:
    return {1: "permission_denied", 2: "permission_denied", 3: "internal_error"}.get(
        n % 10, EXPECTED[name]
    )


async def _round(calls: int) -> Counter[str]:
    """Dispatch ``calls`` calls at once on a fresh dispatcher, check each, close it."""
    dispatcher = make_dispatcher(
        pack,
        config={"defaults": {"permission_timeout": 0.05}, "limits": {"threads": 32}},
    )
    dispatcher.add(Faults(), name="faults")
    specs = [(TOOLS[i % len(TOOLS)], i) for i in range(calls)]
    with structlog.testing.capture_logs() as logs:
        results = await asyncio.gather(
            *(dispatcher.dispatch(name, {"n": n}, call_id=f"c{n}") for name, n in specs)
        )
    dispatcher.close()
    # close() does not wait for threads abandoned by a timeout: they stop once their
    # function returns (0.1 s here), and report back through the loop.
    for _ in range(1_000):
        if not [t for t in threading.enumerate() if t.name.removeprefix("toolwire-").isdigit()]:
            break
        await asyncio.sleep(0.01)
    for _ in range(3):
        await asyncio.sleep(0)
    assert [r.call_id for r in results] == [f"c{n}" for _, n in specs]
    kinds = [r.error.kind if r.error is not None else "ok" for r in results]
    assert kinds == [_expected(name, n) for name, n in specs]
    assert sum(e["event"] == "toolwire.call" for e in logs) == calls
    del logs, results
    return Counter(kinds)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.slow
async def test_a_thousand_faulty_dispatches_leave_no_threads_tasks_fds_or_memory() -> None:
    """1,000 concurrent calls (timeouts, raises, denials): every resource returns to its level."""
    await _round(300)  # warm-up: imports, caches and lazily built things settle
    gc.collect()
    tracemalloc.start()
    try:
        threads, tasks, fds = threading.active_count(), len(asyncio.all_tasks()), _fds()
        memory = tracemalloc.get_traced_memory()[0]

        kinds = await _round(1_000)
        gc.collect()

        assert set(kinds) == {
            "ok",
            "timeout",
            "execution_error",
            "permission_denied",
            "internal_error",
        }
        assert threading.active_count() == threads
        assert len(asyncio.all_tasks()) == tasks
        assert _fds() == fds
        grown = tracemalloc.get_traced_memory()[0] - memory
        assert grown < 256 * 1024, f"{grown} bytes still allocated after 1,000 calls"
    finally:
        tracemalloc.stop()
