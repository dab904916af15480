"""Progress from a tool in a ``process`` worker reaches an MCP client, over stdio."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp_helpers import SERVERS, served_config
from toolwire_fixtures.progress_checks import count_up_progress_in_order

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
    params = StdioServerParameters(
        command=sys.executable,
        args=[str(SERVERS / "serve_host.py"), str(config)],
        env=dict(os.environ),
    )
    async with Client(params, mode=mode) as client:
        await count_up_progress_in_order(client, 5000)
