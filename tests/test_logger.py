"""toolwire's logger follows the host's logging as it is configured now (stdlib logging, or
structlog once the host configures it, each time it configures it again), and whatever that
configuration is, it never fails a call."""

from __future__ import annotations

import asyncio
import io
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
import toolwire


@pytest.fixture
def host_structlog() -> Iterator[None]:
    """structlog as a host configures it; its defaults (unconfigured) again afterwards."""
    yield
    structlog.reset_defaults()


def test_enabled_follows_each_structlog_configuration(host_structlog: None) -> None:
    """Each new structlog filtering level is followed, though the level check is kept."""
    log = toolwire.get_logger("toolwire.test_logger")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    assert [log.enabled(level) for level in (logging.INFO, logging.WARNING)] == [False, True]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    assert log.enabled(logging.DEBUG)


def test_enabled_follows_the_stdlib_level_under_structlogs_stdlib_logger(
    host_structlog: None,
) -> None:
    """Under structlog's stdlib logger, the stdlib logger's level is read at each check."""
    structlog.configure(
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
    )
    log = toolwire.get_logger("toolwire.test_logger")
    stdlib = logging.getLogger("toolwire.test_logger")
    before = stdlib.level
    try:
        stdlib.setLevel(logging.ERROR)
        assert [log.enabled(level) for level in (logging.WARNING, logging.ERROR)] == [False, True]
        stdlib.setLevel(logging.INFO)
        assert [log.enabled(level) for level in (logging.DEBUG, logging.INFO)] == [False, True]
    finally:
        stdlib.setLevel(before)


def test_enabled_reads_stdlib_logging_once_structlog_is_unconfigured_again(
    host_structlog: None,
) -> None:
    """With structlog unconfigured again, the standard library's level decides once more."""
    log = toolwire.get_logger("toolwire.test_logger")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    assert not log.enabled(logging.ERROR)
    structlog.reset_defaults()
    stdlib = logging.getLogger("toolwire.test_logger")
    before = stdlib.level
    try:
        stdlib.setLevel(logging.ERROR)
        assert log.enabled(logging.ERROR)
    finally:
        stdlib.setLevel(before)


@pytest.mark.parametrize("kind", ["stdlib", "print"])
async def test_a_structlog_wrapper_without_a_level_check_never_fails_a_call(
    host_structlog: None, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """structlog's generic ``BoundLogger`` passes any method on to the logger it wraps, which
    may have no ``is_enabled_for``: every call is still answered, and its events still go out
    through the host's processors to the host's logger."""
    printed = io.StringIO()
    factory: Any = (
        structlog.stdlib.LoggerFactory()
        if kind == "stdlib"
        else structlog.PrintLoggerFactory(printed)
    )
    structlog.configure(
        wrapper_class=structlog.BoundLogger,
        logger_factory=factory,
        processors=[structlog.processors.KeyValueRenderer()],
    )
    dispatcher = toolwire.Dispatcher({"plugins": {"autoload": False}}).add(_pack())
    try:
        with caplog.at_level(logging.INFO, logger="toolwire"):
            assert dispatcher.dispatch_sync("ping", {}).output == "pong"
            assert (await dispatcher.dispatch("ping", {})).output == "pong"
            unknown = dispatcher.dispatch_sync("no_such_tool", {})
        assert unknown.error is not None and unknown.error.kind == "unknown_tool"
    finally:
        dispatcher.close()
    out = (
        printed.getvalue() if kind == "print" else "\n".join(r.getMessage() for r in caplog.records)
    )
    assert out.count("toolwire.call") == 3


async def test_structlogs_async_logger_never_fails_a_call(
    host_structlog: None, caplog: pytest.LogCaptureFixture
) -> None:
    """structlog's ``AsyncBoundLogger`` cannot be made where no loop runs and returns what
    must be awaited: calls are answered on every path, and their events reach the standard
    library's logging instead of being lost."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # structlog deprecates the class
        structlog.configure(
            wrapper_class=structlog.stdlib.AsyncBoundLogger,
            logger_factory=structlog.stdlib.LoggerFactory(),
            processors=[structlog.stdlib.render_to_log_kwargs],
        )
        dispatcher = toolwire.Dispatcher({"plugins": {"autoload": False}}).add(_pack())
        try:
            with caplog.at_level(logging.INFO, logger="toolwire"):
                inline = await asyncio.to_thread(dispatcher.dispatch_sync, "ping", {})
                on_loop = await dispatcher.dispatch("ping", {})
        finally:
            dispatcher.close()
    assert inline.output == on_loop.output == "pong"
    assert len([r for r in caplog.records if "toolwire.call" in r.getMessage()]) == 2


def _pack() -> toolwire.Toolset:
    pack = toolwire.Toolset("logged")

    @pack.tool
    def ping() -> str:
        """Answer pong."""
        return "pong"

    return pack


async def test_a_host_processor_raising_a_cancellation_of_its_own_fails_no_call(
    host_structlog: None,
) -> None:
    """A processor of the host's that raises ``CancelledError`` (a queue shut down, say) is
    not the caller's cancellation (nothing awaits while an event is logged): every call is
    still answered, one result each."""

    def refuses(logger: Any, method: str, event: Any) -> Any:
        raise asyncio.CancelledError

    structlog.configure(
        processors=[refuses, structlog.processors.KeyValueRenderer()],
        logger_factory=structlog.PrintLoggerFactory(io.StringIO()),
    )
    dispatcher = toolwire.Dispatcher({"plugins": {"autoload": False}}).add(_pack())
    try:
        batch = await dispatcher.dispatch_many([{"name": "ping"}, {"name": "ping"}])
        inline = await asyncio.to_thread(dispatcher.dispatch_sync, "ping", {})
    finally:
        dispatcher.close()
    assert [r.output for r in (*batch, inline)] == ["pong", "pong", "pong"]
