"""Tools for the executor tests: each does one thing a worker process or a remote worker must
survive (block past its deadline, exit, run out of memory) or show (where it ran)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import toolwire
import toolwire.propagation

pack = toolwire.Toolset("remote", description="Tools that run away from the host")


@pack.tool
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first.
        b: The second.
    """
    return a + b


@pack.tool
def where() -> int:
    """The id of the process the call ran in."""
    return os.getpid()


@pack.tool
def nap(seconds: float, mark: str = "") -> int:
    """Sleep in time.sleep (which no thread can interrupt), then say where it ran.

    Args:
        seconds: How long to sleep.
        mark: A file to create once the call has started.
    """
    if mark:
        Path(mark).write_text(str(os.getpid()))
    time.sleep(seconds)
    return os.getpid()


@pack.tool
async def wait(seconds: float, mark: str = "") -> str:
    """Sleep on the event loop; a file records whether it was cancelled.

    Args:
        seconds: How long to sleep.
        mark: A file that gets "started" at the start and "cancelled" on cancellation.
    """
    if mark:
        Path(mark).write_text("started")
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        if mark:
            Path(mark).write_text("cancelled")
        raise
    return "woke"


@pack.tool
def exit_now(code: int = 3) -> None:
    """End the process at once, as a crash would.

    Args:
        code: The exit status.
    """
    os._exit(code)


@pack.tool
def allocate(mb: int) -> int:
    """Allocate memory and touch it.

    Args:
        mb: MiB to allocate.
    """
    block = bytearray(mb * 2**20)
    return len(block)


@pack.tool
def fail(transient: bool = False) -> None:
    """Raise an error the host must log and answer.

    Args:
        transient: Raise toolwire.TransientError rather than ValueError.
    """
    if transient:
        raise toolwire.TransientError("try again")
    raise ValueError("the secret is 42")


@pack.tool
def refuse(city: str) -> None:
    """Raise a ToolError whose message the model reads.

    Args:
        city: A city.
    """
    raise toolwire.ToolError(f"City not found: {city}", details={"known": ["Paris"]})


@pack.tool
def burn(ms: float) -> int:
    """Pure-Python work for about ``ms`` milliseconds of one core; the loop count it reached.

    Args:
        ms: Milliseconds of work.
    """
    end = time.perf_counter() + ms / 1000
    count = 0
    while time.perf_counter() < end:
        count += 1
    return count


def _closure_tool() -> toolwire.Tool:
    def hidden() -> int:
        """A nested function, which no worker can import."""
        return 1

    return toolwire.tool(hidden)


nested = _closure_tool()


@pack.tool
def context_seen(context: toolwire.CallContext) -> dict[str, object]:
    """What of the call's context reached the function."""
    return {"call_id": context.call_id, "role": context.role, "attempt": context.attempt}


@pack.tool
def speak(text: str) -> str:
    """Print a line, as careless tools do, and return it.

    Args:
        text: What to print.
    """
    print(text, flush=True)
    return text


@pack.tool
def crash() -> None:
    """Read address zero: a segmentation fault, as a broken C extension would cause."""
    import ctypes

    ctypes.string_at(0)


@pack.tool
def traced() -> dict[str, str]:
    """The trace context current where the call ran, as propagation headers (empty for none)."""
    return dict(toolwire.propagation.inject())


@pack.tool
async def traced_async() -> dict[str, str]:
    """The same, from an ``async def`` tool (a worker runs it on an event loop of its own)."""
    return dict(toolwire.propagation.inject())


@pack.tool
def report_twice_then_wait(seconds: float, context: toolwire.CallContext) -> str:
    """Report twice at once (the second within the process executor's 10 ms), then wait.

    Args:
        seconds: How long to wait after the reports.
    """
    import time

    context.report_progress(1, 2, "first")
    context.report_progress(2, 2, "second")
    time.sleep(seconds)
    return "waited"


@pack.tool
def count_up(n: int, pause: float, context: toolwire.CallContext) -> int:
    """Report progress n times, pausing between reports, and return n.

    Args:
        n: How many reports.
        pause: Seconds between two reports.
    """
    import time

    for done in range(1, n + 1):
        context.report_progress(done, n, f"step {done}")
        if pause:
            time.sleep(pause)
    return n
