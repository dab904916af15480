"""Approve, reject, expire: by id, once, with exactly the stored arguments."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time

import pytest
import structlog
import toolwire
from toolwire import ApprovalError, RequireApproval


class Observer:
    """Records what every stage of interest saw: permission votes, before hooks, finished calls."""

    def __init__(self, vote: object = None) -> None:
        self.vote = vote
        self.votes = 0
        self.before: list[tuple[str, dict]] = []
        self.finished: list[tuple[str, str | None, str | None, str | None]] = []

    @toolwire.hookimpl
    def toolwire_check_permission(self, call, context):
        self.votes += 1
        return self.vote

    @toolwire.hookimpl
    def toolwire_before_call(self, call, context):
        self.before.append((call.name, dict(call.arguments)))

    @toolwire.hookimpl
    def toolwire_call_finished(self, call, result, context):
        approval = result.approval
        self.finished.append(
            (
                result.error.kind if result.error else "ok",
                approval.id if approval else None,
                approval.status if approval else None,
                approval.decided_by if approval else None,
            )
        )


async def test_the_record_holds_the_validated_call(make, pack):
    """The record: unguessable id, call id, tool, canonical validated arguments and their
    digest, role, principal from the host state, reason, expiry after the ttl, pending."""
    dispatcher = make(pack, config={"approvals": {"store": "memory://", "ttl": 600}})
    before = time.time()
    result = await dispatcher.dispatch(
        "delete_record",
        '{"record": "r-1"}',
        call_id="call_abc",
        role="ops",
        state={"principal": "alice", "session": "s1"},
    )
    approval = result.approval
    assert approval.id.startswith("apr_") and len(approval.id) >= 20
    assert approval.call_id == "call_abc"
    assert approval.tool == "delete_record"
    assert approval.arguments == '{"record":"r-1"}'
    assert approval.digest == hashlib.sha256(approval.binding().encode()).hexdigest()
    assert json.loads(approval.binding())["arguments"] == approval.arguments
    assert approval.plugin is not None
    assert approval.fingerprint is not None and len(approval.fingerprint) == 64
    assert approval.role == "ops"
    assert approval.principal == "alice"
    assert approval.status == "pending"
    assert before <= approval.created_at <= time.time()
    assert approval.expires_at == approval.created_at + 600
    assert approval.id in result.error.message
    assert result.error.details["approval_id"] == approval.id
    assert result.to_dict()["approval"]["arguments"] == {"record": "r-1"}


async def test_ids_are_unguessable_and_distinct(make, pack):
    """Each gated call gets an id of its own, with at least 128 bits of randomness."""
    dispatcher = make(pack)
    results = await dispatcher.dispatch_many(
        [toolwire.ToolCall("delete_record", {"record": str(i)}) for i in range(20)]
    )
    ids = {r.approval.id for r in results}
    assert len(ids) == 20
    assert all(len(i.removeprefix("apr_")) >= 22 for i in ids)


async def test_canonical_arguments_sort_keys_and_keep_unicode(make):
    """Arguments are stored with sorted keys and no whitespace: one call, one text; each
    record's digest binds that text to its own call id and expiry."""
    tools = toolwire.Toolset("t")

    @tools.tool(approval=True)
    def send(to: str, body: str) -> str:
        """Send a note."""
        return "sent"

    dispatcher = make(tools)
    first = await dispatcher.dispatch("send", '{"to": "Zoë", "body": "hi"}')
    second = await dispatcher.dispatch("send", {"body": "hi", "to": "Zoë"})
    assert first.approval.arguments == '{"body":"hi","to":"Zoë"}'
    assert first.approval.arguments == second.approval.arguments
    assert first.approval.digest != second.approval.digest  # each record binds its own call


async def test_approve_runs_the_stored_arguments_once(make, pack, ledger):
    """approve runs the call with its stored arguments; a second approve returns the stored
    result and never runs the tool again."""
    dispatcher = make(pack)
    held = await dispatcher.dispatch("delete_record", {"record": "r-7", "hard": True})
    first = await dispatcher.approve(held.approval.id, by="bob")
    assert first.success and first.output == "deleted r-7"
    assert first.approval.status == "executed"
    assert first.approval.decided_by == "bob"
    again = await dispatcher.approve(held.approval.id, by="carol")
    assert again.success and again.output == "deleted r-7"
    assert again.result == "deleted r-7"
    assert again.approval.decided_by == "bob"
    assert ledger.entries == ["delete r-7 hard=True"]


async def test_concurrent_approves_in_one_process_run_once(make, pack, ledger):
    """Ten approves of one id at once: one execution, ten identical results."""
    dispatcher = make(pack)
    held = await dispatcher.dispatch("delete_record", {"record": "r"})
    results = await asyncio.gather(
        *(dispatcher.approve(held.approval.id, by=f"p{i}") for i in range(10))
    )
    assert ledger.entries == ["delete r hard=False"]
    assert {r.output for r in results} == {"deleted r"}
    assert len({r.approval.decided_by for r in results}) == 1


async def test_approve_skips_permission_and_runs_the_later_stages(make, pack, ledger):
    """On approve the permission hooks are not asked again (even one that would now ask or
    deny); before hooks and observers run as for any call."""
    observer = Observer(vote=RequireApproval("ask"))
    dispatcher = make(pack, observer)
    held = await dispatcher.dispatch("read_record", {"record": "r"})
    assert observer.votes == 1
    observer.vote = False  # a rule that would deny now is not asked: the person decided
    result = await dispatcher.approve(held.approval.id, by="bob")
    assert result.success
    assert observer.votes == 1
    assert observer.before == [("read_record", {"record": "r"})]
    assert ledger.entries == ["read r"]


async def test_approve_runs_the_middleware(make, pack):
    """An approved call goes through the tool's middleware, like any call."""
    seen: list[str] = []

    class Watch:
        @toolwire.hookimpl
        def toolwire_register_middleware(self, register):
            async def watch(call, context, call_next):
                seen.append(call.name)
                return await call_next(call, context)

            register(watch)

    dispatcher = make(pack, Watch())
    held = await dispatcher.dispatch("delete_record", {"record": "r"})
    assert seen == []
    await dispatcher.approve(held.approval.id, by="bob")
    assert seen == ["delete_record"]


async def test_call_finished_sees_the_gated_call_and_again_its_execution(make, pack):
    """Observers see approval_required with the pending record, then the execution with who
    approved it."""
    observer = Observer()
    dispatcher = make(pack, observer)
    held = await dispatcher.dispatch("delete_record", {"record": "r"})
    await dispatcher.approve(held.approval.id, by="bob")
    await dispatcher.approve(held.approval.id, by="carol")  # stored: nothing new to see
    approval_id = held.approval.id
    assert observer.finished == [
        ("approval_required", approval_id, "pending", None),
        ("ok", approval_id, "approved", "bob"),
    ]


async def test_the_call_log_carries_the_approval_id_and_who_decided(make, pack):
    """The built-in call log names the approval and the person on the gated call and its run."""
    dispatcher = make(pack)
    with structlog.testing.capture_logs() as logs:
        held = await dispatcher.dispatch("delete_record", {"record": "r"})
        await dispatcher.approve(held.approval.id, by="bob")
    calls = [e for e in logs if e["event"] == "toolwire.call"]
    assert [(e["error_kind"], e["approval_id"], e["decided_by"]) for e in calls] == [
        ("approval_required", held.approval.id, None),
        (None, held.approval.id, "bob"),
    ]


async def test_reject_answers_approval_denied_and_never_runs(make, pack, ledger):
    """reject ends the call with approval_denied, not retryable, telling the model not to retry."""
    observer = Observer()
    dispatcher = make(pack, observer)
    held = await dispatcher.dispatch("delete_record", {"record": "r"})
    result = await dispatcher.reject(held.approval.id, by="bob", message="that record is live")
    assert result.error.kind == "approval_denied"
    assert result.error.retryable is False
    assert "that record is live" in result.error.message
    assert "Do not retry" in result.error.message
    assert json.loads(result.output)["error"] == "approval_denied"
    assert result.approval.status == "rejected"
    assert result.approval.message == "that record is live"
    assert observer.finished[-1] == ("approval_denied", held.approval.id, "rejected", "bob")
    assert ledger.entries == []


async def decided_twice(dispatcher, first: str, then: str):
    """A held call decided by bob (``approve`` or ``reject``), then by carol: carol's result."""
    held = await dispatcher.dispatch("delete_record", {"record": "r"})
    await getattr(dispatcher, first)(held.approval.id, by="bob")
    return await getattr(dispatcher, then)(held.approval.id, by="carol")


async def test_reject_then_approve_never_runs(make, pack, ledger):
    """An approve after a reject returns the rejection; the tool never runs."""
    result = await decided_twice(make(pack), "reject", "approve")
    assert result.error.kind == "approval_denied"
    assert result.approval.decided_by == "bob"
    assert ledger.entries == []


async def test_approve_then_reject_keeps_the_result(make, pack, ledger):
    """A reject after an approve changes nothing: the stored result comes back."""
    result = await decided_twice(make(pack), "approve", "reject")
    assert result.success and result.approval.status == "executed"
    assert ledger.entries == ["delete r hard=False"]


async def test_approve_after_expiry_answers_approval_expired(make, pack, ledger):
    """An approval past its ttl cannot be approved: approval_expired, and the tool never runs."""
    observer = Observer()
    dispatcher = make(pack, observer, config={"approvals": {"store": "memory://", "ttl": 0.01}})
    held = await dispatcher.dispatch("delete_record", {"record": "r"})
    await asyncio.sleep(0.05)
    result = await dispatcher.approve(held.approval.id, by="bob")
    assert result.error.kind == "approval_expired"
    assert result.error.retryable is True
    assert result.approval.status == "expired"
    assert result.approval.decided_by is None
    assert observer.finished[-1][0] == "approval_expired"
    again = await dispatcher.reject(held.approval.id, by="carol")
    assert again.error.kind == "approval_expired"
    assert ledger.entries == []


async def test_listing_expires_overdue_approvals(make, pack):
    """approvals() lists by status, oldest first; pending ones past their ttl are expired."""
    dispatcher = make(pack, config={"approvals": {"store": "memory://", "ttl": 0.05}})
    first = await dispatcher.dispatch("delete_record", {"record": "a"})
    await asyncio.sleep(0.1)
    second = await dispatcher.dispatch("delete_record", {"record": "b"})
    assert [a.id for a in await dispatcher.approvals("pending")] == [second.approval.id]
    assert [a.id for a in await dispatcher.approvals("expired")] == [first.approval.id]
    assert [a.id for a in await dispatcher.approvals()] == [first.approval.id, second.approval.id]
    with pytest.raises(ValueError, match="unknown status"):
        await dispatcher.approvals("done")


def test_sync_twins(make, pack, ledger):
    """approve_sync, reject_sync, approvals_sync work without an event loop."""
    dispatcher = make(pack)
    one = dispatcher.dispatch_sync("delete_record", {"record": "a"})
    two = dispatcher.dispatch_sync("delete_record", {"record": "b"})
    assert {a.id for a in dispatcher.approvals_sync("pending")} == {
        one.approval.id,
        two.approval.id,
    }
    assert dispatcher.approve_sync(one.approval.id, by="bob").success
    assert dispatcher.reject_sync(two.approval.id, by="bob").error.kind == "approval_denied"
    assert [a.status for a in dispatcher.approvals_sync()] == ["executed", "rejected"]
    assert ledger.entries == ["delete a hard=False"]


async def test_unknown_ids_and_missing_names_are_the_hosts_errors(make, pack):
    """An unknown approval id raises ApprovalError; an empty by= raises ValueError."""
    dispatcher = make(pack)
    with pytest.raises(ApprovalError, match="no approval 'apr_nope'"):
        await dispatcher.approve("apr_nope", by="bob")
    with pytest.raises(ApprovalError, match="no approval"):
        await dispatcher.reject("apr_nope", by="bob")
    held = await dispatcher.dispatch("delete_record", {"record": "a"})
    with pytest.raises(ValueError, match="by="):
        await dispatcher.approve(held.approval.id, by=" ")


async def test_the_approved_call_gets_the_principal_or_the_hosts_state(make):
    """The tool's context holds the recorded principal, or the state approve is given."""
    tools = toolwire.Toolset("ctx")
    seen: list[dict] = []

    @tools.tool(approval=True)
    def whoami(context: toolwire.CallContext) -> str:
        """Who is calling."""
        seen.append(dict(context.state))
        return context.role or ""

    dispatcher = make(tools)
    one = await dispatcher.dispatch("whoami", role="ops", state={"principal": "alice", "x": 1})
    two = await dispatcher.dispatch("whoami", state={"principal": "alice"})
    assert (await dispatcher.approve(one.approval.id, by="bob")).output == "ops"
    await dispatcher.approve(two.approval.id, by="bob", state={"principal": "alice", "k": 2})
    assert seen == [{"principal": "alice"}, {"principal": "alice", "k": 2}]


async def test_tampered_arguments_never_run(make, pack, ledger, tmp_path):
    """Arguments changed in the store after the request no longer match their digest: the call
    ends with internal_error and never runs."""
    path = tmp_path / "a.sqlite3"
    dispatcher = make(pack, config={"approvals": {"store": f"sqlite:///{path}"}})
    held = await dispatcher.dispatch("delete_record", {"record": "harmless"})
    with sqlite3.connect(path) as db:
        (fixed,) = db.execute("SELECT fixed FROM approvals").fetchone()
        data = json.loads(fixed)
        data["arguments"] = '{"record":"everything"}'
        db.execute("UPDATE approvals SET fixed = ?", (json.dumps(data),))
    result = await dispatcher.approve(held.approval.id, by="bob")
    assert result.error.kind == "internal_error"
    assert "digest" in result.error.message
    assert ledger.entries == []


async def test_only_the_tool_that_asked_may_run_the_approved_call(make, pack, ledger, tmp_path):
    """Approving where the tool is missing, or where another tool has its name, is refused and
    leaves the record pending; where the same pack is loaded it runs."""
    path = tmp_path / "a.sqlite3"
    config = {"approvals": {"store": f"sqlite:///{path}"}}
    held = await make(pack, config=config).dispatch("delete_record", {"record": "r"})
    without = make(config=config)  # restarted without the pack
    with pytest.raises(toolwire.ApprovalError, match="does not load"):
        await without.approve(held.approval.id, by="bob")
    impostor = toolwire.Toolset("impostor")

    @impostor.tool
    def delete_record(record: str) -> str:
        """Another tool of the same name."""
        ledger.entries.append(f"impostor {record}")
        return "gone"

    with pytest.raises(toolwire.ApprovalError, match="another tool or another version"):
        await make(impostor, config=config).approve(held.approval.id, by="bob")
    assert [a.status for a in await without.approvals()] == ["pending"]
    assert ledger.entries == []
    result = await make(pack, config=config).approve(held.approval.id, by="bob")
    assert result.success and ledger.entries == ["delete r hard=False"]


async def test_answer_mode_answers_the_gated_call_at_once(make, pack, ledger):
    """[approvals] mode = "answer": the response is answered now; the gated call's output is a
    retryable approval_required naming the approval id."""
    dispatcher = make(pack, config={"approvals": {"store": "memory://", "mode": "answer"}})
    response = toolwire.testing.build_response(
        "openai-responses",
        [("read_record", {"record": "a"}), ("delete_record", {"record": "b"})],
    )
    items = await dispatcher.process_response(response)
    assert not isinstance(items, toolwire.HeldTurn)
    assert items[-2]["output"] == "contents of a"
    error = json.loads(items[-1]["output"])
    assert error["error"] == "approval_required" and error["retryable"] is True
    (pending,) = await dispatcher.approvals("pending")
    assert error["details"]["approval_id"] == pending.id
    assert pending.id in error["message"]
    assert pending.turn_id is None
    assert (await dispatcher.approve(pending.id, by="bob")).output == "deleted b"
    assert ledger.entries == ["read a", "delete b hard=False"]


async def test_a_store_that_fails_is_the_hosts_error(make, pack):
    """approve, reject, approvals and resume raise ApprovalError when the store cannot be reached."""
    pytest.importorskip("redis")
    dispatcher = make(pack, config={"approvals": {"store": "redis://127.0.0.1:1/0"}})
    for attempt in (
        dispatcher.approvals(),
        dispatcher.approve("apr_x", by="bob"),
        dispatcher.reject("apr_x", by="bob"),
        dispatcher.resume("turn_x"),
    ):
        with pytest.raises(ApprovalError, match="the approval store failed"):
            await attempt
