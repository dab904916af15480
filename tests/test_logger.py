"""``toolwire.get_logger(...).enabled(level)`` answers as the host's logging is configured now:
stdlib logging, or structlog once the host configures it, each time it configures it again."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog
import toolwire


@pytest.fixture
def host_structlog() -> Iterator[None]:
    """structlog as a host configures it; its defaults (unconfigured) again afterwards."""
    yield
    structlog.reset_defaults()


def test_enabled_follows_each_structlog_configuration(host_structlog: None) -> None:
    log = toolwire.get_logger("toolwire.test_logger")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    assert [log.enabled(level) for level in (logging.INFO, logging.WARNING)] == [False, True]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    assert log.enabled(logging.DEBUG)


def test_enabled_follows_the_stdlib_level_under_structlogs_stdlib_logger(
    host_structlog: None,
) -> None:
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
