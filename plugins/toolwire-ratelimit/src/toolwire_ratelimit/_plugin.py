"""The plugin object toolwire loads: reads the settings, registers one middleware per dispatcher."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import toolwire

from ._middleware import RateLimit
from ._settings import Settings


class RateLimitPlugin:
    """Registers a ``RateLimit`` middleware configured from ``[plugins.ratelimit]``.

    The entry point resolves to one shared instance, and several dispatchers may load it, so
    it keeps no counts itself: each dispatcher's ``toolwire_register_middleware`` gets a fresh
    ``RateLimit`` (its own storage) built from the settings that dispatcher's
    ``toolwire_configure`` just read. toolwire calls the two back to back for one plugin; the
    hand-over is per thread, for dispatchers started in several threads at once.
    """

    def __init__(self) -> None:
        self._configured = threading.local()

    @toolwire.hookimpl
    def toolwire_configure(self, config: toolwire.Config) -> None:
        self._configured.settings = Settings.from_config(config)

    @toolwire.hookimpl
    def toolwire_register_middleware(self, register: Callable[[Any], None]) -> None:
        settings: Settings = getattr(self._configured, "settings", None) or Settings()
        self._configured.settings = None
        register(RateLimit(settings))
