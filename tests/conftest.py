"""Shared fixtures: dispatchers built fresh for every test, no global state."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import toolwire
from toolwire.testing import closing_all, make_dispatcher

MakeDispatcher = Callable[..., toolwire.Dispatcher]


@pytest.fixture
def make() -> Iterator[MakeDispatcher]:
    """Build dispatchers from objects and a config mapping; all are closed after the test."""
    yield from closing_all(make_dispatcher)

