"""One trail, many processes: appends take the lock one record at a time, the chain goes on
across writers, a reader checks the trail while they write, and a call that another process
runs (an approval decided from the command line) is written beside the host's records."""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import toolwire
import toolwire_audit
from toolwire.testing import install_plugin, make_dispatcher, process_environment, run_toolwire
from toolwire_audit import AuditTrail, TrailOptions, rotated_files, trail_files

KEY = "7c1e0f3a9b5d2e8c4a6f0b1d3e5c7a9f"
#: The ``read`` fixture: every complete record of trail files, in order.
Read = Callable[..., list[dict[str, Any]]]

PACK = '''
"""Tools for the shared-trail tests, as an installed pack."""

import os

import toolwire

pack = toolwire.Toolset("twaudit-fixtures")


@pack.tool(approval=True)
def delete_record(record: str) -> str:
    """Delete a record (one line to $TWAUDIT_LEDGER each time it runs)."""
    with open(os.environ["TWAUDIT_LEDGER"], "a", encoding="utf-8") as ledger:
        ledger.write(f"delete {record} pid={os.getpid()}\\n")
    return f"deleted {record}"


@pack.tool
def echo(text: str) -> str:
    """Say it back."""
    return text
'''


@dataclass
class Site:
    """A folder with a config naming the audit plugin, a trail, an approval store and an
    installed pack, for processes started as an operator starts them."""

    directory: Path
    site: Path
    config: Path
    trail: Path
    ledger: Path

    def environment(self) -> dict[str, str]:
        return process_environment(
            drop=("TOOLWIRE_", "PYTHON"),
            pythonpath=self.site,
            AUDIT_TEST_KEY=KEY,
            TWAUDIT_LEDGER=str(self.ledger),
        )

    def toolwire(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The installed ``toolwire`` command with this config."""
        return run_toolwire(
            "--config", self.config, *args, cwd=self.directory, env=self.environment(), timeout=300
        )

    def start(self, body: str, *args: str) -> subprocess.Popen[str]:
        """Python in a fresh interpreter (``sys.argv[1:]`` is ``args``), in the background."""
        return subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(body), *args],
            cwd=self.directory,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.environment(),
        )

    def executions(self) -> list[str]:
        """One line per time a tool body ran, in any process."""
        if not self.ledger.exists():
            return []
        return self.ledger.read_text(encoding="utf-8").splitlines()


def make_site(tmp_path: Path, **audit: Any) -> Site:
    site = install_plugin(
        tmp_path / "site",
        "twaudit-fixtures",
        {"twaudit-fixtures": "twaudit_fixtures:pack"},
        {"twaudit_fixtures": PACK},
    )
    trail = tmp_path / "audit.jsonl"
    extra = "".join(f"{key} = {json.dumps(value)}\n" for key, value in audit.items())
    config = tmp_path / "toolwire.toml"
    config.write_text(
        "[plugins]\nautoload = false\nenable = ['twaudit-fixtures', 'audit']\n\n"
        f"[plugins.audit]\npath = '{trail}'\nhmac_key_env = 'AUDIT_TEST_KEY'\n{extra}\n"
        f"[approvals]\nstore = 'sqlite:///{tmp_path / 'approvals.sqlite3'}'\n"
    )
    return Site(tmp_path, site, config, trail, tmp_path / "ledger.txt")


def finish(process: subprocess.Popen[str]) -> str:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    return stdout


# -- a long-lived host and the approvals command ---------------------------------------------

LONG_LIVED_HOST = """
import json, sys, time
from pathlib import Path

import toolwire

config, go = sys.argv[1], Path(sys.argv[2])
with toolwire.Dispatcher.from_config(config) as dispatcher:
    held = dispatcher.dispatch_sync("delete_record", {"record": "r-1"})
    print(json.dumps({"approval": held.approval.id}), flush=True)
    while not go.exists():  # serving, as `toolwire mcp serve` would, its trail open
        time.sleep(0.01)
    after = dispatcher.dispatch_sync("echo", {"text": "still here"})
    print(json.dumps(after.to_dict()), flush=True)
"""


@pytest.mark.slow
def test_the_approvals_command_runs_and_records_while_a_host_writes_the_trail(
    tmp_path: Path, read: Read
) -> None:
    """While a long-lived host has the trail open, `toolwire approvals approve` on the same config runs the tool, writes its records into the one chain, and the host goes on writing after it."""
    site = make_site(tmp_path)
    go = tmp_path / "go"
    host = site.start(LONG_LIVED_HOST, str(site.config), str(go))
    try:
        assert host.stdout is not None
        approval_id = json.loads(host.stdout.readline())["approval"]
        approved = site.toolwire("approvals", "approve", approval_id, "--by", "grace")
        assert approved.returncode == 0, approved.stdout + approved.stderr
        result = json.loads(approved.stdout)
        assert result["output"] == "deleted r-1"
        assert result["approval"]["status"] == "executed"
        assert [line.split(" pid=")[0] for line in site.executions()] == ["delete r-1"]
    finally:
        go.touch()
        stdout = finish(host)
    assert json.loads(stdout.splitlines()[-1])["output"] == "still here"
    checked = site.toolwire("audit", "verify", "--trail", str(site.trail))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    records = read(*trail_files(site.trail))
    assert checked.stdout.startswith(f"ok: {len(records)} record(s) (seq 1-{len(records)})")
    assert [(r["event"], r.get("error_kind")) for r in records] == [
        ("call", "approval_required"),
        ("approval.requested", None),
        ("call", None),
        ("approval.approved", None),
        ("call", None),
    ]
    host_instance, command_instance = records[0]["instance"], records[2]["instance"]
    assert host_instance != command_instance
    assert [r["instance"] for r in records] == [host_instance] * 2 + [command_instance] * 2 + [
        host_instance
    ]
    ran = records[2]
    assert (ran["tool"], ran["outcome"], ran["approval_id"], ran["decided_by"]) == (
        "delete_record",
        "ok",
        approval_id,
        "grace",
    )
    listed = site.toolwire("approvals", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [row["status"] for row in json.loads(listed.stdout)] == ["executed"]


# -- many writers and a reader ----------------------------------------------------------------

WRITER = """
import sys, time
from pathlib import Path

import toolwire

count, config, ready, go = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
with toolwire.Dispatcher.from_config(config) as dispatcher:
    for n in range(count):
        result = dispatcher.dispatch_sync("echo", {"text": str(n)})
        assert result.success, result.output
        if n == 0:  # warm (the plan built, the packages looked up): all go on at once
            ready.touch()
            while not go.exists():
                time.sleep(0.001)
"""

VERIFIER = """
import json, sys
from pathlib import Path

import toolwire_audit

trail, stop, total = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
runs, during, problems, torn, last = 0, 0, [], 0, 0
while True:
    stopping = stop.exists()
    outcome, files = toolwire_audit.verify_trail(trail)
    if files:
        runs += 1
        during += 0 < outcome.records < total
        torn += len(outcome.torn)
        last = outcome.records
        if not outcome.ok:
            problems.append(outcome.to_dict()["problem"])
    if stopping:
        break
print(json.dumps({"runs": runs, "during": during, "problems": problems, "torn": torn,
                  "records": last}))
"""


@pytest.mark.slow
@pytest.mark.parametrize(("each", "max_bytes"), [(1000, 0), (250, 20_000)])
def test_four_processes_append_to_one_chain_while_a_fifth_verifies(
    tmp_path: Path, read: Read, each: int, max_bytes: int
) -> None:
    """Four processes write their records to one trail at once (rotating it, with max_bytes) while a fifth verifies it again and again: every check passes, and `toolwire audit verify` passes on the interleaved trail."""
    site = make_site(tmp_path, max_bytes=max_bytes)
    total = 4 * each
    stop = tmp_path / "stop"
    verifier = site.start(VERIFIER, str(site.trail), str(stop), str(total))
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{n}" for n in range(4)]
    writers = [site.start(WRITER, str(each), str(site.config), str(r), str(go)) for r in ready]
    try:
        deadline = time.monotonic() + 120
        while not all(r.exists() for r in ready):
            assert time.monotonic() < deadline, "the writers did not start"
            assert all(w.poll() is None for w in writers), "a writer stopped before writing"
            time.sleep(0.01)
        go.touch()
        for writer in writers:
            finish(writer)
    finally:
        stop.touch()
        report = json.loads(finish(verifier).splitlines()[-1])
    assert report["problems"] == []
    assert report["during"] >= 1, report  # it checked the trail while the writers wrote
    assert report["records"] == total
    checked = site.toolwire("audit", "verify", "--trail", str(site.trail))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    files = trail_files(site.trail)
    assert checked.stdout.startswith(f"ok: {total} record(s) (seq 1-{total}) in {len(files)} file")
    if max_bytes:
        assert len(files) > 10
    records = read(*files)
    assert [r["seq"] for r in records] == list(range(1, total + 1))
    assert [r["prev_hash"] for r in records[1:]] == [r["hash"] for r in records[:-1]]
    per_writer = Counter(r["instance"] for r in records)
    assert sorted(per_writer.values()) == [each] * 4
    switches = sum(a["instance"] != b["instance"] for a, b in itertools.pairwise(records))
    assert switches > 3  # interleaved, not one writer after the other


# -- the protocol, writer by writer -------------------------------------------------------------


def test_a_writer_follows_a_rotation_another_writer_made(tmp_path: Path, read: Read) -> None:
    """A writer whose file another writer rotated away appends to the new file, continuing the chain from the other's last record."""
    path = tmp_path / "audit.jsonl"
    first = AuditTrail(path)
    rotating = AuditTrail(path, TrailOptions(max_bytes=1))
    try:
        first.append({"event": "call", "call_id": "a1"})
        rotating.append({"event": "call", "call_id": "b1"})  # and rotates
        (rotated,) = rotated_files(path)
        assert path.read_bytes() == b""
        third = first.append({"event": "call", "call_id": "a2"})
    finally:
        first.close()
        rotating.close()
    assert [r["call_id"] for r in read(rotated)] == ["a1", "b1"]
    assert read(path) == [third]
    assert third["seq"] == 3 and third["prev_hash"] == read(rotated)[-1]["hash"]
    assert toolwire_audit.verify(trail_files(path)).ok


CRASH_MID_RECORD = """
import fcntl, os, signal, sys

trail = sys.argv[1]
lock = os.open(trail + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(lock, fcntl.LOCK_EX)
fd = os.open(trail, os.O_WRONLY | os.O_APPEND)
os.write(fd, b'{"event":"call","call_id":"cut-sh')
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.slow
def test_a_writer_killed_mid_record_is_set_aside_once_by_the_writers_after_it(
    tmp_path: Path, read: Read
) -> None:
    """A writer killed with the lock taken and half a record written lets go of the lock by dying; of four writers racing after it, one sets the file aside and the first record of the new file notes it."""
    path = tmp_path / "audit.jsonl"
    start = AuditTrail(path)
    start.append({"event": "call", "call_id": "before"})
    start.close()
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_MID_RECORD, str(path)], timeout=60, check=False
    )
    assert crashed.returncode == -signal.SIGKILL
    trails = [AuditTrail(path) for _ in range(4)]
    barrier = threading.Barrier(4)

    def write(trail: AuditTrail, name: int) -> None:
        barrier.wait()
        for n in range(50):
            trail.append({"event": "call", "call_id": f"w{name}-{n}"})

    threads = [threading.Thread(target=write, args=(t, i)) for i, t in enumerate(trails)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for trail in trails:
        trail.close()
    (set_aside,) = rotated_files(path)
    assert set_aside.read_bytes().endswith(b'"call_id":"cut-sh')
    after = read(path)
    assert len(after) == 200 and after[0]["torn"] == [len(b'{"event":"call","call_id":"cut-sh')]
    assert all("torn" not in r for r in after[1:])
    outcome = toolwire_audit.verify(trail_files(path))
    assert outcome.ok and outcome.records == 201
    assert [(t.bytes, t.noted_by) for t in outcome.torn] == [(33, 2)]


@pytest.mark.slow
def test_a_line_being_written_is_a_note_for_verify_not_tampering(tmp_path: Path) -> None:
    """What a reader sees of a record being appended (the start of a line) ends the check with a note, exit 0."""
    site = make_site(tmp_path)
    writer = AuditTrail(site.trail)
    writer.append({"event": "call", "call_id": "c1"})
    writer.append({"event": "call", "call_id": "c2"})
    writer.close()
    with site.trail.open("ab") as file:
        file.write(b'{"event":"call","call_id":"c3","hash":')  # the writer's line, so far
    checked = site.toolwire("audit", "verify", "--trail", str(site.trail))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("ok: 2 record(s) (seq 1-2)")
    assert "a write under way when it was read" in checked.stdout


def test_lock_timeout_must_be_a_positive_number(tmp_path: Path) -> None:
    """[plugins.audit] lock_timeout of zero, a word or a boolean stops the start, naming the key."""
    for value in (0, "soon", True, -1.5):
        table = {"path": str(tmp_path / "a.jsonl"), "lock_timeout": value}
        dispatcher = make_dispatcher(config={"plugins": {"audit": table}})
        with pytest.raises(toolwire.ConfigError) as caught:
            dispatcher.add(toolwire_audit.plugin, name="audit")
        dispatcher.close()
        assert "[plugins.audit] lock_timeout" in str(caught.value)


# -- approvals: a trail that cannot be written before the call --------------------------------


@pytest.fixture
def held_lock(tmp_path: Path) -> Iterator[Any]:
    """Holds the trail's lock on demand, as a writer stopped in the middle of an append does."""
    fds: list[int] = []

    class Holder:
        def take(self) -> None:
            fd = os.open(tmp_path / "audit.jsonl.lock", os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            fds.append(fd)

        def let_go(self) -> None:
            while fds:
                os.close(fds.pop())

    holder = Holder()
    yield holder
    holder.let_go()


def test_an_approved_call_refused_for_an_unwritable_trail_stays_approved(
    tmp_path: Path, held_lock: Any, read: Read
) -> None:
    """When the trail cannot be written before an approved call (its lock kept by another process), the call does not run, answers internal_error and stays approved; once the trail is writable the next approve runs it, once."""
    ran: list[str] = []
    pack = toolwire.Toolset("gated")

    @pack.tool(approval=True)
    def delete_record(record: str) -> str:
        """Delete a record."""
        ran.append(record)
        return f"deleted {record}"

    dispatcher = make_dispatcher(
        pack,
        config={
            "approvals": {"store": "memory://"},
            "plugins": {"audit": {"path": str(tmp_path / "audit.jsonl"), "lock_timeout": 0.2}},
        },
    )
    dispatcher.add(toolwire_audit.plugin, name="audit")
    try:
        held = dispatcher.dispatch_sync("delete_record", {"record": "r-1"})
        approval_id = held.approval.id
        held_lock.take()
        refused = dispatcher.approve_sync(approval_id, by="grace")
        assert refused.error is not None and refused.error.kind == "internal_error"
        assert refused.approval.status == "approved" and ran == []
        (waiting,) = dispatcher.approvals_sync()
        assert (waiting.status, waiting.decided_by) == ("approved", "grace")
        held_lock.let_go()
        done = dispatcher.approve_sync(approval_id, by="grace")
        assert done.success and done.output == "deleted r-1" and ran == ["r-1"]
        assert done.approval.status == "executed"
        again = dispatcher.approve_sync(approval_id, by="heidi")
        assert again.output == "deleted r-1" and ran == ["r-1"]
    finally:
        dispatcher.close()
    outcome = toolwire_audit.verify(trail_files(tmp_path / "audit.jsonl"))
    assert outcome.ok and [lost.records for lost in outcome.lost] == [2]
    records = read(*trail_files(tmp_path / "audit.jsonl"))
    ran_records = [r for r in records if r["event"] == "call" and r["outcome"] == "ok"]
    assert [(r["approval_id"], r["decided_by"]) for r in ran_records] == [(approval_id, "grace")]


def test_a_lock_taken_before_a_later_step_failed_is_let_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the lock was taken but looking at the lock file then failed, the append fails and
    the lock is not left held: another process's writer takes it at once, and the next append
    goes through."""
    trail = toolwire_audit.AuditTrail(tmp_path / "audit.jsonl")
    trail.append({"event": "first"})
    real_stat = os.stat

    def refused(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if str(path).endswith(".lock"):
            raise PermissionError(13, "Permission denied")
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", refused)
    with pytest.raises(toolwire_audit.AuditWriteError, match="Permission denied"):
        trail.append({"event": "second"})
    monkeypatch.setattr(os, "stat", real_stat)
    other = os.open(trail.lock_path, os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError if still held
        fcntl.flock(other, fcntl.LOCK_UN)
    finally:
        os.close(other)
    assert trail.append({"event": "third"})["seq"] == 2
    trail.close()
