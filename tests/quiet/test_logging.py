"""Where toolwire's events go, and the one level that decides whether they are built at all."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import structlog
import toolwire
from toolwire._builtins import calllog

from ..conftest import MakeDispatcher

pack = toolwire.Toolset("quiet")


@pack.tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@pack.tool
def crash(reason: str) -> None:
    """Fail unexpectedly."""
    raise RuntimeError(reason)


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the call-log events built: their secrets are gathered only for an event to log."""
    seen: list[str] = []
    real = calllog.secret_values

    def spy(arguments: Any, names: Any) -> tuple[str, ...]:
        seen.append("event")
        return real(arguments, names)

    monkeypatch.setattr(calllog, "secret_values", spy)
    return seen


def toolwire_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "toolwire"]


async def test_events_go_to_the_standard_librarys_toolwire_logger(
    make: MakeDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    """With structlog unconfigured, each call is a record of logger ``toolwire``, fields attached."""
    caplog.set_level(logging.INFO, logger="toolwire")
    await make(pack).dispatch("add", {"a": 1, "b": 2}, call_id="c1", role="user")
    (record,) = toolwire_records(caplog)
    assert record.levelno == logging.INFO
    assert record.getMessage().startswith("toolwire.call tool='add' call_id='c1' role='user'")
    assert (record.event, record.tool, record.outcome, record.attempts) == (
        "toolwire.call",
        "add",
        "ok",
        1,
    )
    assert Path(record.pathname).name == "calllog.py"  # the call site, not the logging module


async def test_an_event_is_not_built_when_the_hosts_logger_drops_it(
    make: MakeDispatcher, caplog: pytest.LogCaptureFixture, built: list[str]
) -> None:
    """At the host's warning level a success is never built; a failure (a warning) is."""
    caplog.set_level(logging.WARNING, logger="toolwire")
    dispatcher = make(pack)
    await dispatcher.dispatch("add", {"a": 1, "b": 2})
    assert built == [] and toolwire_records(caplog) == []
    await dispatcher.dispatch("add", {"a": "one"})
    assert built == ["event"] and len(toolwire_records(caplog)) == 1


async def test_the_config_level_is_a_floor_under_the_hosts(
    make: MakeDispatcher, caplog: pytest.LogCaptureFixture, built: list[str]
) -> None:
    """``[logging] level = "error"`` keeps call events out even when the host logs everything."""
    caplog.set_level(logging.DEBUG, logger="toolwire")
    dispatcher = make(pack, config={"logging": {"level": "error"}})
    await dispatcher.dispatch("add", {"a": 1, "b": 2})
    await dispatcher.dispatch("add", {"a": "one"})
    assert built == []
    assert [r for r in toolwire_records(caplog) if r.event == "toolwire.call"] == []


async def test_a_host_that_configured_structlog_gets_the_events_there(
    make: MakeDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    """Once the host calls ``structlog.configure``, events go through structlog, not ``logging``."""
    caplog.set_level(logging.DEBUG, logger="toolwire")
    captured = structlog.testing.LogCapture()
    structlog.configure(
        processors=[captured], wrapper_class=structlog.make_filtering_bound_logger(logging.INFO)
    )
    await make(pack).dispatch("add", {"a": 1, "b": 2}, call_id="c1")
    assert [(e["event"], e["log_level"], e["call_id"]) for e in captured.entries] == [
        ("toolwire.call", "info", "c1")
    ]
    assert toolwire_records(caplog) == []


async def test_structlogs_own_level_decides_what_is_built(
    make: MakeDispatcher, built: list[str]
) -> None:
    """A structlog host filtering at warning: a success is not built, a failure is logged."""
    captured = structlog.testing.LogCapture()
    structlog.configure(
        processors=[captured], wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING)
    )
    dispatcher = make(pack)
    await dispatcher.dispatch("add", {"a": 1, "b": 2})
    assert built == [] and captured.entries == []
    await dispatcher.dispatch("add", {"a": "one"})
    assert built == ["event"] and [e["log_level"] for e in captured.entries] == ["warning"]


async def test_structlog_over_the_standard_library_uses_the_standard_librarys_level(
    make: MakeDispatcher, caplog: pytest.LogCaptureFixture, built: list[str]
) -> None:
    """structlog configured to forward to ``logging``: the ``toolwire`` logger's level decides."""
    structlog.configure(
        processors=[structlog.stdlib.render_to_log_kwargs],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    caplog.set_level(logging.WARNING, logger="toolwire")
    dispatcher = make(pack)
    await dispatcher.dispatch("add", {"a": 1, "b": 2})
    assert built == []
    await dispatcher.dispatch("crash", {"reason": "boom"})
    assert {r.getMessage() for r in toolwire_records(caplog)} >= {"toolwire.tool_failed"}


async def test_nothing_reaches_stdout_or_stderr_with_logging_left_alone(
    make: MakeDispatcher, capfd: pytest.CaptureFixture[str]
) -> None:
    """Calls, failures and definition problems in-process write nothing to the process's stdout."""
    dispatcher = make(pack)
    await dispatcher.dispatch("add", {"a": 1, "b": 2})
    await dispatcher.dispatch("crash", {"reason": "boom"})
    await dispatcher.dispatch("nope", {})
    for provider in dispatcher.providers():
        dispatcher.tool_definitions(provider)
    assert capfd.readouterr().out == ""


async def test_a_newline_in_a_value_cannot_forge_a_log_line(
    make: MakeDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    """Values are shown as ``repr``: a tool name with a newline stays on the event's one line."""
    caplog.set_level(logging.INFO, logger="toolwire")
    await make(pack).dispatch("add\ntoolwire.call tool='forged'", {})
    (record,) = toolwire_records(caplog)
    assert "\n" not in record.getMessage()


async def test_a_failure_without_secrets_hands_the_exception_to_the_host(
    make: MakeDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    """With nothing to mask, the record carries the exception itself, for the host's handlers."""
    caplog.set_level(logging.ERROR, logger="toolwire")
    await make(pack).dispatch("crash", {"reason": "boom"})
    (record,) = toolwire_records(caplog)
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert "RuntimeError: boom" in caplog.text
    assert Path(record.pathname).parent.name == "toolwire"
    assert Path(record.pathname).name != "_logging.py"
