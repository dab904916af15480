"""Parallel calls stay parallel unless toolwire's policy serializes them; a run Pydantic AI
cancels cancels toolwire's calls."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import toolwire
from pyai_helpers import Script
from pydantic_ai import Agent
from pydantic_ai.exceptions import RunTimedOut
from toolwire.testing import make_dispatcher
from toolwire_pydantic_ai import ToolwireToolset


class Meeting:
    """Counts the calls inside a tool at once; ``meet`` waits (up to 5 s) for a second one."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.both = asyncio.Event()
        self.cancelled: list[str] = []

    def enter(self) -> None:
        self.inside += 1
        self.most = max(self.most, self.inside)
        if self.inside == 2:
            self.both.set()


@pytest.fixture
def meeting() -> Meeting:
    return Meeting()


@pytest.fixture
def rooms(meeting: Meeting) -> Iterator[toolwire.Dispatcher]:
    """meet (waits for company), queue (sequential), hang (never returns)."""
    pack = toolwire.Toolset("rooms")

    @pack.tool
    async def meet(name: str) -> str:
        """Wait in the room for a second caller."""
        meeting.enter()
        try:
            await asyncio.wait_for(meeting.both.wait(), 5)
            return f"{name} met someone"
        except TimeoutError:
            return f"{name} was alone"
        finally:
            meeting.inside -= 1

    @pack.tool(sequential=True)
    async def queue(name: str) -> str:
        """One at a time."""
        meeting.enter()
        try:
            await asyncio.sleep(0.05)
            return name
        finally:
            meeting.inside -= 1

    @pack.tool
    async def hang() -> str:
        """Wait forever."""
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            meeting.cancelled.append("hang")
            raise
        return "never"

    with make_dispatcher(pack) as dispatcher:
        yield dispatcher


async def test_parallel_calls_run_at_once(rooms: toolwire.Dispatcher, meeting: Meeting) -> None:
    """Two calls in one response are in the tool together."""
    script = Script([[("meet", {"name": "a"}), ("meet", {"name": "b"})], "done"])
    await Agent(script.model, toolsets=[ToolwireToolset(rooms)]).run("go")
    assert sorted(p.content for p in script.seen[1].returns()) == ["a met someone", "b met someone"]
    assert meeting.most == 2


async def test_a_sequential_tool_runs_one_call_at_a_time(
    rooms: toolwire.Dispatcher, meeting: Meeting
) -> None:
    """toolwire's sequential policy reaches Pydantic AI: its calls never overlap, and they are
    answered in call order."""
    calls = [("queue", {"name": n}) for n in "abc"]
    script = Script([calls, "done"])
    toolset = ToolwireToolset(rooms)
    await Agent(script.model, toolsets=[toolset]).run("go")
    assert [p.content for p in script.seen[1].returns()] == ["a", "b", "c"]
    assert meeting.most == 1


async def test_a_cancelled_run_cancels_toolwires_call(
    rooms: toolwire.Dispatcher, meeting: Meeting
) -> None:
    """When the run's deadline passes, the call toolwire is running is cancelled with it."""
    script = Script([[("hang", {})], "done"])
    with pytest.raises(RunTimedOut):
        await Agent(script.model, toolsets=[ToolwireToolset(rooms)]).run("go", timeout=0.3)
    assert meeting.cancelled == ["hang"]
