"""The classic tool-calling examples as a toolwire tool pack.

Every answer is computed from its input, so the pack runs offline and its results are
the same every time.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Literal

import toolwire

pack = toolwire.Toolset("demo", description="Weather, products, a database and user admin")

_CATALOGUE = (
    ("umbrella", 12.5),
    ("rain jacket", 89.0),
    ("sun hat", 19.9),
    ("travel mug", 14.0),
    ("hiking boots", 129.0),
    ("city map", 6.5),
    ("power bank", 35.0),
)


def _seed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.lower().encode()).digest()[:4], "big")


@pack.tool(read_only=True, open_world=False)
def get_weather(
    location: str, units: Literal["celsius", "fahrenheit"] = "celsius"
) -> dict[str, object]:
    """Get the current weather for a location.

    Args:
        location: City name, e.g. "Paris".
        units: Temperature units.
    """
    if not location.strip():
        raise toolwire.ToolError("location must not be empty")
    seed = _seed(location)
    celsius = seed % 35 - 5
    temperature = celsius if units == "celsius" else round(celsius * 9 / 5 + 32)
    conditions = ("sunny", "cloudy", "rain", "windy", "snow")[seed % 5]
    return {
        "location": location,
        "temperature": temperature,
        "units": units,
        "conditions": conditions,
    }


@pack.tool
def search_products(query: str, max_results: int = 5) -> list[dict[str, object]]:
    """Search the product catalogue.

    Args:
        query: Words to look for in product names.
        max_results: At most this many products are returned.
    """
    if max_results < 1:
        raise toolwire.ToolError("max_results must be at least 1")
    words = query.lower().split()
    scored = sorted(
        _CATALOGUE,
        key=lambda item: (-sum(w in item[0] for w in words), item[0]),
    )
    return [{"name": name, "price": price} for name, price in scored[:max_results]]


@pack.tool
async def search_database(query: str, limit: int = 10) -> dict[str, object]:
    """Search the records database.

    Args:
        query: Free-text search.
        limit: Most rows to return.
    """
    await asyncio.sleep(0)  # an async tool yields to the loop like a real client would
    rows = [{"id": _seed(f"{query}:{i}") % 10_000, "match": query} for i in range(min(limit, 3))]
    return {"query": query, "rows": rows, "total": len(rows)}


@pack.tool(roles=["admin"], destructive=True, idempotent=True, read_only=False)
def delete_user(user_id: int, context: toolwire.CallContext) -> dict[str, object]:
    """Delete a user account. Only admins may call this.

    Args:
        user_id: The id of the user to delete.
    """
    return {"deleted": user_id, "by": context.role}
