"""Progress from a tool in a ``process`` worker reaches an MCP client, over stdio."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp_helpers import SERVERS, served_config

MODES = ["legacy", "auto"]  # 2025-11-25 (handshake) and 2026-07-28 (discover)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config serving the fixtures' remote pack, count_up on the process executor."""
    return served_config(
        tmp_path,
        ["mcp", "remote"],
        '[plugins.remote]\ninclude = ["count_up"]\n[executors.process]\nworkers = 1\n'
        '[tools.count_up]\nexecutor = "process"\n',
    )


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
async def test_process_worker_progress_reaches_the_client(config: Path, mode: str) -> None:
    """notifications/progress from a tool in a process worker reach the client in order, all
    before the result."""
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    params = StdioServerParameters(
        command=sys.executable,
        args=[str(SERVERS / "serve_host.py"), str(config)],
        env=dict(os.environ),
    )
    async with Client(params, mode=mode) as client:
        result = await client.call_tool(
            "count_up", {"n": 3, "pause": 0.05}, progress_callback=on_progress
        )
        assert not result.is_error, result
        assert seen == [(1.0, 3.0, "step 1"), (2.0, 3.0, "step 2"), (3.0, 3.0, "step 3")]
        flood = await client.call_tool(
            "count_up", {"n": 5000, "pause": 0}, progress_callback=on_progress
        )
        assert not flood.is_error, flood
        assert seen[-1] == (5000.0, 5000.0, "step 5000")
        steps = [p for p, _, _ in seen[3:]]
        assert steps == sorted(set(steps))
