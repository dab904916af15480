"""The plugin toolwire loads: reads the settings, registers the middleware."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import toolwire

from ._middleware import RateLimit
from ._settings import Settings, parse_limit


class RateLimitPlugin:
    """Registers a ``RateLimit`` middleware configured from ``[plugins.ratelimit]``.

    The entry point names this class, so toolwire makes one instance per dispatcher: each
    dispatcher counts in a storage of its own (or shares one through Redis).
    """

    def __init__(self) -> None:
        self.settings = Settings()

    @toolwire.hookimpl
    def toolwire_configure(self, config: toolwire.Config) -> None:
        self.settings = Settings.from_config(config)

    @toolwire.hookimpl
    def toolwire_register_tool_options(
        self, register: Callable[[str, Callable[[Any], Any]], None]
    ) -> None:
        register("rate_limit", _checked_limit)

    @toolwire.hookimpl
    def toolwire_register_middleware(self, register: Callable[[Any], None]) -> None:
        register(RateLimit(self.settings))


def _checked_limit(value: Any) -> str:
    """A tool's ``rate_limit``, kept as written once it parses to exactly one usable limit."""
    parse_limit(value)
    return str(value)
