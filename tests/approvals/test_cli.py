"""``toolwire approvals``: list, approve and reject from a terminal, with the CLI's exit codes."""

from __future__ import annotations

import json
import subprocess

import pytest
from toolwire.testing import build_response, run_toolwire


@pytest.fixture
def host(host_for, tmp_path):
    """A host on a SQLite store, with two calls waiting: one to approve, one to reject."""
    made = host_for(f"sqlite:///{tmp_path / 'approvals.sqlite3'}")
    made.pending = made.run(
        """
        ids = [dispatcher.dispatch_sync("delete_record", {"record": r}, role="ops",
                                        state={"principal": "alice"}).approval.id
               for r in ("one", "two")]
        print(json.dumps(ids))
        """
    )
    return made


def toolwire_cli(host, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed console script against the host's config."""
    return run_toolwire(
        "--config", host.config, *args, env={**host.environment(), "COLUMNS": "200"}, timeout=60
    )


def test_list_shows_the_waiting_calls(host):
    """list prints one row per record; --json gives the records; --status filters."""
    table = toolwire_cli(host, "approvals", "list")
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split()[:3] == ["ID", "STATUS", "TOOL"]
    assert [row.split()[:5] for row in rows] == [
        [approval_id, "pending", "delete_record", "ops", "alice"] for approval_id in host.pending
    ]
    listed = json.loads(toolwire_cli(host, "approvals", "list", "--json").stdout)
    assert [a["id"] for a in listed] == host.pending
    assert listed[0]["arguments"] == {"record": "one"}
    executed = toolwire_cli(host, "approvals", "list", "--status", "executed", "--json")
    assert json.loads(executed.stdout) == []


def test_approve_runs_the_call_once(host):
    """approve prints the result and exits 0; approving again prints the stored result and
    runs nothing."""
    first = toolwire_cli(host, "approvals", "approve", host.pending[0], "--by", "bob")
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["output"] == "deleted one"
    assert result["approval"]["status"] == "executed"
    assert result["approval"]["decided_by"] == "bob"
    again = toolwire_cli(host, "approvals", "approve", host.pending[0], "--by", "carol")
    assert again.returncode == 0
    assert json.loads(again.stdout)["approval"]["decided_by"] == "bob"
    assert [line.split(" pid=")[0] for line in host.executions()] == ["delete one"]


def test_reject_ends_the_call_and_a_later_approve_exits_1(host):
    """reject exits 0 with approval_denied; approving it afterwards exits 1 and runs nothing."""
    rejected = toolwire_cli(
        host, "approvals", "reject", host.pending[1], "--by", "bob", "--message", "keep two"
    )
    assert rejected.returncode == 0, rejected.stderr
    error = json.loads(rejected.stdout)["error"]
    assert error["error"] == "approval_denied" and "keep two" in error["message"]
    late = toolwire_cli(host, "approvals", "approve", host.pending[1], "--by", "carol")
    assert late.returncode == 1
    assert json.loads(late.stdout)["error"]["error"] == "approval_denied"
    assert host.executions() == []


def test_reject_after_approve_exits_1(host):
    """Rejecting a call that already ran exits 1, prints the stored result and says why."""
    toolwire_cli(host, "approvals", "approve", host.pending[0], "--by", "bob")
    late = toolwire_cli(host, "approvals", "reject", host.pending[0], "--by", "carol")
    assert late.returncode == 1
    assert json.loads(late.stdout)["output"] == "deleted one"
    assert (
        f"approval {host.pending[0]} was not rejected: it was already approved and run by bob"
        in (late.stderr)
    )


def test_reject_after_another_reject_says_who_decided(host):
    """A second person's reject of a rejected call exits 1 naming the first decision."""
    toolwire_cli(host, "approvals", "reject", host.pending[1], "--by", "bob")
    again = toolwire_cli(host, "approvals", "reject", host.pending[1], "--by", "carol")
    assert again.returncode == 1
    assert "was not rejected: it was already rejected by bob at " in again.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("approvals", "approve", "apr_unknown", "--by", "bob"),
        ("approvals", "reject", "apr_unknown", "--by", "bob"),
    ],
)
def test_an_unknown_id_is_a_usage_error(host, args):
    """An id the store does not hold: exit 2, one line on stderr naming it, no traceback."""
    run = toolwire_cli(host, *args)
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.strip() == "toolwire: error: no approval 'apr_unknown' in the approval store"


def test_by_is_required(host):
    """approve without --by is refused by the parser (exit 2): a decision names who made it."""
    run = toolwire_cli(host, "approvals", "approve", host.pending[0])
    assert run.returncode == 2
    assert "--by" in run.stderr
    assert host.executions() == []


def test_dispatch_of_a_held_turn_says_what_it_waits_for(host):
    """toolwire dispatch of a response with a gated call exits 3, prints the held turn (no
    items to append) and names the turn and its approvals on stderr."""
    response = build_response("openai-chat", [("delete_record", {"record": "three"})])
    run = run_toolwire(
        "--config",
        host.config,
        "dispatch",
        "-",
        stdin=json.dumps(response),
        env=host.environment(),
        timeout=60,
    )
    assert run.returncode == 3, run.stderr
    held = json.loads(run.stdout)
    assert held["status"] == "held" and held["ran"] == []
    note = next(line for line in run.stderr.splitlines() if "is held" in line)
    listed = json.loads(toolwire_cli(host, "approvals", "list", "--json").stdout)
    assert listed[-1]["id"] in note and listed[-1]["turn_id"] in note
