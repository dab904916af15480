"""Shared fixtures: dispatchers built fresh for every test, no global state."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import structlog
import toolwire
from toolwire.testing import closing_all, make_dispatcher

MakeDispatcher = Callable[..., toolwire.Dispatcher]


@pytest.fixture
def make() -> Iterator[MakeDispatcher]:
    """Build dispatchers from objects and a config mapping; all are closed after the test."""
    yield from closing_all(make_dispatcher)


@pytest.fixture(autouse=True)
def _structlog_as_found() -> Iterator[None]:
    """structlog's global configuration as the test found it: the CLI, run in-process,
    configures it (logs to stderr), which must not reach the tests after it."""
    saved = structlog.get_config() if structlog.is_configured() else None
    yield
    structlog.reset_defaults()
    if saved is not None:
        structlog.configure(**saved)
