"""The Redis ACLs docs/executors.md gives, applied as written to a real redis-server 7: a host
and a ``toolwire worker`` each under its own user run and cancel calls, and nobody can
delete a claim, the only way left to run a job twice."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.exceptions
import toolwire

from .conftest import free_port, toolwire_command
from .test_signing import cancelled_on_worker, eventually

DOCS = Path(__file__).resolve().parents[3] / "docs" / "executors.md"
QUEUE = "toolwire:fleet"


def documented_acl() -> str:
    """The ACL file of the docs' section on what a client of Redis can still do."""
    page = DOCS.read_text()
    section = page[page.index("### What a client of Redis can still do") :]
    found = re.search(r"^```text\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert found is not None
    return found.group(1)


class Server:
    """A redis-server 7 started with an ACL file, as an operator runs it."""

    def __init__(self, folder: Path, acl: str) -> None:
        self.port = free_port()
        (folder / "users.acl").write_text(acl)
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(folder), "--aclfile", str(folder / "users.acl")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def client(self, user: str | None = None, password: str | None = None) -> redis.Redis:
        return redis.Redis(port=self.port, username=user, password=password)

    def url(self, user: str, password: str) -> str:
        return f"redis://{user}:{password}@127.0.0.1:{self.port}/0"


@pytest.fixture
def acl_redis(tmp_path: Path) -> Iterator[tuple[Server, dict[str, str]]]:
    """The docs' ACL file with random passwords, plus an observer user of the test's own."""
    if subprocess.run(["which", "redis-server"], capture_output=True).returncode:
        pytest.skip("no redis-server on PATH: install the redis-server package")
    passwords = {role: secrets.token_hex(16) for role in ("host", "worker", "observer")}
    acl = documented_acl()
    acl = acl.replace("HOST-PASSWORD", passwords["host"])
    acl = acl.replace("WORKER-PASSWORD", passwords["worker"])
    acl += f"user observer on >{passwords['observer']} ~* &* +@all\n"
    server = Server(tmp_path, acl)
    observer = server.client("observer", passwords["observer"])
    for _ in range(200):
        try:
            observer.ping()
            break
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    yield server, passwords
    observer.close()
    server.process.kill()
    server.process.wait(timeout=10)


def config(folder: Path, name: str, url: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(
        '[plugins]\nautoload = false\nenable = ["remote", "taskiq"]\n\n'
        '[logging]\nlevel = "warning"\n\n'
        f'[executors.fleet]\nkind = "taskiq"\nurl = "{url}"\nqueue = "{QUEUE}"\n'
        "heartbeat = 4\nclaim_timeout = 5\n\n"
        '[defaults]\nexecutor = "fleet"\n'
    )
    return path


@pytest.mark.slow
async def test_the_documented_acls_run_calls_and_let_nobody_delete_a_claim(
    acl_redis: tuple[Server, dict[str, str]], tmp_path: Path
) -> None:
    """Under the docs' ACLs a host and a worker run a call, a call reporting progress and a
    cancellation with no permission error; the host's and the worker's users cannot delete a claim, a client with
    no user cannot push, delete or publish anything."""
    server, passwords = acl_redis
    observer = server.client("observer", passwords["observer"])
    host_url = server.url("toolwire-host", passwords["host"])
    worker_config = config(tmp_path, "worker", server.url("toolwire-worker", passwords["worker"]))
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [*toolwire_command(), "--config", str(worker_config), "worker", "fleet"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        assert await eventually(lambda: bool(observer.keys(f"{QUEUE}:alive:*")))
        mark = tmp_path / "mark"
        with toolwire.Dispatcher.from_config(config(tmp_path, "host", host_url)) as dispatcher:
            assert (await dispatcher.dispatch("add", {"a": 1, "b": 2})).result == 3
            seen: list[tuple[float, float | None, str | None]] = []
            counted = await dispatcher.dispatch(
                "count_up", {"n": 2, "pause": 0.05}, progress=lambda *r: seen.append(r)
            )
            assert counted.result == 2 and seen == [(1.0, 2.0, "step 1"), (2.0, 2.0, "step 2")]
            await cancelled_on_worker(dispatcher, mark)
        assert observer.keys(f"{QUEUE}:claim:*")

        for user in ("host", "worker"):
            client = server.client(f"toolwire-{user}", passwords[user])
            with pytest.raises(redis.exceptions.NoPermissionError):
                client.delete(*observer.keys(f"{QUEUE}:claim:*"))
            client.close()
        with pytest.raises(redis.exceptions.NoPermissionError):
            server.client("toolwire-worker", passwords["worker"]).lpush(QUEUE, b"x")
        outsider = server.client()
        for attempt in (
            lambda: outsider.lpush(QUEUE, b"x"),
            lambda: outsider.delete(*observer.keys(f"{QUEUE}:claim:*")),
            lambda: outsider.publish(f"{QUEUE}:done", b"x"),
            lambda: outsider.keys("*"),
        ):
            with pytest.raises(
                (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError)
            ):
                attempt()
        outsider.close()
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        observer.close()
    output = log.read_text(errors="replace")
    assert "NOPERM" not in output and "no permissions" not in output, output
    for word in ("heartbeat_failed", "reply_failed", "claim_failed", "broker_unreachable"):
        assert word not in output, output
    assert passwords["worker"] not in output
