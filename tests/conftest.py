"""Shared fixtures: dispatchers built fresh for every test, no global state."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
import structlog
import toolwire
from toolwire.testing import make_dispatcher

MakeDispatcher = Callable[..., toolwire.Dispatcher]


@pytest.fixture
def make() -> Iterator[MakeDispatcher]:
    """Build dispatchers from objects and a config mapping; all are closed after the test."""
    made: list[toolwire.Dispatcher] = []

    def build(*objs: Any, config: Mapping[str, Any] | None = None) -> toolwire.Dispatcher:
        dispatcher = make_dispatcher(*objs, config=config)
        made.append(dispatcher)
        return dispatcher

    yield build
    for dispatcher in made:
        dispatcher.close()


@pytest.fixture(autouse=True)
def _structlog_as_found() -> Iterator[None]:
    """structlog's global configuration as the test found it: the CLI, run in-process,
    configures it (logs to stderr), which must not reach the tests after it."""
    saved = structlog.get_config() if structlog.is_configured() else None
    yield
    structlog.reset_defaults()
    if saved is not None:
        structlog.configure(**saved)
