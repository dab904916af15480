"""Deciding away from the host: ``approve(..., run=False)`` records the approval and runs
nothing; the host that holds the call runs it (``resume``, ``run_approved``), once across
processes, and the record keeps who decided."""

from __future__ import annotations

import json
import time

import pytest
import toolwire
from toolwire import ApprovalError
from toolwire.testing import build_response

from .test_stores import record


def outputs(items: list) -> list[str]:
    return [i["output"] for i in items if i["type"] == "function_call_output"]


async def test_deciding_only_records_the_approval_and_runs_nothing(make, pack, ledger):
    """approve(run=False) claims the pending record approved by that person, stores no result
    and runs nothing; a second decision changes nothing and returns the record as decided."""
    dispatcher = make(pack)
    held = await dispatcher.dispatch("delete_record", {"record": "r-1"})
    before = time.time()
    decided = await dispatcher.approve(held.approval.id, by="alice", run=False)
    assert isinstance(decided, toolwire.Approval)
    assert (decided.status, decided.decided_by) == ("approved", "alice")
    assert decided.decided_at is not None and decided.decided_at >= before
    again = await dispatcher.approve(held.approval.id, by="bob", run=False)
    assert (again.status, again.decided_by) == ("approved", "alice")
    assert dispatcher._approvals.store().get(held.approval.id).result is None
    (listed,) = await dispatcher.approvals("approved")
    assert (listed.id, listed.decided_by) == (held.approval.id, "alice")
    assert ledger.entries == []


async def test_resume_runs_the_approved_calls_of_the_turn_here_once(make, pack, ledger):
    """A held turn whose call was approved without running: resume runs it in the resuming
    process, keeps the approver as decided_by, and a second resume runs nothing again."""
    dispatcher = make(pack)
    response = build_response(
        "openai-responses",
        [("read_record", {"record": "a"}), ("delete_record", {"record": "b"})],
    )
    held = await dispatcher.process_response(response)
    (approval,) = held.pending
    await dispatcher.approve(approval.id, by="alice", run=False)
    assert ledger.entries == ["read a"]
    items = await dispatcher.resume(held.turn_id)
    assert outputs(items) == ["contents of a", "deleted b"]
    (ran,) = await dispatcher.approvals("executed")
    assert (ran.id, ran.decided_by) == (approval.id, "alice")
    assert outputs(await dispatcher.resume(held.turn_id)) == ["contents of a", "deleted b"]
    assert ledger.entries == ["read a", "delete b hard=False"]


async def test_resume_runs_what_is_approved_and_names_what_still_waits(make, pack, ledger):
    """Of two gated calls, the approved one runs at the first resume even though the other is
    still pending; the turn resumes once the other is rejected, each call answered."""
    dispatcher = make(pack)
    response = build_response(
        "anthropic",
        [("delete_record", {"record": "x"}), ("delete_record", {"record": "y"})],
    )
    held = await dispatcher.process_response(response)
    first, second = held.pending
    await dispatcher.approve(first.id, by="alice", run=False)
    with pytest.raises(ApprovalError, match="still waits for") as caught:
        await dispatcher.resume(held.turn_id)
    assert [a.id for a in caught.value.pending] == [second.id]
    assert ledger.entries == ["delete x hard=False"]
    await dispatcher.reject(second.id, by="bob", message="keep y")
    messages = await dispatcher.resume(held.turn_id)
    ran, denied = messages[1]["content"]
    assert ran["content"] == "deleted x" and denied["is_error"] is True
    assert json.loads(denied["content"])["error"] == "approval_denied"
    assert ledger.entries == ["delete x hard=False"]


async def test_resume_passes_the_hosts_state_to_an_approved_call(make):
    """The host's state= given to resume is what the approved call's CallContext receives."""
    pack = toolwire.Toolset("stateful")
    seen: list[object] = []

    @pack.tool(approval=True)
    def send(to: str, context: toolwire.CallContext) -> str:
        """Send a message."""
        seen.append(dict(context.state))
        return f"sent to {to}"

    dispatcher = make(pack)
    response = build_response("openai-chat", [("send", {"to": "ada"})])
    held = await dispatcher.process_response(response, state={"principal": "p1"})
    await dispatcher.approve(held.pending[0].id, by="alice", run=False)
    items = await dispatcher.resume(held.turn_id, state={"principal": "p1", "db": "conn"})
    assert items[-1]["content"] == "sent to ada"
    assert seen == [{"principal": "p1", "db": "conn"}]


async def test_run_approved_runs_a_single_call_in_the_host_keeping_the_decider(make, pack, ledger):
    """A call dispatched alone: run_approved refuses while nobody approved it, runs it once
    after approve(run=False), decided_by the approver; later ones return the stored result."""
    dispatcher = make(pack)
    held = await dispatcher.dispatch("delete_record", {"record": "r-2"})
    with pytest.raises(ApprovalError, match="nobody has approved it yet") as caught:
        await dispatcher.run_approved(held.approval.id)
    assert [a.id for a in caught.value.pending] == [held.approval.id]
    await dispatcher.approve(held.approval.id, by="alice", run=False)
    ran = await dispatcher.run_approved(held.approval.id)
    assert ran.success and ran.output == "deleted r-2"
    assert (ran.approval.status, ran.approval.decided_by) == ("executed", "alice")
    again = dispatcher.run_approved_sync(held.approval.id)
    assert again.output == "deleted r-2" and again.approval.decided_by == "alice"
    assert ledger.entries == ["delete r-2 hard=False"]


async def test_a_rejected_or_expired_call_is_never_run_by_its_host(make, pack, ledger):
    """approve(run=False) of a rejected call returns it rejected, and run_approved answers
    approval_denied; one past its expiry is expired by the decision and answers
    approval_expired; nothing runs."""
    dispatcher = make(pack)
    rejected = await dispatcher.dispatch("delete_record", {"record": "no"})
    await dispatcher.reject(rejected.approval.id, by="bob")
    decided = await dispatcher.approve(rejected.approval.id, by="alice", run=False)
    assert (decided.status, decided.decided_by) == ("rejected", "bob")
    denied = await dispatcher.run_approved(rejected.approval.id)
    assert denied.error.kind == "approval_denied"
    late = make(pack, config={"approvals": {"store": "memory://", "ttl": 0.01}})
    overdue = await late.dispatch("delete_record", {"record": "late"})
    time.sleep(0.05)  # the record's own expiry, not a measured duration
    expired = await late.approve(overdue.approval.id, by="alice", run=False)
    assert expired.status == "expired"
    answered = await late.run_approved(overdue.approval.id)
    assert answered.error.kind == "approval_expired"
    assert ledger.entries == []


def test_the_sync_twin_decides_only(make, pack, ledger):
    """approve_sync(run=False) records the approval; resume_sync runs the turn's call."""
    dispatcher = make(pack)
    held = dispatcher.process_response_sync(
        build_response("openai-chat", [("delete_record", {"record": "s"})])
    )
    decided = dispatcher.approve_sync(held.pending[0].id, by="alice", run=False)
    assert decided.status == "approved" and ledger.entries == []
    assert dispatcher.resume_sync(held.turn_id)[-1]["content"] == "deleted s"


async def test_a_process_without_the_tool_cannot_resume_an_approved_call(
    make, pack, ledger, tmp_path
):
    """Deciding needs no tool; running does: a process without the pack, or with another tool
    of that name, raises on resume and the call stays approved; the host with the pack runs it."""
    config = {"approvals": {"store": f"sqlite:///{tmp_path / 'a.sqlite3'}"}}
    host = make(pack, config=config)
    held = await host.process_response(
        build_response("openai-responses", [("delete_record", {"record": "r"})])
    )
    console = make(config=config)  # loads no pack: it decides only
    decided = await console.approve(held.pending[0].id, by="alice", run=False)
    assert decided.status == "approved"
    with pytest.raises(ApprovalError, match="does not load"):
        await console.resume(held.turn_id)
    impostor = toolwire.Toolset("impostor")

    @impostor.tool
    def delete_record(record: str) -> str:
        """Another tool of the same name."""
        ledger.entries.append(f"impostor {record}")
        return "gone"

    with pytest.raises(ApprovalError, match="another tool or another version"):
        await make(impostor, config=config).resume(held.turn_id)
    assert [a.status for a in await console.approvals()] == ["approved"]
    assert outputs(await host.resume(held.turn_id)) == ["deleted r"]
    assert ledger.entries == ["delete r hard=False"]


async def test_two_dispatchers_on_one_sqlite_store_resume_it_once(make, tmp_path):
    """Two dispatchers sharing a SQLite store resume the same turn at the same moment: the
    approved call runs once, and both get the same items."""
    import asyncio

    ran: list[str] = []
    pack = toolwire.Toolset("slow")

    @pack.tool(approval=True)
    async def purge(name: str) -> str:
        """Purge a thing (slowly enough for the other resume to find it running)."""
        ran.append(name)
        await asyncio.sleep(0.2)
        return f"purged {name}"

    config = {"approvals": {"store": f"sqlite:///{tmp_path / 'a.sqlite3'}"}}
    first, second = make(pack, config=config), make(pack, config=config)
    held = await first.process_response(
        build_response("openai-responses", [("purge", {"name": "cache"})])
    )
    await first.approve(held.pending[0].id, by="alice", run=False)

    async def resumed(dispatcher: toolwire.Dispatcher) -> list:
        while True:
            try:
                return await dispatcher.resume(held.turn_id)
            except ApprovalError as exc:
                if [a.status for a in exc.pending] != ["running"]:
                    raise
                await asyncio.sleep(0.05)

    one, two = await asyncio.gather(resumed(first), resumed(second))
    assert outputs(one) == outputs(two) == ["purged cache"]
    assert ran == ["cache"]


def test_a_claim_that_keeps_the_decision_changes_only_the_status(store):
    """claim(keep=True) moves an approved record to running and leaves who decided it, when,
    and the message as the decision wrote them; it needs the record to be approved."""
    store.add(record("apr_1"))
    now = time.time()
    assert not store.claim("apr_1", "running", None, now, None, overdue=False,
                           current="approved", keep=True)  # fmt: skip
    assert store.claim("apr_1", "approved", "alice", now, None, overdue=False)
    later = now + 5
    assert store.claim("apr_1", "running", None, later, None, overdue=False,
                       current="approved", keep=True)  # fmt: skip
    found = store.get("apr_1").approval
    assert (found.status, found.decided_by, found.decided_at) == ("running", "alice", now)
    assert [a.id for a in store.records("running")] == ["apr_1"]
    assert store.records("approved") == []


HOLD = """
import os
from toolwire.testing import build_response

held = dispatcher.process_response_sync(
    build_response("openai-responses", [("delete_record", {"record": "r-9"})])
)
print(json.dumps({"turn": held.turn_id, "id": held.pending[0].id}))
"""

DECIDE_ONLY = """
import os

decided = dispatcher.approve_sync(sys.argv[1], by=sys.argv[2], run=False)
print(json.dumps({"record": decided.to_dict(), "pid": os.getpid()}))
"""

RESUME_AT_THE_SIGNAL = """
import os
import time
from pathlib import Path

turn, ready, go = sys.argv[1:4]
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.001)
while True:
    try:
        items = dispatcher.resume_sync(turn)
        break
    except toolwire.ApprovalError as exc:
        if [a.status for a in exc.pending] != ["running"]:
            raise
        time.sleep(0.05)
print(json.dumps({"items": items, "pid": os.getpid()}))
"""


@pytest.mark.slow
def test_two_host_processes_resuming_at_once_run_the_approved_call_once(
    shared_store, host_for, tmp_path
):
    """A person approves in one process without running; two host processes resume the turn
    at the same moment: the call runs once, in one of them (not the approver's), and both get
    the same items, decided by the approver."""
    host = host_for(shared_store)
    held = host.run(HOLD)
    decided = host.run(DECIDE_ONLY, held["id"], "alice")
    assert decided["record"]["status"] == "approved"
    assert host.executions() == []
    one, two = host.at_once(
        RESUME_AT_THE_SIGNAL, [(held["turn"],), (held["turn"],)], tmp_path, TWAPPROVAL_SLOW="0.3"
    )
    assert outputs(one["items"]) == outputs(two["items"]) == ["deleted r-9"]
    (line,) = host.executions()
    ran_in = int(line.split(" pid=")[1])
    assert ran_in in (one["pid"], two["pid"]) and ran_in != decided["pid"]
    listed = host.run("print(json.dumps([a.to_dict() for a in dispatcher.approvals_sync()]))")
    assert [(a["status"], a["decided_by"]) for a in listed] == [("executed", "alice")]


async def test_a_process_without_the_tool_can_reject_the_call(make, pack, ledger, tmp_path):
    """Saying no needs no tool, as saying yes does not: a process that loads no pack rejects
    a held call, and the host's resume answers it approval_denied without running it."""
    config = {"approvals": {"store": f"sqlite:///{tmp_path / 'a.sqlite3'}"}}
    host = make(pack, config=config)
    held = await host.process_response(
        build_response("openai-responses", [("delete_record", {"record": "r"})])
    )
    console = make(config=config)  # loads no pack
    denied = await console.reject(held.pending[0].id, by="bob", message="not today")
    assert denied.error is not None and denied.error.kind == "approval_denied"
    (item,) = [i for i in await host.resume(held.turn_id) if i["type"] == "function_call_output"]
    assert "approval_denied" in item["output"] and ledger.entries == []


async def test_an_approved_call_that_expires_before_its_host_runs_it_keeps_its_approver(
    make, pack, ledger
):
    """A call approved without running, whose approval expires before its host resumes, ends
    approval_expired: the record keeps who approved it, the model is told it was approved but
    not run in time, and it never runs."""
    dispatcher = make(pack, config={"approvals": {"store": "memory://", "ttl": 0.2}})
    held = await dispatcher.process_response(
        build_response("openai-responses", [("delete_record", {"record": "late"})])
    )
    await dispatcher.approve(held.pending[0].id, by="alice", run=False)
    time.sleep(0.3)  # the record's own expiry, not a measured duration
    (item,) = [
        i for i in await dispatcher.resume(held.turn_id) if i["type"] == "function_call_output"
    ]
    assert "approval_expired" in item["output"] and "alice approved" in item["output"]
    (record,) = await dispatcher.approvals("expired")
    assert record.decided_by == "alice" and ledger.entries == []


async def test_one_record_is_read_by_its_id(make, pack, ledger):
    """approval(id) reads one record as the store holds it (an overdue one expired first);
    an unknown id, or one that is no text, raises ApprovalError."""
    dispatcher = make(pack, config={"approvals": {"store": "memory://", "ttl": 0.2}})
    held = await dispatcher.dispatch("delete_record", {"record": "r-9"})
    record = await dispatcher.approval(held.approval.id)
    assert (record.id, record.status, record.tool) == (held.approval.id, "pending", "delete_record")
    assert dispatcher.approval_sync(held.approval.id).status == "pending"
    with pytest.raises(ApprovalError, match="no approval"):
        await dispatcher.approval("approval_unknown")
    with pytest.raises(ApprovalError, match="is text"):
        await dispatcher.approval(5)  # type: ignore[arg-type]
    time.sleep(0.3)  # the record's own expiry, not a measured duration
    assert (await dispatcher.approval(held.approval.id)).status == "expired"
    assert ledger.entries == []
