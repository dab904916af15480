"""What a span says about a call is redacted exactly as the log is, and always encodable."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import structlog
import toolwire
from opentelemetry.sdk.trace import ReadableSpan

if TYPE_CHECKING:
    from conftest import Telemetry

MakeDispatcher = Callable[..., toolwire.Dispatcher]

SECRET = "hunter2-pw"
CAPTURE = {"plugins": {"otel": {"capture_content": True}}}


def login_pack() -> toolwire.Toolset:
    """Tools that quote, raise and return the password they were given."""
    pack = toolwire.Toolset("login")

    @pack.tool
    def refuse(username: str, password: str) -> str:
        """Refuse the login, quoting the password in the message the model reads."""
        raise toolwire.ToolError(f"wrong password {password!r} for {username}")

    @pack.tool
    def crash(username: str, password: str) -> str:
        """Fail unexpectedly, quoting the password in the exception."""
        raise RuntimeError(f"the directory refused {username}:{password}")

    @pack.tool
    def echo(username: str, password: str) -> str:
        """Return a text that repeats the password."""
        return f"logged in {username} with {password}"

    @pack.tool
    def profile(username: str, password: str) -> dict[str, Any]:
        """Return data that holds the password under a secret key and under another."""
        return {"user": username, "password": password, "note": f"pw was {password}"}

    @pack.tool
    def remember(username: str, password: str, note: str = "") -> str:
        """Take a note that may repeat the password."""
        return "ok"

    return pack


class QuotingGuard:
    """A permission hook that denies, quoting the password in the reason."""

    @toolwire.hookimpl
    def toolwire_check_permission(
        self, call: toolwire.ToolCall, context: toolwire.CallContext
    ) -> toolwire.Deny | None:
        if call.name != "remember":
            return None
        arguments: Any = call.arguments
        return toolwire.Deny(f"{arguments['password']} is a password you may not store")


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """The events toolwire logged through structlog during the test."""
    with structlog.testing.capture_logs() as captured:
        yield captured


def every_text(span: ReadableSpan) -> str:
    """Everything a span carries that an exporter writes: attributes, events, status."""
    parts: list[Any] = [span.name, dict(span.attributes or {}), span.status.description]
    parts += [(event.name, dict(event.attributes or {})) for event in span.events]
    return json.dumps(parts, ensure_ascii=False, default=str)


def the_event(logs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [entry for entry in logs if entry["event"] == name]
    return found


def test_a_tool_error_quoting_a_secret_reads_in_the_status_as_in_the_log(
    make: MakeDispatcher, telemetry: Telemetry, logs: list[dict[str, Any]]
) -> None:
    """The status description of a failed call is the call log's error text, secrets masked."""
    dispatcher = make(login_pack(), config=CAPTURE)
    result = dispatcher.dispatch_sync("refuse", {"username": "ann", "password": SECRET})
    assert result.error is not None and SECRET in result.error.message  # the model's own text
    (span,) = telemetry.tool_spans()
    logged = the_event(logs, "toolwire.call")["error"]
    assert span.status.description == logged == "wrong password '[redacted]' for ann"
    assert SECRET not in every_text(span)


def test_an_exception_a_tool_raised_is_recorded_masked_as_the_log_renders_it(
    make: MakeDispatcher, telemetry: Telemetry, logs: list[dict[str, Any]]
) -> None:
    """With capture_content the tool's exception is an `exception` event whose message and
    stack trace are the log's, secrets masked."""
    dispatcher = make(login_pack(), config=CAPTURE)
    result = dispatcher.dispatch_sync("crash", {"username": "ann", "password": SECRET})
    assert result.error is not None and result.error.kind == "execution_error"
    (span,) = telemetry.tool_spans()
    (event,) = [e for e in span.events if e.name == "exception"]
    attributes = dict(event.attributes or {})
    assert attributes["exception.type"] == "RuntimeError"
    assert attributes["exception.message"] == "the directory refused ann:[redacted]"
    logged = the_event(logs, "toolwire.tool_failed")["exception"]
    assert attributes["exception.stacktrace"] == logged
    assert "RuntimeError: the directory refused ann:[redacted]" in logged
    assert SECRET not in every_text(span)


def test_without_capture_content_no_exception_or_message_is_recorded(
    make: MakeDispatcher, telemetry: Telemetry
) -> None:
    """Without capture_content a failed call's span has its error type and no content at all."""
    dispatcher = make(login_pack())
    for name in ("crash", "refuse"):
        dispatcher.dispatch_sync(name, {"username": "ann", "password": SECRET})
    for span in telemetry.tool_spans():
        assert span.status.description is None
        assert [e.name for e in span.events] == []
        assert SECRET not in every_text(span) and "ann" not in every_text(span)


def test_a_denial_reason_quoting_a_secret_is_masked(
    make: MakeDispatcher, telemetry: Telemetry, logs: list[dict[str, Any]]
) -> None:
    """The toolwire.denied event's reason is masked as the log masks it, with or without
    capture_content."""
    for config in ({}, CAPTURE):
        telemetry.exporter.clear()
        logs.clear()
        dispatcher = make(login_pack(), QuotingGuard(), config=config)
        result = dispatcher.dispatch_sync("remember", {"username": "ann", "password": SECRET})
        assert result.error is not None and result.error.kind == "permission_denied"
        (span,) = telemetry.tool_spans()
        (event,) = [e for e in span.events if e.name == "toolwire.denied"]
        reason = dict(event.attributes or {})["toolwire.reason"]
        assert reason == the_event(logs, "toolwire.call")["error"]
        assert reason == "[redacted] is a password you may not store"
        assert SECRET not in every_text(span)


def test_a_result_or_arguments_repeating_a_secret_are_masked(
    make: MakeDispatcher, telemetry: Telemetry
) -> None:
    """A secret value is masked wherever it shows: a text result, a structured result, and
    another argument that repeats it."""
    dispatcher = make(login_pack(), config=CAPTURE)
    sent = {"username": "ann", "password": SECRET}
    assert dispatcher.dispatch_sync("echo", sent).success
    assert dispatcher.dispatch_sync("profile", json.dumps(sent)).success
    noted = {**sent, "note": f"my password is {SECRET}"}
    assert dispatcher.dispatch_sync("remember", noted).success
    text, data, note = telemetry.tool_spans()
    assert text.attributes is not None and data.attributes is not None
    assert text.attributes["gen_ai.tool.call.result"] == "logged in ann with [redacted]"
    assert json.loads(str(data.attributes["gen_ai.tool.call.result"])) == {
        "user": "ann",
        "password": "[redacted]",
        "note": "pw was [redacted]",
    }
    assert note.attributes is not None
    assert json.loads(str(note.attributes["gen_ai.tool.call.arguments"])) == {
        "username": "ann",
        "password": "[redacted]",
        "note": "my password is [redacted]",
    }
    for span in (text, data, note):
        assert SECRET not in every_text(span)


def test_the_redact_list_decides_for_spans_as_for_the_log(
    make: MakeDispatcher, telemetry: Telemetry
) -> None:
    """[logging] redact replaces the default list for spans too: a name left out is shown."""
    config = {**CAPTURE, "logging": {"redact": ["user"]}}
    dispatcher = make(login_pack(), config=config)
    dispatcher.dispatch_sync("refuse", {"username": "ann", "password": SECRET})
    (span,) = telemetry.tool_spans()
    assert span.status.description == f"wrong password {SECRET!r} for [redacted]"


def test_model_text_with_lone_surrogates_is_written_encodable(
    make: MakeDispatcher, telemetry: Telemetry
) -> None:
    """A lone surrogate in a tool name, a call id or the arguments never reaches a span raw:
    every text on the span encodes as UTF-8 (no exporter fails), the escape written instead."""
    dispatcher = make(login_pack(), config=CAPTURE)
    dispatcher.dispatch_sync("ech\ud800o", {})
    dispatcher.dispatch_sync("echo", {"username": "ann", "password": "x"}, call_id="c\udc01")
    refused = dispatcher.dispatch_sync("echo", {"username": "a\ud800", "password": "x"})
    assert refused.error is not None and refused.error.kind == "invalid_arguments"
    unknown, odd_id, invalid = telemetry.tool_spans()
    for span in (unknown, odd_id, invalid):
        every_text(span).encode("utf-8")  # raises on a lone surrogate
    assert unknown.attributes is not None and odd_id.attributes is not None
    assert unknown.attributes["gen_ai.tool.name"] == "ech\\ud800o"
    assert odd_id.attributes["gen_ai.tool.call.id"] == "c\\udc01"
    assert invalid.attributes is not None
    captured = json.loads(str(invalid.attributes["gen_ai.tool.call.arguments"]))
    assert captured["username"] == "a\ud800"  # the JSON escape, read back
    assert invalid.status.description is not None and "username" in invalid.status.description
