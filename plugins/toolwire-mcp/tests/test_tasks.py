"""MCP tasks served (revision 2025-11-25) and elicitation of approvals, with the official client."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
import toolwire
import toolwire_mcp
from mcp import Client, StdioServerParameters
from mcp_helpers import SERVERS, DeletionsNeedAPerson, deletions_pack
from mcp_helpers import call_as_task as _call_as_task
from mcp_helpers import get_task as _get
from mcp_helpers import poll_task as _poll
from toolwire.testing import free_port


def _pack(gate: asyncio.Event | None = None, seen: list[str] | None = None) -> toolwire.Toolset:
    pack = toolwire.Toolset("long")

    @pack.tool(task=True)
    async def slow_sum(a: int, b: int) -> int:
        """Add two numbers, once the gate opens."""
        if gate is not None:
            try:
                await gate.wait()
            except asyncio.CancelledError:
                if seen is not None:
                    seen.append("cancelled")
                raise
        return a + b

    @pack.tool
    def plain_sum(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    return pack


def _dispatcher(tmp_path: Path, *packs: Any, **config: Any) -> toolwire.Dispatcher:
    settings: dict[str, Any] = {
        "plugins": {"autoload": False},
        "approvals": {"store": f"sqlite:///{tmp_path / 'approvals.sqlite3'}"},
        **config,
    }
    dispatcher = toolwire.Dispatcher(config=settings)
    for pack in packs:
        dispatcher.add(pack)
    return dispatcher


async def test_task_polled_to_completion(tmp_path: Path) -> None:
    """A task tool called with params.task answers with a working task at once; tasks/get reads
    it completed once the tool ends and tasks/result gives the call's result."""
    gate = asyncio.Event()
    dispatcher = _dispatcher(tmp_path, _pack(gate))
    server = toolwire_mcp.server(dispatcher)
    async with Client(server, mode="legacy") as client:
        assert client.server_capabilities.tasks is not None
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert listed["slow_sum"].execution is not None
        assert listed["slow_sum"].execution.task_support == "optional"
        assert listed["plain_sum"].execution is None
        task = await _call_as_task(client, "slow_sum", {"a": 2, "b": 3})
        assert task.status == "working"
        assert (await _get(client, task.task_id)).status == "working"
        gate.set()
        done = await _poll(client, task.task_id)
        assert done.status == "completed"
        result = await client.session.send_request(
            types.GetTaskPayloadRequest(
                params=types.GetTaskPayloadRequestParams(task_id=task.task_id)
            ),
            types.CallToolResult,
        )
        assert not result.is_error
        assert result.content[0].text == "5"  # type: ignore[union-attr]
    dispatcher.close()


async def test_task_cancelled(tmp_path: Path) -> None:
    """tasks/cancel ends a working task: the tool's coroutine is cancelled and the task reads
    cancelled; a second cancel is refused."""
    seen: list[str] = []
    dispatcher = _dispatcher(tmp_path, _pack(asyncio.Event(), seen))
    async with Client(toolwire_mcp.server(dispatcher), mode="legacy") as client:
        task = await _call_as_task(client, "slow_sum", {"a": 1, "b": 1})
        cancelled = await client.session.send_request(
            types.CancelTaskRequest(params=types.CancelTaskRequestParams(task_id=task.task_id)),
            types.CancelTaskResult,
        )
        assert cancelled.status == "cancelled"
        async with asyncio.timeout(10):
            while not seen:
                await asyncio.sleep(0.01)
        assert seen == ["cancelled"]
        assert (await _get(client, task.task_id)).status == "cancelled"
        with pytest.raises(Exception, match="already cancelled"):
            await client.session.send_request(
                types.CancelTaskRequest(params=types.CancelTaskRequestParams(task_id=task.task_id)),
                types.CancelTaskResult,
            )
    dispatcher.close()


async def test_client_without_tasks_gets_a_plain_call(tmp_path: Path) -> None:
    """A call of a task tool without params.task (in both revisions) runs as a plain call."""
    gate = asyncio.Event()
    gate.set()
    dispatcher = _dispatcher(tmp_path, _pack(gate))
    for mode in ("legacy", "auto"):
        async with Client(toolwire_mcp.server(dispatcher), mode=mode) as client:
            result = await client.call_tool("slow_sum", {"a": 4, "b": 5})
            assert not result.is_error
            assert result.content[0].text == "9"  # type: ignore[union-attr]
    dispatcher.close()


async def test_unknown_task_and_another_callers_task_are_not_found(tmp_path: Path) -> None:
    """tasks/get of an id that does not exist, or of a task another principal created, is an
    error, never the task."""
    gate = asyncio.Event()
    dispatcher = _dispatcher(tmp_path, _pack(gate))
    async with Client(toolwire_mcp.server(dispatcher, role="a"), mode="legacy") as client:
        task = await _call_as_task(client, "slow_sum", {"a": 1, "b": 2})
    async with Client(toolwire_mcp.server(dispatcher, role="b"), mode="legacy") as other:
        with pytest.raises(Exception, match="Unknown task"):
            await _get(other, task.task_id)
        with pytest.raises(Exception, match="Unknown task"):
            await _get(other, "no-such-task")
    gate.set()
    dispatcher.close()


def test_unreachable_redis_store_with_a_task_tool_stops_the_start(tmp_path: Path) -> None:
    """A task tool with a Redis approvals store that does not answer stops the start with a
    message naming the Redis, never its password, rather than serving tasks nobody can read."""
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    dispatcher = _dispatcher(tmp_path, _pack(), approvals={"store": url})
    with pytest.raises(toolwire.ConfigError, match="does not answer") as stopped:
        toolwire_mcp.server(dispatcher)
    assert "hunter2" not in str(stopped.value)
    assert f"127.0.0.1:{url.rsplit(':', 1)[1]}" in str(stopped.value)
    dispatcher.close()


def _stdio(config: Path) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=[str(SERVERS / "tasks_host.py"), str(config)],
        env=dict(os.environ),
    )


@pytest.mark.slow
async def test_second_process_reads_the_task_and_a_stopped_run_reads_failed(
    tmp_path: Path,
) -> None:
    """A second server process on the same SQLite store answers tasks/get for a task the first
    one finished; a task whose process stopped while it ran reads failed with a reason."""
    config = tmp_path / "toolwire.toml"
    config.write_text(
        '[plugins]\nautoload = false\n[approvals]\nstore = "sqlite:///approvals.sqlite3"\n'
    )
    async with Client(_stdio(config), mode="legacy") as first:
        quick = await _call_as_task(first, "slow_sum", {"a": 20, "b": 22})
        assert (await _poll(first, quick.task_id)).status == "completed"
        stuck = await _call_as_task(first, "slow_sum", {"a": 1, "b": 1, "pause": 3600})
    # the first server is gone, its run with it
    async with Client(_stdio(config), mode="legacy") as second:
        assert (await _get(second, quick.task_id)).status == "completed"
        result = await second.session.send_request(
            types.GetTaskPayloadRequest(
                params=types.GetTaskPayloadRequestParams(task_id=quick.task_id)
            ),
            types.CallToolResult,
        )
        assert result.content[0].text == "42"  # type: ignore[union-attr]
        failed = await _poll(second, stuck.task_id)
        assert failed.status == "failed"
        assert failed.status_message is not None and "stopped" in failed.status_message


@pytest.mark.parametrize("action", ["accept", "decline"])
async def test_elicitation_decides_the_approval(tmp_path: Path, action: str) -> None:
    """An approval-gated call from a client that can elicit asks it, showing the tool and masked
    arguments; accept runs the call and decline refuses it, in the same request, and the record
    is decided once."""
    ran: list[str] = []
    asked: list[str] = []

    async def person(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action=action)  # type: ignore[arg-type]

    dispatcher = _dispatcher(tmp_path, deletions_pack(ran))
    dispatcher.add(DeletionsNeedAPerson())
    async with Client(
        toolwire_mcp.server(dispatcher), mode="legacy", elicitation_callback=person
    ) as client:
        result = await client.call_tool("delete_file", {"path": "a.txt", "api_key": "s3cret"})
    assert len(asked) == 1
    assert "delete_file" in asked[0] and "a.txt" in asked[0]
    assert "s3cret" not in asked[0] and "[redacted]" in asked[0]
    records = dispatcher.approvals_sync()
    assert len(records) == 1
    if action == "accept":
        assert not result.is_error and ran == ["a.txt"]
        assert records[0].status == "executed"
    else:
        assert result.is_error and ran == []
        assert "approval_denied" in result.content[0].text  # type: ignore[union-attr]
        assert records[0].status == "rejected"
    assert records[0].decided_by == "mcp client"
    dispatcher.close()


async def test_client_without_elicitation_gets_a_pending_approval(tmp_path: Path) -> None:
    """A client that cannot elicit gets today's approval_required answer; the record waits."""
    ran: list[str] = []
    dispatcher = _dispatcher(tmp_path, deletions_pack(ran))
    dispatcher.add(DeletionsNeedAPerson())
    async with Client(toolwire_mcp.server(dispatcher), mode="legacy") as client:
        result = await client.call_tool("delete_file", {"path": "b.txt"})
    assert result.is_error and ran == []
    assert "approval_required" in result.content[0].text  # type: ignore[union-attr]
    assert [r.status for r in dispatcher.approvals_sync()] == ["pending"]
    dispatcher.close()


def test_a_task_whose_lease_ran_out_reads_failed(tmp_path: Path) -> None:
    """A working task whose process stopped renewing its lease (killed, not shut down) reads
    failed with a reason when read, from any process on the store, and stays failed."""
    import sqlite3

    from toolwire_mcp import _tasks

    dispatcher = _dispatcher(tmp_path)
    store = _tasks.open_task_store(dispatcher.config)
    row = store.create("[null, null]", 60_000)
    assert store.read(row["id"])["status"] == "working"  # type: ignore[index]
    assert isinstance(store, _tasks.SQLiteTaskStore)
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE mcp_tasks SET lease_until = 0 WHERE id = ?", (row["id"],))
    again = _tasks.open_task_store(dispatcher.config)  # as a second process opens it
    read = again.read(row["id"])
    assert read is not None and read["status"] == "failed"
    assert read["message"] == _tasks.STOPPED
    assert not again.finish(row["id"], "completed", None, "{}")  # a task ends once
    dispatcher.close()


@pytest.mark.parametrize("url", ["sqlite", "memory://"])
def test_a_finished_task_past_its_ttl_reads_unknown_and_is_removed(
    tmp_path: Path, url: str
) -> None:
    """A task that ended more than its ttl ago reads as unknown, and the next task created
    removes its record; a working task is never removed, whatever its age."""
    import sqlite3

    from toolwire_mcp import _tasks

    config = {
        "approvals": {
            "store": "memory://" if url == "memory://" else f"sqlite:///{tmp_path / 'a.db'}"
        }
    }
    store = _tasks.open_task_store(toolwire.Config(config))
    ended, working = store.create("[null, null]", 1_000), store.create("[null, null]", 1_000)
    assert store.finish(ended["id"], "completed", None, "{}")
    assert store.get(ended["id"]) is not None
    if isinstance(store, _tasks.SQLiteTaskStore):  # as if it ended an hour ago
        with sqlite3.connect(store.path) as db:
            db.execute("UPDATE mcp_tasks SET updated_at = updated_at - 3600")
            db.execute("UPDATE mcp_tasks SET created_at = created_at - 3600")
    else:
        for row in store._rows.values():  # type: ignore[attr-defined]
            row["updated_at"] -= 3600
    assert store.get(ended["id"]) is None and store.read(ended["id"]) is None
    store.create("[null, null]", 1_000)
    if isinstance(store, _tasks.SQLiteTaskStore):
        with sqlite3.connect(store.path) as db:
            ids = {i for (i,) in db.execute("SELECT id FROM mcp_tasks")}
    else:
        ids = set(store._rows)  # type: ignore[attr-defined]
    assert ended["id"] not in ids and working["id"] in ids


async def test_a_run_that_ended_its_task_is_not_cancelled_by_the_lease_renewal() -> None:
    """The renewal stops a run only when another process ended its task (cancelled, or failed
    for a lapsed lease); a run that recorded its own result a moment ago goes on to tell the
    client (its status notification is not lost)."""
    from toolwire_mcp import _tasks

    store = _tasks.MemoryTaskStore()
    runs = _tasks.Runs(store)
    own, cancelled, lapsed = (store.create("[]", 60_000) for _ in range(3))
    assert store.finish(own["id"], "completed", None, "{}")
    assert store.finish(cancelled["id"], "cancelled", None)
    assert store.finish(lapsed["id"], "failed", _tasks.STOPPED)
    assert not await runs._ended_elsewhere(own["id"])
    assert await runs._ended_elsewhere(cancelled["id"])
    assert await runs._ended_elsewhere(lapsed["id"])
    failed_here = store.create("[]", 60_000)
    assert store.finish(failed_here["id"], "failed", "execution_error")
    assert not await runs._ended_elsewhere(failed_here["id"])


async def test_a_person_who_never_answers_does_not_hold_the_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that asks its person and never answers: past the wait the call answers
    approval_required, the record still pending (to be decided elsewhere), and nothing ran."""
    from toolwire_mcp import _serve

    monkeypatch.setattr(_serve, "ELICITATION_WAIT", 0.2)
    ran: list[str] = []
    never = asyncio.Event()

    async def person(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        await never.wait()
        raise AssertionError("unreachable")

    dispatcher = _dispatcher(tmp_path, deletions_pack(ran))
    dispatcher.add(DeletionsNeedAPerson())
    async with Client(
        toolwire_mcp.server(dispatcher), mode="legacy", elicitation_callback=person
    ) as client:
        result = await client.call_tool("delete_file", {"path": "a.txt", "api_key": "s3cret"})
        never.set()
    assert result.is_error and "approval_required" in result.content[0].text  # type: ignore[union-attr]
    assert [r.status for r in dispatcher.approvals_sync()] == ["pending"] and ran == []
    dispatcher.close()


@pytest.mark.parametrize("revision", ["legacy", "2026-07-28"])
async def test_elicit_approvals_false_keeps_approvals_out_of_band(
    tmp_path: Path, revision: str
) -> None:
    """With ``[plugins.mcp.serve] elicit_approvals = false`` a client that can elicit is never
    asked: the call answers approval_required, the record waits for a decision elsewhere, and
    nothing ran."""
    ran: list[str] = []
    asked: list[str] = []

    async def person(context: Any, params: Any) -> types.ElicitResult:
        asked.append("asked")
        return types.ElicitResult(action="accept")

    config = {"autoload": False, "mcp": {"serve": {"elicit_approvals": False}}}
    dispatcher = _dispatcher(tmp_path, deletions_pack(ran), plugins=config)
    dispatcher.add(DeletionsNeedAPerson())
    async with Client(
        toolwire_mcp.server(dispatcher),
        mode=revision,
        elicitation_callback=person,  # type: ignore[arg-type]
    ) as client:
        result = await client.call_tool("delete_file", {"path": "a.txt", "api_key": "s3cret"})
    assert result.is_error and "approval_required" in result.content[0].text  # type: ignore[union-attr]
    assert asked == [] and ran == []
    assert [r.status for r in dispatcher.approvals_sync()] == ["pending"]
    dispatcher.close()
