"""A host serving long-running task tools over stdio: ``tasks_host.py CONFIG``."""

from __future__ import annotations

import asyncio
import sys

import toolwire
import toolwire_mcp

pack = toolwire.Toolset("long")


@pack.tool(task=True)
async def slow_sum(a: int, b: int, pause: float = 0.0) -> int:
    """Add two numbers, after a pause."""
    await asyncio.sleep(pause)
    return a + b


dispatcher = toolwire.Dispatcher.from_config(sys.argv[1]).add(pack)
try:
    asyncio.run(toolwire_mcp.serve_stdio(dispatcher))
finally:
    dispatcher.close()
