"""A check for the suites that serve the remote pack's ``count_up`` to an MCP client."""

from __future__ import annotations

from typing import Any


async def count_up_progress_in_order(client: Any, flood: int) -> None:
    """``count_up`` called through an MCP client (``mcp.Client``): its three steps reach the
    client in order, all before the result; then ``flood`` steps end with the last one, none
    twice or out of order."""
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    result = await client.call_tool(
        "count_up", {"n": 3, "pause": 0.05}, progress_callback=on_progress
    )
    assert not result.is_error, result
    assert seen == [(1.0, 3.0, "step 1"), (2.0, 3.0, "step 2"), (3.0, 3.0, "step 3")], seen
    flooded = await client.call_tool(
        "count_up", {"n": flood, "pause": 0}, progress_callback=on_progress
    )
    assert not flooded.is_error, flooded
    assert seen[-1] == (float(flood), float(flood), f"step {flood}"), seen[-1]
    done = [p for p, _, _ in seen[3:]]
    assert done == sorted(set(done)), "progress repeated or out of order"
