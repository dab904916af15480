"""The taskiq executor against a real redis-server, with workers started as ``toolwire worker``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import tomllib
from pathlib import Path

import pytest
import toolwire
import toolwire_fixtures.remote as remote

from .conftest import RedisServer, Workers, WriteConfig, free_port, toolwire_command


async def wait_for(path: Path, text: str, tries: int = 400) -> bool:
    """Whether ``path`` comes to hold ``text`` (polled, no wall-clock assertion)."""
    for _ in range(tries):
        if path.exists() and path.read_text() == text:
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.slow
async def test_two_hundred_calls_spread_over_two_workers(
    redis_server: RedisServer, workers: Workers, write_config: WriteConfig
) -> None:
    """200 calls: one result each, in call order, every one run, by both workers."""
    config = write_config(redis_server.url, "[limits]\nmax_batch_calls = 200\n")
    first = workers.start(config, "fleet", "--concurrency", "4")
    second = workers.start(config, "fleet", "--concurrency", "4")
    with toolwire.Dispatcher.from_config(config) as dispatcher:
        calls = [toolwire.ToolCall("nap", {"seconds": 0.01}, f"c{i}") for i in range(200)]
        results = await dispatcher.dispatch_many(calls)
    assert [r.call_id for r in results] == [f"c{i}" for i in range(200)]
    assert all(r.success for r in results), next(r.output for r in results if not r.success)
    assert {r.result for r in results} == {first.pid, second.pid}


@pytest.mark.slow
async def test_a_worker_runs_the_tool_under_the_call_s_trace_context(
    redis_server: RedisServer, workers: Workers, write_config: WriteConfig
) -> None:
    """The span current where the host dispatched is the parent of what the tool does on a
    worker, for plain and async tools; a call with no span current carries none."""
    from opentelemetry.sdk.trace import TracerProvider

    config = write_config(redis_server.url)
    workers.start(config)
    tracer = TracerProvider().get_tracer("host")
    with toolwire.Dispatcher.from_config(config) as dispatcher:
        assert (await dispatcher.dispatch("traced")).result == {}
        for tool in ("traced_async", "traced"):
            with tracer.start_as_current_span("agent turn") as span:
                result = await dispatcher.dispatch(tool)
            assert result.success, result.output
            context = span.get_span_context()
            _version, trace_id, parent_id, _flags = result.result["traceparent"].split("-")
            assert (trace_id, parent_id) == (f"{context.trace_id:032x}", f"{context.span_id:016x}")


@pytest.mark.slow
async def test_a_worker_killed_mid_call_gives_executor_lost(
    redis_server: RedisServer, workers: Workers, write_config: WriteConfig, tmp_path: Path
) -> None:
    """SIGKILL on the worker running a call: executor_lost from the heartbeat, not the deadline."""
    config = write_config(redis_server.url, "[tools.nap]\ntimeout = 600\n")
    worker = workers.start(config)
    mark = tmp_path / "started"
    with toolwire.Dispatcher.from_config(config) as dispatcher:
        running = asyncio.create_task(
            dispatcher.dispatch("nap", {"seconds": 600, "mark": str(mark)})
        )
        for _ in range(400):
            if mark.exists():
                break
            await asyncio.sleep(0.05)
        assert int(mark.read_text()) == worker.pid
        worker.send_signal(signal.SIGKILL)
        result = await running
        assert result.error is not None and result.error.kind == "executor_lost", result.output
        assert result.error.retryable is False and "heartbeats" in result.error.message
        successor = workers.start(config)
        after = await dispatcher.dispatch("where")
    assert after.result == successor.pid
    assert int(mark.read_text()) == worker.pid  # at most once: nobody ran the lost call again


@pytest.mark.slow
async def test_redis_stopped_mid_run(
    own_redis: RedisServer, own_workers: Workers, write_config: WriteConfig, tmp_path: Path
) -> None:
    """Redis gone: the call under way gets executor_lost, a new call executor_unavailable."""
    config = write_config(own_redis.url)
    own_workers.start(config)
    mark = tmp_path / "started"
    with toolwire.Dispatcher.from_config(config) as dispatcher:
        assert (await dispatcher.dispatch("add", {"a": 1, "b": 1})).output == "2"
        running = asyncio.create_task(
            dispatcher.dispatch("nap", {"seconds": 600, "mark": str(mark)})
        )
        for _ in range(400):
            if mark.exists():
                break
            await asyncio.sleep(0.05)
        own_redis.stop()
        lost = await running
        refused = await dispatcher.dispatch("add", {"a": 1, "b": 1})
    assert lost.error is not None and lost.error.kind == "executor_lost", lost.output
    assert refused.error is not None and refused.error.kind == "executor_unavailable"
    assert refused.error.retryable and refused.attempts == 1


@pytest.mark.slow
async def test_a_deadline_cancels_the_async_tool_on_the_worker(
    redis_server: RedisServer, workers: Workers, write_config: WriteConfig, tmp_path: Path
) -> None:
    """timeout = 1 on an async tool: the host answers timeout, the worker cancels the tool."""
    config = write_config(redis_server.url, "[tools.wait]\ntimeout = 1\n")
    workers.start(config)
    mark = tmp_path / "mark"
    with toolwire.Dispatcher.from_config(config) as dispatcher:
        result = await dispatcher.dispatch("wait", {"seconds": 600, "mark": str(mark)})
        assert result.error is not None and result.error.kind == "timeout"
        assert await wait_for(mark, "cancelled")
        assert (await dispatcher.dispatch("add", {"a": 2, "b": 2})).output == "4"


@pytest.mark.slow
async def test_a_late_reply_is_discarded(
    redis_server: RedisServer, workers: Workers, write_config: WriteConfig, tmp_path: Path
) -> None:
    """A call the host answered at its deadline: the worker's reply to it, if one comes (the
    deadline may cancel the tool on the worker first), reaches no other call."""
    config = write_config(redis_server.url, "[tools.nap]\ntimeout = 0.5\n")
    workers.start(config, "fleet", "--concurrency", "1")
    queue = tomllib.loads(config.read_text())["executors"]["fleet"]["queue"]
    with toolwire.Dispatcher.from_config(config) as dispatcher:
        late = await dispatcher.dispatch("nap", {"seconds": 2})
        assert late.error is not None and late.error.kind == "timeout"
        for _ in range(80):  # the worker finishes (or drops) the call; a reply is stored
            if redis_server.count(f"{queue}:result:*"):
                break
            await asyncio.sleep(0.05)
        stored = redis_server.count(f"{queue}:result:*")
        assert stored in (0, 1)
        results = await dispatcher.dispatch_many(
            [toolwire.ToolCall("add", {"a": i, "b": 1}, f"c{i}") for i in range(3)]
        )
    assert [r.output for r in results] == ["1", "2", "3"]
    # Left to expire, or taken by the timed-out call's own wait as it winds down: never
    # handed to another call, and never more replies than the one job's.
    assert redis_server.count(f"{queue}:result:*") <= stored


@pytest.mark.slow
async def test_the_callers_cancellation_reaches_the_worker(
    redis_server: RedisServer, workers: Workers, write_config: WriteConfig, tmp_path: Path
) -> None:
    """A dispatch the host cancels: the async tool on the worker is cancelled (pub/sub)."""
    config = write_config(redis_server.url)
    workers.start(config)
    mark = tmp_path / "mark"
    with toolwire.Dispatcher.from_config(config) as dispatcher:
        running = asyncio.create_task(
            dispatcher.dispatch("wait", {"seconds": 600, "mark": str(mark)})
        )
        assert await wait_for(mark, "started")
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        assert await wait_for(mark, "cancelled")


@pytest.mark.slow
async def test_results_and_errors_come_back_as_on_threads(
    redis_server: RedisServer, workers: Workers, write_config: WriteConfig
) -> None:
    """Values, a tool's ToolError, a transient failure and a hidden exception cross back."""
    config = write_config(redis_server.url, "[tools.fail]\nretries = 1\n")
    worker = workers.start(config)
    here = toolwire.Dispatcher().add(remote.pack)
    with toolwire.Dispatcher.from_config(config) as dispatcher:
        for name, arguments in [("add", {"a": 2, "b": 3}), ("refuse", {"city": "Atlantis"})]:
            there = await dispatcher.dispatch(name, arguments)
            local = await here.dispatch(name, arguments)
            assert (there.success, there.output) == (local.success, local.output)
        assert (await dispatcher.dispatch("where")).result == worker.pid
        hidden = await dispatcher.dispatch("fail")
        assert hidden.error is not None and "42" not in hidden.output and hidden.attempts == 1
        transient = await dispatcher.dispatch("fail", {"transient": True})
        assert transient.error is not None and transient.attempts == 2
        invalid = await dispatcher.dispatch("add", {"a": "x"})
        assert invalid.error is not None and invalid.error.kind == "invalid_arguments"
    here.close()
    assert "the secret is 42" in workers.output(worker)  # the worker's log has the detail


@pytest.mark.slow
async def test_a_worker_refuses_other_versions_and_unbound_tools(
    redis_server: RedisServer, workers: Workers, write_config: WriteConfig
) -> None:
    """A pack added by hand (no version) or a tool the worker does not bind is refused."""
    worker_config = write_config(redis_server.url, '[tools.add]\nexecutor = "thread"\n')
    workers.start(worker_config)
    host_config = write_config(redis_server.url)
    host = toolwire.Dispatcher(toolwire.load_config(host_config))
    host.load_plugins()
    host.start()
    with host:
        unbound = await host.dispatch("add", {"a": 1, "b": 1})
        assert unbound.error is not None and unbound.error.kind == "executor_unavailable"
        assert unbound.error.retryable is False
    by_hand = host_config.read_text().replace(
        'enable = ["remote", "taskiq"]', 'enable = ["taskiq"]'
    )
    host_config.write_text(by_hand)
    other = toolwire.Dispatcher(toolwire.load_config(host_config)).add(remote.pack, name="remote")
    other.load_plugins()
    with other:
        refused = await other.dispatch("where")
    assert refused.error is not None and refused.error.kind == "executor_unavailable"
    assert refused.error.details["host_version"] == ""
    assert refused.error.details["worker_version"] == "1.0.0"


async def test_a_broker_that_cannot_be_reached_gives_executor_unavailable(
    write_config: WriteConfig,
) -> None:
    """No Redis at the URL: executor_unavailable at submit, retryable, retried; nothing ran."""
    config = write_config(f"redis://127.0.0.1:{free_port()}", "[tools.add]\nretries = 1\n")
    with toolwire.Dispatcher.from_config(config) as dispatcher:
        result = await dispatcher.dispatch("add", {"a": 1, "b": 1})
    assert result.error is not None and result.error.kind == "executor_unavailable"
    assert result.error.retryable and result.attempts == 2
    assert not [t for t in threading.enumerate() if t.name.startswith("toolwire-taskiq")]


def test_taskiq_tables_fail_closed(write_config: WriteConfig) -> None:
    """An unknown key or a URL that is not Redis stops the start, naming the table."""
    bad_key = write_config("redis://127.0.0.1:1", "")
    bad_key.write_text(bad_key.read_text().replace("heartbeat = 4.0", "hearbeat = 1"))
    with pytest.raises(toolwire.ConfigError, match=r"\[executors\.fleet\].*hearbeat"):
        toolwire.Dispatcher.from_config(bad_key)
    with pytest.raises(toolwire.ConfigError, match=r"url: 'amqp://x' is not a Redis URL"):
        toolwire.Dispatcher.from_config(write_config("amqp://x"))


def test_the_worker_command_says_what_is_wrong(write_config: WriteConfig) -> None:
    """toolwire worker with a name that is no taskiq executor exits 2 with one line."""
    config = write_config("redis://127.0.0.1:1")
    run = subprocess.run(
        [*toolwire_command(), "--config", str(config), "worker", "nosuch"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert run.returncode == 2
    assert "no [executors.nosuch] table" in run.stderr and "fleet" in run.stderr
    assert run.stdout == ""
