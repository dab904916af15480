"""The stores: atomic claims, and approvals shared by processes and outliving them (SQLite and
a real Redis), each host a fresh interpreter."""

from __future__ import annotations

import concurrent.futures
import json
import time

import pytest
import toolwire
from toolwire._approvals._open import open_store
from toolwire._approvals._records import Approval
from toolwire.testing import build_response


def record(approval_id: str, *, ttl: float = 60.0) -> Approval:
    """A pending record made now."""
    now = time.time()
    return Approval(
        id=approval_id,
        call_id="call_1",
        tool="delete_record",
        arguments='{"record":"r"}',
        digest="0" * 64,
        role=None,
        principal=None,
        reason="test",
        created_at=now,
        expires_at=now + ttl,
    )


def test_exactly_one_of_many_claims_wins(store):
    """Sixteen threads claim one record at once: exactly one moves it out of pending."""
    store.add(record("apr_1"))
    now = time.time()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        wins = list(
            pool.map(
                lambda i: store.claim("apr_1", "approved", f"p{i}", now, None, overdue=False),
                range(16),
            )
        )
    assert wins.count(True) == 1
    (approval,) = store.records("approved")
    assert approval.decided_by == f"p{wins.index(True)}"
    assert store.records("pending") == []


def test_a_result_is_written_once(store):
    """complete writes the result of a record claimed to run once: executed, then never again."""
    store.add(record("apr_1"))
    assert not store.complete("apr_1", "executed", '"early"', None)  # not approved yet
    assert store.claim("apr_1", "running", "bob", time.time(), None, overdue=False)
    assert store.complete("apr_1", "executed", '"first"', '{"item": 1}')
    assert not store.complete("apr_1", "executed", '"second"', None)
    found = store.get("apr_1")
    assert (found.approval.status, found.result, found.item) == (
        "executed",
        '"first"',
        '{"item": 1}',
    )
    assert [a.id for a in store.records("executed")] == ["apr_1"]


def test_expiry_and_decision_exclude_each_other(store):
    """An overdue record can only be expired; one in time can only be decided."""
    store.add(record("apr_old", ttl=-1))
    store.add(record("apr_new"))
    now = time.time()
    assert not store.claim("apr_old", "approved", "bob", now, None, overdue=False)
    assert not store.claim("apr_new", "expired", None, now, None, overdue=True)
    assert store.claim("apr_old", "expired", None, now, None, overdue=True)
    assert store.claim("apr_new", "rejected", "bob", now, "no", overdue=False)
    assert store.get("apr_new").approval.message == "no"
    assert {a.id: a.status for a in store.records(None)} == {
        "apr_old": "expired",
        "apr_new": "rejected",
    }


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_records_outlive_the_store_object(kind, tmp_path, request):
    """What one store object wrote, a new one on the same file or server reads back intact."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    else:
        url = request.getfixturevalue("redis_server").url
    added = record("apr_1")
    first = open_store(url)
    first.add(added)
    first.add_turn("turn_1", '{"calls": []}')
    first.close()
    again = open_store(url)
    assert again.get("apr_1").approval == added
    assert again.get_turn("turn_1") == '{"calls": []}'
    assert again.get("apr_none") is None and again.get_turn("turn_none") is None
    again.close()


def test_the_default_store_is_a_file_in_the_user_state_directory(tmp_path, monkeypatch):
    """Without [approvals] store, approvals go to a SQLite file under the user state directory."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    tools = toolwire.Toolset("t")

    @tools.tool(approval=True)
    def wipe() -> str:
        """Wipe."""
        return "wiped"

    dispatcher = toolwire.testing.make_dispatcher(tools)
    try:
        held = dispatcher.dispatch_sync("wipe")
        assert (tmp_path / "state" / "toolwire" / "approvals.sqlite3").is_file()
        assert dispatcher.approve_sync(held.approval.id, by="bob").output == "wiped"
    finally:
        dispatcher.close()


# -- processes ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_processes_approving_one_id_at_once_run_it_once(shared_store, host_for, tmp_path):
    """Two hosts approve the same id at the same moment: the tool runs exactly once (one ledger
    line), and both print the same result, decided by the one that won the claim."""
    host = host_for(shared_store)
    requested = host.run(
        """
        result = dispatcher.dispatch_sync("delete_record", {"record": "r-1"})
        print(json.dumps(result.to_dict()))
        """
    )
    assert requested["error"]["error"] == "approval_required"
    approval_id = requested["approval"]["id"]
    # The tool takes a while, so the loser also finds the call running and waits for it.
    outputs = host.approve_at_once(approval_id, ("alice", "bob"), tmp_path, TWAPPROVAL_SLOW="0.3")
    assert [line.split(" pid=")[0] for line in host.executions()] == ["delete r-1"]
    assert outputs[0]["output"] == outputs[1]["output"] == "deleted r-1"
    deciders = {o["approval"]["decided_by"] for o in outputs}
    assert len(deciders) == 1 and deciders <= {"alice", "bob"}
    assert {o["approval"]["status"] for o in outputs} == {"executed"}


@pytest.mark.slow
def test_a_restart_between_request_and_decision(shared_store, host_for):
    """One host holds a call and a turn and exits; a new one finds both pending, approves and
    rejects them, and resumes the turn; a third gets the same stored answers, running nothing."""
    host = host_for(shared_store)
    response = build_response(
        "openai-responses",
        [
            ("read_record", {"record": "a"}, "call_1"),
            ("delete_record", {"record": "b"}, "call_2"),
            ("delete_record", {"record": "c"}, "call_3"),
        ],
    )
    first = host.run(
        """
        single = dispatcher.dispatch_sync("delete_record", {"record": "solo"}, state={"principal": "alice"})
        held = dispatcher.process_response_sync(json.loads(sys.argv[1]))
        print(json.dumps({"single": single.approval.id, "turn": held.turn_id,
                          "pending": [a.id for a in held.pending], "items": list(held)}))
        """,
        json.dumps(response),
    )
    assert first["items"] == []
    assert host.executions() == ["read a"]
    second = host.run(
        """
        single, turn, b, c = sys.argv[1:5]
        pending = {a.id: a.to_dict() for a in dispatcher.approvals_sync("pending")}
        try:
            dispatcher.resume_sync(turn)
            early = None
        except toolwire.ApprovalError as exc:
            early = sorted(a.id for a in exc.pending)
        solo = dispatcher.approve_sync(single, by="bob")
        dispatcher.approve_sync(b, by="bob")
        dispatcher.reject_sync(c, by="bob", message="keep c")
        items = dispatcher.resume_sync(turn)
        print(json.dumps({"pending": pending, "early": early, "solo": solo.to_dict(), "items": items}))
        """,
        first["single"],
        first["turn"],
        *first["pending"],
    )
    assert set(second["pending"]) == {first["single"], *first["pending"]}
    assert second["pending"][first["single"]]["principal"] == "alice"
    assert second["early"] == sorted(first["pending"])
    assert second["solo"]["output"] == "deleted solo"
    outputs = [i for i in second["items"] if i["type"] == "function_call_output"]
    assert [o["call_id"] for o in outputs] == ["call_1", "call_2", "call_3"]
    assert outputs[0]["output"] == "contents of a" and outputs[1]["output"] == "deleted b"
    assert json.loads(outputs[2]["output"])["error"] == "approval_denied"
    third = host.run(
        """
        single, turn = sys.argv[1:3]
        again = dispatcher.approve_sync(single, by="carol")
        print(json.dumps({"solo": again.to_dict(), "items": dispatcher.resume_sync(turn)}))
        """,
        first["single"],
        first["turn"],
    )
    assert third["items"] == second["items"]
    assert third["solo"]["approval"]["decided_by"] == "bob"
    assert [line.split(" pid=")[0] for line in host.executions()] == [
        "read a",
        "delete solo",
        "delete b",
    ]
