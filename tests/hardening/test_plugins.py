"""A plugin that fails while it registers leaves nothing behind (import-time failures: test_discovery)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import toolwire
from toolwire.testing import registered_plugins

from ..conftest import MakeDispatcher


def _tool(name: str) -> toolwire.Tool:
    def function() -> str:
        return name

    return toolwire.tool(name=name, description=f"The {name} tool.")(function)


class HalfRegisters:
    """Registers two tools and a middleware, then fails with ``exc``."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    @toolwire.hookimpl
    def toolwire_register_tools(self, register: Callable[[Any], None]) -> None:
        register(_tool("half_one"))
        register(_tool("half_two"))
        raise self.exc


class HalfMiddleware:
    """Registers a middleware, then fails in the next startup hook."""

    @toolwire.hookimpl
    def toolwire_register_middleware(self, register: Callable[[Any], None]) -> None:
        async def layer(call: Any, context: Any, call_next: Any) -> Any:
            raise AssertionError("a failed plugin's middleware must never run")

        register(layer)

    @toolwire.hookimpl
    def toolwire_register_providers(self, register: Callable[[Any], None]) -> None:
        raise RuntimeError("provider setup failed")

    @toolwire.hookimpl
    def toolwire_check_permission(self, call: Any, context: Any) -> Any:
        return False


def _ping() -> toolwire.Toolset:
    pack = toolwire.Toolset("ping")
    pack.add(_tool("ping"))
    return pack


@pytest.mark.parametrize(
    "exc",
    [RuntimeError("boom"), ImportError("late import"), SyntaxError("bad"), SystemExit(2)],
    ids=["runtime_error", "import_error", "syntax_error", "system_exit"],
)
def test_a_plugin_that_registers_half_its_tools_then_raises_leaves_nothing(
    make: MakeDispatcher, exc: BaseException
) -> None:
    """dispatcher.add() of a plugin failing halfway raises ConfigError; none of its tools stay."""
    dispatcher = make(_ping())
    with pytest.raises(toolwire.ConfigError, match=type(exc).__name__):
        dispatcher.add(HalfRegisters(exc), name="half")
    assert [t.name for t in dispatcher.tools()] == ["ping"]
    assert "half" not in [p.name for p in dispatcher.plugins()]
    assert "half" not in registered_plugins(dispatcher)
    assert dispatcher.dispatch_sync("half_one").error.kind == "unknown_tool"  # type: ignore[union-attr]
    assert dispatcher.dispatch_sync("ping").output == "ping"
    # Nothing half-registered blocks a corrected plugin under the same name and tool names.
    fixed = toolwire.Toolset("fixed")
    fixed.add(_tool("half_one"))
    dispatcher.add(fixed, name="half")
    assert [t.name for t in dispatcher.tools()] == ["half_one", "ping"]


def test_a_plugin_failing_after_registering_middleware_leaves_no_hooks(
    make: MakeDispatcher,
) -> None:
    """A failed plugin's middleware and per-call hooks are gone too: calls run as before."""
    dispatcher = make(_ping())
    with pytest.raises(toolwire.ConfigError, match="provider setup failed"):
        dispatcher.add(HalfMiddleware(), name="half-mw")
    result = dispatcher.dispatch_sync("ping")
    assert result.success and result.output == "ping"
