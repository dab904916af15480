"""Fixtures: a tool pack with limits, dispatchers built from a config file, a real Redis."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import toolwire
import toolwire_ratelimit

MakeDispatcher = Callable[..., toolwire.Dispatcher]


def limited_pack() -> toolwire.Toolset:
    """Two tools: one limited to 3 calls a minute in code, one without a limit."""
    pack = toolwire.Toolset("limited")

    @pack.tool(rate_limit="3/minute")
    def lookup(query: str = "") -> str:
        """Look something up.

        Args:
            query: What to look for.
        """
        return f"found {query}"

    @pack.tool
    async def free() -> str:
        """A tool with no limit."""
        return "free"

    return pack


@pytest.fixture
def make(tmp_path: Path) -> Iterator[MakeDispatcher]:
    """Build dispatchers from a TOML text (the config file a host would load), closed after the test."""
    made: list[toolwire.Dispatcher] = []

    def build(toml: str = "", *, pack: toolwire.Toolset | None = None) -> toolwire.Dispatcher:
        path = tmp_path / f"toolwire-{len(made)}.toml"
        path.write_text(toml)
        dispatcher = toolwire.Dispatcher(toolwire.load_config(path))
        dispatcher.add(pack if pack is not None else limited_pack())
        dispatcher.add(toolwire_ratelimit.plugin, name="ratelimit")
        made.append(dispatcher)
        return dispatcher

    yield build
    for dispatcher in made:
        dispatcher.close()


@dataclass
class RedisServer:
    """A ``redis-server`` of our own on 127.0.0.1."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def config(self, **extra: object) -> str:
        """A ``[plugins.ratelimit]`` table on this server, with a key prefix of its own."""
        lines = [
            "[plugins.ratelimit]",
            f'storage = "{self.url}"',
            f'key_prefix = "test-{uuid.uuid4().hex}"',
        ]
        lines += [f"{key} = {_toml(value)}" for key, value in extra.items()]
        return "\n".join(lines) + "\n"

    def command(self, *words: str) -> str:
        """Send one command (inline protocol) and return the first line of the answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
            conn.sendall(" ".join(words).encode() + b"\r\n")
            return conn.makefile("rb").readline().decode().strip()


@contextlib.contextmanager
def running_redis() -> Iterator[RedisServer]:
    """Start ``redis-server`` on a free port, wait for PING, kill it at the end."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no redis-server binary on PATH (apt-get install redis-server)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = RedisServer(process, port)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError):
                if server.command("PING") == "+PONG":
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {port} did not answer PING")
            time.sleep(0.05)
        yield server
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One Redis for the session; tests keep apart through key prefixes of their own."""
    pytest.importorskip("redis", reason="Redis storage needs toolwire-ratelimit[redis]")
    with running_redis() as server:
        yield server


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis for one test, which the test may kill or freeze."""
    pytest.importorskip("redis", reason="Redis storage needs toolwire-ratelimit[redis]")
    with running_redis() as server:
        yield server


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)
