"""MCP over HTTP facing strangers: Host and Origin whatever the bind, the token's audience,
sessions bound to their caller, slow and idle connections cut, refusals summarised.

Everything runs for real on 127.0.0.1: ``toolwire mcp serve`` as an operator starts it (or
``asgi_app`` under uvicorn), driven by the official SDK's streamable HTTP client, httpx and
raw sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_helpers import SERVERS, wait_until

TOOLWIRE = [sys.executable, "-m", "toolwire.cli", "mcp", "serve", "--transport", "http"]
ADMIN, USER = "adm-6f1d2c9e-token", "usr-0b7a44e1-token"
TOKENS = {"TW_SEC_ADMIN": ADMIN, "TW_SEC_USER": USER}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "probe", "version": "1"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


class Served:
    """A running ``toolwire mcp serve`` process: its endpoint and what it wrote to stderr."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        assert wait_until(lambda: bool(self.lines) or process.poll() is not None, 60)
        found = re.search(r"on (http://\S+)", self.lines[0] if self.lines else "")
        assert found, f"toolwire mcp serve did not start: {self.lines}"
        self.url = found.group(1)
        self.port = int(self.url.split(":")[2].split("/")[0])

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self._reader.join(10)
        assert self.process.stderr is not None
        self.process.stderr.close()


@contextlib.contextmanager
def toolwire_serve(
    tmp_path: Path, serve: str = "", *args: str, files: int | None = None
) -> Iterator[Served]:
    """``toolwire mcp serve --transport http --port 0`` with the demo pack, an admin and a user
    token, and ``serve`` added to ``[plugins.mcp.serve]``; at most ``files`` open files."""
    config = tmp_path / "toolwire.toml"
    config.write_text(
        '[plugins]\nautoload = false\nenable = ["mcp", "demo"]\n'
        f"[plugins.mcp.serve]\n{serve}\n"
        '[plugins.mcp.serve.tokens]\nadmin = "TW_SEC_ADMIN"\nuser = "TW_SEC_USER"\n'
    )

    def limit_files() -> None:
        if files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))

    process = subprocess.Popen(
        [*TOOLWIRE, "--port", "0", "--config", str(config), *args],
        env={**os.environ, **TOKENS},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit_files,
    )
    served = None
    try:
        served = Served(process)
        yield served
    finally:
        if served is not None:
            served.stop()
        else:
            process.kill()
            process.wait(30)


@contextlib.asynccontextmanager
async def mcp_client(url: str, token: str, mode: str = "legacy") -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30.0)
    )
    async with http, Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        yield client


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


@pytest.mark.slow
async def test_a_valid_client_is_served_while_a_thousand_slow_clients_hold_on(
    tmp_path: Path,
) -> None:
    """With 1,000 slow clients trickling headers for 30 s at a server limited to 1,024 open
    files, a client with a valid token still completes tools/call (p99 under 1 s), and the
    server's log stays under 100 lines."""
    with toolwire_serve(tmp_path, files=1024) as served:
        attack = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SERVERS / "slow_clients.py"),
            "127.0.0.1",
            str(served.port),
            "1000",
            "30",
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            await asyncio.sleep(5)  # the slow clients hold every connection they can get
            latencies: list[float] = []
            async with mcp_client(served.url, USER) as client:
                for i in range(50):
                    started = time.perf_counter()
                    result = await client.call_tool("get_weather", {"location": f"City {i}"})
                    latencies.append(time.perf_counter() - started)
                    assert not result.is_error
                    await asyncio.sleep(0.3)
            out, _ = await attack.communicate()
        finally:
            if attack.returncode is None:
                attack.kill()
                await attack.wait()
        stats = json.loads(out)
        assert served.process.poll() is None, "the server died"
    print(stats, f"p99={_p99(latencies):.3f}", f"lines={len(served.lines)}", served.lines)
    assert stats["connected"] >= 1000 and stats["cut"] > 0
    assert _p99(latencies) < 1.0, sorted(latencies)[-5:]
    assert len(served.lines) < 100, "".join(served.lines[:20])
