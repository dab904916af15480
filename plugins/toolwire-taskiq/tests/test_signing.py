"""Signed, fresh, claimed jobs: a real redis-server, ``toolwire worker`` processes, and jobs
pushed on the real queue by hand, as anyone with access to Redis could."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import re
import secrets
import subprocess
import time
import tomllib
import uuid
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import redis
import toolwire
from toolwire_taskiq._wire import Signer

from .conftest import KEY_ENV, RedisServer, Workers, WriteConfig, toolwire_command

#: The version of the pack the fixture tools come from, as host and workers see it.
PACK_VERSION = version("toolwire-fixture-plugins")


def queue_of(config: Path) -> str:
    return str(tomllib.loads(config.read_text())["executors"]["fleet"]["queue"])


def job_for(tool: str, arguments: dict[str, Any], *, late: bool = False) -> dict[str, Any]:
    """A job as a host sends it (see ``toolwire_taskiq._wire``), for executor ``fleet``."""
    now = time.time()
    return {
        "v": 1,
        "job": uuid.uuid4().hex,
        "executor": "fleet",
        "call_id": "c1",
        "tool": tool,
        "arguments": arguments,
        "plugin": "remote",
        "version": PACK_VERSION,
        "deadline": now - 1 if late else now + 60,
        "claim_by": now - 1 if late else now + 10,
        "attempt": 1,
        "role": None,
        "principal": None,
        "approval_id": None,
        "trace_context": {},
    }


async def eventually(condition: Callable[[], bool], tries: int = 600) -> bool:
    """Whether ``condition`` comes to hold (polled; no wall-clock assertion)."""
    for _ in range(tries):
        if condition():
            return True
        await asyncio.sleep(0.05)
    return False


async def queued_nap(
    dispatcher: toolwire.Dispatcher, client: redis.Redis, queue: str, mark: Path
) -> tuple[asyncio.Task[toolwire.DispatchResult], bytes]:
    """A call of ``nap`` whose job waits in the queue (no worker takes it): the call, the job."""
    waiting = asyncio.create_task(dispatcher.dispatch("nap", {"seconds": 0, "mark": str(mark)}))
    assert await eventually(lambda: client.llen(queue) == 1)
    [job] = client.lrange(queue, 0, -1)
    return waiting, job


async def withdrawn_then_refused(
    dispatcher: toolwire.Dispatcher,
    workers: Workers,
    config: Path,
    client: redis.Redis,
    job: bytes,
    reason: str,
) -> None:
    """``job`` has left the queue; pushed again, a worker started now refuses it for ``reason``
    and then runs the host's next call."""
    queue = queue_of(config)
    assert await eventually(lambda: client.llen(queue) == 0)  # withdrawn
    worker = workers.start(config)
    client.lpush(queue, job)
    assert await eventually(lambda: reason in refusals(workers.output(worker)))
    assert (await dispatcher.dispatch("where")).result == worker.pid


async def cancelled_on_worker(dispatcher: toolwire.Dispatcher, mark: Path) -> None:
    """A ``wait`` call the host cancels once a worker runs it: the tool there is cancelled."""
    waiting = asyncio.create_task(dispatcher.dispatch("wait", {"seconds": 600, "mark": str(mark)}))
    assert await eventually(lambda: mark.exists() and mark.read_text() == "started")
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await eventually(lambda: mark.read_text() == "cancelled")


def refusals(log: str) -> list[str]:
    """The reason of each job a worker's log says it refused: its summary lines' counts, a
    reason repeated as often as counted (in the order of the lines, by name within one)."""
    found = []
    for line in log.splitlines():
        if "job_refused" in line and "reason=" not in line:  # the debug lines name one job
            for reason, count in re.findall(r"(\w+)=(\d+)", line):
                if reason not in ("total", "seconds"):
                    found += [reason] * int(count)
    return found


def test_no_key_or_a_weak_key_stops_the_host(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A missing, short or repetitive key stops the start, saying what to set; the key never
    appears in the message."""
    config = write_config("redis://127.0.0.1:1")
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(toolwire.ConfigError, match=rf"{KEY_ENV} is not set; set it") as unset:
        toolwire.Dispatcher.from_config(config)
    assert "[executors.fleet] key_env" in str(unset.value)
    for weak, why in [
        ("s3cr3t-but-short", r"holds 16 bytes|anyone could guess"),
        ("abababababababababababababababab", r"anyone could guess"),
        (" " * 40, r"anyone could guess"),
        ("0123456789abcde", r"holds 15 bytes; a signing key needs at least 16"),
    ]:
        monkeypatch.setenv(KEY_ENV, weak)
        with pytest.raises(toolwire.ConfigError, match=why) as refused:
            toolwire.Dispatcher.from_config(config)
        assert not weak.strip() or weak not in str(refused.value)
    monkeypatch.setenv("OTHER_KEY", secrets.token_hex(32))
    named = write_config("redis://127.0.0.1:1", "")
    named.write_text(named.read_text().replace("heartbeat =", 'key_env = "OTHER_KEY"\nheartbeat ='))
    monkeypatch.delenv(KEY_ENV)
    toolwire.Dispatcher.from_config(named).close()  # the variable key_env names is the one read


def test_bad_timing_settings_stop_the_start(write_config: WriteConfig) -> None:
    """claim_timeout, default_timeout and key_env are checked like every other setting."""
    for line, message in [
        ("claim_timeout = 0", "claim_timeout: 0 is not a positive number"),
        ("default_timeout = -5", "default_timeout: -5 is not a positive number"),
        ('key_env = ""', "key_env: '' is not the name of an environment variable"),
    ]:
        config = write_config("redis://127.0.0.1:1")
        config.write_text(config.read_text().replace("heartbeat =", f"{line}\nheartbeat ="))
        with pytest.raises(toolwire.ConfigError, match=message):
            toolwire.Dispatcher.from_config(config)


def test_the_worker_refuses_to_start_without_a_good_key(write_config: WriteConfig) -> None:
    """``toolwire worker`` with no key, or a weak one, exits 2 saying which variable to set,
    and never prints the key."""
    config = write_config("redis://127.0.0.1:1")
    environ = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    for key in (None, "password12345678"):
        env = environ if key is None else {**environ, KEY_ENV: key}
        run = subprocess.run(
            [*toolwire_command(), "--config", str(config), "worker", "fleet"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert run.returncode == 2, run.stderr
        assert run.stderr.startswith("toolwire worker: ") and KEY_ENV in run.stderr
        assert run.stdout == ""
        if key is not None:
            assert key not in run.stderr


@pytest.mark.slow
async def test_forged_jobs_pushed_on_the_queue_are_refused_and_never_run(
    redis_server: RedisServer,
    workers: Workers,
    write_config: WriteConfig,
    signing_key: str,
    tmp_path: Path,
) -> None:
    """Unsigned, wrong-key, tampered (role, tool, arguments), expired and replayed jobs are
    each refused, none runs, and the worker logs job_refused without their arguments; the
    same job signed with the key runs, once."""
    config = write_config(redis_server.url)
    worker = workers.start(config)
    queue = queue_of(config)
    client = redis.Redis.from_url(redis_server.url)
    signer = Signer(signing_key.encode())
    secret = f"SECRET-{uuid.uuid4().hex}"

    def nap(name: str) -> dict[str, Any]:
        return {"seconds": 0, "mark": str(tmp_path / f"{name}-{secret}")}

    forged = {
        # What a host queued before jobs were signed: a plain taskiq message.
        "unsigned": json.dumps(
            {
                "task_id": uuid.uuid4().hex,
                "task_name": "toolwire.call",
                "labels": {},
                "labels_types": {},
                "args": [{**job_for("nap", nap("unsigned")), "executor": "fleet"}],
                "kwargs": {},
            }
        ).encode(),
        "empty": b"",
        "wrong key": Signer(secrets.token_hex(32).encode()).seal(job_for("nap", nap("wrong"))),
        "role": signer.seal(job_for("nap", nap("role"))).replace(b'"role":null', b'"role":"admin"'),
        "tool": signer.seal(job_for("add", {"a": 1, "b": 2})).replace(b'"add"', b'"nap"'),
        "arguments": signer.seal(job_for("nap", nap("arguments"))).replace(
            b'"seconds":0', b'"seconds":9'
        ),
        "mac": signer.seal(job_for("nap", nap("mac"))).replace(b"0", b"1", 1),
        "expired": signer.seal(job_for("nap", nap("expired"), late=True)),
    }
    for message in forged.values():
        client.lpush(queue, message)
    assert await eventually(lambda: len(refusals(workers.output(worker))) == len(forged))

    # Sealed now: the refusals' summary took its interval, longer than a job's claim_timeout.
    good = signer.seal(job_for("nap", nap("replayed")))
    assert all(message != good for message in forged.values())

    client.lpush(queue, good)  # signed with the key: it runs
    ran = tmp_path / f"replayed-{secret}"
    assert await eventually(ran.exists)
    assert int(ran.read_text()) == worker.pid
    ran.unlink()
    client.lpush(queue, good)  # the same job again: a replay
    assert await eventually(lambda: len(refusals(workers.output(worker))) == len(forged) + 1)

    assert sorted(p.name for p in tmp_path.iterdir() if secret in p.name) == []
    log = workers.output(worker)
    expected = {"unsigned": 2, "forged": 5, "expired": 1, "replayed": 1}
    assert collections.Counter(refusals(log)) == expected, log
    assert secret not in log and "mark" not in log
    client.close()


@pytest.mark.slow
async def test_a_flood_of_junk_on_the_queue_is_summarised_not_logged_line_by_line(
    redis_server: RedisServer,
    workers: Workers,
    write_config: WriteConfig,
    signing_key: str,
    tmp_path: Path,
) -> None:
    """Whoever can write to the queue cannot fill the worker's log: 3,000 junk messages
    make a few summary lines, every one counted, and a signed job still runs after them."""
    config = write_config(redis_server.url)
    worker = workers.start(config)
    queue = queue_of(config)
    client = redis.Redis.from_url(redis_server.url)
    junk = [f"junk {i}".encode() for i in range(2000)]
    junk += [Signer(b"x" * 64).seal(job_for("nap", {"seconds": 0})) for _ in range(1000)]
    for start in range(0, len(junk), 500):
        client.lpush(queue, *junk[start : start + 500])
    assert await eventually(lambda: len(refusals(workers.output(worker))) == len(junk))
    lines = [line for line in workers.output(worker).splitlines() if "job_refused" in line]
    assert len(lines) <= 5, lines
    mark = tmp_path / "after-the-flood"
    signer = Signer(signing_key.encode())
    client.lpush(queue, signer.seal(job_for("nap", {"seconds": 0, "mark": str(mark)})))
    assert await eventually(mark.exists)
    client.close()


@pytest.mark.slow
async def test_one_job_pushed_many_times_runs_once_across_workers(
    redis_server: RedisServer,
    workers: Workers,
    write_config: WriteConfig,
    signing_key: str,
    tmp_path: Path,
) -> None:
    """The same signed job pushed ten times at once, with two worker processes taking from
    the queue: one run, nine refusals as replayed, between them."""
    config = write_config(redis_server.url)
    started = [workers.start(config), workers.start(config)]
    queue = queue_of(config)
    client = redis.Redis.from_url(redis_server.url)
    mark = tmp_path / "mark"
    message = Signer(signing_key.encode()).seal(job_for("nap", {"seconds": 0.2, "mark": str(mark)}))
    client.lpush(queue, *[message] * 10)

    def replays() -> list[str]:
        return [r for w in started for r in refusals(workers.output(w)) if r == "replayed"]

    assert await eventually(lambda: len(replays()) == 9)
    assert await eventually(mark.exists)
    assert int(mark.read_text()) in {w.pid for w in started}
    assert client.llen(queue) == 0  # ten taken: nine refused, so one ran
    client.close()


@pytest.mark.slow
async def test_a_replay_of_a_running_job_leaves_it_cancellable(
    redis_server: RedisServer,
    workers: Workers,
    write_config: WriteConfig,
    signing_key: str,
    tmp_path: Path,
) -> None:
    """A job pushed again while it runs on the same worker is refused, and the running one
    still stops when its host cancels it."""
    config = write_config(redis_server.url)
    worker = workers.start(config)
    queue = queue_of(config)
    client = redis.Redis.from_url(redis_server.url)
    mark = tmp_path / "mark"
    job = job_for("wait", {"seconds": 600, "mark": str(mark)})
    message = Signer(signing_key.encode()).seal(job)
    client.lpush(queue, message)
    assert await eventually(lambda: mark.exists() and mark.read_text() == "started")
    client.lpush(queue, message)
    assert await eventually(lambda: refusals(workers.output(worker)) == ["replayed"])
    signed_cancel = Signer(signing_key.encode()).seal_cancel(job["job"])
    client.publish(f"{queue}:cancel", signed_cancel)  # what the host sends when it cancels
    assert await eventually(lambda: mark.read_text() == "cancelled")
    client.close()


@pytest.mark.slow
async def test_a_worker_with_another_key_runs_nothing_and_the_host_is_answered(
    redis_server: RedisServer,
    workers: Workers,
    write_config: WriteConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Host and worker keys differ: the worker refuses the job as forged, the tool does not
    run, and the waiting host gets executor_unavailable (retryable) at claim_timeout."""
    config = write_config(redis_server.url, "")
    config.write_text(config.read_text().replace("heartbeat =", "claim_timeout = 1\nheartbeat ="))
    host_key = os.environ[KEY_ENV]
    monkeypatch.setenv(KEY_ENV, secrets.token_hex(32))
    worker = workers.start(config)
    monkeypatch.setenv(KEY_ENV, host_key)
    mark = tmp_path / "mark"
    with toolwire.Dispatcher.from_config(config) as dispatcher:
        result = await dispatcher.dispatch("nap", {"seconds": 0, "mark": str(mark)})
    assert result.error is not None and result.error.kind == "executor_unavailable"
    assert result.error.retryable and "job_refused" in result.error.message
    assert await eventually(lambda: "forged" in refusals(workers.output(worker)))
    assert not mark.exists()
    assert redis_server.count(f"{queue_of(config)}:claim:*") == 1  # the host's: abandoned


@pytest.mark.slow
async def test_a_job_nobody_claims_in_time_answers_and_can_never_run(
    redis_server: RedisServer,
    workers: Workers,
    write_config: WriteConfig,
    tmp_path: Path,
) -> None:
    """No worker alive: the call answers executor_unavailable (retryable) at claim_timeout,
    its job leaves the queue, and the same job pushed again once a worker runs is refused
    (its claim time passed; its claim is the host's) and never runs."""
    config = write_config(redis_server.url)
    config.write_text(config.read_text().replace("heartbeat =", "claim_timeout = 1\nheartbeat ="))
    queue = queue_of(config)
    client = redis.Redis.from_url(redis_server.url)
    mark = tmp_path / "mark"
    with toolwire.Dispatcher.from_config(config) as dispatcher:
        # the job is what a worker that never claimed it took
        waiting, taken = await queued_nap(dispatcher, client, queue, mark)
        result = await waiting
        assert result.error is not None and result.error.kind == "executor_unavailable"
        assert result.error.retryable and "within 1 s" in result.error.message
        await withdrawn_then_refused(dispatcher, workers, config, client, taken, "unclaimed")
    assert not mark.exists()
    client.close()


@pytest.mark.slow
async def test_a_job_the_host_cancelled_before_any_claim_never_runs(
    redis_server: RedisServer,
    workers: Workers,
    write_config: WriteConfig,
    tmp_path: Path,
) -> None:
    """A call cancelled while its job waits in the queue: the job is withdrawn, and pushed
    again (within its claim time) a worker finds its claim taken and refuses it."""
    config = write_config(redis_server.url)
    queue = queue_of(config)
    client = redis.Redis.from_url(redis_server.url)
    mark = tmp_path / "mark"
    with toolwire.Dispatcher.from_config(config) as dispatcher:
        waiting, taken = await queued_nap(dispatcher, client, queue, mark)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await withdrawn_then_refused(dispatcher, workers, config, client, taken, "cancelled")
    assert not mark.exists()
    client.close()


@pytest.mark.slow
async def test_a_call_without_a_timeout_ends_at_the_default_deadline(
    redis_server: RedisServer,
    workers: Workers,
    write_config: WriteConfig,
    tmp_path: Path,
) -> None:
    """A tool with no timeout gets default_timeout: the host answers timeout, and the worker
    cancels the async tool at that deadline."""
    config = write_config(redis_server.url)
    config.write_text(config.read_text().replace("heartbeat =", "default_timeout = 1\nheartbeat ="))
    workers.start(config)
    mark = tmp_path / "mark"
    with toolwire.Dispatcher.from_config(config) as dispatcher:
        assert dispatcher.policy("wait").timeout is None
        async with asyncio.timeout(120):  # a guard, not a measure: without a deadline, forever
            result = await dispatcher.dispatch("wait", {"seconds": 600, "mark": str(mark)})
    assert result.error is not None and result.error.kind == "timeout", result.output
    assert await eventually(lambda: mark.exists() and mark.read_text() == "cancelled")


@pytest.mark.slow
async def test_the_job_carries_role_principal_and_approval_signed(
    redis_server: RedisServer, write_config: WriteConfig, signing_key: str, tmp_path: Path
) -> None:
    """An approved call's job names its tool, arguments, role, principal, approval id and
    deadline, and its MAC holds under the key; no worker runs it (claim_timeout)."""
    config = write_config(
        redis_server.url,
        '[approvals]\nstore = "memory://"\n\n[tools.add]\napproval = true\ntimeout = 30\n',
    )
    config.write_text(config.read_text().replace("heartbeat =", "claim_timeout = 1\nheartbeat ="))
    queue = queue_of(config)
    client = redis.Redis.from_url(redis_server.url)
    with toolwire.Dispatcher.from_config(config) as dispatcher:
        held = await dispatcher.dispatch(
            "add", {"a": 1, "b": 2}, role="clerk", state={"principal": "ada"}
        )
        assert held.error is not None and held.error.kind == "approval_required"
        assert held.approval is not None
        approving = asyncio.create_task(dispatcher.approve(held.approval.id, by="bob"))
        assert await eventually(lambda: client.llen(queue) == 1)
        [message] = client.lrange(queue, 0, -1)
        await approving
    body = Signer(signing_key.encode()).open(message)  # raises unless the MAC holds
    job = json.loads(body)
    assert body == json.dumps(job, sort_keys=True, separators=(",", ":")).encode()
    assert (job["tool"], job["arguments"], job["role"]) == ("add", {"a": 1, "b": 2}, "clerk")
    assert (job["principal"], job["approval_id"]) == ("ada", held.approval.id)
    assert job["deadline"] > job["claim_by"] > time.time() - 60
    client.close()


@pytest.mark.slow
async def test_a_forged_reply_is_not_taken_for_the_worker_s(
    redis_server: RedisServer, write_config: WriteConfig, tmp_path: Path
) -> None:
    """A reply written to Redis by someone without the key is discarded: the host answers as
    if none came (executor_unavailable at claim_timeout), never with the forged value."""
    config = write_config(redis_server.url)
    config.write_text(config.read_text().replace("heartbeat =", "claim_timeout = 2\nheartbeat ="))
    queue = queue_of(config)
    client = redis.Redis.from_url(redis_server.url)
    with toolwire.Dispatcher.from_config(config) as dispatcher:
        waiting = asyncio.create_task(dispatcher.dispatch("add", {"a": 1, "b": 2}))
        assert await eventually(lambda: client.llen(queue) == 1)
        [message] = client.lrange(queue, 0, -1)
        job_id = json.loads(message.split(b"\n", 1)[1])["job"]
        client.set(f"{queue}:result:{job_id}", b"0" * 64 + b'\n{"ok":"666"}')
        client.publish(f"{queue}:done", job_id)
        result = await waiting
    assert result.error is not None and result.error.kind == "executor_unavailable"
    assert "666" not in result.output
    client.close()


def test_the_signature_is_checked_before_parsing() -> None:
    """Bytes that are not JSON behind a MAC that does not hold are refused as forged, not as
    malformed: nothing was parsed; behind a MAC that holds they are malformed."""
    from toolwire_taskiq._wire import Refused, read_job

    signer = Signer(secrets.token_hex(32).encode())
    junk = b"\xff{not json"
    with pytest.raises(Refused, match="forged"):
        signer.open(b"0" * 64 + b"\n" + junk)
    sealed = signer.mac(b"toolwire-taskiq job\n", junk) + b"\n" + junk
    with pytest.raises(Refused, match="malformed"):
        read_job(signer.open(sealed), "fleet")
    assert signer._key.decode() not in repr(signer)
