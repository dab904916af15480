"""Fixtures: a real redis-server on a free port, config files, and ``toolwire worker``
processes started the way an operator starts them."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass
class RedisServer:
    """A ``redis-server`` of our own on 127.0.0.1."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def command(self, *words: str) -> str:
        """Send one command (inline protocol) and return the first line of the answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
            conn.sendall(" ".join(words).encode() + b"\r\n")
            return conn.makefile("rb").readline().decode().strip()

    def count(self, pattern: str) -> int:
        """How many keys match ``pattern``."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
            conn.sendall(f"KEYS {pattern}\r\n".encode())
            header = conn.makefile("rb").readline().decode().strip()
        return int(header[1:])

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running_redis(port: int | None = None) -> Iterator[RedisServer]:
    """Start ``redis-server`` on a free port, wait for PING, kill it at the end."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no redis-server binary on PATH (apt-get install redis-server)")
    port = port or free_port()
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
        if process.poll() is None:
            server.stop()


#: The signing key every test's host and workers share (``[executors.NAME] key_env``'s default).
KEY_ENV = "TOOLWIRE_TASKIQ_KEY"


@pytest.fixture(autouse=True)
def signing_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh random key in the environment, which the workers a test starts inherit."""
    key = secrets.token_hex(32)
    monkeypatch.setenv(KEY_ENV, key)
    return key


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One Redis for the session; tests keep apart through queues of their own."""
    with running_redis() as server:
        yield server


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis for one test, which the test may stop."""
    with running_redis() as server:
        yield server


WriteConfig = Callable[..., Path]


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """A toolwire.toml with the ``remote`` pack and a taskiq executor ``fleet`` on ``url``."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    count = iter(range(100))

    def write(url: str, extra: str = "", *, heartbeat: float = 4.0, bind: bool = True) -> Path:
        path = tmp_path / f"toolwire-{next(count)}.toml"
        text = (
            '[plugins]\nautoload = false\nenable = ["remote", "taskiq"]\n\n'
            '[logging]\nlevel = "warning"\n\n'
            f'[executors.fleet]\nkind = "taskiq"\nurl = "{url}"\nqueue = "{queue}"\n'
            f"heartbeat = {heartbeat}\n\n"
        )
        if bind:
            text += '[defaults]\nexecutor = "fleet"\n\n'
        path.write_text(text + extra)
        return path

    return write


def toolwire_command() -> list[str]:
    """The ``toolwire`` command of this environment."""
    script = Path(sys.executable).with_name("toolwire")
    return [str(script)] if script.exists() else [sys.executable, "-m", "toolwire.cli"]


@dataclass
class Workers:
    """``toolwire worker`` processes of one test."""

    redis: RedisServer
    log_dir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, config: Path, name: str = "fleet", *args: str) -> subprocess.Popen[bytes]:
        """Start one worker as an operator would, and wait for its first heartbeat."""
        queue = tomllib.loads(config.read_text())["executors"][name]["queue"]
        before = self.redis.count(f"{queue}:alive:*")
        with (self.log_dir / f"worker-{len(self.processes)}.log").open("wb") as log:
            process = subprocess.Popen(
                [*toolwire_command(), "--config", str(config), "worker", name, *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.processes.append(process)
        deadline = time.monotonic() + 60
        while self.redis.count(f"{queue}:alive:*") <= before:
            if process.poll() is not None:
                raise RuntimeError(f"the worker exited: {self.output(process)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start: {self.output(process)}")
            time.sleep(0.05)
        return process

    def output(self, process: subprocess.Popen[bytes]) -> str:
        index = self.processes.index(process)
        return (self.log_dir / f"worker-{index}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def workers(redis_server: RedisServer, tmp_path: Path) -> Iterator[Workers]:
    """Workers on the session's Redis, stopped (SIGTERM) after the test."""
    started = Workers(redis_server, tmp_path)
    yield started
    started.stop_all()


@pytest.fixture
def own_workers(own_redis: RedisServer, tmp_path: Path) -> Iterator[Workers]:
    """Workers on the test's own Redis."""
    started = Workers(own_redis, tmp_path)
    yield started
    started.stop_all()
