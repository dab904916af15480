"""What a client of Redis can still try once jobs are signed: delete a job's claim and push it
again, publish junk on the channels host and workers listen on, set a claim to junk; and a
tool's failure quoting a secret argument in a worker's log. A real redis-server, ``toolwire
worker`` processes, and the real queue."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
import toolwire
from toolwire_taskiq._claims import ClaimMemory
from toolwire_taskiq._wire import Signer

from .conftest import RedisServer, Workers, WriteConfig
from .test_signing import cancelled_on_worker, eventually, job_for, queue_of, refusals


def with_settings(config: Path, *lines: str) -> Path:
    """``config`` with ``lines`` added to its ``[executors.fleet]`` table."""
    added = "".join(f"{line}\n" for line in lines)
    config.write_text(config.read_text().replace("heartbeat =", f"{added}heartbeat ="))
    return config


def job_of(message: bytes) -> dict[str, Any]:
    """The job a signed message carries (its MAC is not checked here)."""
    job: dict[str, Any] = json.loads(message.split(b"\n", 1)[1])
    return job


async def one_call_captured(
    config: Path, workers: Workers, client: redis.Redis, arguments: dict[str, Any]
) -> tuple[bytes, Any]:
    """A real call of ``nap`` from a host: its message as it crossed the queue (what a client
    of Redis watching the queue sees), and the worker that ran it."""
    queue = queue_of(config)
    with toolwire.Dispatcher.from_config(config) as dispatcher:
        waiting = asyncio.create_task(dispatcher.dispatch("nap", arguments))
        assert await eventually(lambda: client.llen(queue) == 1)
        [message] = client.lrange(queue, 0, -1)
        worker = workers.start(config)
        result = await waiting
    assert result.success, result.output
    assert result.result == worker.pid
    return message, worker


@pytest.mark.slow
async def test_a_job_replayed_after_its_claim_is_deleted_never_runs_twice_on_a_worker(
    redis_server: RedisServer, workers: Workers, write_config: WriteConfig, tmp_path: Path
) -> None:
    """A host's job, captured, its claim deleted in Redis and pushed again to the worker that
    ran it, is refused as replayed and does not run again; a worker that never saw it runs it
    (within claim_timeout: what Redis ACLs must prevent, as the docs say)."""
    config = with_settings(
        write_config(redis_server.url, "[tools.nap]\ntimeout = 600\n"), "claim_timeout = 120"
    )
    queue = queue_of(config)
    client = redis.Redis.from_url(redis_server.url)
    mark = tmp_path / "ran"
    message, first = await one_call_captured(
        config, workers, client, {"seconds": 0, "mark": str(mark)}
    )
    mark.unlink()
    claim = f"{queue}:claim:{job_of(message)['job']}"
    assert client.get(claim) is not None
    client.delete(claim)
    client.lpush(queue, message)
    assert await eventually(lambda: refusals(workers.output(first)) == ["replayed"])
    assert not mark.exists()
    assert client.llen(queue) == 0  # taken, and refused

    first.send_signal(signal.SIGTERM)
    first.wait(timeout=30)
    second = workers.start(config)
    client.delete(claim)
    client.lpush(queue, message)
    assert await eventually(mark.exists)
    assert int(mark.read_text()) == second.pid
    client.close()


@pytest.mark.slow
async def test_a_replay_past_claim_timeout_is_refused_by_any_worker_long_before_the_deadline(
    redis_server: RedisServer,
    workers: Workers,
    write_config: WriteConfig,
    signing_key: str,
    tmp_path: Path,
) -> None:
    """Once a job's claim time (claim_timeout from sending) has passed, a worker that never
    saw it refuses it (unclaimed) even with its claim deleted and its deadline minutes away:
    a client of Redis has claim_timeout from sending to replay a job, never the deadline."""
    config = write_config(redis_server.url)
    first = workers.start(config)
    queue = queue_of(config)
    client = redis.Redis.from_url(redis_server.url)
    mark = tmp_path / "ran"
    job = job_for("nap", {"seconds": 0, "mark": str(mark)})
    job["claim_by"], job["deadline"] = time.time() + 2, time.time() + 600  # as a host sends it
    message = Signer(signing_key.encode()).seal(job)
    client.lpush(queue, message)
    assert await eventually(mark.exists)
    assert int(mark.read_text()) == first.pid
    mark.unlink()
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=30)
    while time.time() <= job["claim_by"]:  # waiting for a time, not measuring one
        await asyncio.sleep(0.05)
    second = workers.start(config)
    client.delete(f"{queue}:claim:{job['job']}")
    client.lpush(queue, message)
    assert await eventually(lambda: refusals(workers.output(second)) == ["unclaimed"])
    assert time.time() < job["deadline"]
    assert not mark.exists()
    client.close()


@pytest.mark.slow
async def test_a_worker_whose_claim_memory_is_full_refuses_and_answers(
    redis_server: RedisServer,
    workers: Workers,
    write_config: WriteConfig,
    signing_key: str,
    tmp_path: Path,
) -> None:
    """With claim_memory = 2, a worker runs two jobs still within their claim time, refuses
    the third (claim_memory_full) with a retryable executor_unavailable reply to its host, and
    still refuses the first pushed again with its claim deleted (it remembers it)."""
    config = with_settings(write_config(redis_server.url), "claim_memory = 2")
    worker = workers.start(config)
    queue = queue_of(config)
    client = redis.Redis.from_url(redis_server.url)
    signer = Signer(signing_key.encode())
    marks = [tmp_path / f"ran-{i}" for i in range(3)]
    jobs = [job_for("nap", {"seconds": 0, "mark": str(mark)}) for mark in marks]
    messages = [signer.seal(job) for job in jobs]
    for message in messages:
        client.lpush(queue, message)
    assert await eventually(lambda: refusals(workers.output(worker)) == ["claim_memory_full"])
    assert await eventually(lambda: marks[0].exists() and marks[1].exists())
    assert not marks[2].exists()
    stored = client.get(f"{queue}:result:{jobs[2]['job']}")
    assert stored is not None
    reply = signer.open_reply(jobs[2]["job"], stored)
    assert reply["error"]["kind"] == "executor_unavailable" and reply["error"]["retryable"]
    assert "claim_memory" in reply["error"]["message"]

    marks[0].unlink()
    client.delete(f"{queue}:claim:{jobs[0]['job']}")
    client.lpush(queue, messages[0])
    assert await eventually(lambda: "replayed" in refusals(workers.output(worker)))
    assert not marks[0].exists()
    client.close()


def test_a_claim_memory_below_one_stops_the_start(write_config: WriteConfig) -> None:
    """claim_memory = 0 (a worker that could remember nothing) is a config error naming the
    key, not a worker that runs jobs it cannot remember."""
    for value in ("0", "-1", "2.5"):
        config = with_settings(write_config("redis://127.0.0.1:1"), f"claim_memory = {value}")
        with pytest.raises(toolwire.ConfigError, match="claim_memory"):
            toolwire.Dispatcher.from_config(config)


def test_claim_memory_forgets_at_the_deadline_and_under_pressure_only_what_is_late() -> None:
    """An id is kept until its job's deadline; when full, the ids past their claim time are
    forgotten to make room, and with none of those a new id is refused, not kept at the
    expense of one a replay could still use."""
    now = [1000.0]
    memory = ClaimMemory(3, clock=lambda: now[0])
    assert memory.remember("a", claim_by=1010, deadline=1100)
    assert memory.remember("b", claim_by=1010, deadline=1020)
    assert memory.remember("c", claim_by=1050, deadline=1300)
    assert not memory.remember("d", claim_by=1060, deadline=1300)  # full, none late
    assert "d" not in memory and len(memory) == 3
    now[0] = 1015  # a and b past their claim time, before their deadline: kept while room
    assert "a" in memory and "b" in memory
    assert memory.remember("d", claim_by=1060, deadline=1300)  # room made from a and b
    assert "a" not in memory and "b" not in memory and {"c", "d"} <= set(memory._ids)
    assert memory.remember("e", claim_by=1070, deadline=1200)
    assert not memory.remember("f", claim_by=1070, deadline=1200)  # c, d, e all claimable
    now[0] = 1250  # e's deadline passed: forgotten
    assert memory.remember("f", claim_by=1260, deadline=1400)
    assert "e" not in memory and {"c", "d", "f"} == set(memory._ids)


@pytest.mark.slow
async def test_a_tool_s_failure_is_logged_by_the_worker_with_secrets_masked(
    redis_server: RedisServer, workers: Workers, write_config: WriteConfig, tmp_path: Path
) -> None:
    """A tool whose exception quotes a redact-listed argument: the worker's tool_failed line
    and traceback show [redacted], never the value."""
    config = write_config(redis_server.url)
    config.write_text(
        config.read_text().replace('level = "warning"\n', 'level = "warning"\nredact = ["mark"]\n')
    )
    worker = workers.start(config)
    secret = f"hunter2-{uuid.uuid4().hex}"
    mark = tmp_path / "no-such-folder" / secret  # writing it raises, quoting the path
    with toolwire.Dispatcher.from_config(config) as dispatcher:
        result = await dispatcher.dispatch("nap", {"seconds": 0, "mark": str(mark)})
    assert result.error is not None and result.error.kind == "execution_error"
    assert secret not in result.output
    assert await eventually(lambda: "tool_failed" in workers.output(worker))
    log = workers.output(worker)
    assert "Traceback" in log and "[redacted]" in log
    assert secret not in log


@pytest.mark.slow
async def test_junk_on_the_done_channel_is_counted_and_the_host_keeps_listening(
    redis_server: RedisServer,
    workers: Workers,
    write_config: WriteConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Non-UTF-8 bytes, an empty message and a long one published on the done channel: the
    host's reply listener stays subscribed, calls are answered, and the junk is one summary
    line counting three, not a line each."""
    config = write_config(redis_server.url)
    workers.start(config)
    done = f"{queue_of(config)}:done"
    client = redis.Redis.from_url(redis_server.url)

    def listeners() -> int:
        return int(dict(client.pubsub_numsub(done))[done.encode()])

    with caplog.at_level(logging.WARNING, logger="toolwire.taskiq"):
        with toolwire.Dispatcher.from_config(config) as dispatcher:
            assert (await dispatcher.dispatch("add", {"a": 1, "b": 2})).result == 3
            assert listeners() == 1
            for junk in (b"\xff\xfe", b"", b"x" * 10_000):
                client.publish(done, junk)
            assert (await dispatcher.dispatch("add", {"a": 2, "b": 2})).result == 4
            assert await eventually(lambda: "message_refused" in caplog.text)
            assert listeners() == 1
            assert (await dispatcher.dispatch("add", {"a": 3, "b": 2})).result == 5
        lines = [r.getMessage() for r in caplog.records if "message_refused" in r.getMessage()]
    counted = sum(int(n) for line in lines for n in re.findall(r"done_not_a_job_id=(\d+)", line))
    assert counted == 3 and len(lines) <= 2, lines
    client.close()


@pytest.mark.slow
async def test_junk_on_the_cancel_channel_is_counted_and_the_worker_still_cancels(
    redis_server: RedisServer, workers: Workers, write_config: WriteConfig, tmp_path: Path
) -> None:
    """Junk published on the cancel channel is counted in message_refused summaries as
    unsigned (not a line each), and the worker still stops a call its host cancels."""
    config = write_config(redis_server.url)
    worker = workers.start(config)
    client = redis.Redis.from_url(redis_server.url)
    for junk in (b"\xff\xfe", b"../../etc", b"y" * 10_000):
        client.publish(f"{queue_of(config)}:cancel", junk)

    def junk_counted() -> int:
        log = workers.output(worker)
        return sum(int(n) for n in re.findall(r"cancel_unsigned=(\d+)", log))

    assert await eventually(lambda: junk_counted() == 3)  # the first at once, then a summary
    mark = tmp_path / "mark"
    with toolwire.Dispatcher.from_config(config) as dispatcher:
        await cancelled_on_worker(dispatcher, mark)  # host still up
    lines = [line for line in workers.output(worker).splitlines() if "message_refused" in line]
    assert len(lines) <= 2, lines
    client.close()


@pytest.mark.slow
async def test_a_claim_set_to_junk_answers_the_call_instead_of_crashing_it(
    redis_server: RedisServer, write_config: WriteConfig, tmp_path: Path
) -> None:
    """A client of Redis sets a waiting call's claim to non-UTF-8 bytes: the call answers
    executor_lost (no worker of that id sends heartbeats), not an internal error."""
    config = write_config(redis_server.url, "[tools.nap]\ntimeout = 60\n")
    queue = queue_of(config)
    client = redis.Redis.from_url(redis_server.url)
    with toolwire.Dispatcher.from_config(config) as dispatcher:
        waiting = asyncio.create_task(dispatcher.dispatch("nap", {"seconds": 0}))
        assert await eventually(lambda: client.llen(queue) == 1)
        [message] = client.lrange(queue, 0, -1)
        client.set(f"{queue}:claim:{job_of(message)['job']}", b"\xff\xfeworker")
        result = await waiting
    assert result.error is not None and result.error.kind == "executor_lost", result.output
    client.close()


@pytest.mark.slow
async def test_a_forged_cancel_does_not_stop_a_running_call(
    redis_server: RedisServer, workers: Workers, write_config: WriteConfig, tmp_path: Path
) -> None:
    """A client of Redis that publishes a running job's id on the cancel channel, bare or
    signed with another key, stops nothing: the worker counts both as refused and the tool
    runs on, until its own host cancels it."""
    config = write_config(redis_server.url)
    worker = workers.start(config)
    client = redis.Redis.from_url(redis_server.url)
    queue, mark = queue_of(config), tmp_path / "mark"
    with toolwire.Dispatcher.from_config(config) as dispatcher:
        waiting = asyncio.create_task(
            dispatcher.dispatch("wait", {"seconds": 600, "mark": str(mark)})
        )
        assert await eventually(lambda: mark.exists() and mark.read_text() == "started")
        [claim] = client.keys(f"{queue}:claim:*")
        job_id = claim.decode().rsplit(":", 1)[1]
        client.publish(f"{queue}:cancel", job_id)
        client.publish(f"{queue}:cancel", Signer(b"another-key-" * 4).seal_cancel(job_id))

        def refused() -> tuple[int, int]:
            log = workers.output(worker)
            return (
                sum(int(n) for n in re.findall(r"cancel_unsigned=(\d+)", log)),
                sum(int(n) for n in re.findall(r"cancel_forged=(\d+)", log)),
            )

        assert await eventually(lambda: refused() == (1, 1))
        assert mark.read_text() == "started" and not waiting.done()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert await eventually(lambda: mark.read_text() == "cancelled")
    client.close()
