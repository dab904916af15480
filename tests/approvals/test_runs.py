"""Running an approved call: ``executed`` only once its tool started; a run that ended before
that leaves the call approved, for the next approve to run (once, across processes)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import toolwire
from toolwire import ApprovalError
from toolwire.testing import build_response, install_plugin
from toolwire_fixtures import remote

from .conftest import Host
from .test_stores import record


class Gate:
    """A before hook that refuses every call while closed (a maintenance window)."""

    def __init__(self) -> None:
        self.closed = True

    @toolwire.hookimpl
    def toolwire_before_call(self, call, context):
        if self.closed:
            raise toolwire.Reject("maintenance window: nothing runs now")


def status_of(dispatcher: toolwire.Dispatcher, approval_id: str) -> tuple[str, str | None]:
    (found,) = [a for a in dispatcher.approvals_sync() if a.id == approval_id]
    return found.status, found.decided_by


# -- failures before the tool started ---------------------------------------------------------


async def test_a_before_hook_refusal_leaves_the_call_approved_and_the_next_approve_runs_it(
    make, pack, ledger
):
    """A before hook that refuses an approved call: nothing runs, the record stays approved without a result; the next approve runs it once, and later ones get that result."""
    gate = Gate()
    dispatcher = make(pack, gate)
    held = await dispatcher.dispatch("delete_record", {"record": "r-1"})
    refused = await dispatcher.approve(held.approval.id, by="alice")
    assert refused.error is not None and refused.error.kind == "rejected"
    assert refused.approval.status == "approved" and refused.attempts == 0
    assert ledger.entries == []
    assert status_of(dispatcher, held.approval.id) == ("approved", "alice")
    assert dispatcher._approvals.store().get(held.approval.id).result is None
    gate.closed = False
    ran = await dispatcher.approve(held.approval.id, by="bob")
    assert ran.success and ran.output == "deleted r-1"
    assert (ran.approval.status, ran.approval.decided_by) == ("executed", "bob")
    again = await dispatcher.approve(held.approval.id, by="carol")
    assert again.output == "deleted r-1" and again.approval.decided_by == "bob"
    assert ledger.entries == ["delete r-1 hard=False"]
    assert status_of(dispatcher, held.approval.id) == ("executed", "bob")


async def test_an_admission_refusal_leaves_the_call_approved(make, pack, ledger):
    """A middleware that refuses before calling on (a rate limit): the tool never started, so the call stays approved and runs on the next approve."""
    open_now = False

    class Quota:
        @toolwire.hookimpl
        def toolwire_register_middleware(self, register):
            async def quota(call, context, call_next):
                if not open_now:
                    raise toolwire.ToolError("over quota", kind="rate_limited")
                return await call_next(call, context)

            register(quota)

    dispatcher = make(pack, Quota())
    held = await dispatcher.dispatch("delete_record", {"record": "r-1"})
    refused = await dispatcher.approve(held.approval.id, by="alice")
    assert refused.error.kind == "rate_limited" and refused.approval.status == "approved"
    assert ledger.entries == []
    open_now = True
    assert (await dispatcher.approve(held.approval.id, by="alice")).output == "deleted r-1"
    assert ledger.entries == ["delete r-1 hard=False"]


def gated_remote_config(**tool: Any) -> dict[str, Any]:
    """The remote pack's tools on a process executor, ``nap`` approval-gated."""
    return {
        "approvals": {"store": "memory://"},
        "defaults": {"executor": "process"},
        "executors": {"process": {"workers": 1}},
        "tools": {"nap": {"approval": True, **tool}},
    }


@pytest.mark.slow
async def test_an_executor_that_could_not_take_the_call_leaves_it_approved(
    make, monkeypatch, tmp_path
):
    """Every attempt refused by the executor (executor_unavailable, retried): the tool never started, so the call stays approved; once workers start, the next approve runs it."""
    import toolwire._process

    mark = tmp_path / "started"
    monkeypatch.setattr(toolwire._process, "_BOOT", "import sys; sys.exit(4)")
    dispatcher = make(remote.pack, config=gated_remote_config(retries=1))
    held = await dispatcher.dispatch("nap", {"seconds": 0, "mark": str(mark)})
    refused = await dispatcher.approve(held.approval.id, by="alice")
    assert refused.error.kind == "executor_unavailable" and refused.attempts == 2
    assert refused.approval.status == "approved" and not mark.exists()
    monkeypatch.undo()
    ran = await dispatcher.approve(held.approval.id, by="alice")
    assert ran.success and ran.approval.status == "executed"
    assert mark.read_text() == str(ran.result)


@pytest.mark.slow
async def test_a_lost_worker_then_an_unavailable_one_counts_as_run(make, monkeypatch, tmp_path):
    """A first attempt whose worker died (executor_lost: the tool may have run) and a retry the executor could not take: executed with that error, never run again."""
    import toolwire._process

    mark = tmp_path / "started"
    dispatcher = make(remote.pack, config=gated_remote_config(retries=1, idempotent=True))
    assert (await dispatcher.dispatch("add", {"a": 1, "b": 2})).output == "3"  # a worker is up
    held = await dispatcher.dispatch("nap", {"seconds": 60, "mark": str(mark)})

    async def kill_the_worker_once_started() -> None:
        while not mark.exists():
            await asyncio.sleep(0.01)
        monkeypatch.setattr(toolwire._process, "_BOOT", "import sys; sys.exit(4)")
        os.kill(int(mark.read_text()), signal.SIGKILL)

    killer = asyncio.create_task(kill_the_worker_once_started())
    ended = await dispatcher.approve(held.approval.id, by="alice")
    await killer
    assert ended.error.kind == "executor_unavailable" and ended.attempts == 2
    assert ended.approval.status == "executed"
    monkeypatch.undo()
    mark.unlink()
    again = await dispatcher.approve(held.approval.id, by="bob")
    assert again.error.kind == "executor_unavailable" and not mark.exists()
    assert status_of(dispatcher, held.approval.id) == ("executed", "alice")


async def cancel_approve_at(
    dispatcher: toolwire.Dispatcher, approval_id: str, reached: asyncio.Event
) -> None:
    """Start alice's approve, cancel it once ``reached`` is set, and see it end cancelled."""
    task = asyncio.create_task(dispatcher.approve(approval_id, by="alice"))
    await reached.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_caller_cancelling_before_the_tool_started_leaves_it_approved(make, pack, ledger):
    """An approve cancelled while a before hook waits: the tool never started, so the record goes back to approved, and the next approve runs it."""
    release = asyncio.Event()
    waiting = asyncio.Event()

    class SlowCheck:
        @toolwire.hookimpl
        async def toolwire_before_call(self, call, context):
            waiting.set()
            await release.wait()

    dispatcher = make(pack, SlowCheck())
    held = await dispatcher.dispatch("delete_record", {"record": "r-1"})
    await cancel_approve_at(dispatcher, held.approval.id, waiting)
    assert status_of(dispatcher, held.approval.id) == ("approved", "alice")
    assert ledger.entries == []
    release.set()
    ran = await dispatcher.approve(held.approval.id, by="alice")
    assert ran.output == "deleted r-1" and ledger.entries == ["delete r-1 hard=False"]


async def test_a_caller_cancelling_while_the_tool_runs_leaves_it_running(make):
    """An approve cancelled while its tool runs: the tool started, so the record is never put back to approved; it stays running (no outcome known), and another approve runs nothing."""
    started: list[str] = []
    entered = asyncio.Event()
    tools = toolwire.Toolset("slow")

    @tools.tool(approval=True)
    async def migrate(table: str) -> str:
        """Migrate a table."""
        started.append(table)
        entered.set()
        await asyncio.Event().wait()
        return "migrated"

    dispatcher = make(tools)
    held = await dispatcher.dispatch("migrate", {"table": "users"})
    await cancel_approve_at(dispatcher, held.approval.id, entered)
    assert status_of(dispatcher, held.approval.id) == ("running", "alice")
    with pytest.raises(ApprovalError, match="running"):
        await dispatcher.approve(held.approval.id, by="bob", wait=0.05)
    assert started == ["users"]


# -- failures after the tool started ------------------------------------------------------------


@pytest.mark.parametrize("where", ["tool", "after hook"])
async def test_a_failure_after_the_tool_started_is_stored_as_executed(make, where):
    """The tool raised, or an after hook failed once it returned: executed, with that error stored; a later approve returns it and runs nothing."""
    runs: list[str] = []
    tools = toolwire.Toolset("charges")

    @tools.tool(approval=True)
    def charge(amount: int) -> str:
        """Charge a card."""
        runs.append("charge")
        if where == "tool":
            raise toolwire.ToolError("card declined")
        return "charged"

    class BrokenAfter:
        @toolwire.hookimpl
        def toolwire_after_call(self, call, result, context):
            if where == "after hook":
                raise RuntimeError("the after hook broke")

    dispatcher = make(tools, BrokenAfter())
    held = await dispatcher.dispatch("charge", {"amount": 5})
    failed = await dispatcher.approve(held.approval.id, by="alice")
    kind = "execution_error" if where == "tool" else "internal_error"
    assert failed.error.kind == kind and failed.approval.status == "executed"
    again = await dispatcher.approve(held.approval.id, by="bob")
    assert again.error.kind == kind and again.output == failed.output
    assert runs == ["charge"]
    assert status_of(dispatcher, held.approval.id) == ("executed", "alice")


# -- what waits for a call that has not run -------------------------------------------------------


class Later:
    """The clock of ``_approvals``, ``ahead`` seconds in the future."""

    def __init__(self, ahead: float) -> None:
        self.ahead = ahead

    def time(self) -> float:
        return time.time() + self.ahead

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


async def test_an_approved_call_that_has_not_run_expires(make, pack, ledger, monkeypatch):
    """Past its expiry, an approved call that has not run is expired by the next approve,
    keeps who approved it, and never runs."""
    import toolwire._approvals._gate

    gate = Gate()
    dispatcher = make(pack, gate, config={"approvals": {"store": "memory://", "ttl": 600}})
    held = await dispatcher.dispatch("delete_record", {"record": "r-1"})
    await dispatcher.approve(held.approval.id, by="alice")
    gate.closed = False
    monkeypatch.setattr(toolwire._approvals._gate, "time", Later(601))
    late = await dispatcher.approve(held.approval.id, by="alice")
    assert late.error.kind == "approval_expired" and late.approval.status == "expired"
    assert ledger.entries == []
    assert status_of(dispatcher, held.approval.id) == ("expired", "alice")


async def test_an_approved_call_that_has_not_run_can_be_rejected(make, pack, ledger):
    """A person may reject a call whose approved run failed before the tool started; it then never runs."""
    gate = Gate()
    dispatcher = make(pack, gate)
    held = await dispatcher.dispatch("delete_record", {"record": "r-1"})
    await dispatcher.approve(held.approval.id, by="alice")
    rejected = await dispatcher.reject(held.approval.id, by="alice", message="not today")
    assert rejected.error.kind == "approval_denied" and rejected.approval.status == "rejected"
    gate.closed = False
    after = await dispatcher.approve(held.approval.id, by="bob")
    assert after.error.kind == "approval_denied" and ledger.entries == []


async def test_a_held_turn_waits_for_an_approved_call_that_has_not_run(make, pack, ledger):
    """resume tries an approved call whose run failed before its tool started again, and names it while it still cannot run; once it runs, the turn resumes, still decided by the approver."""
    gate = Gate()
    dispatcher = make(pack, gate)
    response = build_response("openai-responses", [("delete_record", {"record": "r-1"})])
    held = await dispatcher.process_response(response)
    (approval,) = held.pending
    await dispatcher.approve(approval.id, by="alice")
    with pytest.raises(ApprovalError, match="approved by alice, not run yet") as caught:
        await dispatcher.resume(held.turn_id)
    assert [a.status for a in caught.value.pending] == ["approved"]
    assert ledger.entries == []
    gate.closed = False
    items = await dispatcher.resume(held.turn_id)
    assert [i["output"] for i in items if i["type"] == "function_call_output"] == ["deleted r-1"]
    assert status_of(dispatcher, approval.id) == ("executed", "alice")
    assert ledger.entries == ["delete r-1 hard=False"]


# -- the stores -------------------------------------------------------------------------------------


def test_a_run_claims_release_and_completion_exclude_each_other(store):
    """Only a running record without a result goes back to approved; an approved one is claimed again to run, once; only a running one gets executed."""
    store.add(record("apr_1"))
    now = time.time()
    assert not store.release("apr_1")  # pending
    assert store.claim("apr_1", "running", "alice", now, None, overdue=False)
    assert store.release("apr_1")
    assert not store.release("apr_1")  # approved already
    assert not store.complete("apr_1", "executed", '"early"', None)  # not running
    assert (store.get("apr_1").approval.status, store.get("apr_1").approval.decided_by) == (
        "approved",
        "alice",
    )
    wins = [
        store.claim("apr_1", "running", name, now, None, overdue=False, current="approved")
        for name in ("bob", "carol")
    ]
    assert wins == [True, False]
    assert store.complete("apr_1", "executed", '"done"', None)
    assert not store.release("apr_1")  # it has its result
    assert not store.claim(
        "apr_1", "rejected", "dave", now, None, overdue=False, current="executed"
    )
    assert [(a.status, a.decided_by) for a in store.records("executed")] == [("executed", "bob")]


# -- processes sharing a store ----------------------------------------------------------------------

GATE_MODULE = '''
"""A before or after hook that fails while $TWGATE says so."""

import os

import toolwire


class Gate:
    @toolwire.hookimpl
    def toolwire_before_call(self, call, context):
        if os.environ.get("TWGATE") == "before":
            raise toolwire.Reject("maintenance window: nothing runs now")

    @toolwire.hookimpl
    def toolwire_after_call(self, call, result, context):
        if os.environ.get("TWGATE") == "after":
            raise RuntimeError("the after hook broke")


plugin = Gate()
'''

REQUEST = """
result = dispatcher.dispatch_sync("delete_record", {"record": "r-1"})
print(json.dumps(result.to_dict()))
"""

APPROVE = """
print(json.dumps(dispatcher.approve_sync(sys.argv[1], by=sys.argv[2]).to_dict()))
"""

LIST = """
print(json.dumps([a.to_dict() for a in dispatcher.approvals_sync()]))
"""


@pytest.fixture
def gated_host_for(host_for, tmp_path: Path):
    """A ``Host`` whose processes also load a gate plugin (``TWGATE=before`` or ``after``)."""

    def build(store: str) -> Host:
        host = host_for(store)
        install_plugin(
            host.site,
            "twapproval-gate",
            {"approval-gate": "twapproval_gate:plugin"},
            {"twapproval_gate": GATE_MODULE},
        )
        config = tmp_path / "gated.toml"
        config.write_text(
            "[plugins]\nautoload = false\nenable = ['approval-fixtures', 'approval-gate']\n\n"
            f"[approvals]\nstore = '{store}'\n"
        )
        return Host(host.site, config, host.ledger)

    return build


def request_one(host: Host) -> str:
    requested = host.run(REQUEST)
    assert requested["error"]["error"] == "approval_required"
    return str(requested["approval"]["id"])


@pytest.mark.slow
def test_a_run_refused_before_the_tool_in_one_process_runs_in_another(shared_store, gated_host_for):
    """One host's before hook refuses the approved call: it stays approved in the shared store; another host's approve runs it once; a third gets the stored result."""
    host = gated_host_for(shared_store)
    approval_id = request_one(host)
    refused = host.run(APPROVE, approval_id, "alice", TWGATE="before")
    assert refused["error"]["error"] == "rejected" and refused["attempts"] == 0
    assert refused["approval"]["status"] == "approved"
    assert host.executions() == []
    (listed,) = host.run(LIST)
    assert (listed["status"], listed["decided_by"]) == ("approved", "alice")
    ran = host.run(APPROVE, approval_id, "bob")
    assert ran["output"] == "deleted r-1"
    assert (ran["approval"]["status"], ran["approval"]["decided_by"]) == ("executed", "bob")
    again = host.run(APPROVE, approval_id, "carol")
    assert again["output"] == "deleted r-1" and again["approval"]["decided_by"] == "bob"
    assert [line.split(" pid=")[0] for line in host.executions()] == ["delete r-1"]


@pytest.mark.slow
def test_a_failure_after_the_tool_started_in_one_process_is_stored_for_the_next(
    gated_host_for, tmp_path
):
    """One host's after hook fails once the tool ran: executed with internal_error in the SQLite store; another host's approve gets that stored result and runs nothing."""
    host = gated_host_for(f"sqlite:///{tmp_path / 'approvals.sqlite3'}")
    approval_id = request_one(host)
    failed = host.run(APPROVE, approval_id, "alice", TWGATE="after")
    assert failed["error"]["error"] == "internal_error"
    assert failed["approval"]["status"] == "executed"
    again = host.run(APPROVE, approval_id, "bob")
    assert again["error"]["error"] == "internal_error"
    assert again["approval"]["decided_by"] == "alice"
    assert [line.split(" pid=")[0] for line in host.executions()] == ["delete r-1"]


@pytest.mark.slow
def test_two_processes_approving_an_approved_call_again_run_it_once(
    shared_store, gated_host_for, tmp_path
):
    """After a run refused before the tool, two hosts approve the call again at the same moment: it runs exactly once, and both print the same result."""
    host = gated_host_for(shared_store)
    approval_id = request_one(host)
    assert host.run(APPROVE, approval_id, "alice", TWGATE="before")["approval"]["status"] == (
        "approved"
    )
    outputs = host.approve_at_once(approval_id, ("bob", "carol"), tmp_path, TWAPPROVAL_SLOW="0.3")
    assert [line.split(" pid=")[0] for line in host.executions()] == ["delete r-1"]
    assert outputs[0]["output"] == outputs[1]["output"] == "deleted r-1"
    deciders = {o["approval"]["decided_by"] for o in outputs}
    assert len(deciders) == 1 and deciders <= {"bob", "carol"}
