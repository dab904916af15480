"""The process executor's workers each lead a process group of their own: what a tool starts
ends with its worker, at the call's deadline, at close() and when the worker dies."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import toolwire
from toolwire_fixtures import children

from .conftest import MakeDispatcher

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups")


def config(**tools: Any) -> dict[str, Any]:
    """The children pack on one process worker, with per-tool settings."""
    return {
        "defaults": {"executor": "process"},
        "executors": {"process": {"workers": 1}},
        "tools": tools,
    }


def stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name, or None for no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def ended(pid: int) -> bool:
    """Whether the process is gone from the process table or is a zombie (dead, not reaped)."""
    fields = stat(pid)
    return fields is None or fields[0] in ("Z", "X")


async def eventually(check: Any, seconds: float = 15.0) -> bool:
    """Poll ``check`` until it holds or ``seconds`` pass; whether it held."""
    for _ in range(int(seconds / 0.05)):
        if check():
            return True
        await asyncio.sleep(0.05)
    return bool(check())


async def pids(mark: Path) -> dict[str, int]:
    """The worker's and the child's pids, once the tool has written them."""
    assert await eventually(lambda: mark.exists() and mark.read_text().endswith("}"), 60.0)
    found: dict[str, int] = json.loads(mark.read_text())
    return found


async def family(
    make: MakeDispatcher, tmp_path: Path, settings: dict[str, Any] | None = None, **arguments: Any
) -> tuple[toolwire.Dispatcher, toolwire.DispatchResult, Path]:
    """A dispatcher with the children pack on one process worker (``family`` with these
    settings), and the result of one ``family`` call that writes its pids to ``tmp_path``."""
    dispatcher = make(children.pack, config=config(family=settings) if settings else config())
    mark = tmp_path / "pids"
    result = await dispatcher.dispatch("family", {"mark": str(mark), **arguments})
    return dispatcher, result, mark


@pytest.mark.slow
async def test_a_child_of_a_tool_is_killed_at_the_deadline(
    make: MakeDispatcher, tmp_path: Path
) -> None:
    """A tool that started a child and runs past its deadline: the worker and the child both die."""
    dispatcher, result, mark = await family(make, tmp_path, {"timeout": 1}, seconds=600)
    assert result.error is not None and result.error.kind == "timeout", result.output
    found = await pids(mark)
    assert await eventually(lambda: ended(found["child"])), "the child outlived the deadline"
    assert await eventually(lambda: ended(found["worker"]))
    again = await dispatcher.dispatch("family", {"mark": str(tmp_path / "again")})
    assert again.success, again.output  # a fresh worker took the killed one's place
    dispatcher.close()
    assert await eventually(lambda: ended(again.result))


@pytest.mark.slow
async def test_close_kills_the_child_of_a_running_call(
    make: MakeDispatcher, tmp_path: Path
) -> None:
    """close() while a tool's child runs: the worker led a group of its own, and the child dies."""
    dispatcher = make(children.pack, config=config())
    mark = tmp_path / "pids"
    running = asyncio.create_task(
        dispatcher.dispatch("family", {"mark": str(mark), "seconds": 600})
    )
    found = await pids(mark)
    child = stat(found["child"])
    assert child is not None and int(child[3]) == found["worker"]  # its group: the worker's
    assert found["worker"] != os.getpgrp()
    dispatcher.close()
    result = await running
    assert result.error is not None and result.error.kind == "executor_lost", result.output
    assert await eventually(lambda: ended(found["child"])), "the child outlived close()"


@pytest.mark.slow
async def test_a_child_left_by_a_finished_call_ends_with_its_worker(
    make: MakeDispatcher, tmp_path: Path
) -> None:
    """A child still running after its tool returned lives in the worker's group until close()."""
    dispatcher, result, mark = await family(make, tmp_path)
    assert result.success, result.output
    found = await pids(mark)
    assert not ended(found["child"])  # the worker is kept for the next call, and so is its group
    dispatcher.close()
    assert await eventually(lambda: ended(found["worker"]))
    assert await eventually(lambda: ended(found["child"])), "the child outlived close()"


@pytest.mark.slow
async def test_a_child_of_a_worker_that_dies_is_killed(
    make: MakeDispatcher, tmp_path: Path
) -> None:
    """A worker that exits after its tool started a child: executor_lost, and the child dies too."""
    _, result, mark = await family(make, tmp_path, exit=True)
    assert result.error is not None and result.error.kind == "executor_lost", result.output
    assert result.error.details == {"exit_status": 5}
    found = await pids(mark)
    assert await eventually(lambda: ended(found["child"])), "the child outlived its worker"


@pytest.mark.slow
async def test_a_child_that_leaves_the_group_escapes_the_kill(
    make: MakeDispatcher, tmp_path: Path
) -> None:
    """A child started with setsid is out of the worker's group: the deadline's kill misses it."""
    _, result, mark = await family(make, tmp_path, {"timeout": 1}, seconds=600, leave_group=True)
    found = await pids(mark)
    try:
        assert result.error is not None and result.error.kind == "timeout", result.output
        assert await eventually(lambda: ended(found["worker"]))
        assert not ended(found["child"])
    finally:
        os.kill(found["child"], signal.SIGKILL)


@pytest.mark.slow
def test_a_host_killed_outright_leaves_no_child_behind(tmp_path: Path) -> None:
    """A host killed with SIGKILL: each worker, seeing its line end, kills its group (an idle one
    at once, a busy one when its call returns), and the tools' children die with it."""
    idle, busy = tmp_path / "idle", tmp_path / "busy"
    host = tmp_path / "host.py"
    host.write_text(
        textwrap.dedent(
            f"""
            import asyncio, os, signal
            from toolwire.testing import make_dispatcher
            from toolwire_fixtures import children

            config = {{"defaults": {{"executor": "process"}}, "executors": {{"process": {{}}}}}}

            async def main():
                dispatcher = make_dispatcher(children.pack, config=config)
                running = asyncio.ensure_future(
                    dispatcher.dispatch("family", {{"mark": {str(busy)!r}, "seconds": 2}})
                )
                done = await dispatcher.dispatch("family", {{"mark": {str(idle)!r}}})
                assert done.success, done.output
                while not os.path.exists({str(busy)!r}):
                    await asyncio.sleep(0.05)
                os.kill(os.getpid(), signal.SIGKILL)

            asyncio.run(main())
            """
        )
    )
    log = tmp_path / "stderr"
    with log.open("w") as stderr:  # a file, not a pipe: reading a pipe would wait for the children
        done = subprocess.run([sys.executable, str(host)], stderr=stderr, timeout=120)
    assert done.returncode == -signal.SIGKILL, log.read_text()
    left = [json.loads(mark.read_text()) for mark in (idle, busy)]
    assert left[0]["worker"] != left[1]["worker"]  # one idle worker, one busy
    every = [pid for found in left for pid in found.values()]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(ended(pid) for pid in every):
        time.sleep(0.05)
    assert [pid for pid in every if not ended(pid)] == []
