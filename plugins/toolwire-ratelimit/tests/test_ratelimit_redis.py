"""Rate limits kept in a real Redis: shared by processes, and what happens when Redis fails."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import structlog
import toolwire
from toolwire_ratelimit._settings import STRATEGIES

MakeDispatcher = Callable[..., toolwire.Dispatcher]
Server = Any  # conftest.RedisServer (conftest is not importable under --import-mode=importlib)

WORKER = '''
import asyncio, json, sys
import toolwire, toolwire_ratelimit

pack = toolwire.Toolset("worker")

@pack.tool(rate_limit="10/minute")
def lookup() -> str:
    """Look something up."""
    return "found"

async def main() -> None:
    config = toolwire.load_config(sys.argv[1])
    with toolwire.Dispatcher(config).add(pack).add(toolwire_ratelimit.plugin, name="ratelimit") as d:
        await d.dispatch("nothing")  # warm up: imports and runtime built before the start line
        print("ready", flush=True)
        sys.stdin.readline()
        results = await d.dispatch_many([{"name": "lookup", "arguments": {}}] * 10)
    kinds = [r.error.kind if r.error else "ok" for r in results]
    print("RESULT " + json.dumps(kinds), flush=True)

asyncio.run(main())
'''


def successes(results: list[toolwire.DispatchResult]) -> int:
    return sum(result.success for result in results)


def assert_storage_unavailable(result: toolwire.DispatchResult) -> None:
    assert not result.success and result.error is not None
    assert result.error.kind == "internal_error"
    assert result.error.message == "rate limit storage unavailable"
    assert result.error.retryable
    assert result.attempts == 0


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_every_strategy_limits_in_redis(
    make: MakeDispatcher, redis_server: Server, strategy: str
) -> None:
    """Each strategy lets N calls through and refuses the next, with retry_after from Redis."""
    dispatcher = make(redis_server.config(strategy=strategy))
    results = [await dispatcher.dispatch("lookup", {}) for _ in range(4)]
    assert [r.success for r in results] == [True, True, True, False]
    error = results[3].error
    assert error is not None and error.kind == "rate_limited" and error.retryable
    assert 0 <= error.details["retry_after"] <= 120


async def test_keys_live_under_the_prefix(make: MakeDispatcher, redis_server: Server) -> None:
    """The count is stored in Redis under key_prefix, and another prefix counts apart."""
    first = make(redis_server.config())
    second = make(redis_server.config())
    assert successes([await first.dispatch("lookup", {}) for _ in range(4)]) == 3
    assert successes([await second.dispatch("lookup", {}) for _ in range(4)]) == 3
    prefix = first.config.plugin_settings("ratelimit")["key_prefix"]
    assert redis_server.command("KEYS", f"{prefix}:*").startswith("*1")


def test_sync_calls_share_the_count_in_redis(make: MakeDispatcher, redis_server: Server) -> None:
    """dispatch_sync (a new event loop per call) counts in Redis and leaves no socket open."""
    dispatcher = make(redis_server.config())
    results = [dispatcher.dispatch_sync("lookup", {}) for _ in range(5)]
    assert successes(results) == 3
    # filterwarnings=error turns an unclosed connection's ResourceWarning into a failure.


async def test_processes_share_one_limit(redis_server: Server, tmp_path: Path) -> None:
    """Two processes, one dispatcher each, calling at once: together exactly the limit gets through."""
    config = tmp_path / "toolwire.toml"
    config.write_text('[logging]\nlevel = "critical"\n\n' + redis_server.config())
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready"
        outputs = [worker.communicate("go\n", timeout=60)[0] for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()
    kinds = [
        kind
        for output in outputs
        for line in output.splitlines()
        if line.startswith("RESULT ")
        for kind in json.loads(line.removeprefix("RESULT "))
    ]
    assert len(kinds) == 20
    assert kinds.count("ok") == 10
    assert kinds.count("rate_limited") == 10


async def test_redis_going_away_fails_each_call_clearly(
    make: MakeDispatcher, own_redis: Server
) -> None:
    """With Redis killed mid-run every call ends with a retryable internal_error, quickly, never raising."""
    dispatcher = make(own_redis.config())
    assert (await dispatcher.dispatch("lookup", {})).success
    own_redis.process.kill()
    own_redis.process.wait(timeout=10)
    started = time.monotonic()
    async with asyncio.timeout(30):
        results = [await dispatcher.dispatch("lookup", {}) for _ in range(5)]
        results += await dispatcher.dispatch_many([{"name": "lookup", "arguments": {}}] * 5)
        results.append(dispatcher.dispatch_sync("lookup", {}))
    for result in results:
        assert_storage_unavailable(result)
    assert time.monotonic() - started < 10
    assert (await dispatcher.dispatch("free", {})).success, "tools without a limit go on working"


async def test_fail_open_lets_calls_through_with_a_warning(
    make: MakeDispatcher, own_redis: Server
) -> None:
    """With fail_open = true and Redis gone, calls run and each logs a storage warning."""
    dispatcher = make(own_redis.config(fail_open=True))
    assert (await dispatcher.dispatch("lookup", {})).success
    own_redis.process.kill()
    own_redis.process.wait(timeout=10)
    with structlog.testing.capture_logs() as logs:
        async with asyncio.timeout(30):
            results = [await dispatcher.dispatch("lookup", {}) for _ in range(5)]
    assert successes(results) == 5, "the limit of 3 is not enforced while the storage is down"
    warnings = [e for e in logs if e["event"] == "toolwire_ratelimit.storage_unavailable"]
    assert len(warnings) == 5
    assert {e["log_level"] for e in warnings} == {"warning"}
    assert {e["tool"] for e in warnings} == {"lookup"}


async def test_a_frozen_redis_costs_one_storage_timeout(
    make: MakeDispatcher, own_redis: Server
) -> None:
    """A Redis that accepts but never answers ends each call after storage_timeout, not a hang."""
    dispatcher = make(own_redis.config(storage_timeout=0.3))
    assert (await dispatcher.dispatch("lookup", {})).success
    own_redis.process.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        async with asyncio.timeout(30):
            results = [await dispatcher.dispatch("lookup", {}) for _ in range(3)]
        elapsed = time.monotonic() - started
    finally:
        own_redis.process.send_signal(signal.SIGCONT)
    for result in results:
        assert_storage_unavailable(result)
    assert elapsed < 3 * 0.3 + 2


async def test_calls_recover_when_redis_comes_back(make: MakeDispatcher, own_redis: Server) -> None:
    """After a freeze ends, the next calls are counted in Redis again."""
    dispatcher = make(own_redis.config(storage_timeout=0.3))
    assert (await dispatcher.dispatch("lookup", {})).success
    own_redis.process.send_signal(signal.SIGSTOP)
    try:
        assert_storage_unavailable(await dispatcher.dispatch("lookup", {}))
    finally:
        own_redis.process.send_signal(signal.SIGCONT)
    results = [await dispatcher.dispatch("lookup", {}) for _ in range(3)]
    assert results[0].success
    # The timed-out hit reached Redis's socket buffer, so it may have counted once Redis woke.
    assert successes(results) in (1, 2)
    assert results[2].error is not None and results[2].error.kind == "rate_limited"
