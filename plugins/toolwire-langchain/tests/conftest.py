"""Fixtures: dispatchers with the weather pack and a recorder of finished calls."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import toolwire
from toolwire.testing import closing_all, make_dispatcher

# The helpers module sits beside this file; test modules import it by name.
sys.path.insert(0, str(Path(__file__).parent))

from langchain_helpers import Finished, MakeDispatcher, Ran, Run, weather_pack

#: Approvals kept by the dispatcher itself: nothing is written outside the test.
MEMORY_APPROVALS: dict[str, Any] = {"approvals": {"store": "memory://"}}


@pytest.fixture
def make() -> Iterator[MakeDispatcher]:
    """Dispatchers of the test's own (approvals in memory unless the config says), closed after it."""

    def build(*objs: Any, config: Mapping[str, Any] | None = None) -> toolwire.Dispatcher:
        return make_dispatcher(*objs, config={**MEMORY_APPROVALS, **(config or {})})

    yield from closing_all(build)


@pytest.fixture
def ran() -> Ran:
    return Ran()


@pytest.fixture
def finished() -> Finished:
    return Finished()


@pytest.fixture
def dispatcher(make: MakeDispatcher, ran: Ran, finished: Finished) -> toolwire.Dispatcher:
    """The weather pack, with every finished call recorded."""
    return make(weather_pack(ran), finished)


@pytest.fixture(params=["invoke", "ainvoke"])
def run(request: pytest.FixtureRequest) -> Run:
    """Runs an agent or graph with ``invoke`` (the sync tools) or ``ainvoke`` (the async ones)."""

    def go(agent: Any, *args: Any, **kwargs: Any) -> Any:
        if request.param == "invoke":
            return agent.invoke(*args, **kwargs)
        return asyncio.run(agent.ainvoke(*args, **kwargs))

    return go
