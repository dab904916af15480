"""Fixtures: a real redis-server on a free port, config files, and ``toolwire worker``
processes started the way an operator starts them."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from toolwire.testing import RedisServer, running_redis
from toolwire.testing import free_port as free_port  # test modules import it from here

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
def own_redis(toolwire_redis: RedisServer) -> RedisServer:
    """A Redis for one test (toolwire's own fixture), which the test may stop."""
    return toolwire_redis


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
