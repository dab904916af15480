"""A pack with one tool toolwire defers and one it does not, for the adapters' defer_loading tests."""

from __future__ import annotations

import toolwire

pack = toolwire.Toolset("many")


@pack.tool(defer_loading=True)
def rarely(x: int) -> int:
    """Rarely needed."""
    return x


@pack.tool
def often(x: int) -> int:
    """Often needed."""
    return x
