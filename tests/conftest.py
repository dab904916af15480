"""Shared fixtures: dispatchers built fresh for every test, no global state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import toolwire
from toolwire.testing import build_response, closing_all, make_dispatcher

MakeDispatcher = Callable[..., toolwire.Dispatcher]


@pytest.fixture
def make() -> Iterator[MakeDispatcher]:
    """Build dispatchers from objects and a config mapping; all are closed after the test."""
    yield from closing_all(make_dispatcher)


def openai_search_round(tool: str, arguments: str, query: str) -> dict[str, Any]:
    """An OpenAI Responses answer with a client ``tool_search_call`` for ``query``, then a call
    of ``tool`` (in the ``files`` namespace) with these JSON arguments."""
    data = build_response("openai-responses", [(tool, arguments)])
    data["output"][0]["namespace"] = "files"
    search = {"type": "tool_search_call", "id": "ts_1", "call_id": "call_ts"}
    search |= {"execution": "client", "status": "completed", "arguments": {"query": query}}
    data["output"].insert(0, search)
    return data


def shout_pack() -> toolwire.Toolset:
    """A pack named ``extra`` with one tool, ``shout``: what a plugin contributes in the tests
    of contributed plugins."""
    extra = toolwire.Toolset("extra")

    @extra.tool
    def shout(text: str) -> str:
        """Shout."""
        return text.upper()

    return extra


def recording_layer(label: str, seen: list[str], *, wrap: bool = False) -> Any:
    """A middleware that notes ``label>`` in ``seen`` on the way in and ``<label`` on the way
    out; with ``wrap`` it answers ``label(value)``, else the value it was given."""

    async def middleware(call: Any, context: Any, call_next: Any) -> Any:
        seen.append(f"{label}>")
        value = await call_next(call, context)
        seen.append(f"<{label}")
        return f"{label}({value})" if wrap else value

    return middleware
