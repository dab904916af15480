"""What a record holds, when it is written, and what happens when it cannot be."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import resource
import secrets
import signal
import threading
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import structlog
import toolwire
import toolwire_audit
import toolwire_demo
from toolwire.testing import make_dispatcher

MakeDispatcher = Callable[..., toolwire.Dispatcher]
Read = Callable[..., list[dict[str, Any]]]
PluginOf = Callable[[toolwire.Dispatcher], toolwire_audit.AuditPlugin]

KEY = b"7c1e0f3a9b5d2e8c4a6f0b1d3e5c7a9f"


def expected_digest(arguments: Any) -> str:
    """The HMAC-SHA256 of canonical JSON, computed here independently of the plugin."""
    text = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(KEY, text.encode("utf-8"), hashlib.sha256).hexdigest()


def counting_pack(ran: list[str]) -> toolwire.Toolset:
    pack = toolwire.Toolset("counting")

    @pack.tool
    def transfer(amount: int, password: str = "") -> str:
        """Move money."""
        ran.append("transfer")
        return f"moved {amount}"

    @pack.tool
    def opaque() -> object:
        """Returns a value JSON cannot hold."""
        ran.append("opaque")
        return object()

    return pack


def recording_arguments(make: MakeDispatcher) -> toolwire.Dispatcher:
    """The counting pack, its calls' arguments written to the trail with password keys redacted."""
    return make(counting_pack([]), include_arguments=True, config={"logging": {"redact": ["pass"]}})


def test_a_call_record_holds_who_ran_what_with_what_outcome(
    make: MakeDispatcher, trail_path: Path, read: Read, plugin_of: PluginOf
) -> None:
    """A finished call's record names the dispatcher, the tool, its package's version, role, principal, the argument digest and the outcome."""
    dispatcher = make(toolwire_demo.pack)
    arguments = {"location": "Paris", "units": "celsius"}
    result = dispatcher.dispatch_sync(
        "get_weather", json.dumps(arguments), call_id="call_1", role="analyst",
        state={"principal": "alice@example.com"},
    )  # fmt: skip
    assert result.success
    (record,) = read(trail_path)
    assert record == {
        "v": 1,
        "seq": 1,
        "time": record["time"],
        "event": "call",
        "instance": plugin_of(dispatcher).instance,
        "call_id": "call_1",
        "tool": "get_weather",
        "plugin": "demo",
        "distribution": "toolwire-demo",
        "version": version("toolwire-demo"),
        "role": "analyst",
        "principal": "alice@example.com",
        "arguments_hmac": expected_digest(arguments),
        "outcome": "ok",
        "error_kind": None,
        "attempts": 1,
        "duration_us": record["duration_us"],
        "approval_id": None,
        "decided_by": None,
        "prev_hash": toolwire_audit.GENESIS,
        "hash": toolwire_audit.record_hash(record),
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", record["time"])
    assert re.fullmatch(r"[0-9a-f]{32}", record["instance"])
    assert isinstance(record["duration_us"], int) and record["duration_us"] >= 0
    assert "arguments" not in record


def test_calls_that_never_ran_are_recorded_too(
    make: MakeDispatcher, trail_path: Path, read: Read
) -> None:
    """Unknown tools, invalid arguments, denials and rejections each get a record with their error kind."""

    class Gatekeeper:
        @toolwire.hookimpl
        def toolwire_check_permission(
            self, call: toolwire.ToolCall, context: toolwire.CallContext
        ) -> toolwire.Deny | None:
            return toolwire.Deny("not today") if call.name == "search_products" else None

        @toolwire.hookimpl
        def toolwire_before_call(
            self, call: toolwire.ToolCall, context: toolwire.CallContext
        ) -> None:
            if call.name == "search_database":
                raise toolwire.Reject("read-only hours")

    dispatcher = make(toolwire_demo.pack, Gatekeeper())
    dispatcher.dispatch_sync("get_wether", '{"location": "Paris"}')
    dispatcher.dispatch_sync("get_weather", '{"city": "Paris"}')
    dispatcher.dispatch_sync("search_products", {"query": "lamp"})
    dispatcher.dispatch_sync("search_database", {"query": "lamps"})
    records = read(trail_path)
    assert [
        (r["seq"], r["tool"], r["outcome"], r["error_kind"], r["attempts"]) for r in records
    ] == [
        (1, "get_wether", "error", "unknown_tool", 0),
        (2, "get_weather", "error", "invalid_arguments", 0),
        (3, "search_products", "error", "permission_denied", 0),
        (4, "search_database", "error", "rejected", 0),
    ]
    assert records[0]["arguments_hmac"] == expected_digest({"location": "Paris"})
    assert records[0]["distribution"] is None  # no tool: no package to name
    assert toolwire_audit.verify([trail_path]).ok


def test_arguments_are_written_only_when_asked_and_then_redacted(
    make: MakeDispatcher, trail_path: Path, read: Read
) -> None:
    """include_arguments writes the arguments with [logging] redact applied; the digest still covers the real ones."""
    dispatcher = recording_arguments(make)
    assert dispatcher.dispatch_sync("transfer", {"amount": 5, "password": "hunter2"}).success
    (record,) = read(trail_path)
    assert record["arguments"] == {"amount": 5, "password": "[redacted]"}
    assert record["arguments_hmac"] == expected_digest({"amount": 5, "password": "hunter2"})
    assert "hunter2" not in trail_path.read_text()


@pytest.mark.parametrize(
    ("arguments", "digested"),
    [
        ('{"data": {"password": "S5"', b'{"data": {"password": "S5"'),  # a call cut off
        ('[{"password": "S5"}, "S5"]', b'[{"password":"S5"},"S5"]'),  # JSON: canonical
        ('"password=S5"', b'"password=S5"'),
        ('{"password": "S5", "ratio": NaN}', b'{"password": "S5", "ratio": NaN}'),
        (b'{"password": "S5"', b'{"password": "S5"'),
        (b"\xffpassword=S5", b"\xffpassword=S5"),
        ('{"password": "S5", "n": 1e400}', b'{"password": "S5", "n": 1e400}'),
    ],
    ids=["cut-off", "array", "string", "nan", "cut-off-bytes", "not-utf8", "too-large"],
)
def test_arguments_that_are_not_a_json_object_are_withheld(
    make: MakeDispatcher, trail_path: Path, read: Read, arguments: str | bytes, digested: bytes
) -> None:
    """include_arguments never writes what could not be redacted by key: a placeholder instead; the digest covers what was sent (canonical when it is JSON, else the exact text)."""
    dispatcher = recording_arguments(make)
    result = dispatcher.dispatch_sync("transfer", arguments)
    assert result.error is not None and result.error.kind == "invalid_arguments"
    (record,) = read(trail_path)
    assert record["arguments"] == toolwire_audit.ARGUMENTS_WITHHELD
    assert record["arguments_hmac"] == hmac.new(KEY, digested, hashlib.sha256).hexdigest()
    assert b"S5" not in trail_path.read_bytes()


def test_arguments_a_host_passed_that_json_cannot_hold_are_recorded(
    make: MakeDispatcher, trail_path: Path, read: Read
) -> None:
    """A host's mapping with NaN, a cycle or keys that are not strings is refused by toolwire and still recorded, redacted, with a digest."""
    dispatcher = recording_arguments(make)
    looped: dict[Any, Any] = {"password": "S5", "ratio": float("nan"), 7: "seven"}
    looped["self"] = looped
    result = dispatcher.dispatch_sync("transfer", looped)
    assert result.error is not None and result.error.kind == "invalid_arguments"
    (record,) = read(trail_path)
    assert record["arguments"]["password"] == "[redacted]"
    assert record["arguments"]["ratio"] == "nan" and record["arguments"]["7"] == "seven"
    assert "[nested too deep]" in json.dumps(record["arguments"])
    assert re.fullmatch(r"[0-9a-f]{64}", record["arguments_hmac"])
    assert b"S5" not in trail_path.read_bytes()
    assert toolwire_audit.verify([trail_path]).ok


def test_the_instance_tells_dispatchers_apart(
    make: MakeDispatcher, trail_path: Path, read: Read, plugin_of: PluginOf
) -> None:
    """Two dispatchers on one trail may get one call id (a provider's, repeated); each record's instance says whose call it was."""
    one, two = make(toolwire_demo.pack), make(toolwire_demo.pack)
    one.dispatch_sync("get_weather", {"location": "Rome"}, call_id="call_1")
    two.dispatch_sync("get_weather", {"location": "Oslo"}, call_id="call_1")
    first, second = read(trail_path)
    assert first["call_id"] == second["call_id"]
    assert (first["instance"], second["instance"]) == (
        plugin_of(one).instance,
        plugin_of(two).instance,
    )
    assert first["instance"] != second["instance"]


def test_the_principal_comes_from_the_configured_state_key(
    make: MakeDispatcher, trail_path: Path, read: Read
) -> None:
    """principal_key names the host state value recorded as the principal."""
    dispatcher = make(toolwire_demo.pack, principal_key="user_id")
    dispatcher.dispatch_sync(
        "get_weather", {"location": "Oslo"}, state={"user_id": "u-42", "principal": "ignored"}
    )
    assert read(trail_path)[0]["principal"] == "u-42"


@contextlib.contextmanager
def disk_full(path: Path) -> Iterator[None]:
    """Writes that would grow ``path`` (or any file) past its size now fail, as on a full disk.

    The file-size limit is the process's: nothing else may write a file meanwhile, so logs go
    to memory (``capture_logs``).
    """
    size = path.stat().st_size if path.exists() else 0
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, limits[1]))
    try:
        with structlog.testing.capture_logs():
            yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)


@pytest.mark.parametrize("required", [True, False])
def test_the_record_is_in_the_file_when_the_result_returns(
    make: MakeDispatcher, trail_path: Path, required: bool
) -> None:
    """By the time dispatch returns, the call's record is complete in the file, with or without required."""
    ran: list[str] = []
    dispatcher = make(counting_pack(ran), required=required)
    for amount in range(3):
        result = dispatcher.dispatch_sync("transfer", {"amount": amount}, call_id=f"t{amount}")
        lines = trail_path.read_bytes().splitlines(keepends=True)
        assert len(lines) == amount + 1 and lines[-1].endswith(b"\n")
        assert json.loads(lines[-1])["call_id"] == result.call_id


def test_required_fails_closed_while_the_disk_is_full_and_goes_on_once_it_is_not(
    make: MakeDispatcher, trail_path: Path, read: Read, plugin_of: PluginOf
) -> None:
    """With required = true and a full disk, a call ends with internal_error and the next is refused unrun; the first call after space comes back runs, and its record counts the calls left unrecorded."""
    ran: list[str] = []
    dispatcher = make(counting_pack(ran), required=True)
    with disk_full(trail_path):
        first = dispatcher.dispatch_sync("transfer", {"amount": 1})
        second = dispatcher.dispatch_sync("transfer", {"amount": 2})
    assert first.error is not None and first.error.kind == "internal_error"
    assert "moved" not in first.output
    assert second.error is not None and second.error.kind == "internal_error"
    assert ran == ["transfer"]  # the first ran, its value withheld; the second was refused
    stats = plugin_of(dispatcher).stats()
    assert (stats["records"], stats["lost"]) == (0, 2) and stats["failures"] >= 3
    third = dispatcher.dispatch_sync("transfer", {"amount": 3})
    assert third.success and ran == ["transfer", "transfer"]
    (record,) = read(trail_path)
    assert (record["seq"], record["outcome"], record["lost"]) == (1, "ok", 2)
    report = toolwire_audit.verify([trail_path])
    assert report.ok and [(lost.seq, lost.records) for lost in report.lost] == [(1, 2)]


def test_not_required_a_lost_record_is_logged_counted_and_noted_in_the_chain(
    make: MakeDispatcher, trail_path: Path, read: Read, plugin_of: PluginOf
) -> None:
    """With required = false, a failed write leaves the result alone, is logged and counted, and the next record says how many were lost, so verify reports it."""
    ran: list[str] = []
    dispatcher = make(counting_pack(ran), required=False)
    assert dispatcher.dispatch_sync("transfer", {"amount": 1}).success
    with disk_full(trail_path), structlog.testing.capture_logs() as logs:
        result = dispatcher.dispatch_sync("transfer", {"amount": 2}, call_id="t2")
    assert result.success and result.output == "moved 2"
    (event,) = [e for e in logs if e["event"] == "toolwire_audit.record_lost"]
    assert event["log_level"] == "error" and event["call_id"] == "t2"
    assert "File too large" in event["error"]
    assert plugin_of(dispatcher).stats()["lost"] == 1
    assert dispatcher.dispatch_sync("transfer", {"amount": 3}).success
    first, third = read(trail_path)
    assert "lost" not in first and (third["seq"], third["lost"]) == (2, 1)
    report = toolwire_audit.verify([trail_path])
    assert report.ok and [(lost.seq, lost.line, lost.records) for lost in report.lost] == [
        (2, 2, 1)
    ]


def test_the_trail_recovers_once_it_can_be_written_again(
    make: MakeDispatcher, trail_path: Path, read: Read
) -> None:
    """A write cut short leaves nothing in the file; once writes succeed the chain goes on intact."""
    ran: list[str] = []
    dispatcher = make(counting_pack(ran), required=True)
    assert dispatcher.dispatch_sync("transfer", {"amount": 1}).success
    size = trail_path.stat().st_size
    # The file may grow by 10 bytes only: the next record is written in part, then refused
    # (EFBIG), as on a disk that fills up mid-write.
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 10, limits[1]))
    try:
        with structlog.testing.capture_logs():  # nothing else may write a file meanwhile
            failed = dispatcher.dispatch_sync("transfer", {"amount": 2})
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    assert failed.error is not None and failed.error.kind == "internal_error"
    assert trail_path.stat().st_size == size  # the part written was cut off again
    assert dispatcher.dispatch_sync("transfer", {"amount": 3}).success
    assert ran == ["transfer", "transfer", "transfer"]
    records = read(trail_path)
    # The failed call's own record was lost too (the disk was full): the next one says so.
    assert [(r["outcome"], r.get("lost")) for r in records] == [("ok", None), ("ok", 1)]
    assert toolwire_audit.verify([trail_path]).ok


def test_another_writer_of_the_file_continues_one_chain(
    make: MakeDispatcher, trail_path: Path, read: Read
) -> None:
    """A second writer of the file (as another process has) and a dispatcher append in turns; each record seals the one before it, whoever wrote that."""
    other = toolwire_audit.AuditTrail(trail_path)
    other.append({"event": "call", "call_id": "elsewhere-1", "tool": "echo", "outcome": "ok"})
    ran: list[str] = []
    dispatcher = make(counting_pack(ran), required=True)
    try:
        assert dispatcher.dispatch_sync("transfer", {"amount": 1}, call_id="here-1").success
        other.append({"event": "call", "call_id": "elsewhere-2", "tool": "echo", "outcome": "ok"})
        assert dispatcher.dispatch_sync("transfer", {"amount": 2}, call_id="here-2").success
    finally:
        other.close()
    records = read(trail_path)
    assert [(r["seq"], r["call_id"]) for r in records] == [
        (1, "elsewhere-1"),
        (2, "here-1"),
        (3, "elsewhere-2"),
        (4, "here-2"),
    ]
    assert [r["prev_hash"] for r in records[1:]] == [r["hash"] for r in records[:-1]]
    assert toolwire_audit.verify([trail_path]).ok


@pytest.mark.parametrize("required", [True, False])
def test_a_lock_kept_past_the_timeout_fails_like_a_full_disk(
    make: MakeDispatcher, trail_path: Path, read: Read, plugin_of: PluginOf, required: bool
) -> None:
    """While another process keeps the trail's lock past lock_timeout, calls are refused (required) or lost and logged, saying why; once it lets go, the chain goes on."""
    import fcntl

    other = toolwire_audit.AuditTrail(trail_path)
    other.append({"event": "call", "call_id": "elsewhere", "tool": "echo", "outcome": "ok"})
    other.close()
    ran: list[str] = []
    dispatcher = make(counting_pack(ran), required=required, lock_timeout=0.2)
    lock = os.open(f"{trail_path}.lock", os.O_RDWR)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a writer stopped in the middle of an append
        with structlog.testing.capture_logs() as logs:
            result = dispatcher.dispatch_sync("transfer", {"amount": 1})
    finally:
        os.close(lock)
    assert result.success is not required
    assert ran == ([] if required else ["transfer"])
    assert "has held the trail's lock" in repr(logs) and "lock_timeout" in repr(logs)
    assert plugin_of(dispatcher).stats()["lost"] == 1
    assert dispatcher.dispatch_sync("transfer", {"amount": 2}).success
    records = read(trail_path)
    assert [(r["seq"], r.get("lost")) for r in records] == [(1, None), (2, 1)]
    assert records[0]["call_id"] == "elsewhere"
    assert toolwire_audit.verify([trail_path]).ok


def test_an_outcome_that_changes_after_the_record_is_amended(
    make: MakeDispatcher, trail_path: Path, read: Read
) -> None:
    """In required mode, a value that cannot be sent (output_error) adds a record amending the first."""
    ran: list[str] = []
    dispatcher = make(counting_pack(ran), required=True)
    result = dispatcher.dispatch_sync("opaque", {}, call_id="o1")
    assert result.error is not None and result.error.kind == "output_error"
    first, second = read(trail_path)
    assert (first["call_id"], first["outcome"], first.get("amends")) == ("o1", "ok", None)
    assert (second["call_id"], second["outcome"], second["error_kind"]) == (
        "o1",
        "error",
        "output_error",
    )
    assert second["amends"] == first["seq"]


def test_approval_events_are_chained_records(
    make: MakeDispatcher, trail_path: Path, read: Read, plugin_of: PluginOf
) -> None:
    """record_approval appends approval events to the same chain, with the digest and who decided."""
    dispatcher = make(toolwire_demo.pack)
    plugin = plugin_of(dispatcher)
    plugin.record_approval(
        "requested", approval_id="ap_1", call_id="c9", tool="delete_user",
        arguments={"user_id": 7}, role="admin", principal="bob", reason="destructive",
    )  # fmt: skip
    plugin.record_approval(
        "approved", approval_id="ap_1", call_id="c9", tool="delete_user",
        arguments={"user_id": 7}, decided_by="carol",
    )  # fmt: skip
    with pytest.raises(ValueError, match="unknown approval event"):
        plugin.record_approval("vetoed", approval_id="ap_1", call_id="c9", tool="x")  # type: ignore[arg-type]
    requested, approved = read(trail_path)
    assert requested["event"] == "approval.requested" and requested["principal"] == "bob"
    assert approved["event"] == "approval.approved" and approved["decided_by"] == "carol"
    assert approved["arguments_hmac"] == expected_digest({"user_id": 7})
    assert approved["prev_hash"] == requested["hash"]
    assert toolwire_audit.verify([trail_path]).ok


def test_a_restart_continues_the_chain(make: MakeDispatcher, trail_path: Path, read: Read) -> None:
    """A new dispatcher on the same file continues its sequence numbers and chain."""
    first = make(toolwire_demo.pack)
    first.dispatch_sync("get_weather", {"location": "Rome"})
    first.close()
    second = make(toolwire_demo.pack)
    second.dispatch_sync("get_weather", {"location": "Oslo"})
    assert [r["seq"] for r in read(trail_path)] == [1, 2]
    assert toolwire_audit.verify([trail_path]).ok


def test_dispatchers_of_one_process_share_a_trail(
    make: MakeDispatcher, trail_path: Path, read: Read
) -> None:
    """Two dispatchers naming one file write one chain, with one sequence."""
    one, two = make(toolwire_demo.pack), make(toolwire_demo.pack)
    for dispatcher in (one, two, one):
        dispatcher.dispatch_sync("get_weather", {"location": "Rome"})
    assert [r["seq"] for r in read(trail_path)] == [1, 2, 3]
    assert toolwire_audit.verify([trail_path]).ok


@pytest.mark.parametrize(
    ("settings", "environ", "problem"),
    [
        ({"pth": "x.jsonl"}, {}, "unknown key [plugins.audit] pth; did you mean 'path'?"),
        ({"path": None}, {}, "[plugins.audit] path is not set"),
        ({"path": "/no/such/dir/audit.jsonl"}, {}, "the directory /no/such/dir does not exist"),
        ({"fsync": "always"}, {}, "[plugins.audit] fsync: 'always' is not one of record, interval"),
        ({"max_bytes": -1}, {}, "[plugins.audit] max_bytes"),
        ({"required": "yes"}, {}, "[plugins.audit] required: 'yes' is not true or false"),
        ({}, {"TOOLWIRE_AUDIT_KEY": ""}, "the environment variable TOOLWIRE_AUDIT_KEY is not set"),
        ({"hmac_key_env": "MY_KEY"}, {}, "the environment variable MY_KEY is not set"),
        ({}, {"TOOLWIRE_AUDIT_KEY": "short"}, "holds 5 bytes; an HMAC key needs at least 16"),
        ({}, {"TOOLWIRE_AUDIT_KEY": " " * 16}, "holds a key anyone could guess"),
        ({}, {"TOOLWIRE_AUDIT_KEY": "\t \n" * 8}, "holds a key anyone could guess"),
        ({}, {"TOOLWIRE_AUDIT_KEY": "a" * 64}, "holds a key anyone could guess"),
        ({}, {"TOOLWIRE_AUDIT_KEY": "passwordpassword"}, 'make one with `python -c "import secrets; print(secrets.token_hex(32))"`'),
        ({"path": "/dev/null"}, {}, "/dev/null is a character device, not a regular file"),
        ({"path": "/dev/full"}, {}, "/dev/full is a character device, not a regular file"),
        ({"path": "."}, {}, "is a directory, not a regular file"),
    ],
)  # fmt: skip
def test_a_mistake_stops_the_start(
    trail_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    settings: dict[str, Any],
    environ: dict[str, str],
    problem: str,
) -> None:
    """A wrong setting or a missing key stops the start with a ConfigError that says what to do."""
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    table = {"path": str(trail_path), **settings}
    table = {k: v for k, v in table.items() if v is not None}
    dispatcher = make_dispatcher(config={"plugins": {"audit": table}})
    with pytest.raises(toolwire.ConfigError) as caught:
        dispatcher.add(toolwire_audit.plugin, name="audit")
    assert problem in str(caught.value)
    dispatcher.close()


def test_a_fifo_stops_the_start_at_once(trail_path: Path) -> None:
    """A named pipe as the path is refused with a ConfigError instead of blocking the start until a reader comes."""
    os.mkfifo(trail_path)
    dispatcher = make_dispatcher(config={"plugins": {"audit": {"path": str(trail_path)}}})
    outcome: list[BaseException] = []

    def start() -> None:
        try:
            dispatcher.add(toolwire_audit.plugin, name="audit")
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            outcome.append(exc)

    starter = threading.Thread(target=start, daemon=True)
    starter.start()
    starter.join(timeout=60)  # a guard against hanging the suite, not a measurement
    assert not starter.is_alive(), "the start blocked on the FIFO"
    (error,) = outcome
    assert isinstance(error, toolwire.ConfigError)
    assert "is a named pipe (FIFO), not a regular file" in str(error)
    dispatcher.close()


def test_a_good_key_is_accepted(monkeypatch: pytest.MonkeyPatch, trail_path: Path) -> None:
    """Keys made as the messages say (hex or URL-safe random text) are accepted."""
    for key in (secrets.token_hex(32), secrets.token_hex(16), secrets.token_urlsafe(32)):
        monkeypatch.setenv("TOOLWIRE_AUDIT_KEY", key)
        dispatcher = make_dispatcher(config={"plugins": {"audit": {"path": str(trail_path)}}})
        dispatcher.add(toolwire_audit.plugin, name="audit")
        dispatcher.close()


def test_a_file_that_is_not_a_trail_stops_the_start(trail_path: Path) -> None:
    """Pointing path at a file of other content stops the start instead of appending to it."""
    trail_path.write_text("just some notes\n")
    dispatcher = make_dispatcher(config={"plugins": {"audit": {"path": str(trail_path)}}})
    with pytest.raises(toolwire.ConfigError, match="does not hold audit records"):
        dispatcher.add(toolwire_audit.plugin, name="audit")
    dispatcher.close()
    assert trail_path.read_text() == "just some notes\n"


def test_approval_events_of_real_approvals_reach_the_trail(
    make: MakeDispatcher, trail_path: Path, read: Read
) -> None:
    """A gated call writes approval.requested; approving it writes approval.approved beside the
    record of the call it runs, rejecting another writes approval.rejected; the chain verifies."""
    pack = toolwire.Toolset("gated")

    @pack.tool(approval=True)
    def wipe(disk: str) -> str:
        """Wipe a disk.

        Args:
            disk: Which one.
        """
        return f"wiped {disk}"

    dispatcher = make(pack, config={"approvals": {"store": "memory://"}})
    first = dispatcher.dispatch_sync("wipe", {"disk": "a"}, call_id="w1")
    second = dispatcher.dispatch_sync("wipe", {"disk": "b"}, call_id="w2")
    assert first.approval is not None and second.approval is not None
    assert dispatcher.approve_sync(first.approval.id, by="carol").success
    dispatcher.reject_sync(second.approval.id, by="dave", message="not that one")
    events = [(r.get("event", "call"), r["call_id"]) for r in read(trail_path)]
    assert ("approval.requested", "w1") in events and ("approval.requested", "w2") in events
    assert ("approval.approved", "w1") in events and ("approval.rejected", "w2") in events
    decided = {
        r["event"]: r for r in read(trail_path) if r.get("event", "").startswith("approval.")
    }
    assert decided["approval.approved"]["decided_by"] == "carol"
    assert decided["approval.rejected"]["decided_by"] == "dave"
    assert toolwire_audit.verify([trail_path]).ok


def test_approval_events_carry_the_calls_arguments_hmac_and_mask_secrets_in_reasons(
    make: MakeDispatcher, trail_path: Path, read: Read
) -> None:
    """An approval event's arguments_hmac is that of the call's arguments (as its call record's
    is), a rejection message quoting a secret argument is written masked, and the refused
    call's record names the principal who made it."""
    pack = toolwire.Toolset("gated")

    @pack.tool(approval=True)
    def wipe(disk: str, token: str) -> str:
        """Wipe a disk.

        Args:
            disk: Which one.
            token: The disk's unlock token.
        """
        return f"wiped {disk}"

    dispatcher = make(pack, config={"approvals": {"store": "memory://"}})
    arguments = {"disk": "a", "token": "S3CRET-TOKEN-1"}
    held = dispatcher.dispatch_sync("wipe", arguments, call_id="w1", state={"principal": "ada"})
    assert held.approval is not None
    dispatcher.reject_sync(held.approval.id, by="dave", message="S3CRET-TOKEN-1 is a bad token")
    text = trail_path.read_text()
    assert "S3CRET-TOKEN-1" not in text
    records = read(trail_path)
    events = {r["event"]: r for r in records if r.get("event", "").startswith("approval.")}
    calls = [r for r in records if r.get("event") == "call"]
    expected = calls[0]["arguments_hmac"]
    assert events["approval.requested"]["arguments_hmac"] == expected
    assert events["approval.rejected"]["arguments_hmac"] == expected
    assert "[redacted] is a bad token" in events["approval.rejected"]["reason"]
    assert calls[-1]["error_kind"] == "approval_denied" and calls[-1]["principal"] == "ada"
    assert toolwire_audit.verify([trail_path]).ok
