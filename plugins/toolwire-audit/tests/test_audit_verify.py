"""Verifying a trail: tampering is named, crashes are not tampering, rotation keeps the chain."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import toolwire
import toolwire_audit
from toolwire.testing import run_toolwire
from toolwire_audit import AuditTrail, TrailOptions, rotated_files, trail_files, verify

MakeDispatcher = Callable[..., toolwire.Dispatcher]
Read = Callable[..., list[dict[str, Any]]]


def echo_pack() -> toolwire.Toolset:
    pack = toolwire.Toolset("echo")

    @pack.tool
    def echo(text: str) -> str:
        """Say it back."""
        return text

    @pack.tool
    async def echo_async(text: str) -> str:
        """Say it back, from an event loop."""
        return text

    return pack


def write_trail(path: Path, count: int, options: TrailOptions | None = None) -> AuditTrail:
    """A closed trail of ``count`` call-like records."""
    trail = AuditTrail(path, options)
    for n in range(count):
        trail.append({"event": "call", "call_id": f"c{n + 1}", "tool": "echo", "outcome": "ok"})
    trail.close()
    return trail


@pytest.mark.slow
def test_ten_thousand_calls_from_eight_threads_verify(
    make: MakeDispatcher, trail_path: Path, read: Read
) -> None:
    """10,000 calls from 8 threads (half on event loops of their own) make 10,000 records, numbered 1..10,000 in file order, that verify."""
    dispatcher = make(echo_pack(), config={"logging": {"level": "error"}})
    failures: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            for n in range(1250):
                tool = "echo_async" if n % 2 else "echo"  # async: dispatch_sync runs a loop
                result = dispatcher.dispatch_sync(tool, {"text": f"{index}-{n}"})
                assert result.success
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread, which fails on it
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    records = read(trail_path)
    assert [r["seq"] for r in records] == list(range(1, 10_001))
    assert len({r["call_id"] for r in records}) == 10_000
    outcome = verify([trail_path])
    assert outcome.ok and outcome.records == 10_000 and outcome.head == records[-1]["hash"]


def flip_a_byte(lines: list[bytes]) -> list[bytes]:
    line = bytearray(lines[4])
    at = line.index(b'"tool":"echo"') + len('"tool":"e')
    line[at] ^= 0x01
    return [*lines[:4], bytes(line), *lines[5:]]


def delete_a_line(lines: list[bytes]) -> list[bytes]:
    return [*lines[:4], *lines[5:]]


def swap_two_lines(lines: list[bytes]) -> list[bytes]:
    return [*lines[:4], lines[5], lines[4], *lines[6:]]


def swap_the_last_two(lines: list[bytes]) -> list[bytes]:
    return [*lines[:8], lines[9], lines[8]]


def forge(record: dict[str, Any], **changes: Any) -> bytes:
    """A record changed and sealed again, as whoever holds the file can do."""
    forged = {**record, **changes}
    forged["hash"] = toolwire_audit.record_hash(forged)
    return json.dumps(forged, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def slip_in_a_far_seq(lines: list[bytes]) -> list[bytes]:
    """A forged record that seals record 4 correctly but carries seq 1000."""
    return [*lines[:4], forge(json.loads(lines[3]), seq=1000, prev_hash=json.loads(lines[3])["hash"]), *lines[4:]]  # fmt: skip


def slip_in_a_detached_record(lines: list[bytes]) -> list[bytes]:
    """A forged record that seals nothing in the trail, numbered as the next one."""
    return [*lines[:4], forge(json.loads(lines[4]), call_id="forged", prev_hash="ab" * 32), *lines[4:]]  # fmt: skip


def copy_a_line(lines: list[bytes]) -> list[bytes]:
    return [*lines[:5], lines[2], *lines[5:]]


def rewrite_and_reseal(lines: list[bytes]) -> list[bytes]:
    record = json.loads(lines[4])
    record["outcome"] = "error"
    record["hash"] = toolwire_audit.record_hash(record)
    text = json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    return [*lines[:4], text, *lines[5:]]


@pytest.mark.parametrize(
    ("tamper", "kind", "line", "says", "verified"),
    [
        (flip_a_byte, "changed", 5, "record seq 5 does not match its hash", 4),
        (delete_a_line, "removed", 5, "record(s) seq 5 after 4 are missing", 4),
        (swap_two_lines, "reordered", 5, "record seq 6 comes before seq 5", 4),
        (copy_a_line, "inserted", 6, "a copy of record seq 3", 5),
        (swap_the_last_two, "reordered", 9, "record seq 10 comes before seq 9", 8),
        (slip_in_a_far_seq, "inserted", 5, "record seq 1000 seals the record before it", 4),
        (slip_in_a_detached_record, "inserted", 5, "record seq 5 is not part of the chain", 4),
        # Resealed, record 5 looks whole; record 6, which sealed the original, gives it away,
        # and the forgery is not counted as verified.
        (rewrite_and_reseal, "changed", 5, "record seq 5 was changed", 4),
    ],
    ids=[
        "flip-a-byte",
        "delete-a-line",
        "swap-two-lines",
        "copy-a-line",
        "swap-the-last-two",
        "slip-in-a-far-seq",
        "slip-in-a-detached-record",
        "rewrite-and-reseal",
    ],
)
def test_tampering_is_named_at_the_first_record_it_touches(
    trail_path: Path,
    tamper: Callable[[list[bytes]], list[bytes]],
    kind: str,
    line: int,
    says: str,
    verified: int,
) -> None:
    """Each kind of tampering is reported as changed, removed, reordered or inserted, at its line."""
    write_trail(trail_path, 10)
    assert verify([trail_path]).ok
    lines = trail_path.read_bytes().splitlines(keepends=True)
    trail_path.write_bytes(b"".join(tamper(lines)))
    outcome = verify([trail_path])
    assert not outcome.ok and outcome.problem is not None
    assert (outcome.problem.kind, outcome.problem.line) == (kind, line)
    assert says in outcome.problem.message
    assert outcome.records == verified and outcome.last_seq == verified
    assert outcome.head == json.loads(lines[verified - 1])["hash"]  # a genuine record's


@pytest.mark.slow
def test_a_forgery_is_never_counted_as_verified(trail_path: Path) -> None:
    """A record rewritten and resealed (named by the record after it) is left out of the count and the head, so nobody anchors on it."""
    write_trail(trail_path, 12)
    lines = trail_path.read_bytes().splitlines(keepends=True)
    genuine = [json.loads(line) for line in lines]
    forged = forge(genuine[9], outcome="error")
    trail_path.write_bytes(b"".join([*lines[:9], forged, *lines[10:]]))
    outcome = verify([trail_path])
    assert outcome.problem is not None
    assert (outcome.problem.kind, outcome.problem.line) == ("changed", 10)
    assert (outcome.records, outcome.last_seq, outcome.head) == (9, 9, genuine[8]["hash"])
    assert outcome.head != json.loads(forged)["hash"]
    printed = cli("audit", "verify", trail_path)
    assert printed.returncode == 1
    assert (
        f"verified before it: 9 record(s) (seq 1-9); head {genuine[8]['hash']}\n" in printed.stdout
    )
    assert json.loads(forged)["hash"] not in printed.stdout


def test_a_forged_record_slipped_in_is_inserted(trail_path: Path) -> None:
    """A well-formed record sealed to the right predecessor but not in the chain is named as inserted."""
    write_trail(trail_path, 6)
    lines = trail_path.read_bytes().splitlines(keepends=True)
    genuine = json.loads(lines[3])
    forged = {**genuine, "call_id": "forged", "time": "2026-01-01T00:00:00.000000Z"}
    forged["hash"] = toolwire_audit.record_hash(forged)
    text = json.dumps(forged, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    trail_path.write_bytes(b"".join([*lines[:3], text, *lines[3:]]))
    outcome = verify([trail_path])
    assert outcome.problem is not None
    assert (outcome.problem.kind, outcome.problem.line) == ("inserted", 4)
    assert (outcome.records, outcome.head) == (3, json.loads(lines[2])["hash"])


def test_rotation_keeps_the_chain_across_files(tmp_path: Path) -> None:
    """Rotated by size, a trail is several files whose chain verifies in order, and not out of it."""
    path = tmp_path / "audit.jsonl"
    write_trail(path, 40, TrailOptions(max_bytes=2000))
    files = [*rotated_files(path), path]
    assert len(files) > 3
    assert all(f.stat().st_size < 2000 + 400 for f in files)
    outcome = verify(files)
    assert outcome.ok and outcome.records == 40 and (outcome.first_seq, outcome.last_seq) == (1, 40)
    shuffled = verify([files[1], files[0], *files[2:]])
    assert not shuffled.ok
    later_alone = verify(files[1:])
    assert later_alone.problem is not None and later_alone.problem.kind == "removed"
    assert "--after-hash" in later_alone.problem.message
    head_of_first = verify(files[:1]).head
    assert verify(files[1:], after_hash=head_of_first).ok
    head_of_two = verify(files[:2]).head
    wrong = verify(files[2:], after_hash=head_of_first)  # the second file is left out
    assert wrong.problem is not None and wrong.problem.kind == "removed"
    assert (wrong.records, wrong.head) == (0, head_of_first)
    assert verify(files[2:], after_hash=head_of_two).ok


@pytest.mark.slow
def test_bytes_added_to_an_earlier_file_are_tampering(tmp_path: Path, read: Read) -> None:
    """An incomplete line that no record accounts for, in any file but the last, is reported as inserted (exit 1); at the end of the last file it is a crash's, and a note."""
    path = tmp_path / "audit.jsonl"
    write_trail(path, 20, TrailOptions(max_bytes=1500))
    files = trail_files(path)
    assert len(files) >= 3
    with files[1].open("ab") as file:
        file.write(b'{"seq": 99')
    outcome = verify(files)
    assert outcome.problem is not None
    assert (outcome.problem.kind, outcome.problem.file) == ("inserted", str(files[1]))
    assert outcome.records == len(read(files[0], files[1]))
    assert cli("audit", "verify", "--trail", path).returncode == 1
    files[1].write_bytes(files[1].read_bytes()[: -len(b'{"seq": 99')])
    with path.open("ab") as file:
        file.write(b'{"seq": 99')
    at_the_end = verify(files)
    assert at_the_end.ok and [(t.file, t.bytes) for t in at_the_end.torn] == [(str(path), 10)]
    printed = cli("audit", "verify", "--trail", path)
    assert printed.returncode == 0 and "note: " in printed.stdout


def test_a_torn_last_line_is_reported_not_failed_and_the_writer_moves_on(
    tmp_path: Path,
) -> None:
    """An incomplete last line (a crash mid-write) is reported as torn, and a restarted writer goes on in a new file."""
    path = tmp_path / "audit.jsonl"
    write_trail(path, 5)
    whole = path.read_bytes()
    with path.open("ab") as file:
        file.write(whole.splitlines(keepends=True)[-1][:37])
    outcome = verify([path])
    assert outcome.ok and outcome.records == 5
    assert [(t.file, t.bytes) for t in outcome.torn] == [(str(path), 37)]
    write_trail(path, 3)  # a restart: the torn file is set aside, never appended to
    files = [*rotated_files(path), path]
    assert len(files) == 2 and files[0].read_bytes().startswith(whole)
    assert json.loads(path.read_bytes().splitlines()[0])["torn"] == [37]  # the next record notes it
    resumed = verify(files)
    assert resumed.ok and resumed.records == 8
    assert [(t.file, t.bytes, t.noted_by) for t in resumed.torn] == [(str(files[0]), 37, 6)]
    with files[0].open("ab") as file:
        file.write(b"x")  # the noted size no longer matches
    grown = verify(files)
    assert grown.problem is not None and grown.problem.kind == "inserted"


WRITER = """
import sys
from toolwire_audit import AuditTrail, TrailOptions

trail = AuditTrail(sys.argv[1], TrailOptions(fsync="interval", max_bytes=int(sys.argv[2])))
size = int(sys.argv[3])
n = 0
while True:
    n += 1
    trail.append({"event": "call", "call_id": f"c{n}", "tool": "echo", "outcome": "ok",
                  "arguments": {"text": "x" * (size * (1 + n % 3) // 3)}})
"""


def trail_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in [*rotated_files(path), path] if f.exists())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("record_bytes", "max_bytes", "kill_after"),
    [(150_000, 0, 4_000_000), (150_000, 1_000_000, 4_000_000), (8_000_000, 0, 10_000_000)],
    ids=["many-records", "rotating", "large-records"],
)
def test_sigkill_during_writes_leaves_a_trail_that_verifies(
    tmp_path: Path, record_bytes: int, max_bytes: int, kill_after: int
) -> None:
    """A writer killed with SIGKILL mid-stream leaves files whose complete records verify; a new writer continues the chain."""
    path = tmp_path / "audit.jsonl"
    writer = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(WRITER), path, str(max_bytes), str(record_bytes)],
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while trail_bytes(path) < kill_after:  # large records: this lands in the middle of one
            assert writer.poll() is None, writer.stderr.read() if writer.stderr else ""
            assert time.monotonic() < deadline, "the writer wrote too little"
            time.sleep(0.001)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        if writer.stderr is not None:
            writer.stderr.close()
    assert writer.returncode == -signal.SIGKILL
    files = [*rotated_files(path), path]
    killed = verify(files)
    assert killed.ok, killed.problem
    assert killed.records > 0
    complete = sum(len(line) for f in files for line in f.read_bytes().splitlines(keepends=True)
                   if line.endswith(b"\n"))  # fmt: skip
    assert complete + sum(t.bytes for t in killed.torn) == trail_bytes(path)
    write_trail(path, 2)
    files = [*rotated_files(path), path]
    resumed = verify(files)
    assert resumed.ok, resumed.problem
    assert resumed.records == killed.records + 2
    assert len(resumed.torn) == len(killed.torn)  # set aside as it was, never appended to


def cli(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    return run_toolwire(*args, timeout=60)


@pytest.mark.slow
def test_the_audit_verify_command(tmp_path: Path) -> None:
    """`toolwire audit verify` exits 0 on an intact trail, 1 naming the first tampered record, 2 on a usage error."""
    path = tmp_path / "audit.jsonl"
    missing = cli("audit", "verify", "--trail", path)
    assert missing.returncode == 2 and "no trail at" in missing.stderr
    write_trail(path, 4, TrailOptions(max_bytes=1200))
    assert rotated_files(path) == []  # before the first rotation: --trail needs no glob
    early = cli("audit", "verify", "--trail", path)
    assert early.returncode == 0 and early.stdout.startswith(
        "ok: 4 record(s) (seq 1-4) in 1 file(s)"
    )
    write_trail(path, 8, TrailOptions(max_bytes=1200))
    files = [*rotated_files(path), path]
    assert len(files) > 1
    intact = cli("audit", "verify", *files)
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.startswith(f"ok: 12 record(s) (seq 1-12) in {len(files)} file(s); head ")
    assert cli("audit", "verify", "--trail", path).stdout == intact.stdout
    report = cli("audit", "verify", "--json", "--trail", path)
    assert json.loads(report.stdout)["records"] == 12
    assert cli("audit", "verify").returncode == 2
    assert cli("audit", "verify", "--trail", path, path).returncode == 2

    lines = files[0].read_bytes().splitlines(keepends=True)
    files[0].write_bytes(b"".join([*lines[:1], *lines[2:]]))
    tampered = cli("audit", "verify", *files)
    assert tampered.returncode == 1
    assert tampered.stdout.startswith(f"{files[0]}:2: removed: record(s) seq 2 after 1 are missing")
    assert cli("audit", "verify", tmp_path / "missing.jsonl").returncode == 2
    assert cli("audit", "verify", "--after-hash", "nope", path).returncode == 2
    assert cli("audit", "--help").returncode == 0


@pytest.mark.slow
def test_audit_verify_reads_the_trail_the_config_names(tmp_path: Path) -> None:
    """Without --trail or FILEs, `toolwire --config FILE audit verify` checks the trail that
    file's [plugins.audit] path names, resolved against the file's folder (from anywhere)."""
    folder = tmp_path / "deploy"
    folder.mkdir()
    write_trail(folder / "audit.jsonl", 3)
    config = folder / "toolwire.toml"
    config.write_text(
        '[plugins]\nautoload = false\nenable = ["audit"]\n[plugins.audit]\npath = "audit.jsonl"\n'
    )
    checked = cli("--config", config, "audit", "verify")
    assert checked.returncode == 0, checked.stderr
    assert "3 record(s)" in checked.stdout
    (folder / "empty.toml").write_text('[plugins]\nautoload = false\nenable = ["audit"]\n')
    unnamed = cli("--config", folder / "empty.toml", "audit", "verify")
    assert unnamed.returncode == 2 and "the config names no trail" in unnamed.stderr
