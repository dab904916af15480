"""What a record holds, when it is written, and what happens when it cannot be."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import resource
import signal
from collections.abc import Callable
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

KEY = b"0123456789abcdef0123456789abcdef"


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


def test_a_call_record_holds_who_ran_what_with_what_outcome(
    make: MakeDispatcher, trail_path: Path, read: Read
) -> None:
    """A finished call's record names the tool, its package's version, role, principal, the argument digest and the outcome."""
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
    ran: list[str] = []
    dispatcher = make(
        counting_pack(ran), include_arguments=True, config={"logging": {"redact": ["pass"]}}
    )
    assert dispatcher.dispatch_sync("transfer", {"amount": 5, "password": "hunter2"}).success
    (record,) = read(trail_path)
    assert record["arguments"] == {"amount": 5, "password": "[redacted]"}
    assert record["arguments_hmac"] == expected_digest({"amount": 5, "password": "hunter2"})
    assert "hunter2" not in trail_path.read_text()


def test_the_principal_comes_from_the_configured_state_key(
    make: MakeDispatcher, trail_path: Path, read: Read
) -> None:
    """principal_key names the host state value recorded as the principal."""
    dispatcher = make(toolwire_demo.pack, principal_key="user_id")
    dispatcher.dispatch_sync(
        "get_weather", {"location": "Oslo"}, state={"user_id": "u-42", "principal": "ignored"}
    )
    assert read(trail_path)[0]["principal"] == "u-42"


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


def test_required_fails_closed_when_the_trail_cannot_be_written(
    make: MakeDispatcher, plugin_of: PluginOf
) -> None:
    """With required = true and a full disk, the call ends with internal_error, and no further call runs."""
    ran: list[str] = []
    dispatcher = make(counting_pack(ran), path="/dev/full", required=True)
    first = dispatcher.dispatch_sync("transfer", {"amount": 1})
    assert first.error is not None and first.error.kind == "internal_error"
    assert "moved" not in first.output
    assert ran == ["transfer"]  # it ran; its value never reached the model
    second = dispatcher.dispatch_sync("transfer", {"amount": 2})
    assert second.error is not None and second.error.kind == "internal_error"
    assert ran == ["transfer"]  # refused before running: the trail is known to be failing
    stats = plugin_of(dispatcher).stats()
    assert stats["records"] == 0 and stats["failures"] >= 2


def test_not_required_a_failed_write_is_logged_and_counted(
    make: MakeDispatcher, plugin_of: PluginOf
) -> None:
    """With required = false, a failed write leaves the result alone, is logged as an error and counted."""
    ran: list[str] = []
    dispatcher = make(counting_pack(ran), path="/dev/full", required=False)
    with structlog.testing.capture_logs() as logs:
        result = dispatcher.dispatch_sync("transfer", {"amount": 1}, call_id="t1")
    assert result.success and result.output == "moved 1"
    (event,) = [e for e in logs if e["event"] == "toolwire_audit.record_lost"]
    assert event["log_level"] == "error" and event["call_id"] == "t1"
    assert "No space left on device" in event["error"]
    assert plugin_of(dispatcher).stats()["lost"] == 1


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
    refused_while_failing = dispatcher.dispatch_sync("transfer", {"amount": 3})
    assert refused_while_failing.error is not None  # its own record is what clears the failure
    assert dispatcher.dispatch_sync("transfer", {"amount": 4}).success
    assert ran == ["transfer", "transfer", "transfer"]
    records = read(trail_path)
    assert [r["outcome"] for r in records] == ["ok", "error", "ok"]
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


def test_a_file_that_is_not_a_trail_stops_the_start(trail_path: Path) -> None:
    """Pointing path at a file of other content stops the start instead of appending to it."""
    trail_path.write_text("just some notes\n")
    dispatcher = make_dispatcher(config={"plugins": {"audit": {"path": str(trail_path)}}})
    with pytest.raises(toolwire.ConfigError, match="does not hold audit records"):
        dispatcher.add(toolwire_audit.plugin, name="audit")
    dispatcher.close()
    assert trail_path.read_text() == "just some notes\n"
