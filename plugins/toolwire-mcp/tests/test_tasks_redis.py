"""MCP tasks kept in Redis (``[approvals] store = "redis://..."``), with a real redis-server,
``toolwire mcp serve`` processes started as an operator starts them, and the official client."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
import redis
import toolwire
import toolwire_mcp
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_helpers import call_as_task as _call_as_task
from mcp_helpers import get_task as _get
from mcp_helpers import poll_task as _poll
from mcp_helpers import served_config, wait_until
from mcp_helpers import task_result as _result
from toolwire.testing import RedisServer, free_port
from toolwire_mcp import _tasks
from toolwire_mcp._task_store_redis import PREFIX, RedisTaskStore

TOOLWIRE = [sys.executable, "-m", "toolwire.cli", "mcp", "serve"]
TOKENS = {"TW_TASKS_ADMIN": "adm-tasks-1", "TW_TASKS_USER": "usr-tasks-2"}


def _config(tmp_path: Path, url: str) -> Path:
    """The ``remote`` fixture pack with ``add`` and ``wait`` marked task, tasks in ``url``."""
    return served_config(
        tmp_path,
        ["mcp", "remote"],
        f'[approvals]\nstore = "{url}"\n'
        "[tools.add]\ntask = true\n[tools.wait]\ntask = true\n"
        '[plugins.mcp.serve.tokens]\nadmin = "TW_TASKS_ADMIN"\nuser = "TW_TASKS_USER"\n',
    )


def _stdio(config: Path) -> StdioServerParameters:
    return StdioServerParameters(
        command=TOOLWIRE[0], args=[*TOOLWIRE[1:], "--config", str(config)], env=dict(os.environ)
    )


def _gated_sum(url: str, gate: asyncio.Event) -> toolwire.Dispatcher:
    """A dispatcher whose one tool, the task tool ``slow_sum``, adds two numbers once ``gate``
    opens; tasks kept in the Redis at ``url``."""
    pack = toolwire.Toolset("long")

    @pack.tool(task=True)
    async def slow_sum(a: int, b: int) -> int:
        """Add two numbers, once the gate opens."""
        await gate.wait()
        return a + b

    return toolwire.Dispatcher({"plugins": {"autoload": False}, "approvals": {"store": url}}).add(
        pack
    )


async def _until(check: Any, timeout: float = 20.0) -> bool:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)
    return True


async def test_task_polled_to_completion_in_redis(
    toolwire_redis: RedisServer, tmp_path: Path
) -> None:
    """With a Redis store, a task tool answers with a working task, tasks/get reads it completed
    and tasks/result gives the result; the record is a hash under the tasks prefix that expires
    within the task's ttl once it ended."""
    gate = asyncio.Event()
    dispatcher = _gated_sum(toolwire_redis.url, gate)
    async with Client(toolwire_mcp.server(dispatcher), mode="legacy") as client:
        assert client.server_capabilities.tasks is not None
        task = await _call_as_task(client, "slow_sum", {"a": 2, "b": 3})
        assert task.status == "working"
        assert (await _get(client, task.task_id)).status == "working"
        assert toolwire_redis.count(f"{PREFIX}*") == 1
        gate.set()
        assert (await _poll(client, task.task_id)).status == "completed"
        result = await _result(client, task.task_id)
        assert not result.is_error and result.content[0].text == "5"  # type: ignore[union-attr]
    left = int(toolwire_redis.command("PTTL", f"{PREFIX}{task.task_id}")[1:])
    assert 0 < left <= 60_000
    dispatcher.close()


@pytest.mark.slow
async def test_second_serve_process_answers_and_cancels(
    toolwire_redis: RedisServer, tmp_path: Path
) -> None:
    """A second ``toolwire mcp serve`` on the same Redis answers tasks/get and tasks/result for a
    task the first one ran, and its tasks/cancel of a task the first one runs ends that run."""
    config = _config(tmp_path, toolwire_redis.url)
    mark = tmp_path / "mark"
    async with (
        Client(_stdio(config), mode="legacy") as first,
        Client(_stdio(config), mode="legacy") as second,
    ):
        quick = await _call_as_task(first, "add", {"a": 20, "b": 22})
        assert (await _poll(first, quick.task_id)).status == "completed"
        assert (await _get(second, quick.task_id)).status == "completed"
        answer = await _result(second, quick.task_id)
        assert answer.content[0].text == "42"  # type: ignore[union-attr]

        long = await _call_as_task(first, "wait", {"seconds": 3600, "mark": str(mark)})
        await _until(lambda: mark.exists() and mark.read_text() == "started")
        cancelled = await second.session.send_request(
            types.CancelTaskRequest(params=types.CancelTaskRequestParams(task_id=long.task_id)),
            types.CancelTaskResult,
        )
        assert cancelled.status == "cancelled"
        await _until(lambda: mark.read_text() == "cancelled")  # the first process's run ended
        assert (await _get(first, long.task_id)).status == "cancelled"


@contextmanager
def _http_serve(config: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``toolwire mcp serve --transport http`` on a free loopback port: its URL and process."""
    port = free_port()
    process = subprocess.Popen(
        [*TOOLWIRE, "--transport", "http", "--port", str(port), "--config", str(config)],
        env={**os.environ, **TOKENS},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/mcp"

    def answers() -> bool:
        try:
            return httpx2.post(url, json={}).status_code > 0  # it answers HTTP
        except httpx2.HTTPError:
            return False

    try:
        assert wait_until(answers, 30), "toolwire mcp serve did not start"
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(20)


async def _task_left_running(config: Path, mark: Path, stop: signal.Signals) -> Any:
    """A task an admin started on a served process, running (its tool touched ``mark``) when
    ``stop`` ended that process."""
    with _http_serve(config) as (url, process):
        async with _http_client(url, TOKENS["TW_TASKS_ADMIN"]) as admin:
            task = await _call_as_task(admin, "wait", {"seconds": 3600, "mark": str(mark)})
            await _until(lambda: mark.exists())
        process.send_signal(stop)
        process.wait(30)
    return task


@asynccontextmanager
async def _http_client(
    url: str, token: str | None, address: str = "127.0.0.1"
) -> AsyncIterator[Client]:
    """The official client over streamable HTTP, with ``token`` (``None``: anonymous), its
    connections coming from ``address`` (any of 127.0.0.0/8)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    http = httpx2.AsyncClient(
        headers=headers,
        timeout=httpx2.Timeout(30.0),
        transport=httpx2.AsyncHTTPTransport(local_address=address),
    )
    async with http, Client(streamable_http_client(url, http_client=http), mode="legacy") as c:
        yield c


@pytest.mark.slow
async def test_killed_server_task_reads_failed_and_only_its_caller_reads_it(
    toolwire_redis: RedisServer, tmp_path: Path
) -> None:
    """A task whose ``toolwire mcp serve`` was killed (SIGKILL) reads failed, saying its process
    stopped, on another server on the same Redis; another principal and a forged id get an
    unknown task there."""
    config = _config(tmp_path, toolwire_redis.url)
    task = await _task_left_running(config, tmp_path / "mark", signal.SIGKILL)
    with _http_serve(config) as (url, _):
        async with _http_client(url, TOKENS["TW_TASKS_USER"]) as user:
            for task_id in (task.task_id, "A" * 32, "../*"):
                with pytest.raises(MCPError, match="Unknown task"):
                    await _get(user, task_id)
        async with _http_client(url, TOKENS["TW_TASKS_ADMIN"]) as admin:
            failed = await _poll(admin, task.task_id)
            assert failed.status == "failed"
            assert failed.status_message == _tasks.STOPPED
            result = await _result(admin, task.task_id)
            assert result.is_error and "stopped" in result.content[0].text  # type: ignore[union-attr]


def _race(store: RedisTaskStore, task_id: str) -> list[str]:
    """Three threads end one task at once, each with its own status; the ones that won."""
    won: list[str] = []
    start = threading.Barrier(3)

    def end(status: str) -> None:
        start.wait()
        if store.finish(task_id, status, None, '{"content":[]}'):
            won.append(status)

    threads = [
        threading.Thread(target=end, args=(s,)) for s in ("cancelled", "completed", "failed")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won


def test_a_cancel_and_a_completion_cannot_both_win(toolwire_redis: RedisServer) -> None:
    """Of writers racing to end one Redis task (a cancel, a completion, a failure), exactly one
    wins and the record holds what that one wrote."""
    store = RedisTaskStore(toolwire_redis.url)
    for _ in range(20):
        row = store.create('["r", "p"]', 60_000)
        won = _race(store, row["id"])
        assert len(won) == 1
        assert store.get(row["id"])["status"] == won[0]  # type: ignore[index]
    store.close()


def test_a_lapsed_lease_reads_failed_and_a_cancel_elsewhere_is_seen_at_renewal(
    toolwire_redis: RedisServer,
) -> None:
    """In Redis, a working task whose lease ran out reads failed (STOPPED) from any store on the
    same server and then ends no more; a cancel written through one store is what the running
    store's next renewal reports."""
    store, other = RedisTaskStore(toolwire_redis.url), RedisTaskStore(toolwire_redis.url)
    stuck = store.create("[null, null]", 60_000)
    running = store.create("[null, null]", 60_000)
    assert other.read(stuck["id"])["status"] == "working"  # type: ignore[index]
    client = redis.Redis.from_url(toolwire_redis.url)
    client.hset(RedisTaskStore.key(stuck["id"]), "lease_until", "0")
    client.close()
    read = other.read(stuck["id"])
    assert read is not None and read["status"] == "failed" and read["message"] == _tasks.STOPPED
    assert not store.finish(stuck["id"], "completed", None, "{}")
    assert store.renew([running["id"]]) == set()
    assert other.finish(running["id"], "cancelled", "cancelled by the client")
    assert store.renew([running["id"], stuck["id"]]) == {running["id"], stuck["id"]}
    assert other.get("no-such-task") is None
    store.close()
    other.close()


@pytest.mark.slow
async def test_an_anonymous_callers_task_is_not_another_anonymous_callers(
    toolwire_redis: RedisServer, tmp_path: Path
) -> None:
    """Anonymous callers share a role but not their tasks: a task is owned as the caller's
    session is (for an anonymous one, its address), so one from another address gets an
    unknown task, and the caller itself reads its result."""
    config = _config(tmp_path, toolwire_redis.url)
    config.write_text(
        config.read_text().replace(
            "[plugins.mcp.serve.tokens]",
            '[plugins.mcp.serve]\nanonymous_role = "user"\n[plugins.mcp.serve.tokens]',
            1,
        )
    )
    with _http_serve(config) as (url, _):
        async with _http_client(url, None, "127.0.0.1") as first:
            task = await _call_as_task(first, "add", {"a": 2, "b": 3})
            async with _http_client(url, None, "127.0.0.2") as second:
                with pytest.raises(MCPError, match="Unknown task"):
                    await _get(second, task.task_id)
            assert (await _poll(first, task.task_id)).status == "completed"


@pytest.mark.slow
async def test_a_server_stopped_with_sigterm_records_its_running_task_failed(
    toolwire_redis: RedisServer, tmp_path: Path
) -> None:
    """SIGTERM, as a service manager stops a server: the task it was running is recorded
    failed as the server stops (SHUTDOWN), not left working until its lease runs out."""
    config = _config(tmp_path, toolwire_redis.url)
    task = await _task_left_running(config, tmp_path / "mark", signal.SIGTERM)
    store = RedisTaskStore(toolwire_redis.url)
    row = store.get(task.task_id)  # as stored: no read marks a lapsed lease here
    assert row is not None and row["status"] == "failed"
    assert row["message"] == _tasks.SHUTDOWN


@pytest.mark.parametrize(
    ("field", "value"),
    [("status", "bogus"), ("created_at", "soon"), ("result", "not json"), ("ttl_ms", "")],
)
async def test_a_task_record_edited_in_redis_reads_failed_and_serves_no_result(
    toolwire_redis: RedisServer, field: str, value: str
) -> None:
    """A task whose record was edited in the store to values no server writes reads failed,
    saying its record is damaged, and tasks/result serves no result of it: no hang, no
    exception text."""
    gate = asyncio.Event()
    dispatcher = _gated_sum(toolwire_redis.url, gate)
    async with Client(toolwire_mcp.server(dispatcher), mode="legacy") as client:
        task = await _call_as_task(client, "slow_sum", {"a": 2, "b": 3})
        redis.Redis.from_url(toolwire_redis.url).hset(f"{PREFIX}{task.task_id}", field, value)
        got = await _get(client, task.task_id)
        assert got.status == "failed" and "damaged" in (got.status_message or "")
        result = await _result(client, task.task_id)
        assert result.is_error and "damaged" in result.content[0].text  # type: ignore[union-attr]
        gate.set()
    dispatcher.close()
