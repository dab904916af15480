"""toolwire's pytest plugin: fixtures for testing tool packs.

Loaded through the ``pytest11`` entry point. It only defines fixtures, none autouse, so a
project that installs toolwire without using them is not touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ._dispatcher import Dispatcher
    from .testing import ModelStub, RedisServer


@pytest.fixture
def toolwire_dispatcher() -> Iterator[Dispatcher]:
    """A fresh dispatcher with built-in plugins only: add the pack under test to it."""
    from .testing import make_dispatcher

    dispatcher = make_dispatcher()
    yield dispatcher
    dispatcher.close()


@pytest.fixture
def toolwire_model(toolwire_dispatcher: Dispatcher) -> ModelStub:
    """Sends calls to ``toolwire_dispatcher`` as a model would: raw JSON, call ids, responses."""
    from .testing import ModelStub

    return ModelStub(toolwire_dispatcher)


@pytest.fixture
def toolwire_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A real ``redis-server`` of the test's own on a free loopback port (``.url``), stopped
    after the test; skipped, naming the package to install, where there is none."""
    from .testing import running_redis

    with running_redis(tmp_path) as server:
        yield server
