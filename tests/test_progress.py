"""Progress from every executor: reports of a tool in a ``process`` worker reach the host; and
what any report may carry, and until when."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import toolwire
from toolwire._values import MAX_STATUS_CHARS
from toolwire_fixtures import remote

from .conftest import MakeDispatcher

ON_PROCESS = {
    "plugins": {"autoload": False},
    "defaults": {"executor": "process"},
    "executors": {"process": {"workers": 1}},
}

Report = tuple[float, float | None, str | None]


async def test_process_worker_reports_reach_the_host_in_order(make: MakeDispatcher) -> None:
    """Each report of a tool in a process worker reaches progress=, in order, before the result."""
    dispatcher = make(remote.pack, config=ON_PROCESS)
    seen: list[Report] = []
    result = await dispatcher.dispatch(
        "count_up", {"n": 3, "pause": 0.05}, progress=lambda *r: seen.append(r)
    )
    assert result.success, result.error
    assert result.result == 3
    assert seen == [(1.0, 3.0, "step 1"), (2.0, 3.0, "step 2"), (3.0, 3.0, "step 3")]


async def test_a_flood_of_reports_is_thinned_and_ends_with_the_last(make: MakeDispatcher) -> None:
    """A tool reporting in a tight loop reaches the host thinned, in order, the last report
    always included and arriving before the result."""
    dispatcher = make(remote.pack, config=ON_PROCESS)
    seen: list[Report] = []

    def listen(*report: Any) -> None:
        seen.append(report)

    result = await dispatcher.dispatch("count_up", {"n": 20000, "pause": 0}, progress=listen)
    at_result = len(seen)
    await asyncio.sleep(0.1)  # anything still on its way would arrive now
    assert result.success, result.error
    assert seen[-1] == (20000.0, 20000.0, "step 20000")
    assert len(seen) == at_result
    steps = [p for p, _, _ in seen]
    assert steps == sorted(set(steps))
    assert len(seen) < 20000


async def test_no_listener_no_reports_travel(make: MakeDispatcher) -> None:
    """Without progress=, a reporting tool in a process worker runs as any other."""
    dispatcher = make(remote.pack, config=ON_PROCESS)
    result = await dispatcher.dispatch("count_up", {"n": 5, "pause": 0})
    assert (result.success, result.result) == (True, 5)


def test_sync_dispatch_gets_process_reports(make: MakeDispatcher) -> None:
    """dispatch_sync's progress= hears a process worker's reports too."""
    dispatcher = make(remote.pack, config=ON_PROCESS)
    seen: list[Report] = []
    result = dispatcher.dispatch_sync(
        "count_up", {"n": 2, "pause": 0.05}, progress=lambda *r: seen.append(r)
    )
    assert result.success, result.error
    assert seen == [(1.0, 2.0, "step 1"), (2.0, 2.0, "step 2")]


async def test_a_held_report_goes_out_once_its_interval_is_up(make: MakeDispatcher) -> None:
    """On the process executor a report held back (it came within 10 ms of the last one) is
    sent once its 10 ms are over: a tool that then works past its deadline has told the host
    its last step, and the timed-out call gets nothing after its result."""
    config = {**ON_PROCESS, "tools": {"report_twice_then_wait": {"timeout": 0.5}}}
    dispatcher = make(remote.pack, config=config)
    seen: list[Report] = []
    result = await dispatcher.dispatch(
        "report_twice_then_wait", {"seconds": 5}, progress=lambda *r: seen.append(r)
    )
    assert result.error is not None and result.error.kind == "timeout"
    assert seen == [(1.0, 2.0, "first"), (2.0, 2.0, "second")]


async def test_a_listener_that_raises_ends_neither_the_call_nor_the_loop(
    make: MakeDispatcher,
) -> None:
    """A progress listener raising ``SystemExit`` off the main thread (a thread's tool, the
    process executor's reports on the dispatcher's own loop) is logged, and the call and the
    dispatcher go on."""
    dispatcher = make(remote.pack, config=ON_PROCESS)

    def leave(*report: Any) -> None:
        raise SystemExit(4)

    def call() -> Any:
        return dispatcher.dispatch_sync("count_up", {"n": 2, "pause": 0.02}, progress=leave)

    for _ in range(2):  # the second call finds the dispatcher's loop still running
        result = await asyncio.to_thread(call)
        assert result.success and result.result == 2


async def test_a_report_made_after_its_call_ended_is_dropped(make: MakeDispatcher) -> None:
    """Reports of a plain function still running past its deadline, and of a thread a tool
    left behind, never reach progress= after the call's result."""
    stop = threading.Event()
    pack = toolwire.Toolset("late")

    @pack.tool(timeout=0.2)
    def overrun(context: toolwire.CallContext) -> str:
        """Report every 50 ms until told to stop."""
        n = 0
        while not stop.wait(0.05):
            n += 1
            context.report_progress(n)
        return "stopped"

    @pack.tool
    def leave_a_reporter(context: toolwire.CallContext) -> str:
        """Start a thread that reports after the call returns."""
        context.report_progress(1)
        threading.Timer(0.1, context.report_progress, (2,)).start()
        return "left"

    dispatcher = make(pack)
    seen: list[Any] = []
    timed_out = await dispatcher.dispatch("overrun", {}, progress=lambda *r: seen.append(r[0]))
    assert timed_out.error is not None and timed_out.error.kind == "timeout"
    ended = list(seen)
    await asyncio.sleep(0.3)
    stop.set()
    assert seen == ended and ended  # reports until the deadline, none after
    seen.clear()
    left = await dispatcher.dispatch("leave_a_reporter", {}, progress=lambda *r: seen.append(r[0]))
    await asyncio.sleep(0.3)
    assert left.success and seen == [1.0]


async def test_a_report_is_finite_numbers_and_a_short_text(make: MakeDispatcher) -> None:
    """A report whose progress or total is not a finite number is dropped (and logged); a
    message is passed on as text, a lone surrogate read as U+FFFD, a long one cut."""
    pack = toolwire.Toolset("odd")

    @pack.tool
    def odd(context: toolwire.CallContext) -> str:
        """Report odd values."""
        context.report_progress(float("nan"))
        context.report_progress(1, float("inf"))
        context.report_progress(2, 4, 7)  # type: ignore[arg-type]
        context.report_progress(3, 4, b"caf\xe9".decode("utf-8", "surrogateescape"))
        context.report_progress(4, 4, "x" * 5_000)
        context.report_progress(5, 5, Loud("as text"))
        return "ok"

    class Loud(str):
        def __str__(self) -> str:
            raise RuntimeError("a str subclass whose __str__ fails")

    seen: list[Any] = []
    result = await make(pack).dispatch("odd", {}, progress=lambda *r: seen.append(r))
    assert result.success
    assert seen[:2] == [(2.0, 4.0, "7"), (3.0, 4.0, "caf\ufffd")]
    long, plain = seen[2:]
    assert len(long[2]) == MAX_STATUS_CHARS and long[2].endswith("…")
    assert plain == (5.0, 5.0, "as text") and type(plain[2]) is str
