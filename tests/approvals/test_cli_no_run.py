"""``toolwire approvals approve --no-run``: the approval is recorded, nothing runs in the
command, and the host runs the call."""

from __future__ import annotations

import json

import pytest

from .test_cli import host, toolwire_cli

__all__ = ["host"]


@pytest.mark.slow
def test_approve_no_run_records_the_approval_and_the_host_runs_it(host):
    """--no-run prints the record approved by that person and runs nothing; a second one
    exits 1 naming the earlier decision; the host's run_approved runs it, decided by the
    person."""
    first = toolwire_cli(host, "approvals", "approve", host.pending[0], "--by", "bob", "--no-run")
    assert first.returncode == 0, first.stderr
    record = json.loads(first.stdout)
    assert (record["status"], record["decided_by"]) == ("approved", "bob")
    assert host.executions() == []
    again = toolwire_cli(host, "approvals", "approve", host.pending[0], "--by", "eve", "--no-run")
    assert again.returncode == 1
    assert "already decided: it is approved (decided by bob)" in again.stderr
    ran = host.run(
        "print(json.dumps(dispatcher.run_approved_sync(sys.argv[1]).to_dict()))", host.pending[0]
    )
    assert ran["output"] == "deleted one"
    assert (ran["approval"]["status"], ran["approval"]["decided_by"]) == ("executed", "bob")
    assert [line.split(" pid=")[0] for line in host.executions()] == ["delete one"]
