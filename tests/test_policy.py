"""Execution policy: timeouts, retries, concurrency, sequential tools, output budgets."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import decimal
import enum
import json
import pathlib
import threading
import time
import uuid
from typing import Any

import pydantic
import pytest
import structlog
import toolwire

from .conftest import MakeDispatcher

FAST_RETRIES = {"plugins": {"policy": {"retry_initial_delay": 0.001, "retry_max_delay": 0.01}}}


async def test_async_timeout_cancels_the_tool(make: MakeDispatcher) -> None:
    """An async tool past its deadline is cancelled (finally runs) and the call gets timeout."""
    cleaned = asyncio.Event()
    pack = toolwire.Toolset("t")

    @pack.tool(timeout=0.05)
    async def hang() -> None:
        """Hang until cancelled."""
        try:
            await asyncio.sleep(60)
        finally:
            cleaned.set()

    result = await make(pack).dispatch("hang")
    assert result.error is not None and result.error.kind == "timeout"
    assert result.error.retryable and cleaned.is_set()


async def test_the_deadline_counts_from_the_start_of_the_call_not_its_first_wait(
    make: MakeDispatcher,
) -> None:
    """A tool that computes past its deadline before it first waits is cancelled at that wait,
    as under ``asyncio.timeout``: the deadline is not restarted when the call first waits."""
    import time

    reached = []
    pack = toolwire.Toolset("t")

    @pack.tool(timeout=0.05)
    async def busy_then_wait() -> str:
        """Busy, then wait."""
        time.sleep(0.2)  # past the deadline, without giving the loop a turn
        await asyncio.sleep(0.5)
        reached.append("after the wait")
        return "late"

    result = await make(pack).dispatch("busy_then_wait")
    assert result.error is not None and result.error.kind == "timeout"
    assert reached == []


async def test_a_call_that_never_waits_is_answered_as_under_asyncio_timeout(
    make: MakeDispatcher,
) -> None:
    """A tool that never gives the loop a turn cannot be cancelled; its value is the answer, as
    ``asyncio.timeout`` gives it, and no cancellation is left on the task."""
    import time

    pack = toolwire.Toolset("t")

    @pack.tool(timeout=0.01, retries=1, max_concurrency=1)
    async def busy() -> str:
        """Busy without waiting."""
        time.sleep(0.05)
        return "done"

    dispatcher = make(pack)
    for _ in range(2):
        result = await dispatcher.dispatch("busy")
        assert result.success and result.result == "done"
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0.02)  # a deadline that fired late would cancel us here


def stuck_pack(name: str, release: threading.Event) -> toolwire.Toolset:
    """A pack with ``stuck``: a plain function past its 0.05 s deadline until ``release``."""
    pack = toolwire.Toolset(name)

    @pack.tool(timeout=0.05)
    def stuck() -> str:
        """Block until released."""
        release.wait(10)
        return "late"

    return pack


async def test_sync_timeout_frees_the_call_and_the_pool_keeps_serving(
    make: MakeDispatcher,
) -> None:
    """A plain function past its deadline gets timeout; its thread is counted and another is
    started in its place, so other calls still run, up to twice ``[limits] threads`` threads
    in all: past that a call waits for a thread to come back."""
    release = threading.Event()
    pack = stuck_pack("t", release)

    @pack.tool
    def quick() -> str:
        """Answer at once."""
        return "quick"

    dispatcher = make(pack, config={"limits": {"threads": 2}})
    results = await dispatcher.dispatch_many([{"name": "stuck"}, {"name": "stuck"}])
    assert [r.error.kind for r in results if r.error] == ["timeout", "timeout"]
    assert dispatcher.stats()["abandoned"] == 2
    # Both threads are stuck: a third serves (the bound only keeps a regression from hanging).
    assert (await asyncio.wait_for(dispatcher.dispatch("quick"), 30)).output == "quick"
    results = await dispatcher.dispatch_many([{"name": "stuck"}, {"name": "stuck"}])
    assert [r.error.kind for r in results if r.error] == ["timeout", "timeout"]
    assert dispatcher.stats()["abandoned"] == 4
    # Four threads, all stuck: no fifth; the call waits until one comes back.
    waiting = asyncio.ensure_future(dispatcher.dispatch("quick"))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    release.set()
    assert (await asyncio.wait_for(waiting, 30)).output == "quick"
    assert await wait_for_count(dispatcher, "running", 0)
    assert dispatcher.stats() == {"threads": 2, "running": 0, "abandoned": 0, "abandoned_tasks": 0}
    assert (await dispatcher.dispatch("quick")).output == "quick"


async def test_threads_stay_bounded_across_close_and_reuse_and_shrink_back(
    make: MakeDispatcher,
) -> None:
    """Threads still stuck from before ``close()`` count against the bound of twice
    ``[limits] threads``: a call after reuse waits for one to come back rather than starting
    more; once they are back, no more than ``threads`` calls run at once again."""
    release = threading.Event()
    running, most = [0], [0]
    lock = threading.Lock()
    pack = stuck_pack("bounded", release)

    @pack.tool
    def counted() -> str:
        """Count how many copies run at once."""
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return "counted"

    def ours() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith("toolwire-")} - before

    before = {t for t in threading.enumerate() if t.name.startswith("toolwire-")}
    dispatcher = make(pack, config={"limits": {"threads": 1}})
    for _ in range(2):  # one after the other: the second runs on a thread started for it
        stuck_result = await dispatcher.dispatch("stuck")
        assert stuck_result.error is not None and stuck_result.error.kind == "timeout"
    assert len(ours()) == 2  # one thread, and the one started in its place: the bound
    dispatcher.close()
    waiting = asyncio.ensure_future(dispatcher.dispatch("counted"))
    await asyncio.sleep(0.1)
    assert not waiting.done() and len(ours()) == 2
    release.set()
    # The bound only keeps a regression from hanging the run; nothing here is timed.
    assert (await asyncio.wait_for(waiting, 30)).output == "counted"
    assert await wait_for_count(dispatcher, "abandoned", 0)  # both stuck threads are back
    batch = await dispatcher.dispatch_many([{"name": "counted"}] * 6)
    assert [r.output for r in batch] == ["counted"] * 6
    assert most[0] == 1


def deaf_pack(
    stop: asyncio.Event, seen: list[str], timeout: float | None = 0.05
) -> toolwire.Toolset:
    """A tool that catches every cancellation and goes on until ``stop`` is set."""
    pack = toolwire.Toolset("deaf")

    @pack.tool(timeout=timeout)
    async def deaf() -> str:
        """Ignore every cancellation."""
        while not stop.is_set():
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                seen.append("cancelled")
        return "finished on its own"

    return pack


async def wait_for_count(dispatcher: toolwire.Dispatcher, key: str, value: int) -> bool:
    for _ in range(500):
        if dispatcher.stats()[key] == value:
            return True
        await asyncio.sleep(0.01)
    return False


async def test_an_async_tool_that_swallows_its_cancellation_still_times_out(
    make: MakeDispatcher,
) -> None:
    """The deadline answers timeout after a short grace, though the tool ignores the cancel; the
    tool is left to finish, counted in stats() until it does; nothing is left cancelled."""
    stop, seen = asyncio.Event(), []
    dispatcher = make(deaf_pack(stop, seen), config={"limits": {"threads": 2}})
    result = await dispatcher.dispatch("deaf")
    assert result.error is not None and result.error.kind == "timeout", result.output
    assert result.error.retryable and seen  # it was told, and did not listen
    assert dispatcher.stats()["abandoned_tasks"] == 1
    assert asyncio.current_task().cancelling() == 0
    stop.set()
    assert await wait_for_count(dispatcher, "abandoned_tasks", 0)
    assert dispatcher.stats() == {"threads": 2, "running": 0, "abandoned": 0, "abandoned_tasks": 0}


async def test_a_batch_with_tools_that_swallow_cancellation_answers_every_call(
    make: MakeDispatcher,
) -> None:
    """Each deaf call gets its own timeout; the calls beside them are answered as usual."""
    stop, seen = asyncio.Event(), []
    pack = deaf_pack(stop, seen)

    @pack.tool
    async def ok() -> str:
        """Answer after a while."""
        await asyncio.sleep(0.02)
        return "ok"

    dispatcher = make(pack)
    results = await dispatcher.dispatch_many([{"name": "deaf"}, {"name": "ok"}, {"name": "deaf"}])
    assert [r.error.kind if r.error else r.output for r in results] == ["timeout", "ok", "timeout"]
    assert dispatcher.stats()["abandoned_tasks"] == 2
    stop.set()
    assert await wait_for_count(dispatcher, "abandoned_tasks", 0)


def test_a_swallowed_cancellation_times_out_from_dispatch_sync(make: MakeDispatcher) -> None:
    """The same from the sync twin, on the dispatcher's own loop; close() does not wait for
    a tool that never listens (it is told once more, then left), and says so in the log."""
    stop = asyncio.Event()
    dispatcher = make(deaf_pack(stop, []))
    result = dispatcher.dispatch_sync("deaf")
    assert result.error is not None and result.error.kind == "timeout"
    assert dispatcher.stats()["abandoned_tasks"] == 1
    with structlog.testing.capture_logs() as logs:
        dispatcher.close()
    assert [e["count"] for e in logs if e["event"] == "toolwire.tasks_left_running"] == [1]


HOST_WITH_A_TOOL_THAT_NEVER_STOPS = """
import asyncio, toolwire
pack = toolwire.Toolset("t")
@pack.tool(timeout=0.05)
async def forever() -> str:
    "Never stop."
    while True:
        try:
            await asyncio.sleep(0.01)
        except BaseException:
            pass
d = toolwire.Dispatcher().add(pack)
print(d.dispatch_sync("forever").error.kind)
d.close()
"""


def test_a_host_process_exits_though_a_tool_never_stops(tmp_path: pathlib.Path) -> None:
    """close() leaves a tool that swallows every cancel (GeneratorExit too) running on the
    dispatcher's thread; the host process still exits, normally."""
    import subprocess
    import sys

    script = tmp_path / "host.py"
    script.write_text(HOST_WITH_A_TOOL_THAT_NEVER_STOPS)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stdout) == (0, "timeout\n"), done.stderr


async def test_a_caller_s_cancellation_is_not_held_by_a_tool_that_swallows_it(
    make: MakeDispatcher,
) -> None:
    """Cancelling a dispatch (before its deadline) whose tool ignores the cancel: the caller
    still gets its CancelledError after the grace; the tool is left behind and counted."""
    stop, seen = asyncio.Event(), []
    dispatcher = make(deaf_pack(stop, seen, timeout=30))
    running = asyncio.create_task(dispatcher.dispatch("deaf"))
    await asyncio.sleep(0.05)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert seen and dispatcher.stats()["abandoned_tasks"] == 1
    stop.set()
    assert await wait_for_count(dispatcher, "abandoned_tasks", 0)


async def test_a_tool_that_cleans_up_within_the_grace_is_waited_for(make: MakeDispatcher) -> None:
    """A tool that takes a moment to clean up after its cancel (shorter than the grace) finishes
    in the call: nothing is abandoned."""
    from toolwire._tasks import CANCEL_GRACE

    cleaned = []
    pack = toolwire.Toolset("t")

    @pack.tool(timeout=0.02)
    async def tidy() -> str:
        """Clean up slowly after a cancel."""
        try:
            await asyncio.sleep(10)
        finally:
            await asyncio.sleep(CANCEL_GRACE / 10)
            cleaned.append("done")
        return "never"

    dispatcher = make(pack)
    result = await dispatcher.dispatch("tidy")
    assert result.error is not None and result.error.kind == "timeout"
    assert cleaned == ["done"] and dispatcher.stats()["abandoned_tasks"] == 0


async def test_a_tool_s_own_timeout_then_more_work_is_not_a_cancelled_call(
    make: MakeDispatcher,
) -> None:
    """A tool whose own asyncio.timeout fires, and which then works on past the grace, is not
    left behind: its cancel was its own, taken back."""
    from toolwire._tasks import CANCEL_GRACE

    pack = toolwire.Toolset("t")

    @pack.tool(timeout=30)
    async def patient() -> str:
        """Give up on one thing, then do another."""
        try:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(5)
        except TimeoutError:
            pass
        await asyncio.sleep(CANCEL_GRACE * 1.5)
        return "done"

    dispatcher = make(pack)
    assert (await dispatcher.dispatch("patient")).output == "done"
    assert dispatcher.stats()["abandoned_tasks"] == 0


async def test_a_caller_s_earlier_cancel_request_does_not_turn_a_timeout_into_a_cancel(
    make: MakeDispatcher,
) -> None:
    """The host's task carries a cancel it caught earlier (cancelling() == 1): a call past its
    deadline still answers timeout, for a tool that stops and for one that ignores the cancel."""
    stop = asyncio.Event()
    pack = deaf_pack(stop, [])

    @pack.tool(timeout=0.02)
    async def slow() -> str:
        """Sleep past the deadline."""
        await asyncio.sleep(5)
        return "late"

    dispatcher = make(pack)
    me = asyncio.current_task()
    me.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.sleep(1)
    assert me.cancelling() == 1
    try:
        for name in ("slow", "deaf"):
            result = await dispatcher.dispatch(name)
            assert result.error is not None and result.error.kind == "timeout", name
        assert me.cancelling() == 1
    finally:
        me.uncancel()
        stop.set()


def _answers_when_cancelled(name: str, timeout: float, answer: str) -> toolwire.Toolset:
    """A pack with one async tool, ``name``, that sleeps and, once cancelled, returns ``answer``
    instead of letting the cancellation through."""
    pack = toolwire.Toolset("t")

    async def tool() -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            return answer
        return "slept"

    pack.tool(name=name, timeout=timeout, description="Return after one cancel.")(tool)
    return pack


async def test_a_caller_s_cancel_stands_when_the_tool_catches_it_and_returns(
    make: MakeDispatcher,
) -> None:
    """Cancelling a dispatch whose tool (with a timeout) catches the CancelledError and returns
    a value: the caller still gets its CancelledError."""
    pack = _answers_when_cancelled("catch_one", 30, "returned after cancel")

    running = asyncio.create_task(make(pack).dispatch("catch_one"))
    await asyncio.sleep(0.02)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running


async def test_async_tools_keep_their_own_task_scoped_machinery(make: MakeDispatcher) -> None:
    """Awaited through the cancel-watching driver, a tool still runs in the call's task: its own
    asyncio.timeout, TaskGroup and current_task work; a failure of what it awaits reaches it."""
    pack = toolwire.Toolset("t")

    @pack.tool(timeout=5)
    async def scoped() -> list[str]:
        """Use task-scoped machinery across suspensions."""
        seen = []
        task = asyncio.current_task()
        try:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(1)
        except TimeoutError:
            seen.append("own timeout")
        async with asyncio.TaskGroup() as group:
            child = group.create_task(asyncio.sleep(0.001, "child"))
        seen.append(child.result())
        failing = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.001, failing.set_exception, KeyError("gone"))
        try:
            await failing
        except KeyError:
            seen.append("failure reached it")
        seen.append("same task" if asyncio.current_task() is task else "moved")
        return seen

    result = await make(pack).dispatch("scoped")
    assert result.result == ["own timeout", "child", "failure reached it", "same task"]


async def test_transient_failures_are_retried_and_counted(make: MakeDispatcher) -> None:
    """retries=N retries transient failures; attempts tells how many were made."""
    failures = {"n": 2}
    pack = toolwire.Toolset("r")

    @pack.tool(retries=3)
    def flaky() -> str:
        """Fail twice, then work."""
        if failures["n"]:
            failures["n"] -= 1
            raise ConnectionError("reset")
        return "ok"

    @pack.tool(retries=2)
    def always() -> None:
        """Always fail transiently."""
        raise toolwire.TransientError("busy")

    @pack.tool(retries=2)
    def broken() -> None:
        """Fail in a way no retry can fix."""
        raise ValueError("bug")

    dispatcher = make(pack, config=FAST_RETRIES)
    ok = await dispatcher.dispatch("flaky")
    assert ok.success and ok.attempts == 3
    exhausted = await dispatcher.dispatch("always")
    assert exhausted.error is not None and exhausted.attempts == 3
    not_retried = await dispatcher.dispatch("broken")
    assert not_retried.attempts == 1


async def test_timeouts_are_retried_and_retry_on_is_honoured(make: MakeDispatcher) -> None:
    """A missed deadline is retried like TimeoutError; retry_on= picks the exception types."""
    calls = {"slow": 0, "custom": 0}
    pack = toolwire.Toolset("r")

    @pack.tool(timeout=0.02, retries=1)
    async def slow_once() -> str:
        """Slow the first time."""
        calls["slow"] += 1
        if calls["slow"] == 1:
            await asyncio.sleep(1)
        return "second time lucky"

    @pack.tool(retries=2, retry_on=[KeyError])
    def custom() -> None:
        """Raise the custom transient error."""
        calls["custom"] += 1
        raise KeyError("x")

    dispatcher = make(pack, config=FAST_RETRIES)
    result = await dispatcher.dispatch("slow_once")
    assert result.output == "second time lucky" and result.attempts == 2
    assert (await dispatcher.dispatch("custom")).attempts == 3


async def test_validation_errors_are_never_retried(make: MakeDispatcher) -> None:
    """Invalid arguments, denials and unknown tools end the call before any retry."""
    pack = toolwire.Toolset("r")

    @pack.tool(retries=5, roles=["admin"])
    def guarded(n: int) -> int:
        """Return n."""
        return n

    dispatcher = make(pack, config=FAST_RETRIES)
    invalid = await dispatcher.dispatch("guarded", {"n": "x"}, role="admin")
    denied = await dispatcher.dispatch("guarded", {"n": 1}, role="user")
    assert (invalid.attempts, denied.attempts) == (0, 0)


async def test_per_tool_concurrency_is_bounded(make: MakeDispatcher) -> None:
    """max_concurrency caps how many calls of a tool run at once, counted as they run."""
    running = {"now": 0, "peak": 0}
    pack = toolwire.Toolset("c")

    @pack.tool(max_concurrency=2)
    async def capped() -> None:
        """Count concurrent runs."""
        running["now"] += 1
        running["peak"] = max(running["peak"], running["now"])
        await asyncio.sleep(0.01)
        running["now"] -= 1

    results = await make(pack).dispatch_many([{"name": "capped"}] * 10)
    assert all(r.success for r in results) and running["peak"] == 2


async def test_batch_concurrency_is_bounded_by_the_default(make: MakeDispatcher) -> None:
    """[defaults] max_concurrency bounds how many calls of one batch run at once."""
    running = {"now": 0, "peak": 0}
    pack = toolwire.Toolset("c")

    @pack.tool
    async def counted() -> None:
        """Count concurrent runs."""
        running["now"] += 1
        running["peak"] = max(running["peak"], running["now"])
        await asyncio.sleep(0.01)
        running["now"] -= 1

    await make(pack, config={"defaults": {"max_concurrency": 3}}).dispatch_many(
        [{"name": "counted"}] * 12
    )
    assert running["peak"] == 3


async def test_sequential_tools_run_in_call_order(make: MakeDispatcher) -> None:
    """A sequential tool's calls run one at a time in call order; other tools run alongside."""
    log: list[str] = []
    pack = toolwire.Toolset("s")

    @pack.tool(sequential=True)
    async def write(n: int) -> None:
        """Append n, slowly for early ones."""
        log.append(f"start {n}")
        await asyncio.sleep(0.02 * (5 - n))
        log.append(f"end {n}")

    @pack.tool
    async def read() -> None:
        """Read while writes happen."""
        log.append("read")

    calls = [{"name": "write", "arguments": {"n": n}} for n in range(4)] + [{"name": "read"}]
    results = await make(pack).dispatch_many(calls)
    assert all(r.success for r in results)
    writes = [e for e in log if e != "read"]
    assert writes == [x for n in range(4) for x in (f"start {n}", f"end {n}")]
    assert log.index("read") < log.index("end 0")


async def test_batch_maximum_answers_every_extra_call(make: MakeDispatcher) -> None:
    """Calls beyond [limits] max_batch_calls each get an error result; none is dropped."""
    pack = toolwire.Toolset("b")

    @pack.tool
    def one() -> int:
        """One."""
        return 1

    results = await make(pack, config={"limits": {"max_batch_calls": 3}}).dispatch_many(
        [toolwire.ToolCall("one", {}, f"c{i}") for i in range(5)]
    )
    assert [r.call_id for r in results] == [f"c{i}" for i in range(5)]
    assert [r.success for r in results] == [True, True, True, False, False]
    assert results[4].error is not None and results[4].error.retryable


@pytest.mark.parametrize("text", ["a" * 500, "é" * 500, "🙂" * 500, "x🙂" * 250])
def test_long_results_are_cut_to_head_and_tail(make: MakeDispatcher, text: str) -> None:
    """A result over max_output_chars keeps head and tail, says how much went, splits no character."""
    pack = toolwire.Toolset("o")

    @pack.tool(max_output_chars=100)
    def long() -> str:
        """A long text."""
        return text

    output = make(pack).dispatch_sync("long").output
    assert len(output) <= 100 and "characters removed" in output
    assert output.encode("utf-8").decode("utf-8") == output
    head, tail = output.split("\n[... ")[0], output.split(" ...]\n")[1]
    removed = int(output.split("[... ")[1].split(" ")[0])
    assert text.startswith(head) and text.endswith(tail)
    assert len(head) + len(tail) + removed == len(text)


def test_output_budget_comes_from_defaults_and_config(make: MakeDispatcher) -> None:
    """[defaults] max_output_chars applies unless [tools.NAME] sets its own."""
    pack = toolwire.Toolset("o")

    @pack.tool
    def long() -> str:
        """A long text."""
        return "z" * 1000

    dispatcher = make(pack, config={"defaults": {"max_output_chars": 200}})
    assert len(dispatcher.dispatch_sync("long").output) <= 200
    dispatcher = make(
        pack,
        config={
            "defaults": {"max_output_chars": 200},
            "tools": {"long": {"max_output_chars": 2000}},
        },
    )
    assert dispatcher.dispatch_sync("long").output == "z" * 1000


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Box:
    size: int
    tags: frozenset[str]


class Model(pydantic.BaseModel):
    when: datetime.date


def test_common_types_serialize_deterministically(make: MakeDispatcher) -> None:
    """datetime, Decimal, UUID, Enum, set, bytes, Path, dataclasses and models become JSON."""
    pack = toolwire.Toolset("o")
    value = {
        "dt": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        "d": datetime.date(2026, 1, 2),
        "t": datetime.time(3, 4),
        "dec": decimal.Decimal("1.10"),
        "id": uuid.UUID(int=1),
        "colour": Colour.RED,
        "set": {"b", "a", "c"},
        "bytes": b"\x00\xff",
        "path": pathlib.PurePosixPath("/tmp/x"),
        "box": Box(2, frozenset({"z", "y"})),
        "model": Model(when=datetime.date(2026, 5, 6)),
    }

    @pack.tool
    def everything() -> dict[str, Any]:
        """Every type."""
        return value

    dispatcher = make(pack)
    first = dispatcher.dispatch_sync("everything").output
    assert first == dispatcher.dispatch_sync("everything").output
    assert json.loads(first) == {
        "dt": "2026-01-02T03:04:05+00:00",
        "d": "2026-01-02",
        "t": "03:04:00",
        "dec": "1.10",
        "id": "00000000-0000-0000-0000-000000000001",
        "colour": "red",
        "set": ["a", "b", "c"],
        "bytes": "AP8=",
        "path": "/tmp/x",
        "box": {"size": 2, "tags": ["y", "z"]},
        "model": {"when": "2026-05-06"},
    }


def test_unserializable_results_are_output_errors(make: MakeDispatcher) -> None:
    """An unknown type or a cycle is output_error for that call, never a repr sent to the model."""
    pack = toolwire.Toolset("o")

    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque secret=hunter2>"

    @pack.tool
    def opaque() -> Any:
        """An object JSON cannot carry."""
        return {"x": Opaque()}

    @pack.tool
    def cycle() -> Any:
        """A list that contains itself."""
        items: list[Any] = []
        items.append(items)
        return items

    @pack.tool
    def nan() -> float:
        """Not a number."""
        return float("nan")

    dispatcher = make(pack)
    with structlog.testing.capture_logs() as logs:
        dispatcher.dispatch_sync("opaque")
    logged = [e for e in logs if e["event"] == "toolwire.output_error"]
    assert logged and logged[0]["result_type"] == "dict" and "Opaque" in logged[0]["reason"]
    for name in ("opaque", "cycle", "nan"):
        result = dispatcher.dispatch_sync(name)
        assert result.error is not None and result.error.kind == "output_error", name
        assert "hunter2" not in result.output
    assert "Opaque" in dispatcher.dispatch_sync("opaque").error.message


def test_per_tool_concurrency_holds_across_threads(make: MakeDispatcher) -> None:
    """max_concurrency bounds calls made from several threads, each with its own event loop."""
    running = {"now": 0, "peak": 0}
    lock = threading.Lock()
    pack = toolwire.Toolset("c")

    @pack.tool(max_concurrency=2)
    def capped() -> None:
        """Count concurrent runs across threads."""
        with lock:
            running["now"] += 1
            running["peak"] = max(running["peak"], running["now"])
        threading.Event().wait(0.02)
        with lock:
            running["now"] -= 1

    dispatcher = make(pack)
    threads = [
        threading.Thread(target=lambda: dispatcher.dispatch_many_sync([{"name": "capped"}] * 3))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert running["peak"] == 2


async def test_a_tool_that_swallows_its_timeout_leaves_no_cancellation_behind(
    make: MakeDispatcher,
) -> None:
    """A tool that catches the deadline's cancellation and answers still gets timeout (the
    deadline passed), and does not poison its batch."""
    pack = _answers_when_cancelled("stubborn", 0.02, "answered anyway")

    @pack.tool
    async def after() -> str:
        """Await something after the stubborn call."""
        await asyncio.sleep(0.05)
        return "fine"

    results = await make(pack).dispatch_many([{"name": "stubborn"}, {"name": "after"}])
    assert [r.error.kind if r.error else r.output for r in results] == ["timeout", "fine"]
    assert asyncio.current_task().cancelling() == 0


def test_close_does_not_wait_for_a_thread_abandoned_by_a_timeout(make: MakeDispatcher) -> None:
    """A plain function past its deadline may never return: close() returns without it."""
    release = threading.Event()
    pack = toolwire.Toolset("t")

    @pack.tool(timeout=0.02)
    def stuck() -> str:
        """Block until released."""
        release.wait(60)
        return "late"

    dispatcher = make(pack)
    try:
        assert dispatcher.dispatch_sync("stuck").error.kind == "timeout"  # type: ignore[union-attr]
        closing = threading.Thread(target=dispatcher.close)
        closing.start()
        closing.join(30)
        assert not closing.is_alive()
    finally:
        release.set()


def test_close_from_another_thread_ends_a_sync_call_with_a_clear_error(
    make: MakeDispatcher,
) -> None:
    """dispatch_sync running on the dispatcher's loop when another thread closes it: a
    RuntimeError that says so, not a bare concurrent.futures.CancelledError."""
    started = threading.Event()
    pack = toolwire.Toolset("t")

    @pack.tool
    async def waits() -> str:
        """Wait long."""
        started.set()
        await asyncio.sleep(60)
        return "late"

    dispatcher = make(pack)
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            dispatcher.dispatch_sync("waits")
        except BaseException as exc:  # noqa: BLE001 - what the caller got
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    assert started.wait(30)
    dispatcher.close()
    caller.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], RuntimeError)
    assert "closed" in str(outcome[0])


def test_close_returns_after_the_grace_though_a_tool_is_left_running(
    make: MakeDispatcher,
) -> None:
    """close() waits the grace for a tool that ignores its cancellation, then returns while
    the tool still runs (it is left on the loop's thread), not once it ends."""
    finished = threading.Event()
    pack = toolwire.Toolset("t")

    @pack.tool(timeout=0.05)
    async def stubborn() -> str:
        """Ignore every cancel for two seconds: past the grace of the call and of close()."""
        loop = asyncio.get_running_loop()
        end = loop.time() + 2
        while loop.time() < end:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.02)
        finished.set()
        return "late"

    dispatcher = make(pack)
    result = dispatcher.dispatch_sync("stubborn")
    assert result.error is not None and result.error.kind == "timeout"
    dispatcher.close()
    assert not finished.is_set()


@pytest.mark.parametrize("raised", [toolwire.ToolError("fetch aborted"), ValueError("aborted")])
async def test_a_tool_that_raises_while_handling_its_deadline_gets_timeout(
    make: MakeDispatcher, raised: Exception
) -> None:
    """A tool that turns its deadline's cancel into an error of its own is answered with
    ``timeout`` (the deadline passed), and the host's task is left with no cancel request
    of the deadline's (as ``asyncio.timeout`` leaves it): a later Ctrl-C still reads as one."""
    pack = toolwire.Toolset("raising")

    @pack.tool(timeout=0.05)
    async def fetch() -> str:
        """Wait, and fail when cancelled."""
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise raised from None
        return "never"

    dispatcher = make(pack)
    task = asyncio.current_task()
    assert task is not None
    before = task.cancelling()
    one = await dispatcher.dispatch("fetch")
    (many,) = await dispatcher.dispatch_many([{"name": "fetch"}])
    for result in (one, many):
        assert result.error is not None and result.error.kind == "timeout"
    assert task.cancelling() == before
