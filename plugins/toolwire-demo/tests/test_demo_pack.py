"""The demo pack, tested the way a pack author tests theirs."""

from __future__ import annotations

import json

import pytest
import toolwire
import toolwire_demo


@pytest.fixture
def dispatcher() -> toolwire.Dispatcher:
    return toolwire.Dispatcher().add(toolwire_demo.pack, name="demo")


def test_weather_is_deterministic(dispatcher: toolwire.Dispatcher) -> None:
    """The same location gives the same weather, in the units asked for."""
    first = dispatcher.dispatch_sync("get_weather", '{"location": "Paris"}')
    again = dispatcher.dispatch_sync("get_weather", {"location": "Paris"})
    assert first.success and first.output == again.output
    fahrenheit = dispatcher.dispatch_sync(
        "get_weather", {"location": "Paris", "units": "fahrenheit"}
    )
    assert json.loads(fahrenheit.output)["units"] == "fahrenheit"


def test_products_are_ranked_and_capped(dispatcher: toolwire.Dispatcher) -> None:
    """Matching products come first and max_results caps the list."""
    result = dispatcher.dispatch_sync("search_products", {"query": "rain", "max_results": 2})
    products = json.loads(result.output)
    assert [p["name"] for p in products] == ["rain jacket", "city map"]


async def test_database_search_is_async(dispatcher: toolwire.Dispatcher) -> None:
    """The async tool is awaited and honours its limit."""
    result = await dispatcher.dispatch("search_database", {"query": "x", "limit": 2})
    assert json.loads(result.output)["total"] == 2


def test_delete_user_needs_admin(dispatcher: toolwire.Dispatcher) -> None:
    """Only the admin role may delete users; the context is injected, not sent."""
    denied = dispatcher.dispatch_sync("delete_user", {"user_id": 7}, role="user")
    assert denied.error is not None and denied.error.kind == "permission_denied"
    allowed = dispatcher.dispatch_sync("delete_user", {"user_id": 7}, role="admin")
    assert json.loads(allowed.output) == {"deleted": 7, "by": "admin"}
    assert "context" not in toolwire_demo.pack["delete_user"].parameters["properties"]
