"""Progress from a tool on a ``toolwire worker``: signed reports, in order, before the result."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import tomllib
from pathlib import Path

import pytest
import redis
import toolwire
from mcp import Client, StdioServerParameters
from toolwire_fixtures.progress_checks import count_up_progress_in_order
from toolwire_taskiq._wire import Signer

from .conftest import RedisServer, Workers, WriteConfig, toolwire_command

Seen = list[tuple[float, float | None, str | None]]


def queue_of(config: Path) -> str:
    return str(tomllib.loads(config.read_text())["executors"]["fleet"]["queue"])


def steps(n: int) -> Seen:
    return [(float(i), float(n), f"step {i}") for i in range(1, n + 1)]


@pytest.mark.slow
async def test_reports_arrive_in_order_and_all_before_the_result(
    redis_server: RedisServer, workers: Workers, write_config: WriteConfig
) -> None:
    """Each report of a tool on a worker reaches progress= in order, the last of a flood
    included, all before the call returns, none after; a call without progress= sends none."""
    config = write_config(redis_server.url)
    workers.start(config)
    seen: Seen = []
    with toolwire.Dispatcher.from_config(config) as dispatcher:
        result = await dispatcher.dispatch(
            "count_up", {"n": 3, "pause": 0.05}, progress=lambda *r: seen.append(r)
        )
        assert result.result == 3, result.output
        assert seen == steps(3)
        flood: Seen = []
        result = await dispatcher.dispatch(
            "count_up", {"n": 5000, "pause": 0}, progress=lambda *r: flood.append(r)
        )
        assert result.result == 5000, result.output
        at_result = list(flood)
        assert flood[-1] == (5000.0, 5000.0, "step 5000")
        done = [p for p, _, _ in flood]
        assert done == sorted(set(done))
        assert len(flood) < 5000  # paced: reports sooner than the interval gave way to later ones
        assert (await dispatcher.dispatch("count_up", {"n": 3, "pause": 0})).result == 3
        await asyncio.sleep(0.3)
        assert flood == at_result and seen == steps(3)


@pytest.mark.slow
async def test_forged_replayed_and_junk_reports_are_dropped_and_counted(
    redis_server: RedisServer,
    workers: Workers,
    write_config: WriteConfig,
    signing_key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """On the host's progress channel, a report signed with another key, a genuine report
    published again, junk, and a genuine-key report of a job no call waits for are never
    delivered; they are counted in message_refused summaries, not logged a line each."""
    config = write_config(redis_server.url)
    workers.start(config)
    client = redis.Redis.from_url(redis_server.url)
    pattern = f"{queue_of(config)}:progress:*"
    seen: Seen = []
    with caplog.at_level(logging.WARNING, logger="toolwire.taskiq"):
        with toolwire.Dispatcher.from_config(config) as dispatcher:
            call = asyncio.create_task(
                dispatcher.dispatch(
                    "count_up", {"n": 6, "pause": 0.3}, progress=lambda *r: seen.append(r)
                )
            )
            for _ in range(400):
                if seen:
                    break
                await asyncio.sleep(0.02)
            (channel,) = client.pubsub_channels(pattern)
            # a genuine report, captured as anyone who may subscribe can
            spy = client.pubsub()
            spy.subscribe(channel)
            genuine = None
            for _ in range(400):
                message = spy.get_message(ignore_subscribe_messages=True, timeout=0.05)
                if message is not None:
                    genuine = message["data"]
                    break
            assert genuine is not None
            body = genuine.split(b"\n", 1)[1]
            job = re.search(rb'"job":"(\w+)"', body)
            assert job is not None
            other = Signer(b"another key, not the executor's")
            client.publish(channel, other.seal_progress(job[1].decode(), 99, 99.0, 99.0, "forged"))
            client.publish(channel, genuine)  # replayed: not newer than the last
            client.publish(channel, b"\xff junk")
            ours = Signer(signing_key.encode())
            client.publish(channel, ours.seal_progress("f" * 32, 1, 1.0, None, "nobody waits"))
            result = await call
            assert result.result == 6, result.output
            spy.close()
        lines = [r.getMessage() for r in caplog.records if "message_refused" in r.getMessage()]
    assert seen == steps(6)
    counts = {
        reason: sum(int(n) for line in lines for n in re.findall(rf"{reason}=(\d+)", line))
        for reason in ("progress_forged", "progress_out_of_order", "progress_unsigned")
    }
    assert counts == {"progress_forged": 1, "progress_out_of_order": 1, "progress_unsigned": 1}
    assert sum(int(n) for line in lines for n in re.findall(r"progress_late=(\d+)", line)) >= 1
    assert len(lines) <= 2, lines
    client.close()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_progress_from_a_worker_reaches_an_mcp_client(
    redis_server: RedisServer, workers: Workers, write_config: WriteConfig, mode: str
) -> None:
    """notifications/progress from a tool on a toolwire worker reach a client of
    `toolwire mcp serve` (official SDK, stdio) in order, all before the result."""
    config = write_config(redis_server.url)
    text = config.read_text().replace(
        'enable = ["remote", "taskiq"]', 'enable = ["remote", "taskiq", "mcp"]'
    )
    config.write_text(text)
    workers.start(config)
    command, *args = toolwire_command()
    params = StdioServerParameters(
        command=command,
        args=[*args, "--config", str(config), "mcp", "serve"],
        env=dict(os.environ),
    )
    async with Client(params, mode=mode) as client:
        await count_up_progress_in_order(client, 3000)
