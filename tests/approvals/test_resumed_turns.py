"""A held turn carries the items of the calls that ran, and ``resume(once=True)`` hands its items
out one time, in every store and across processes sharing one."""

from __future__ import annotations

import concurrent.futures
import json
import sqlite3
from pathlib import Path

import pytest
from toolwire import ApprovalError
from toolwire.testing import build_response

THREE = [
    ("read_record", {"record": "a"}, "call_1"),
    ("delete_record", {"record": "b"}, "call_2"),
    ("read_record", {"record": "c"}, "call_3"),
]


def test_a_turn_is_marked_resumed_by_exactly_one_caller(store) -> None:
    """Sixteen threads mark one turn resumed at once: one wins; the others learn when it was."""
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda i: store.mark_resumed("turn_1", 1000.0 + i), range(16)))
    assert answers.count(None) == 1
    winner = answers.index(None)
    assert {a for a in answers if a is not None} == {1000.0 + winner}
    assert store.mark_resumed("turn_2", 5.0) is None  # another turn is its own


def test_held_turn_carries_the_items_of_the_calls_that_ran(make, pack, ledger) -> None:
    """process_response's HeldTurn lists the ran calls' provider items in call order; the list
    itself stays empty (nothing to append yet)."""
    dispatcher = make(pack)
    held = dispatcher.process_response_sync(build_response("openai-responses", THREE))
    assert held == []
    assert held.ran == (
        {"type": "function_call_output", "call_id": "call_1", "output": "contents of a"},
        {"type": "function_call_output", "call_id": "call_3", "output": "contents of c"},
    )
    assert ledger.entries == ["read a", "read c"]


def test_resume_once_hands_the_items_out_one_time(make, pack) -> None:
    """resume(once=True) returns the items and marks the turn; a second once-resume raises
    ApprovalError saying it was already resumed; a plain resume still reads them."""
    dispatcher = make(pack)
    held = dispatcher.process_response_sync(build_response("openai-responses", THREE))
    dispatcher.approve_sync(held.pending[0].id, by="ops")
    items = dispatcher.resume_sync(held.turn_id, once=True)
    assert [i["output"] for i in items if i["type"] == "function_call_output"] == [
        "contents of a",
        "deleted b",
        "contents of c",
    ]
    with pytest.raises(ApprovalError, match=r"turn turn_\S+ was already resumed at "):
        dispatcher.resume_sync(held.turn_id, once=True)
    assert dispatcher.resume_sync(held.turn_id) == items


def test_a_pending_turn_is_not_marked(make, pack) -> None:
    """A once-resume that finds an approval pending raises with it in .pending and leaves the
    turn unmarked: once decided, the next once-resume gets the items."""
    dispatcher = make(pack)
    held = dispatcher.process_response_sync(build_response("openai-responses", THREE))
    with pytest.raises(ApprovalError) as raised:
        dispatcher.resume_sync(held.turn_id, once=True)
    assert [a.id for a in raised.value.pending] == [held.pending[0].id]
    dispatcher.reject_sync(held.pending[0].id, by="ops")
    assert len(dispatcher.resume_sync(held.turn_id, once=True)) == 6


def test_a_store_file_from_before_resume_marks_still_resumes(tmp_path: Path, host_for) -> None:
    """A SQLite file made before turns could be marked resumed (no resumed_turns table) keeps its
    held turn: a new process resumes it once."""
    path = tmp_path / "approvals.sqlite3"
    host = host_for(f"sqlite:///{path}")
    response = build_response("openai-chat", [("delete_record", {"record": "old"}, "call_1")])
    first = host.run(
        """
        held = dispatcher.process_response_sync(json.loads(sys.argv[1]))
        dispatcher.approve_sync(held.pending[0].id, by="ops")
        print(json.dumps(held.turn_id))
        """,
        json.dumps(response),
    )
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE resumed_turns")
    db.close()
    outcome = host.run(
        """
        items = dispatcher.resume_sync(sys.argv[1], once=True)
        try:
            dispatcher.resume_sync(sys.argv[1], once=True)
            again = "resumed twice"
        except toolwire.ApprovalError as exc:
            again = str(exc)
        print(json.dumps({"items": items, "again": again}))
        """,
        first,
    )
    assert outcome["items"][-1]["content"] == "deleted old"
    assert "was already resumed" in outcome["again"]


RESUME_AT_THE_SIGNAL = """
import os, pathlib, time
ready, go = pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
dispatcher.approvals_sync()  # the store is open before the race starts
ready.touch()
while not go.exists():
    time.sleep(0.005)
try:
    print(json.dumps({"items": dispatcher.resume_sync(sys.argv[1], once=True)}))
except toolwire.ApprovalError as exc:
    print(json.dumps({"refused": str(exc)}))
"""


@pytest.mark.slow
def test_processes_resuming_one_turn_at_once_get_its_items_once(shared_store, host_for, tmp_path):
    """Three hosts sharing the store resume one decided turn at the same moment: exactly one
    gets the items; the others are told it was already resumed; nothing runs again."""
    host = host_for(shared_store)
    response = build_response(
        "openai-chat",
        [("read_record", {"record": "a"}, "call_1"), ("delete_record", {"record": "b"}, "call_2")],
    )
    turn_id = host.run(
        """
        held = dispatcher.process_response_sync(json.loads(sys.argv[1]))
        dispatcher.approve_sync(held.pending[0].id, by="ops")
        print(json.dumps(held.turn_id))
        """,
        json.dumps(response),
    )
    outcomes = host.at_once(RESUME_AT_THE_SIGNAL, [(turn_id,)] * 3, tmp_path)
    winners = [o for o in outcomes if "items" in o]
    assert len(winners) == 1
    assert winners[0]["items"][-1]["content"] == "deleted b"
    assert all("was already resumed" in o["refused"] for o in outcomes if "refused" in o)
    assert [line.split(" pid=")[0] for line in host.executions()] == ["read a", "delete b"]
