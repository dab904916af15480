"""toolwire's pytest plugin: fixtures for testing tool packs.

Loaded through the ``pytest11`` entry point. It only defines fixtures, none autouse, so a
project that installs toolwire without using them is not touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ._dispatcher import Dispatcher
    from .testing import ModelStub


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
