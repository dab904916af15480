"""Scheduling by side effect: ``[defaults] schedule = "by_effect"``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import toolwire

from .conftest import MakeDispatcher

BY_EFFECT = {"defaults": {"schedule": "by_effect"}}


def _pack(log: list[str], reads_together: int) -> toolwire.Toolset:
    """A pack whose reads meet at a barrier of ``reads_together`` (they cannot finish unless
    that many run at once) and whose write records its start and end."""
    pack = toolwire.Toolset("effects")
    barrier = asyncio.Barrier(reads_together)

    @pack.tool(read_only=True)
    async def read(n: int) -> int:
        """Read something."""
        log.append(f"start read {n}")
        await asyncio.wait_for(barrier.wait(), 10)
        log.append(f"end read {n}")
        return n

    @pack.tool
    async def write(n: int) -> int:
        """Change something."""
        log.append(f"start write {n}")
        await asyncio.sleep(0)
        log.append(f"end write {n}")
        return n

    return pack


def _calls(*names: str) -> list[dict[str, Any]]:
    return [{"name": name, "arguments": {"n": n}} for n, name in enumerate(names)]


async def test_a_write_runs_alone_between_the_reads_around_it(make: MakeDispatcher) -> None:
    """Under by_effect, 3 reads run at once, then the write alone, then the last 3 reads at
    once; results stay in call order."""
    log: list[str] = []
    dispatcher = make(_pack(log, 3), config=BY_EFFECT)
    calls = _calls("read", "read", "read", "write", "read", "read", "read")
    results = await dispatcher.dispatch_many(calls)
    assert [r.result for r in results] == list(range(7))
    write_start, write_end = log.index("start write 3"), log.index("end write 3")
    assert write_end == write_start + 1
    assert all(log.index(f"end read {n}") < write_start for n in (0, 1, 2))
    assert all(log.index(f"start read {n}") > write_end for n in (4, 5, 6))


async def test_under_parallel_the_write_overlaps_the_reads(make: MakeDispatcher) -> None:
    """The default schedule (parallel) starts the write while the reads before it still run."""
    log: list[str] = []
    dispatcher = make(_pack(log, 6), config={})
    results = await dispatcher.dispatch_many(
        _calls("read", "read", "read", "write", "read", "read", "read")
    )
    assert all(r.success for r in results)
    assert log.index("start write 3") < log.index("end read 0")


async def test_writes_keep_the_order_the_model_asked(make: MakeDispatcher) -> None:
    """Under by_effect, calls of tools not read_only run one at a time, in call order."""
    log: list[str] = []
    pack = toolwire.Toolset("w")

    @pack.tool
    async def write(n: int) -> int:
        """Change something, the early ones slowly."""
        log.append(f"start {n}")
        for _ in range(5 - n):
            await asyncio.sleep(0)
        log.append(f"end {n}")
        return n

    results = await make(pack, config=BY_EFFECT).dispatch_many(_calls(*["write"] * 4))
    assert [r.result for r in results] == [0, 1, 2, 3]
    assert log == [x for n in range(4) for x in (f"start {n}", f"end {n}")]


async def test_an_unknown_name_is_a_step_of_its_own(make: MakeDispatcher) -> None:
    """A call naming no tool gets its error and never lets reads on either side overlap."""
    log: list[str] = []
    dispatcher = make(_pack(log, 1), config=BY_EFFECT)
    results = await dispatcher.dispatch_many(_calls("read", "nope", "read"))
    assert [r.success for r in results] == [True, False, True]
    assert log == ["start read 0", "end read 0", "start read 2", "end read 2"]


async def test_operator_marks_a_tool_read_only(make: MakeDispatcher) -> None:
    """[tools.NAME] read_only = true lets an operator put a tool's calls together."""
    log: list[str] = []
    pack = toolwire.Toolset("o")
    barrier = asyncio.Barrier(2)

    @pack.tool
    async def look(n: int) -> int:
        """Look."""
        await asyncio.wait_for(barrier.wait(), 10)
        log.append(f"looked {n}")
        return n

    config = {**BY_EFFECT, "tools": {"look": {"read_only": True}}}
    results = await make(pack, config=config).dispatch_many(_calls("look", "look"))
    assert [r.result for r in results] == [0, 1]


def test_an_unknown_schedule_stops_the_start(make: MakeDispatcher) -> None:
    """A schedule that is neither parallel nor by_effect is a config error, not a default."""
    with pytest.raises(toolwire.ConfigError, match="schedule"):
        make(toolwire.Toolset("x"), config={"defaults": {"schedule": "serial"}})
