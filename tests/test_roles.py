"""Roles: what an unknown role gets, and that it is said once."""

from __future__ import annotations

import logging

import pytest
import toolwire

from .conftest import MakeDispatcher


def _pack() -> toolwire.Toolset:
    pack = toolwire.Toolset("roles-pack")

    @pack.tool(roles=["admin"])
    def delete_user(user: str) -> str:
        """Delete a user."""
        return f"deleted {user}"

    @pack.tool
    def ping() -> str:
        """Ping."""
        return "pong"

    return pack


async def test_an_unknown_role_is_logged_once_and_calls_only_open_tools(
    make: MakeDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    """A role no tool names is logged once per dispatcher; it reaches only tools without roles."""
    dispatcher = make(_pack())
    with caplog.at_level(logging.WARNING, logger="toolwire"):
        assert (await dispatcher.dispatch("ping", {}, role="admn")).success
        denied = await dispatcher.dispatch("delete_user", {"user": "x"}, role="admn")
        assert [t.name for t in dispatcher.tools("admn")] == ["ping"]
        assert (await dispatcher.dispatch("ping", {}, role="admin")).success
    assert denied.error is not None and denied.error.kind == "permission_denied"
    unknown = [r for r in caplog.records if "toolwire.unknown_role" in r.getMessage()]
    assert len(unknown) == 1
    assert "admn" in unknown[0].getMessage() and "admin" in unknown[0].getMessage()


async def test_unknown_roles_logged_are_bounded(
    make: MakeDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    """Roles taken from tokens cannot flood the log: at most 32 distinct ones are logged."""
    dispatcher = make(_pack())
    with caplog.at_level(logging.WARNING, logger="toolwire"):
        for i in range(100):
            await dispatcher.dispatch("ping", {}, role=f"r{i}")
    unknown = [r for r in caplog.records if "toolwire.unknown_role" in r.getMessage()]
    assert len(unknown) == 32


async def test_no_role_is_never_unknown(
    make: MakeDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    """A call without a role logs nothing about roles."""
    dispatcher = make(_pack())
    with caplog.at_level(logging.DEBUG, logger="toolwire"):
        await dispatcher.dispatch("ping", {})
    assert not [r for r in caplog.records if "unknown_role" in r.getMessage()]


@pytest.mark.parametrize(
    "role", [1, ("admin",), ["admin"], b"admin", frozenset({"admin"})], ids=repr
)
async def test_a_role_that_is_no_text_is_an_unknown_role_everywhere(
    make: MakeDispatcher, caplog: pytest.LogCaptureFixture, role: object
) -> None:
    """A host that passes a role that is not text (its bug) gets what an unknown role gets,
    from every entry point alike: the tools without roles, a denial for the others, and one
    warning naming the role's type; never an internal error."""
    dispatcher = make(_pack())
    with caplog.at_level(logging.WARNING, logger="toolwire"):
        assert [t.name for t in dispatcher.tools(role)] == ["ping"]  # type: ignore[arg-type]
        assert dispatcher.find_tool("delete_user", role) is None  # type: ignore[arg-type]
        defined = dispatcher.tool_definitions("openai-responses", role=role)  # type: ignore[arg-type]
        assert [d["name"] for d in defined] == ["ping"]
        assert (await dispatcher.dispatch("ping", {}, role=role)).success  # type: ignore[arg-type]
        denied = await dispatcher.dispatch("delete_user", {"user": "x"}, role=role)  # type: ignore[arg-type]
    assert denied.error is not None and denied.error.kind == "permission_denied"
    unknown = [r for r in caplog.records if "toolwire.unknown_role" in r.getMessage()]
    assert len(unknown) == 1 and "not text" in unknown[0].getMessage()
