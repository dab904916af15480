"""A pack with a tool a program may call and a deferred one, for the observers' caller tests."""

from __future__ import annotations

import toolwire

pack = toolwire.Toolset("crm")


@pack.tool(allowed_callers=["direct", "program"])
def get_customer(customer_id: str) -> str:
    """Get one customer record."""
    return "Ada"


@pack.tool(defer_loading=True)
def read_file(path: str) -> str:
    """Read a text file from the local disk."""
    return "text"
