"""Tools for the serving tests: progress, a long wait that notes its cancellation, a chatty tool."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import toolwire
import toolwire.propagation

pack = toolwire.Toolset("testing")


@pack.tool(read_only=True)
async def count(n: int, context: toolwire.CallContext) -> str:
    """Count to n, reporting progress at each step.

    Args:
        n: How far to count.
    """
    for i in range(n):
        context.report_progress(i + 1, n, f"step {i + 1}")
        await asyncio.sleep(0.02)
    return f"counted to {n}"


@pack.tool(read_only=True)
async def report_and_return(n: int, context: toolwire.CallContext) -> str:
    """Report n steps without pausing, then answer at once.

    Args:
        n: How many steps.
    """
    for i in range(n):
        context.report_progress(i + 1, n, f"step {i + 1}")
    return f"reported {n}"


@pack.tool
async def wait(seconds: float, marker: str) -> str:
    """Wait, writing to a file when the wait is cancelled.

    Args:
        seconds: How long.
        marker: The file that records a cancellation.
    """
    Path(marker).write_text("started")
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        Path(marker).write_text("cancelled")
        raise
    return "waited"


@pack.tool
def chatty() -> str:
    """Print, log and write straight to file descriptor 1, then answer."""
    print("printed by a tool")
    sys.stdout.write("written to sys.stdout\n")
    sys.stdout.flush()
    logging.getLogger("chatty").warning("logged by a tool")
    os.write(1, b"written to fd 1\n")
    return "quiet"


@pack.tool(read_only=True)
def traced() -> dict[str, str]:
    """The trace context current where the tool runs, as propagation headers (empty for none)."""
    return dict(toolwire.propagation.inject())
